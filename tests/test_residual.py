"""Residual-network tools: branch scaling, input gradients, autocorrelation, path counts, deleting
blocks; and the chapter 8 experiment functions on small settings."""
import math

import numpy as np
import pytest

import vxglib
from vxglib import residual

torch_backend = pytest.importorskip("vxglib.torch_backend")


def test_residual_layers_skip_the_layers_that_change_width():
    spec = vxglib.MLPSpec(3, 2, depth=4, width=5, residual=True)
    assert residual.residual_layers(spec) == [1, 2, 3]
    assert residual.residual_layers(spec.with_(residual=False)) == []
    assert residual.residual_layers(vxglib.MLPSpec(5, 2, depth=3, width=5, residual=True)) == [0, 1, 2]


def test_residual_weights_scale_only_the_branches_and_only_without_norm():
    spec = vxglib.MLPSpec(3, 2, depth=4, width=5, residual=True, bias_init="pytorch_default")
    plain = vxglib.init_weights(spec, seed=1)
    scaled = residual.residual_weights(spec, seed=1)
    np.testing.assert_allclose(scaled.W[0], plain.W[0])
    np.testing.assert_allclose(scaled.W[-1], plain.W[-1])
    for index in (1, 2, 3):
        np.testing.assert_allclose(scaled.W[index], plain.W[index] / 2)  # 1/sqrt(4)
        np.testing.assert_allclose(scaled.b[index], plain.b[index] / 2)
    with_norm = residual.residual_weights(spec.with_(norm="batch"), seed=1)
    np.testing.assert_allclose(with_norm.W[2], plain.W[2])
    with pytest.raises(ValueError, match="factor"):
        residual.scale_branches(spec, plain, 0.0)


def test_scaled_branches_keep_a_deep_residual_forward_pass_bounded():
    spec = vxglib.MLPSpec(16, 1, depth=40, width=16, residual=True)
    x = np.random.default_rng(0).normal(size=(200, 16))
    from vxglib import numpy_ref

    def last_std(weights):
        return numpy_ref.forward(weights, x, "relu", residual=True).h[-2].std()

    assert last_std(vxglib.init_weights(spec, seed=0)) > 1e4  # doubling energy per block
    assert last_std(residual.residual_weights(spec, seed=0)) < 20


def test_input_gradients_match_finite_differences():
    spec = vxglib.MLPSpec(1, 1, depth=3, width=8, residual=True, bias_init="pytorch_default")
    weights = residual.residual_weights(spec, seed=3)
    x = np.linspace(-1, 1, 7)[:, None]
    grads = residual.input_gradients(spec, weights, x)
    model = torch_backend.build_mlp(spec, weights, dtype="float64")
    import torch

    eps = 1e-6
    f = lambda inputs: model(torch.tensor(inputs)).detach().numpy()  # noqa: E731
    numeric = (f(x + eps) - f(x - eps)) / (2 * eps)
    np.testing.assert_allclose(grads, numeric, rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="out_dim"):
        residual.input_gradients(spec.with_(out_dim=2), vxglib.init_weights(spec.with_(out_dim=2)), x)


def test_autocorrelation_of_smooth_and_white_sequences():
    smooth = np.sin(np.linspace(0, 3, 400))
    noise = np.random.default_rng(0).normal(size=4000)
    assert residual.autocorrelation(smooth, 3)[0] == pytest.approx(1.0)
    assert residual.autocorrelation(smooth, 3)[1] > 0.99
    assert abs(residual.autocorrelation(noise, 3)[1]) < 0.05
    np.testing.assert_allclose(residual.autocorrelation(np.ones(10), 2), 1.0)
    with pytest.raises(ValueError, match="max_lag"):
        residual.autocorrelation(smooth, 1000)


def test_path_length_counts_are_binomial():
    counts = residual.path_length_counts(5)
    np.testing.assert_allclose(counts, [1, 5, 10, 10, 5, 1])
    assert residual.path_length_counts(50).sum() == pytest.approx(2.0**50)
    with pytest.raises(ValueError, match="n_blocks"):
        residual.path_length_counts(0)


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_forward_without_nothing_removed_equals_the_model(norm):
    spec = vxglib.MLPSpec(4, 3, depth=3, width=6, residual=True, norm=norm, bias_init="pytorch_default")
    model = torch_backend.build_mlp(spec, vxglib.init_weights(spec, seed=2), dtype="float64")
    x = np.random.default_rng(1).normal(size=(9, 4))
    model.eval()
    import torch

    expected = model(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(residual.forward_without(model, x), expected, rtol=1e-12)
    # deleting a block equals a network whose block branch is zero (no norm: zero weights and bias)
    if norm == "none":
        weights = vxglib.init_weights(spec, seed=2)
        weights.W[1][:] = 0
        weights.b[1][:] = 0
        zeroed = torch_backend.build_mlp(spec, weights, dtype="float64")
        np.testing.assert_allclose(residual.forward_without(model, x, [1]),
                                   zeroed(torch.tensor(x)).detach().numpy(), rtol=1e-12)


def test_forward_without_refuses_a_layer_that_changes_width():
    spec = vxglib.MLPSpec(4, 3, depth=3, width=6)
    model = torch_backend.build_mlp(spec, vxglib.init_weights(spec, seed=2))
    with pytest.raises(ValueError, match="cannot be deleted"):
        residual.forward_without(model, np.zeros((2, 4)), [0])
    with pytest.raises(ValueError, match="removed layer"):
        residual.forward_without(model, np.zeros((2, 4)), [3])
    assert 0.0 <= residual.accuracy_without(model, np.zeros((2, 4)), np.array([0, 1]), [1]) <= 1.0


def test_experiment_functions_on_small_settings():
    from vxglib.experiments import residual as experiments

    profiles = experiments.init_profiles(depth=6)
    assert len(profiles.table) == 4 and all(len(line.y) == 7 for line in profiles.subplots[0].lines)
    shatter = experiments.shattered(depths=(2, 30), seeds=1, points=64, width=32)
    rows = {row["depth"]: row for row in shatter.table}
    assert rows[2]["plain"] > rows[30]["plain"]  # deeper plain: less correlated input gradient
    chart = experiments.explore(depth=4, steps=3)
    assert chart.extra["history"].steps == 3 and "first / last" in chart.message
    chart = experiments.explore(depth=4, block="conv", skips=True, norm="none", steps=2)
    assert chart.extra["history"].steps == 2
    with pytest.raises(ValueError, match="block"):
        experiments.EXPERIMENTS[0].run(block="bottleneck")
    assert math.isclose(experiments.CHANCE_LOSS, math.log(10))
