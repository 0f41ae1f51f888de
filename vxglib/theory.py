"""What theory predicts: derivative bounds, initialiser gains, and variance propagation with depth.

The variance recursion is the mean-field theory of wide random networks (Poole et al. 2016,
Schoenholz et al. 2017): with weights of variance sigma_w^2 / n, the pre-activation variance obeys
q_{l+1} = sigma_w^2 E[phi(sqrt(q_l) z)^2] + sigma_b^2, and a backward pass multiplies the squared
gradient norm by chi_l = sigma_w^2 E[phi'(sqrt(q_l) z)^2] per layer (z standard normal).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checks import check_choice, check_int, check_positive
from .numpy_ref import activate, derivative
from .spec import ACTIVATIONS, INITS, LEAKY_SLOPE, init_std

# Expectations under a standard normal on a dense symmetric grid. Gauss-Hermite nodes (the first
# version) are exact for smooth functions but wrong for the jumps of ReLU's and SELU's derivatives
# (E[relu'(z)^2] came out 0.44, not 1/2) and for the narrow peak of tanh'(sqrt(q) z)^2 at large q.
# An even number of points puts none at z = 0, so a jump there splits the mass exactly in half.
_NODES = np.linspace(-10.0, 10.0, 4000)
_WEIGHTS = np.exp(-0.5 * _NODES**2)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()

# sup |phi'(z)| over z
DERIVATIVE_BOUNDS = {
    "linear": 1.0, "sigmoid": 0.25, "tanh": 1.0, "relu": 1.0, "leaky_relu": 1.0, "elu": 1.0,
    "gelu": 1.1289, "selu": 1.0507009873554805 * 1.6732632423543772, "swish": 1.0998,
}


def derivative_bound(activation: str) -> float:
    """The largest value of |phi'(z)| for `activation` (1/4 for the sigmoid)."""
    check_choice("activation", activation, ACTIVATIONS)
    return DERIVATIVE_BOUNDS[activation]


def gain(activation: str) -> float:
    """The recommended initialisation gain (as torch.nn.init.calculate_gain)."""
    check_choice("activation", activation, ACTIVATIONS)
    return {
        "linear": 1.0, "sigmoid": 1.0, "tanh": 5 / 3, "relu": math.sqrt(2),
        "leaky_relu": math.sqrt(2 / (1 + LEAKY_SLOPE**2)), "selu": 0.75,
        "elu": 1.0, "gelu": 1.0, "swish": 1.0,
    }[activation]


def gaussian_mean(function, variance: float) -> float:
    """E[function(sqrt(variance) z)] for a standard normal z, on a 4,000-point grid."""
    return float(np.sum(_WEIGHTS * function(math.sqrt(max(variance, 0.0)) * _NODES)))


@dataclass
class VariancePrediction:
    """Per-layer predictions for a wide random network (index 0 is the first hidden layer)."""

    preactivation_var: np.ndarray   # q_l
    activation_second_moment: np.ndarray  # E[h_l^2]
    chi: np.ndarray                 # per-layer factor on the squared backward gradient
    grad_norm_ratio: np.ndarray     # predicted ||dL/dh_l|| / ||dL/dh_L|| (last hidden = 1)


def propagate_variance(activation: str, sigma_w: float, depth: int, input_var: float = 1.0,
                       sigma_b: float = 0.0) -> VariancePrediction:
    """Mean-field prediction of activation and gradient scale through `depth` hidden layers.

    `input_var` is the mean squared input entry; `sigma_w` is sqrt(fan_in) times the weight std.
    """
    check_choice("activation", activation, ACTIVATIONS)
    sigma_w = check_positive("sigma_w", sigma_w)
    depth = check_int("depth", depth)
    check_positive("input_var", input_var)
    check_positive("sigma_b", sigma_b, allow_zero=True)
    q = np.empty(depth)
    second = np.empty(depth)
    chi = np.empty(depth)
    previous = input_var
    for layer in range(depth):
        q[layer] = sigma_w**2 * previous + sigma_b**2
        second[layer] = gaussian_mean(lambda u: activate(activation, u) ** 2, q[layer])
        chi[layer] = sigma_w**2 * gaussian_mean(lambda u: derivative(activation, u) ** 2, q[layer])
        previous = second[layer]
    # dL/dh_l is dL/dh_{l+1} pushed back through layer l+1: one factor chi per layer crossed
    squared = np.ones(depth)
    for layer in range(depth - 2, -1, -1):
        squared[layer] = squared[layer + 1] * chi[layer + 1]
    return VariancePrediction(q, second, chi, np.sqrt(squared))


def sigma_w_of(init: str, width: int, weight_scale: float = 1.0) -> float:
    """sigma_w = sqrt(width) * std for a square hidden layer of `width` drawn by `init`."""
    check_choice("init", init, INITS)
    return math.sqrt(width) * init_std(init, width, width, weight_scale)


def per_layer_factor(activation: str, init: str, width: int, weight_scale: float = 1.0,
                     input_var: float = 1.0) -> float:
    """The predicted steady per-layer factor of the backward gradient norm, sqrt(chi)."""
    prediction = propagate_variance(activation, sigma_w_of(init, width, weight_scale), 30, input_var)
    return float(math.sqrt(prediction.chi[-1]))
