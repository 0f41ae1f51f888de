"""Chapter 4: exploding gradients. Growth of the backward signal in deep linear networks, training
runs that diverge (reported as "diverged at step k"), forward overflow in float32 and float64, and
the phase diagram of gradient growth over weight scale x depth (the edge of chaos)."""
from __future__ import annotations

import math

import numpy as np
from threadpoolctl import threadpool_limits

from .. import table as rows_table
from .._checks import check_choice, check_int, check_positive
from ..numpy_ref import backward, forward
from ..plots import Chart, Line, Subplot
from ..spec import ACTIVATIONS, MLPSpec, Weights, init_weights
from ..theory import propagate_variance
from ..widgets import Choice, Experiment, Slider

PRECISIONS = ("float32", "float64")
LARGEST = {"float32": float(np.finfo(np.float32).max), "float64": float(np.finfo(np.float64).max)}
PHASE_SCALES = tuple(float(s) for s in np.round(np.geomspace(0.5, 4.0, 13), 3))
PHASE_DEPTHS = (2, 5, 10, 20, 30, 50)


def linear_gradients(weight_scales: tuple = (0.8, 1.0, 1.2), depth: int = 20, width: int = 256,
                     seed: int = 0) -> Chart:
    """Per-layer norms of dL/dh in a deep linear MLP on digits for weights of std sigma/sqrt(n):
    measured in PyTorch against the prediction sigma^(L - l)."""
    from .. import data
    from .. import torch_backend as tb

    depth, width = check_int("depth", depth, minimum=2), check_int("width", width)
    digits = data.digits()
    lines, rows = [], []
    for index, sigma in enumerate(weight_scales):
        spec = MLPSpec(digits.in_dim, digits.out_dim, depth=depth, width=width, activation="linear",
                       init="normal", weight_scale=check_positive("weight_scale", sigma))
        snap = tb.probe(tb.build_mlp(spec, init_weights(spec, seed=seed)), digits.x_train[:256],
                        digits.y_train[:256])
        norms = snap["act_grad_norm"]
        predicted = propagate_variance("linear", sigma, depth).grad_norm_ratio * norms[-1]
        layers = np.arange(1, depth + 1)
        lines += [Line(layers, norms, f"σ_w = {sigma:g}", f"C{index}"),
                  Line(layers, predicted, "theory σ_w^(L-l)", f"C{index}", dashed=True)]
        rows.append({"sigma": sigma, "measured factor per layer": (norms[0] / norms[-1]) ** (1 / (depth - 1)),
                     "first/last measured": norms[0] / norms[-1], "first/last predicted": sigma ** (depth - 1),
                     "global grad norm": float(np.sqrt(np.sum(snap["grad_norm"] ** 2)))})
    subplot = Subplot(lines, "backward signal per layer", "hidden layer l (input → output)",
                      "||dL/dh_l||", logy=True)
    return Chart([subplot], f"deep linear network, {depth} layers of width {width}", table=rows_table(rows))


def training_run(depth: int = 10, weight_scale: float = 1.41, lr: float = 1.0, precision: str = "float32",
                 activation: str = "relu", clip: str = "none", steps: int = 150, width: int = 64,
                 seed: int = 0) -> Chart:
    """Train a ReLU MLP on digits with plain SGD from weights of std weight_scale/sqrt(n); draw the
    gradient norms at initialisation, and the loss and gradient norm up to the divergence if any."""
    from .. import data
    from .. import torch_backend as tb
    from ..training import TrainConfig

    check_choice("precision", precision, PRECISIONS)
    check_choice("activation", activation, ACTIVATIONS)
    digits = data.digits()
    spec = MLPSpec(digits.in_dim, digits.out_dim, depth=check_int("depth", depth), width=width,
                   activation=activation, init="normal", weight_scale=check_positive("weight_scale", weight_scale))
    model = tb.build_mlp(spec, init_weights(spec, seed=seed), dtype=precision)
    at_init = tb.probe(model, digits.x_train[:256], digits.y_train[:256])["grad_norm"]
    config = TrainConfig(optimizer="sgd", lr=lr, epochs=steps // 21 + 1, max_steps=steps, clip=clip,
                         shuffle_seed=seed)
    history = tb.train(model, digits, config)
    steps_axis = np.arange(history.steps)
    chart = Chart(
        [Subplot([Line(np.arange(1, spec.n_layers + 1), at_init, "at initialisation", activation)],
                 "gradient norm per layer at step 0", "layer (input → output)", "||dL/dW||", logy=True),
         Subplot([Line(steps_axis, history.loss, "training loss", activation)], "loss", "step",
                 "cross-entropy", logy=True),
         Subplot([Line(steps_axis, history.grad_norm, "global gradient norm", activation)],
                 "gradient norm", "step", "||g||", logy=True)],
        title=f"{activation}, depth {depth}, σ_w = {weight_scale:g}, SGD lr = {lr:g}, {precision}",
        message=history.status,
    )
    chart.extra["history"] = history
    return chart


