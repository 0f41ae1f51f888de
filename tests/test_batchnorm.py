"""Chapter 7's experiments: the NumPy batch-norm pass, training helpers and framework defaults."""
import numpy as np
import pytest

from vxglib.experiments import batchnorm


def test_forward_standardises_and_backward_matches_finite_differences():
    generator = np.random.default_rng(0)
    x, dy = generator.normal(3.0, 2.0, size=(16, 3)), generator.normal(size=(16, 3))
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, 1.0, -1.0])
    y, cache = batchnorm.batchnorm_forward(x, gamma, beta)
    np.testing.assert_allclose(((y - beta) / gamma).mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(((y - beta) / gamma).std(axis=0), 1, atol=1e-4)
    dx, dgamma, dbeta = batchnorm.batchnorm_backward(dy, cache)
    loss = lambda: float(np.sum(batchnorm.batchnorm_forward(x, gamma, beta)[0] * dy))  # noqa: E731
    numeric = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + 1e-6
        plus = loss()
        x[index] = original - 1e-6
        numeric[index] = (plus - loss()) / 2e-6
        x[index] = original
    np.testing.assert_allclose(dx, numeric, atol=1e-6)
    np.testing.assert_allclose(dbeta, dy.sum(axis=0))
    np.testing.assert_allclose(dgamma, np.sum(dy * cache.x_hat, axis=0))


def test_weight_scale_invariance():
    generator = np.random.default_rng(1)
    x, W, dy = generator.normal(size=(32, 6)), generator.normal(size=(6, 4)), generator.normal(size=(32, 4))
    ones, zeros = np.ones(4), np.zeros(4)
    y1, c1 = batchnorm.batchnorm_forward(x @ W, ones, zeros, eps=1e-12)
    y5, c5 = batchnorm.batchnorm_forward(x @ (5 * W), ones, zeros, eps=1e-12)
    np.testing.assert_allclose(y1, y5, atol=1e-6)
    g1 = x.T @ batchnorm.batchnorm_backward(dy, c1)[0]
    g5 = x.T @ batchnorm.batchnorm_backward(dy, c5)[0]
    np.testing.assert_allclose(g5, g1 / 5, rtol=1e-5, atol=1e-9)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="shape"):
        batchnorm.batchnorm_forward(np.ones((1, 3)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="norm"):
        batchnorm.train_mlp(norm="group")
    with pytest.raises(ValueError, match="activation"):
        batchnorm.train_mlp(activation="gelu")


def test_batchnorm_rescues_deep_sigmoid_network():
    chart = batchnorm.compare_norm(norm="batch", depth=8, lr=0.3)
    rows = chart.table.set_index("model")
    assert rows.loc["batch norm (before)", "final loss"] < 1.2 < rows.loc["no norm", "final loss"]


def test_helpers_leave_running_statistics_unchanged():
    model, _, digits = batchnorm.train_mlp("batch", depth=3, steps=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batchnorm.layer_gradients(model, digits)
    accuracy = batchnorm.mode_accuracy(model, digits)
    assert set(accuracy) == {"train mode (batch statistics)", "eval mode (running statistics)"}
    for key, value in model.state_dict().items():
        assert (value == before[key]).all(), key


def test_default_momentum_conventions():
    running, conventions = batchnorm.default_running_stats(n_batches=3, mean=4.0)
    assert conventions["torch momentum"] == 0.1 and conventions["keras momentum"] == 0.99
    last = running.iloc[-1]
    assert last["torch running_mean"] > 5 * last["keras moving_mean"] > 0
