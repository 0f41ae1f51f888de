"""Chapter 5: initialisation. Measured per-layer activation and gradient scales against the
mean-field prediction, the input-output Jacobian's singular values (dynamical isometry) and the
learning time of deep linear networks (Saxe et al.), all in NumPy float64 on the reference MLP."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from .. import numpy_ref, theory
from .._checks import check_choice, check_int, check_positive
from ..plots import Chart, Line, Subplot
from ..spec import ACTIVATIONS, INITS, MLPSpec, draw_weight, init_weights
from ..widgets import Choice, Experiment, Slider

JACOBIAN_WEIGHTS = ("gaussian", "orthogonal")


@dataclass
class LayerProfile:
    """Per hidden layer (index 0 = first): measured and predicted pre-activation std, and the
    gradient norm ||dL/dh_l|| measured and predicted, both relative to the last hidden layer."""

    preact_std: np.ndarray
    predicted_std: np.ndarray
    grad_ratio: np.ndarray
    predicted_grad_ratio: np.ndarray


def layer_profile(activation: str, init: str, depth: int = 30, width: int = 256, weight_scale: float = 1.0,
                  batch: int = 256, seed: int = 0) -> LayerProfile:
    """Forward and backward pass of a square random MLP on standard normal inputs (random labels),
    measured layer by layer, next to theory.propagate_variance for the same sigma_w."""
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("init", init, INITS)
    depth, width = check_int("depth", depth), check_int("width", width)
    spec = MLPSpec(width, 10, depth=depth, width=width, activation=activation, init=init,
                   weight_scale=weight_scale)
    generator = np.random.default_rng(seed + 1)
    x, labels = generator.normal(size=(batch, width)), generator.integers(0, 10, batch)
    weights = init_weights(spec, seed=seed)
    with threadpool_limits(1), np.errstate(all="ignore"):
        cache = numpy_ref.forward(weights, x, activation)
        _, d_output = numpy_ref.loss_and_output_grad(cache.output, labels, "cross_entropy")
        grads = numpy_ref.backward(weights, cache, d_output, activation)
    grad_norms = np.array([np.linalg.norm(d) for d in grads.dh[1:]])
    prediction = theory.propagate_variance(activation, max(theory.sigma_w_of(init, width, weight_scale), 1e-12),
                                           depth, input_var=1.0)
    return LayerProfile(np.array([z.std() for z in cache.z[:-1]]), np.sqrt(prediction.preactivation_var),
                        grad_norms / grad_norms[-1], prediction.grad_norm_ratio)


def variance_factor(stds: np.ndarray) -> float:
    """The geometric-mean factor by which the variance changes from one layer to the next."""
    stds = np.asarray(stds, dtype=float)
    return float(np.exp(np.mean(np.diff(2 * np.log(stds)))))


def init_profile(init: str = "xavier_normal", activation: str = "relu", depth: int = 30, width: int = 256) -> Chart:
    """Pre-activation std and gradient norm per layer, measured (solid) and predicted (dashed)."""
    profile = layer_profile(activation, init, depth, width)
    layers = np.arange(1, depth + 1)
    key = f"{activation}"
    forward = Subplot([Line(layers, profile.preact_std, "measured", key),
                       Line(layers, profile.predicted_std, "theory", "theory", dashed=True)],
                      "forward: pre-activation std", "hidden layer (input → output)", "std of z", logy=True,
                      reference=1.0)
    backward = Subplot([Line(layers, profile.grad_ratio, "measured", key),
                        Line(layers, profile.predicted_grad_ratio, "theory", "theory", dashed=True)],
                       "backward: ||dL/dh|| / last layer's", "hidden layer (input → output)", "relative gradient norm",
                       logy=True, reference=1.0)
    factor = variance_factor(profile.preact_std)
    from .. import table

    rows = {"layer": layers, "std z": profile.preact_std, "theory": profile.predicted_std,
            "grad ratio": profile.grad_ratio, "theory grad": profile.predicted_grad_ratio}
    return Chart([forward, backward], title=f"{activation} + {init}, {depth} layers of width {width}",
                 table=table(rows, 3, index="layer"),
                 message=f"variance factor per layer: measured {factor:.3g}, predicted "
                         f"{variance_factor(profile.predicted_std):.3g}")


def distinct_units(weight: np.ndarray, decimals: int = 6) -> int:
    """How many different hidden units a (fan_in, fan_out) weight matrix holds (columns rounded)."""
    return len({tuple(column) for column in np.round(np.asarray(weight).T, decimals)})


def backprop_gradients(init: str, activation: str = "tanh", depth: int = 5, width: int = 256,
                       seed: int = 0) -> list[np.ndarray]:
    """dL/dz for every hidden layer of a PyTorch MLP at initialisation, on 256 digits (Glorot &
    Bengio's back-propagated gradients)."""
    from .. import data, torch_backend

    digits = data.digits(seed=seed)
    spec = MLPSpec(digits.in_dim, 10, depth=depth, width=width, activation=activation, init=init)
    model = torch_backend.build_mlp(spec, init_weights(spec, seed=seed))
    grads = torch_backend.gradients(model, digits.x_train[:256], digits.y_train[:256])
    return [dh * numpy_ref.derivative(activation, z.astype(float)) for dh, z in zip(grads["dh"], grads["z"])]


def critical_point(activation: str, q_star: float) -> tuple[float, float]:
    """(sigma_w, sigma_b) that make q_star a fixed point with chi = 1: the edge of chaos."""
    q_star = check_positive("q_star", q_star)
    sigma_w2 = 1 / theory.gaussian_mean(lambda u: numpy_ref.derivative(activation, u) ** 2, q_star)
    sigma_b2 = q_star - sigma_w2 * theory.gaussian_mean(lambda u: numpy_ref.activate(activation, u) ** 2, q_star)
    return math.sqrt(sigma_w2), math.sqrt(max(sigma_b2, 0.0))


def jacobian_singular_values(activation: str, weights: str, depth: int, width: int = 128,
                             q_star: float = 1 / 64, seed: int = 0) -> np.ndarray:
    """Singular values of the input-output Jacobian, the product of W_l diag(phi'(z_l)), of a
    random network at the critical point for q_star, at one input whose pre-activations have variance q_star."""
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("weights", weights, JACOBIAN_WEIGHTS)
    depth, width = check_int("depth", depth), check_int("width", width)
    generator = np.random.default_rng(seed)
    sigma_w, sigma_b = critical_point(activation, q_star)
    init = "orthogonal" if weights == "orthogonal" else "normal"
    h = numpy_ref.activate(activation, math.sqrt(q_star) * generator.normal(size=width))
    jacobian = np.eye(width)
    with threadpool_limits(1):
        for _ in range(depth):
            weight = draw_weight(init, width, width, sigma_w, generator)
            z = h @ weight + sigma_b * generator.normal(size=width)
            # row-vector convention: a perturbation dh of the input becomes dh W diag(phi'(z))
            jacobian = (jacobian @ weight) * numpy_ref.derivative(activation, z)[None, :]
            h = numpy_ref.activate(activation, z)
        return np.linalg.svd(jacobian, compute_uv=False)


def near_one_fraction(singular_values: np.ndarray, factor: float = 2.0) -> float:
    """The fraction of singular values within `factor` of 1 (1 = every direction keeps its size)."""
    singular_values = np.asarray(singular_values)
    return float(np.mean((singular_values > 1 / factor) & (singular_values < factor)))


def linear_learning_time(init: str, depth: int, width: int = 16, n: int = 64, base_lr: float = 0.5,
                         max_steps: int = 1000, target: float = 0.05, seed: int = 0) -> int | None:
    """Full-batch gradient descent steps a deep linear network needs to bring the squared error of a
    random orthogonal map below `target` times its initial value (None if not within max_steps).
    The learning rate is base_lr / number of layers, so the end-to-end map moves at a depth-free rate."""
    check_choice("init", init, INITS)
    depth, max_steps = check_int("depth", depth), check_int("max_steps", max_steps)
    generator = np.random.default_rng(seed)
    x = generator.normal(size=(n, width))
    y = x @ draw_weight("orthogonal", width, width, 1.0, generator)
    spec = MLPSpec(width, width, depth=depth, width=width, activation="linear", init=init)
    weights, lr = init_weights(spec, seed=seed + 1), base_lr / spec.n_layers
    first = None
    with threadpool_limits(1), np.errstate(all="ignore"):
        for step in range(max_steps):
            loss, grads = numpy_ref.gradients(weights, x, y, "linear", loss="mse")
            first = loss if first is None else first
            if not np.isfinite(loss):
                return None
            if loss < target * first:
                return step
            for param, grad in zip(weights.W + weights.b, grads.dW + grads.db):
                param -= lr * grad
    return None


EXPERIMENTS = [
    Experiment(
        "initialization",
        init_profile,
        {
            "init": Choice(("xavier_normal", "he_normal", "lecun_normal", "orthogonal", "pytorch_default",
                            "normal"), "xavier_normal", "initialiser"),
            "activation": Choice(("relu", "tanh", "sigmoid", "selu", "linear"), "relu", "activation"),
            "depth": Slider((5, 10, 20, 30, 50), 30, "depth"),
            "width": Slider((32, 64, 128, 256), 256, "width"),
        },
    )
]
