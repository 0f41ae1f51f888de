"""Chapter 2: backpropagation as a product of layer Jacobians, gradient checking, the norm bound
||dL/dh_l|| <= prod ||W_k|| max|phi'| ||dL/dh_L||, and the end-to-end Jacobian's singular values."""
from __future__ import annotations

import numpy as np

from .. import numpy_ref
from .._checks import check_choice, check_int, check_positive
from ..data import Dataset, digits
from ..plots import Chart, Line, Subplot
from ..spec import ACTIVATIONS, MLPSpec, Weights, init_weights
from ..theory import derivative_bound
from ..widgets import Choice, Experiment, Slider

WIDTH = 128
BATCH = 256
_DIGITS: dict[str, Dataset] = {}


def digits_batch(size: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """The first `size` training digits (64 standardised pixels, labels 0-9), loaded once."""
    if "data" not in _DIGITS:
        _DIGITS["data"] = digits(seed=0)
    data = _DIGITS["data"]
    return data.x_train[:size], data.y_train[:size]


def random_mlp(activation: str, depth: int, weight_scale: float, width: int = WIDTH,
               seed: int = 0) -> tuple[MLPSpec, Weights]:
    """A digits MLP with weights N(0, weight_scale^2 / fan_in): weight_scale is sigma_w."""
    spec = MLPSpec(64, 10, depth=depth, width=width, activation=activation, init="normal",
                   weight_scale=weight_scale)
    return spec, init_weights(spec, seed=seed)


def all_weight_grads(grads: numpy_ref.Gradients) -> np.ndarray:
    """Every dL/dW and dL/db of a Gradients object, flattened into one vector."""
    return np.concatenate([g.ravel() for g in grads.dW + grads.db])


def forgetful_backward(weights: Weights, cache: numpy_ref.Cache, d_output: np.ndarray,
                       activation: str) -> numpy_ref.Gradients:
    """A planted bug: the backward pass that forgets the phi'(z) factor (it treats every hidden
    layer as linear while the forward pass used `activation`)."""
    return numpy_ref.backward(weights, cache, d_output, "linear")


def gradient_check(weights: Weights, x: np.ndarray, y: np.ndarray, activation: str,
                   backward=numpy_ref.backward, eps: float = 1e-6) -> float:
    """Relative error ||g - g_approx|| / (||g|| + ||g_approx||) between `backward`'s gradient of
    every weight and bias and two-sided finite differences."""
    check_choice("activation", activation, ACTIVATIONS)
    check_positive("eps", eps)
    cache = numpy_ref.forward(weights, x, activation)
    _, d_output = numpy_ref.loss_and_output_grad(cache.output, y, "cross_entropy")
    analytic = all_weight_grads(backward(weights, cache, d_output, activation))

    def loss() -> float:
        output = numpy_ref.forward(weights, x, activation).output
        return numpy_ref.loss_and_output_grad(output, y, "cross_entropy")[0]

    numeric = np.concatenate([numpy_ref.numerical_gradient(loss, p, eps).ravel()
                              for p in weights.W + weights.b])
    return numpy_ref.relative_error(analytic, numeric)


def norm_bound(weights: Weights, grads: numpy_ref.Gradients, activation: str) -> dict[str, np.ndarray]:
    """Measured ||dL/dh_l|| for every hidden layer l = 1..L and the bound
    ||dL/dh_L|| * prod_{k=l+1..L} ||W_k||_2 max|phi'| (equal at l = L)."""
    n_hidden = len(weights.W) - 1
    measured = np.array([np.linalg.norm(grads.dh[l]) for l in range(1, n_hidden + 1)])
    factors = [np.linalg.norm(weights.W[k], 2) * derivative_bound(activation) for k in range(1, n_hidden)]
    bound = np.empty(n_hidden)
    bound[-1] = measured[-1]
    for l in range(n_hidden - 2, -1, -1):
        bound[l] = bound[l + 1] * factors[l]
    return {"measured": measured, "bound": bound}


def input_jacobian(weights: Weights, x: np.ndarray, activation: str) -> np.ndarray:
    """d h_L / d x for one input row `x`: the product of layer Jacobians diag(phi'(z_l)) W_l^T."""
    cache = numpy_ref.forward(weights, x.reshape(1, -1), activation)
    jacobian = np.eye(x.size)
    for W, z in zip(weights.W[:-1], cache.z[:-1]):
        jacobian = numpy_ref.derivative(activation, z[0])[:, None] * (W.T @ jacobian)
    return jacobian


def singular_values(activation: str, depth: int, weight_scale: float, width: int = WIDTH,
                    seed: int = 0) -> np.ndarray:
    """Singular values (largest first) of d h_L / d x at the first digit, for a random MLP."""
    _, weights = random_mlp(activation, depth, weight_scale, width, seed)
    return np.linalg.svd(input_jacobian(weights, digits_batch(1)[0][0], activation), compute_uv=False)


def layer_grad_norms(activation: str, depth: int, weight_scale: float, width: int = WIDTH,
                     seed: int = 0) -> np.ndarray:
    """||dL/dW_l|| for every layer (hidden then output) of a random MLP on a batch of digits."""
    _, weights = random_mlp(activation, depth, weight_scale, width, seed)
    _, grads = numpy_ref.gradients(weights, *digits_batch(), activation)
    return np.array([np.linalg.norm(g) for g in grads.dW])


def error_bound(error: float, floor: float = 1e-13) -> float:
    """The smallest power of ten above `error` (at least `floor`): what a check can print so that
    rounding noise in the last bits of float64 never changes the stored output."""
    error = check_positive("error", error, allow_zero=True)
    return float(max(floor, 10.0 ** np.ceil(np.log10(error)))) if error > 0 else floor


def extremes(spectrum: np.ndarray, rank_tolerance: float = 1e-10) -> tuple[float, float]:
    """(largest, smallest) singular value; the smallest is 0 when below rank_tolerance * largest,
    i.e. when the Jacobian is numerically rank-deficient."""
    largest, smallest = float(spectrum[0]), float(spectrum[-1])
    return largest, (smallest if smallest > rank_tolerance * largest else 0.0)


def spectrum_chart(weight_scale: float = 1.0, depth: int = 10,
                   depths: tuple[int, ...] = (1, 2, 5, 10, 15, 20),
                   activations: tuple[str, ...] = ("sigmoid", "tanh", "relu", "linear")) -> Chart:
    """The singular values of dh_L/dx at one depth, and the largest and smallest against depth."""
    weight_scale = check_positive("weight_scale", weight_scale)
    spectra, largest, smallest = [], [], []
    for activation in activations:
        values = singular_values(activation, depth, weight_scale)
        spectra.append(Line(np.arange(1, values.size + 1), values, activation, activation))
        ends = np.array([extremes(singular_values(activation, d, weight_scale)) for d in depths])
        largest.append(Line(np.array(depths), ends[:, 0], f"{activation} largest", activation))
        smallest.append(Line(np.array(depths), ends[:, 1], f"{activation} smallest", activation, dashed=True))
    return Chart(
        [Subplot(spectra, f"spectrum at depth {depth}", "index (largest first)", "singular value",
                 logy=True, reference=1.0),
         Subplot(largest + smallest, "largest (solid) and smallest (dashed)", "hidden layers L",
                 "singular value of dh_L/dx", logy=True, reference=1.0)],
        title=f"singular values of the input-output Jacobian, σ_w = {weight_scale:g}, width {WIDTH}",
    )


def explore(depth: int = 10, weight_scale: float = 1.0, activation: str = "sigmoid") -> Chart:
    """Per-layer gradient norms and the input-output Jacobian's singular values of one random MLP."""
    depth = check_int("depth", depth, maximum=60)
    weight_scale = check_positive("weight_scale", weight_scale)
    check_choice("activation", activation, ACTIVATIONS)
    norms = layer_grad_norms(activation, depth, weight_scale)
    spectrum = singular_values(activation, depth, weight_scale)
    layers = np.arange(1, depth + 2)
    first_to_last = norms[0] / norms[-2]
    chart = Chart(
        [Subplot([Line(layers, norms, activation, activation)], "per-layer gradient norm",
                 "layer (input → output)", "||dL/dW_l||", logy=True),
         Subplot([Line(np.arange(1, spectrum.size + 1), spectrum, activation, activation)],
                 "singular values of dh_L/dx", "index (largest first)", "singular value", logy=True,
                 reference=1.0, reference_label="1 (norm preserved)")],
        title=f"{activation}, depth {depth}, σ_w = {weight_scale:g}",
        message=f"first / last hidden layer gradient norm: {first_to_last:.1e}; "
                f"largest singular value {spectrum[0]:.1e}",
    )
    chart.extra.update(norms=norms, spectrum=spectrum)
    return chart


EXPERIMENTS = [
    Experiment(
        "backprop_jacobian",
        explore,
        {
            "depth": Slider((2, 5, 10, 20, 30), 10, "hidden layers"),
            "weight_scale": Slider((0.5, 1.0, 1.5, 2.0, 4.0), 1.0, "weight scale σ_w"),
            "activation": Choice(("sigmoid", "tanh", "relu", "linear"), "sigmoid", "activation"),
        },
    )
]
