"""Tests for the chapter 5 and 6 experiment modules and the theory quadrature they rely on."""
import math

import numpy as np
import pytest

from vxglib import theory
from vxglib.experiments import initialization as init_exp
from vxglib.experiments import relu_family


def test_relu_mean_square_derivative_is_one_half():
    # the jump of relu' at 0 must split the Gaussian mass exactly in half
    assert theory.gaussian_mean(lambda u: (u > 0).astype(float), 1.0) == pytest.approx(0.5, abs=1e-12)
    assert theory.propagate_variance("relu", math.sqrt(2), 10).chi == pytest.approx(np.ones(10), abs=1e-9)


def test_quadrature_handles_a_narrow_peak():
    # E[tanh'(s z)^2] for large s is about 4 / (3 s sqrt(2 pi)); Gauss-Hermite got this wrong
    scale = 15.6
    value = theory.gaussian_mean(lambda u: (1 - np.tanh(u) ** 2) ** 2, scale**2)
    assert value == pytest.approx(4 / (3 * scale * math.sqrt(2 * math.pi)), rel=0.01)


def test_relu_xavier_halves_the_variance():
    profile = init_exp.layer_profile("relu", "xavier_normal", depth=12, width=128)
    assert init_exp.variance_factor(profile.predicted_std) == pytest.approx(0.5, abs=1e-9)
    assert init_exp.variance_factor(profile.preact_std) == pytest.approx(0.5, abs=0.06)
    assert profile.grad_ratio[-1] == 1.0 and profile.grad_ratio[0] < 0.05


def test_variance_factor_of_a_geometric_sequence():
    assert init_exp.variance_factor(np.array([1.0, 0.5, 0.25])) == pytest.approx(0.25)


def test_distinct_units_counts_columns():
    weight = np.ones((4, 3))
    assert init_exp.distinct_units(weight) == 1
    weight[:, 2] = 2.0
    assert init_exp.distinct_units(weight) == 2


def test_critical_point_for_relu_is_he():
    sigma_w, sigma_b = init_exp.critical_point("relu", 0.5)
    assert sigma_w == pytest.approx(math.sqrt(2)) and sigma_b == pytest.approx(0.0, abs=1e-9)


def test_orthogonal_linear_jacobian_is_an_isometry():
    values = init_exp.jacobian_singular_values("linear", "orthogonal", depth=20, width=32, q_star=1.0)
    assert values == pytest.approx(np.ones(32), abs=1e-9)
    assert init_exp.near_one_fraction(values) == 1.0


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="weights"):
        init_exp.jacobian_singular_values("tanh", "uniform", depth=2)
    with pytest.raises(ValueError, match="activation"):
        relu_family.curves("softplus", np.zeros(3))
    with pytest.raises(ValueError, match="init"):
        init_exp.layer_profile("relu", "glorot", depth=2, width=8)


def test_linear_learning_time_reaches_target():
    steps = init_exp.linear_learning_time("orthogonal", depth=2, max_steps=500)
    assert steps is not None and 0 < steps < 500


def test_selu_keeps_mean_zero_and_std_one():
    mean, std = relu_family.self_normalisation(depth=20, width=128)
    assert np.abs(mean).max() < 0.1 and np.abs(std - 1).max() < 0.1


def test_curves_match_known_values():
    values, slopes = relu_family.curves("relu", np.array([-1.0, 2.0]))
    assert values.tolist() == [0.0, 2.0] and slopes.tolist() == [0.0, 1.0]


def test_every_family_member_has_a_matching_init():
    assert set(relu_family.FAMILY) <= set(relu_family.MATCHING_INIT)


def test_experiments_run_at_defaults():
    chart = init_exp.EXPERIMENTS[0].run(depth=5, width=32)
    assert len(chart.subplots) == 2 and "variance factor" in chart.message


def test_relu_family_panel_trains_and_probes():
    chart = relu_family.EXPERIMENTS[0].run(depth=5, lr=0.1)
    assert chart.message.startswith("trained 60 steps")
    assert chart.extra["after"]["frac_dead"].shape == (5,)
    assert np.all(np.isfinite(chart.extra["before"]["grad_norm"]))