def _random_weights(depth: int, width: int, seed: int) -> list[np.ndarray]:
    """Standard-normal (width x width) matrices, scaled by the callers (common random numbers)."""
    generator = np.random.default_rng(seed)
    return [generator.standard_normal((width, width)) for _ in range(depth)]


def forward_overflow(weight_scale: float = 4.0, depth: int = 800, activation: str = "relu",
                     width: int = 64, batch: int = 16, seed: int = 0) -> Chart:
    """Push a batch through `depth` random layers in float32 and in float64; report the first layer
    whose activations are no longer finite, and the layer the per-layer growth factor predicts."""
    check_choice("activation", activation, ACTIVATIONS)
    sigma = check_positive("weight_scale", weight_scale)
    depth, width = check_int("depth", depth), check_int("width", width)
    from ..numpy_ref import activate

    base = _random_weights(depth, width, seed)
    x0 = np.random.default_rng(seed + 1).standard_normal((batch, width))
    moments = propagate_variance(activation, sigma, 2).activation_second_moment
    factor = math.sqrt(moments[1] / moments[0])  # steady growth of the RMS activation per layer
    lines, rows = [], []
    for precision in PRECISIONS:
        h, rms, overflow = x0.astype(precision), [], None
        with np.errstate(over="ignore", invalid="ignore"), threadpool_limits(1):
            for layer, W in enumerate(base, start=1):
                h = activate(activation, h @ (W * sigma / math.sqrt(width)).astype(precision))
                size = float(np.sqrt(np.mean(np.abs(h.astype(np.float64)) ** 2)))
                if overflow is None and not np.all(np.isfinite(h)):
                    overflow = layer
                rms.append(math.log10(size) if math.isfinite(size) and size > 0 else np.nan)
        # log10 on a linear axis: a log axis reaching 1e308 itself overflows when drawn
        predicted = 1 + (math.log10(LARGEST[precision]) - rms[0]) / math.log10(factor) if factor > 1 else math.inf
        lines.append(Line(np.arange(1, depth + 1), rms, precision, f"C{len(lines)}"))
        rows.append({"precision": precision, "log10 largest number": math.log10(LARGEST[precision]),
                     "first non-finite layer": overflow, "predicted layer": predicted})
    for index, precision in enumerate(PRECISIONS):
        lines.append(Line(np.array([1, depth]), np.full(2, math.log10(LARGEST[precision])), f"{precision} max",
                          f"C{index}", dashed=True))
    subplot = Subplot(lines, "activation size per layer", "layer", "log10 RMS of h_l")
    chart = Chart([subplot], f"{activation}, σ_w = {sigma:g}: ×{factor:.3g} per layer", table=rows_table(rows))
    chart.extra["factor"] = factor
    return chart


