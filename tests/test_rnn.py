"""vxglib.rnn: spec validation, weight layouts, the NumPy reference, and PyTorch/Keras agreement."""
import subprocess
import sys

import numpy as np
import pytest

from vxglib import data, rnn
from vxglib.training import TrainConfig


def _batch(in_dim=3, length=7, n=5, seed=1):
    generator = np.random.default_rng(seed)
    return generator.normal(size=(n, length, in_dim)), generator.integers(0, 2, size=n)


def _weights_with_biases(spec):
    weights = rnn.init_rnn_weights(spec, seed=3)
    generator = np.random.default_rng(4)  # non-zero biases everywhere exercise the bias conventions
    weights.b_x = weights.b_x + generator.normal(size=weights.b_x.shape)
    weights.b_h = generator.normal(size=weights.b_h.shape)
    return weights


@pytest.mark.parametrize("bad", [{"cell": "transformer"}, {"activation": "sigmoid"}, {"hidden": 0},
                                 {"cell": "lstm", "activation": "relu"}, {"spectral_radius": -1.0},
                                 {"recurrent_init": "zeros"}, {"forget_bias": float("nan")}])
def test_spec_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        rnn.RNNSpec(3, 2, **bad)


def test_recurrent_blocks_have_the_requested_spectral_radius():
    for init in rnn.RECURRENT_INITS:
        spec = rnn.RNNSpec(3, 2, hidden=16, cell="gru", spectral_radius=1.3, recurrent_init=init)
        weights = rnn.init_rnn_weights(spec, seed=0)
        for gate in rnn.GATES["gru"]:
            block = weights.W_h[:, weights.gate(gate, "gru")]
            assert np.max(np.abs(np.linalg.eigvals(block))) == pytest.approx(1.3)
    orthogonal = rnn.init_rnn_weights(rnn.RNNSpec(3, 2, hidden=16, spectral_radius=0.7), seed=0).W_h
    np.testing.assert_allclose(np.linalg.svd(orthogonal, compute_uv=False), 0.7)


def test_weights_are_reproducible_and_forget_bias_lands_on_the_keep_gate():
    spec = rnn.RNNSpec(3, 2, hidden=4, cell="lstm", forget_bias=1.0)
    first, second = rnn.init_rnn_weights(spec, seed=5), rnn.init_rnn_weights(spec, seed=5)
    np.testing.assert_array_equal(first.W_h, second.W_h)
    np.testing.assert_array_equal(first.b_x, [0] * 4 + [1] * 4 + [0] * 8)  # (i, f, g, o)
    gru = rnn.init_rnn_weights(spec.with_(cell="gru"), seed=5)
    np.testing.assert_array_equal(gru.b_x, [0] * 4 + [1] * 4 + [0] * 4)  # (r, z, n): z keeps h


def test_keras_gru_layout_reorders_gates_and_splits_biases():
    spec = rnn.RNNSpec(3, 2, hidden=4, cell="gru")
    weights = _weights_with_biases(spec)
    kernel, recurrent, bias = rnn.keras_layout(weights, "gru")
    np.testing.assert_array_equal(kernel[:, :4], weights.W_x[:, 4:8])  # Keras z first = our z
    np.testing.assert_array_equal(recurrent[:, 8:], weights.W_h[:, 8:])
    assert bias.shape == (2, 12)
    np.testing.assert_array_equal(bias[1, 4:8], weights.b_h[:4])  # Keras r = our r
    lstm = rnn.keras_layout(_weights_with_biases(spec.with_(cell="lstm")), "lstm")
    assert lstm[2].shape == (16,)


def test_per_step_factor_recovers_a_geometric_rate():
    norms = 0.8 ** np.arange(20, 0, -1)  # grows toward the end: vanishes going back at 0.8 per step
    assert rnn.per_step_factor(norms, skip=0) == pytest.approx(0.8)
    assert np.isnan(rnn.per_step_factor(np.zeros(5)))


@pytest.mark.parametrize("cell", rnn.CELLS)
def test_torch_matches_numpy_reference_in_float64(cell):
    torch = pytest.importorskip("torch")
    spec = rnn.RNNSpec(3, 2, hidden=6, cell=cell, spectral_radius=1.2)
    weights = _weights_with_biases(spec)
    x, _ = _batch()
    model = rnn.build(spec, weights, "torch", "float64")
    np.testing.assert_allclose(model(torch.as_tensor(x)).detach().numpy(), rnn.forward(spec, weights, x), atol=1e-12)


def test_relu_rnn_matches_reference():
    torch = pytest.importorskip("torch")
    spec = rnn.RNNSpec(3, 2, hidden=6, activation="relu")
    weights = _weights_with_biases(spec)
    x, _ = _batch()
    model = rnn.build(spec, weights, "torch", "float64")
    np.testing.assert_allclose(model(torch.as_tensor(x)).detach().numpy(), rnn.forward(spec, weights, x), atol=1e-12)


