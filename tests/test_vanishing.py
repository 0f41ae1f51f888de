"""Tests of the chapter 3 experiment module: gradient ratios, saturation, the circles runs, the widget."""
import numpy as np
import pytest

from vxglib.experiments import vanishing


def test_sigmoid_ratio_follows_quarter_to_the_depth_with_unit_weight_scale():
    for depth in (3, 6):
        ratio = vanishing.grad_ratio_at_init("sigmoid", "keras_default", depth, width=64)
        assert 0.2 < ratio / 0.25 ** depth < 5, (depth, ratio)


def test_relu_he_does_not_vanish_and_pytorch_default_vanishes_more():
    assert vanishing.grad_ratio_at_init("relu", "he_normal", 8, width=64) > 0.02
    smaller = vanishing.grad_ratio_at_init("sigmoid", "pytorch_default", 8, width=64)
    larger = vanishing.grad_ratio_at_init("sigmoid", "keras_default", 8, width=64)
    assert smaller < larger / 10


def test_saturation_needs_large_weights():
    assert vanishing.saturation_at_init("keras_default", depth=3, width=64).max() < 1e-2
    assert vanishing.saturation_at_init("normal", weight_scale=6.0, depth=3, width=64).mean() > 0.1


def test_circles_spec_rejects_other_activations():
    assert vanishing.circles_spec("tanh").init == "xavier_uniform"
    with pytest.raises(ValueError, match="activation"):
        vanishing.circles_spec("gelu")


def test_explore_trains_and_reports_per_layer_norms():
    chart = vanishing.explore(depth=2, width=16, steps=5)
    history = chart.extra["history"]
    assert history.steps == 5
    assert np.array(history.layer_grad_norms).shape == (5, 3)
    assert "trained 5 steps" in chart.message
    with pytest.raises(ValueError, match="init"):
        vanishing.explore(init="glorot")
    with pytest.raises(ValueError, match="optimizer"):
        vanishing.EXPERIMENTS[0].run(optimizer="rmsprop")