def gradient_ratio(activation: str, sigma: float, depth: int, width: int = 64, batch: int = 32,
                   seed: int = 0, base: list[np.ndarray] | None = None) -> float:
    """Measured ||dL/dh_1|| / ||dL/dh_L|| of a random MLP (standard-normal inputs, a random
    gradient injected at the last hidden layer), by the NumPy reference backward pass."""
    base = base if base is not None else _random_weights(depth + 1, width, seed)
    scale = sigma / math.sqrt(width)
    weights = Weights([W * scale for W in base[: depth + 1]], [np.zeros(width)] * (depth + 1))
    generator = np.random.default_rng(seed + 1)
    x = generator.standard_normal((batch, width))
    cache = forward(weights, x, activation)
    grads = backward(weights, cache, generator.standard_normal((batch, width)), activation)
    return float(np.linalg.norm(grads.dh[1]) / np.linalg.norm(grads.dh[depth]))


def phase_grid(activation: str = "tanh", scales: tuple = PHASE_SCALES, depths: tuple = PHASE_DEPTHS,
               width: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """log10 of the first- to last-layer gradient ratio over (depth x weight scale): measured and
    predicted by mean-field theory."""
    check_choice("activation", activation, ACTIVATIONS)
    base = _random_weights(max(depths) + 1, width, seed)
    with threadpool_limits(1):  # tiny matrices: BLAS threads only contend with each other
        measured = np.array([[math.log10(gradient_ratio(activation, s, d, width, seed=seed, base=base))
                              for s in scales] for d in depths])
    theory = np.array([[math.log10(propagate_variance(activation, s, d).grad_norm_ratio[0]) for s in scales]
                       for d in depths])
    return {"scales": np.array(scales), "depths": np.array(depths), "measured": measured, "theory": theory}


def phase_diagram(activation: str = "tanh", width: int = 64) -> Chart:
    """The phase diagram as curves: log10 gradient ratio against weight scale, one per depth."""
    grid = phase_grid(activation, width=width)
    lines = []
    for index, depth in enumerate(grid["depths"]):
        lines += [Line(grid["scales"], grid["measured"][index], f"depth {depth}", f"C{index}"),
                  Line(grid["scales"], grid["theory"][index], "", f"C{index}", dashed=True)]
    subplot = Subplot(lines, "measured (solid) and mean-field theory (dashed)", "weight scale σ_w",
                      "log10 ||dL/dh_1|| / ||dL/dh_L||", logx=True, reference=0.0,
                      reference_label="neither vanish nor explode")
    chart = Chart([subplot], f"{activation}: gradient growth from last to first layer")
    chart.extra["grid"] = grid
    return chart


def draw_phase_diagram(grid: dict, ax=None, title: str = "", limit: float = 6.0):
    """A depth x weight-scale heat map of log10 gradient ratio (blue: vanish, red: explode), with
    the theory's +-1 contours (a factor of 10) drawn on top; returns the axes."""
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else plt.gca()
    scales, depths = grid["scales"], grid["depths"]
    image = ax.pcolormesh(np.arange(len(scales) + 1), np.arange(len(depths) + 1),
                          np.clip(grid["measured"], -limit, limit), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.contour(np.arange(len(scales)) + 0.5, np.arange(len(depths)) + 0.5, grid["theory"], levels=[-1, 1],
               colors="black", linewidths=1.0, linestyles=["--", "-"])
    ax.set_xticks(np.arange(len(scales)) + 0.5, [f"{s:.2g}" for s in scales], rotation=90)
    ax.set_yticks(np.arange(len(depths)) + 0.5, [str(d) for d in depths])
    ax.set(title=title, xlabel="weight scale σ_w", ylabel="depth L")
    ax.grid(False)
    ax.figure.colorbar(image, ax=ax, label="log10 first/last gradient norm")
    return ax


EXPERIMENTS = [
    Experiment(
        "exploding_training",
        training_run,
        {
            "depth": Choice((5, 10, 20, 30), 10),
            "weight_scale": Slider((0.5, 1.0, 1.41, 2.0, 3.0), 1.41, "weight scale σ_w"),
            "lr": Slider((0.01, 0.1, 0.3, 1.0, 3.0), 1.0, "learning rate", log=True),
            "precision": Choice(PRECISIONS, "float32"),
        },
    ),
    Experiment(
        "edge_of_chaos",
        phase_diagram,
        {"activation": Choice(("tanh", "relu", "linear"), "tanh")},
    ),
]