@pytest.mark.parametrize("cell", rnn.CELLS)
def test_torch_and_keras_agree_in_float64(cell):
    pytest.importorskip("tensorflow")
    spec = rnn.RNNSpec(3, 2, hidden=6, cell=cell, spectral_radius=1.2)
    weights = _weights_with_biases(spec)
    x, y = _batch()
    torch_model = rnn.build(spec, weights, "torch", "float64")
    keras_model = rnn.build(spec, weights, "keras", "float64")
    np.testing.assert_allclose(np.asarray(keras_model(x)), rnn.forward(spec, weights, x), atol=1e-12)
    by_torch = rnn.hidden_gradients(torch_model, x, y, backend="torch")
    by_keras = rnn.hidden_gradients(keras_model, x, y, backend="keras")
    assert by_torch["loss"] == pytest.approx(by_keras["loss"], abs=1e-12)
    np.testing.assert_allclose(by_torch["h_grad"], by_keras["h_grad"], rtol=1e-10)
    np.testing.assert_allclose(by_torch["h"], by_keras["h"], atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(by_torch["c_grad"], by_keras["c_grad"], rtol=1e-10)
        assert by_torch["c_grad"][-1] > 0  # c_T reaches the loss through h_T
    else:
        assert by_torch["c_grad"] is None


def test_hidden_gradient_matches_finite_differences():
    torch = pytest.importorskip("torch")
    spec = rnn.RNNSpec(3, 2, hidden=4, spectral_radius=0.9)
    weights = rnn.init_rnn_weights(spec, seed=0)
    x, y = _batch(length=5, n=1)
    model = rnn.build(spec, weights, "torch", "float64")
    result = rnn.hidden_gradients(model, x, y, backend="torch")
    # the gradient at h_T is the read-out's: softmax(out) - onehot(y), pushed back through W_out
    out = rnn.forward(spec, weights, x)[0]
    probabilities = np.exp(out - out.max()) / np.exp(out - out.max()).sum()
    expected = (probabilities - np.eye(2)[y[0]]) @ weights.W_out.T
    assert result["h_grad"][-1] == pytest.approx(np.linalg.norm(expected), rel=1e-10)
    assert torch.get_num_threads() == 1


def test_vanishing_below_and_growing_above_one():
    pytest.importorskip("torch")
    task = data.memory_task(n=64, length=30, seed=0)
    factors = {}
    for radius in (0.8, 1.5):
        spec = rnn.RNNSpec(task.in_dim, 4, hidden=32, spectral_radius=radius, input_scale=0.25)
        model = rnn.build(spec, rnn.init_rnn_weights(spec, seed=0), "torch")
        factors[radius] = rnn.per_step_factor(rnn.hidden_gradients(model, task.x_train, task.y_train)["h_grad"])
    assert factors[0.8] < 0.8 and factors[1.5] > 1.0, factors


def test_training_adapter_learns_a_short_memory_task():
    pytest.importorskip("torch")
    task = data.memory_task(n=600, length=4, seed=0)
    spec = rnn.RNNSpec(task.in_dim, task.out_dim, hidden=16)
    config = TrainConfig(optimizer="adam", lr=1e-2, epochs=20, batch_size=64, max_steps=120)
    _, history = rnn.train(spec, task, config, "torch", rnn.init_rnn_weights(spec, seed=0))
    assert history.diverged_at is None and history.test_acc[-1] > 0.9, history.test_acc
    assert len(history.layer_grad_norms[0]) == 3  # input, recurrent, read-out


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend"):
        rnn.build(rnn.RNNSpec(3, 2), backend="jax")


def test_importing_rnn_loads_no_framework():
    code = "import vxglib, vxglib.rnn, sys; print('torch' in sys.modules, 'tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False False"


def test_keep_gate_starts_near_sigmoid_of_the_bias():
    task = data.memory_task(n=32, length=10, seed=0)
    spec = rnn.RNNSpec(task.in_dim, 4, hidden=8, cell="lstm", forget_bias=1.0, input_scale=0.01,
                       spectral_radius=0.0)
    forget = rnn.keep_gate(spec, rnn.init_rnn_weights(spec, seed=0), task.x_train)
    assert forget.shape == (24, 10, 8)
    np.testing.assert_allclose(forget, 1 / (1 + np.exp(-1.0)), atol=0.02)
    with pytest.raises(ValueError, match="cell"):
        rnn.keep_gate(spec.with_(cell="rnn"), rnn.init_rnn_weights(spec.with_(cell="rnn"), seed=0), task.x_train)


def test_framework_defaults_differ_in_forget_bias():
    pytest.importorskip("tensorflow")
    torch_defaults, keras_defaults = rnn.framework_defaults("torch", 16), rnn.framework_defaults("keras", 16)
    assert keras_defaults["lstm_forget_bias"] == 1.0 and abs(torch_defaults["lstm_forget_bias"]) < 0.3
    assert keras_defaults["rnn_recurrent_radius"] == pytest.approx(1.0, abs=1e-5)
    assert torch_defaults["rnn_recurrent_radius"] < 0.95
