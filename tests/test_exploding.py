"""Chapter 4's experiments: gradient growth, divergence reports, overflow and the phase grid."""
import math

import numpy as np
import pytest

from vxglib.experiments import exploding


def test_linear_gradient_ratio_is_sigma_to_the_depth():
    for sigma in (0.8, 1.0, 1.3):
        ratio = exploding.gradient_ratio("linear", sigma, depth=10, width=128)
        assert abs(math.log(ratio) / 9 - math.log(sigma)) < 0.03, (sigma, ratio)


def test_relu_is_critical_at_sqrt2():
    assert abs(math.log10(exploding.gradient_ratio("relu", math.sqrt(2), depth=20, width=128))) < 0.3
    assert exploding.gradient_ratio("relu", 2.0, depth=20, width=128) > 1e2
    assert exploding.gradient_ratio("relu", 1.0, depth=20, width=128) < 1e-2


def test_phase_grid_agrees_with_theory():
    grid = exploding.phase_grid("tanh", scales=(0.5, 1.0, 2.0), depths=(5, 20))
    assert grid["measured"].shape == grid["theory"].shape == (2, 3)
    assert np.all(np.abs(grid["measured"] - grid["theory"]) < 0.5)
    assert grid["measured"][1, 0] < -1 and grid["measured"][1, 2] > 1


def test_forward_overflow_float32_before_float64():
    chart = exploding.forward_overflow(weight_scale=8.0, depth=400, activation="linear")
    rows = chart.table.set_index("precision")
    f32, f64 = rows.loc["float32", "first non-finite layer"], rows.loc["float64", "first non-finite layer"]
    assert f32 < f64
    for precision, measured in (("float32", f32), ("float64", f64)):
        assert abs(measured - rows.loc[precision, "predicted layer"]) <= 0.05 * measured + 2


def test_training_run_reports_divergence_and_stops():
    chart = exploding.training_run(depth=5, weight_scale=2.0, lr=1.0, steps=60)
    history = chart.extra["history"]
    assert history.diverged_at is not None
    assert chart.message.startswith(f"diverged at step {history.diverged_at}")
    assert history.steps == history.diverged_at + 1  # the curves end at the divergence
    safe = exploding.training_run(depth=5, weight_scale=1.41, lr=0.05, steps=30).extra["history"]
    assert safe.diverged_at is None and safe.steps == 30


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="precision"):
        exploding.training_run(precision="float16")
    with pytest.raises(ValueError, match="activation"):
        exploding.forward_overflow(activation="softplus")


def test_experiments_have_valid_defaults():
    names = [experiment.name for experiment in exploding.EXPERIMENTS]
    assert names == ["exploding_training", "edge_of_chaos"]
    for experiment in exploding.EXPERIMENTS:
        for control in experiment.controls.values():
            values = getattr(control, "options", None) or control.values
            assert control.default in values
