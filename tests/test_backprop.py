"""Tests of the chapter 2 experiment module: gradient checks, the norm bound, the input Jacobian."""
import numpy as np
import pytest

from vxglib import numpy_ref
from vxglib.experiments import backprop


@pytest.fixture(scope="module")
def small():
    spec, weights = backprop.random_mlp("tanh", depth=3, weight_scale=1.0, width=8)
    x, y = backprop.digits_batch(16)
    return spec, weights, x, y


def test_gradient_check_passes_correct_and_catches_bug(small):
    _, weights, x, y = small
    assert backprop.gradient_check(weights, x, y, "tanh") < 1e-7
    assert backprop.gradient_check(weights, x, y, "tanh", backward=backprop.forgetful_backward) > 0.05


def test_gradient_check_rejects_bad_activation(small):
    _, weights, x, y = small
    with pytest.raises(ValueError, match="activation"):
        backprop.gradient_check(weights, x, y, "softsign")


def test_input_jacobian_matches_finite_differences(small):
    _, weights, x, _ = small
    point = x[0]
    jacobian = backprop.input_jacobian(weights, point, "tanh")
    last_hidden = lambda v: numpy_ref.forward(weights, v.reshape(1, -1), "tanh").h[-1][0]  # noqa: E731
    numeric = np.stack([(last_hidden(point + 1e-6 * e) - last_hidden(point - 1e-6 * e)) / 2e-6
                        for e in np.eye(point.size)], axis=1)
    assert jacobian.shape == (8, 64)
    assert numpy_ref.relative_error(jacobian, numeric) < 1e-7


def test_norm_bound_holds_and_is_tight_at_the_top():
    _, weights = backprop.random_mlp("sigmoid", depth=6, weight_scale=1.5, width=32)
    _, grads = numpy_ref.gradients(weights, *backprop.digits_batch(64), "sigmoid")
    norms = backprop.norm_bound(weights, grads, "sigmoid")
    assert np.all(norms["measured"] <= norms["bound"] * (1 + 1e-9))
    assert norms["measured"][-1] == pytest.approx(norms["bound"][-1])


def test_orthogonal_linear_jacobian_is_an_isometry():
    from vxglib import MLPSpec, init_weights

    weights = init_weights(MLPSpec(64, 10, depth=5, width=96, activation="linear", init="orthogonal"), seed=1)
    values = np.linalg.svd(backprop.input_jacobian(weights, backprop.digits_batch(1)[0][0], "linear"),
                           compute_uv=False)
    assert np.allclose(values, 1.0)


def test_error_bound_and_extremes():
    assert backprop.error_bound(4.6e-9) == pytest.approx(1e-8)
    assert backprop.error_bound(3e-16) == 1e-13
    assert backprop.error_bound(0.0) == 1e-13
    assert backprop.extremes(np.array([2.0, 1e-20])) == (2.0, 0.0)
    assert backprop.extremes(np.array([2.0, 1e-3])) == (2.0, 1e-3)
    with pytest.raises(ValueError):
        backprop.error_bound(-1.0)


def test_explore_returns_chart_with_one_norm_per_layer():
    chart = backprop.EXPERIMENTS[0].run(depth=5, activation="relu")
    assert len(chart.extra["norms"]) == 6
    assert chart.extra["spectrum"].size == 64
    with pytest.raises(ValueError, match="activation"):
        backprop.EXPERIMENTS[0].run(activation="softsign")
    with pytest.raises(ValueError, match="depth"):
        backprop.explore(depth=0)
