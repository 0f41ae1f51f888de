"""Initialisers against their formulas, and spec validation."""
import math

import numpy as np
import pytest

import vxglib
from vxglib import INITS, spec

FAN_IN, FAN_OUT = 400, 300
EXPECTED_STD = {  # each initialiser's formula, written out independently of spec.init_std
    "pytorch_default": 1 / math.sqrt(3 * FAN_IN), "keras_default": math.sqrt(2 / (FAN_IN + FAN_OUT)),
    "xavier_uniform": math.sqrt(2 / (FAN_IN + FAN_OUT)), "xavier_normal": math.sqrt(2 / (FAN_IN + FAN_OUT)),
    "he_uniform": math.sqrt(2 / FAN_IN), "he_normal": math.sqrt(2 / FAN_IN),
    "lecun_normal": math.sqrt(1 / FAN_IN), "lecun_uniform": math.sqrt(1 / FAN_IN),
    "orthogonal": 1 / math.sqrt(FAN_IN), "normal": 1 / math.sqrt(FAN_IN), "uniform": 1 / math.sqrt(FAN_IN),
}


@pytest.mark.parametrize("init", sorted(EXPECTED_STD))
def test_empirical_std_matches_the_formula_within_5_percent(init):
    weights = spec.draw_weight(init, FAN_IN, FAN_OUT, generator=np.random.default_rng(0))
    assert weights.shape == (FAN_IN, FAN_OUT)
    assert abs(weights.std() / EXPECTED_STD[init] - 1) < 0.05
    assert abs(spec.init_std(init, FAN_IN, FAN_OUT) / EXPECTED_STD[init] - 1) < 1e-12


def test_every_initialiser_is_covered():
    assert set(EXPECTED_STD) | {"zeros", "constant"} == set(INITS)


def test_orthogonal_has_orthonormal_columns_and_pytorch_bounds_hold():
    q = spec.draw_weight("orthogonal", 64, 32, generator=np.random.default_rng(0))
    np.testing.assert_allclose(q.T @ q, np.eye(32), atol=1e-12)
    w = spec.draw_weight("pytorch_default", 100, 10, generator=np.random.default_rng(0))
    assert np.abs(w).max() <= 1 / math.sqrt(100)


def test_gain_scales_the_std_and_truncated_normals_stay_within_two_std():
    w = spec.draw_weight("he_normal", 200, 200, gain=2.0, generator=np.random.default_rng(1))
    assert abs(w.std() / (2 * math.sqrt(2 / 200)) - 1) < 0.05
    raw_std = 2 * math.sqrt(2 / 200) / 0.87962566103423978
    assert np.abs(w).max() <= 2 * raw_std


def test_init_weights_is_reproducible_and_shaped_by_the_spec():
    mlp = vxglib.MLPSpec(5, 2, depth=3, width=7)
    a, b = vxglib.init_weights(mlp, seed=3), vxglib.init_weights(mlp, seed=3)
    assert [w.shape for w in a.W] == [(5, 7), (7, 7), (7, 7), (7, 2)]
    assert all(np.array_equal(x, y) for x, y in zip(a.W, b.W))
    vxglib.seed(11)
    c = vxglib.init_weights(mlp)
    vxglib.seed(11)
    assert np.array_equal(c.W[0], vxglib.init_weights(mlp).W[0])


@pytest.mark.parametrize("field, value, message", [
    ("activation", "softsign", r"activation='softsign' is not valid; choose one of 'linear'"),
    ("depth", 0, r"depth=0 must be an integer >= 1"),
    ("init", "glorot", r"init='glorot' is not valid"),
    ("width", -3, r"width=-3 must be an integer >= 1"),
    ("norm", "group", r"norm='group' is not valid; choose one of 'none', 'batch', 'layer'"),
    ("weight_scale", -1.0, r"weight_scale=-1.0 must be >= 0"),
])
def test_bad_spec_values_raise_value_errors_that_name_them(field, value, message):
    with pytest.raises(ValueError, match=message):
        vxglib.MLPSpec(4, 2, **{field: value})


def test_init_std_validates_its_arguments():
    with pytest.raises(ValueError, match="init='kaiming'"):
        spec.init_std("kaiming", 3, 3)
    with pytest.raises(ValueError, match="fan_in=0"):
        spec.init_std("he_normal", 0, 3)
