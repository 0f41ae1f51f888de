"""Shared fixtures: a small random MLP problem used by several tests."""
import numpy as np
import pytest

import vxglib


@pytest.fixture(autouse=True)
def _seeded():
    vxglib.seed(0)


def small_problem(activation: str, residual: bool = False, loss: str = "cross_entropy"):
    """A 3-hidden-layer MLP of width 6 on 9 random examples, float64 weights."""
    spec = vxglib.MLPSpec(4, 3, depth=3, width=6, activation=activation, init="xavier_normal",
                          bias_init="pytorch_default", residual=residual)
    weights = vxglib.init_weights(spec, seed=7)
    generator = np.random.default_rng(3)
    x = generator.normal(size=(9, 4))
    y = generator.integers(0, 3, size=9) if loss == "cross_entropy" else generator.normal(size=(9, 3))
    return spec, weights, x, y
