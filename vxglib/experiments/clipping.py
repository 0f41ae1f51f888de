"""Chapter 12: gradient clipping. How each rule (see `vxglib.clipping`) turns a gradient, gradient
descent over the cliff of a one-unit recurrent model, training runs of an exploding deep linear
network and an exploding RNN with and without clipping, and what each framework's optimizer applies."""
from __future__ import annotations

import numpy as np

from .._checks import check_choice, check_int, check_positive
from ..clipping import (CLIFF_START, CLIFF_STEPS, angle_degrees, clip_gradients, cliff_loss, descend_cliff,
                        flat)
from ..plots import Chart, Line, Subplot
from ..training import CLIP_MODES, TrainConfig
from ..widgets import Choice, Experiment, Slider

# one colour per clipping rule, used by every figure of the chapter
CLIP_COLORS = {"none": "C3", "global_norm": "C0", "value": "C2", "norm_per_variable": "C1"}
CLIP_LABELS = {"none": "no clipping", "global_norm": "global norm", "value": "by value",
               "norm_per_variable": "norm per variable"}


def direction_example(g1: float = 3.0, g2: float = 1.0, threshold: float = 1.0) -> Chart:
    """A 2-D gradient clipped by global norm and by value: the arrows, and the angle each rule turns
    the gradient by as the threshold varies."""
    threshold = check_positive("threshold", threshold)
    gradient = [np.array([g1, g2], dtype=float)]
    rows, arrows = [], []
    for mode in ("none", "global_norm", "value"):
        clipped = clip_gradients(gradient, mode, threshold)[0]
        rows.append({"rule": CLIP_LABELS[mode], "g1": clipped[0], "g2": clipped[1],
                     "norm": float(np.linalg.norm(clipped)),
                     "angle_deg": round(angle_degrees([clipped], gradient), 2)})
        arrows.append(Line(np.array([0, clipped[0]]), np.array([0, clipped[1]]), CLIP_LABELS[mode],
                           CLIP_COLORS[mode]))
    circle = np.linspace(0, 2 * np.pi, 200)
    ball = Line(threshold * np.cos(circle), threshold * np.sin(circle), "", "C7", dashed=True)
    box = Line(threshold * np.array([-1, 1, 1, -1, -1]), threshold * np.array([-1, -1, 1, 1, -1]), "",
               "C7", dashed=True)
    thresholds = np.geomspace(0.05, 10, 60)
    turned = [angle_degrees(clip_gradients(gradient, "value", t), gradient) for t in thresholds]
    import pandas as pd

    return Chart(
        [Subplot(arrows + [ball, box], "the gradient and its clipped versions", "g₁", "g₂",
                 xlim=(-1.5, max(g1, threshold) + 0.5), ylim=(-1.5, max(g2, threshold) + 0.5)),
         Subplot([Line(thresholds, turned, "by value", CLIP_COLORS["value"]),
                  Line(thresholds, np.zeros_like(thresholds), "global norm", CLIP_COLORS["global_norm"])],
                 "clipping by value turns the gradient", "threshold", "angle to the gradient (degrees)",
                 logx=True)],
        title=f"gradient ({g1:g}, {g2:g}), threshold {threshold:g}",
        table=pd.DataFrame(rows))


# ----- the cliff, drawn --------------------------------------------------------------------------
CLIFF_WINDOW = ((-4.0, 14.0), (-8.0, 8.0))  # (w range, b range) of the map


def cliff_contours(levels=(-1, 0, 0.5, 1, 1.5, 2, 3), resolution: int = 181) -> list[Line]:
    """Contour lines of log10 of the cliff loss over CLIFF_WINDOW, as grey Lines."""
    import contourpy

    (w_low, w_high), (b_low, b_high) = CLIFF_WINDOW
    ws, bs = np.linspace(w_low, w_high, resolution), np.linspace(b_low, b_high, resolution)
    grid_w, grid_b = np.meshgrid(ws, bs)
    log_loss = np.log10(cliff_loss(grid_w, grid_b) + 1e-12)
    generator = contourpy.contour_generator(grid_w, grid_b, log_loss)
    lines = []
    for level in levels:  # one Line per level: segments joined with NaN breaks
        segments = [np.vstack([seg, [np.nan, np.nan]]) for seg in generator.lines(level) if len(seg) > 1]
        if segments:
            joined = np.vstack(segments)
            lines.append(Line(joined[:, 0], joined[:, 1], "", "C7", dashed=True))
    return lines


def cliff_descent(clip: str = "global_norm", threshold: float = 20.0, lr: float = 0.01,
                  steps: int = 200) -> Chart:
    """Gradient descent over the cliff with and without clipping: paths on the loss map, loss and
    step length per step."""
    check_choice("clip", clip, CLIP_MODES)
    runs = {"none": descend_cliff(lr=lr, steps=steps)}
    runs[clip] = descend_cliff(lr=lr, steps=steps, clip=clip, threshold=threshold)
    label = lambda mode: CLIP_LABELS[mode] + ("" if mode == "none" else f" at {threshold:g}")  # noqa: E731
    paths = [Line(run.points[:, 0], run.points[:, 1], label(mode), CLIP_COLORS[mode]) for mode, run in runs.items()]
    losses = [Line(np.arange(len(run.loss)), run.loss, label(mode), CLIP_COLORS[mode]) for mode, run in runs.items()]
    lengths = [Line(np.arange(1, steps + 1), run.step_lengths, label(mode), CLIP_COLORS[mode])
               for mode, run in runs.items()]
    import pandas as pd

    table = pd.DataFrame([{"rule": label(mode), "largest_grad_norm": float(run.grad_norm.max()),
                           "largest_step": float(run.step_lengths.max()),
                           "largest_loss_rise": float(np.max(np.diff(run.loss))),
                           "late_loss": float(np.median(run.loss[-50:])),
                           "clipped_steps": run.clip_events} for mode, run in runs.items()])
    chart = Chart(
        [Subplot(cliff_contours() + paths, "paths over log10 loss contours", "w (recurrent weight)", "b (bias)",
                 xlim=CLIFF_WINDOW[0], ylim=CLIFF_WINDOW[1]),
         Subplot(losses, "loss", "step", "(x_T − 0.7)²", logy=True),
         Subplot(lengths, "how far each step moves", "step", "step length ||Δθ||", logy=True)],
        title=f"one-unit RNN, T = {CLIFF_STEPS}, lr = {lr:g}, start {CLIFF_START}", table=table)
    chart.extra["runs"] = runs
    return chart


# ----- training runs: an exploding deep linear network (digits) and an exploding RNN (adding) ----
def finite_or_nan(values) -> np.ndarray:
    """`values` as floats with inf replaced by NaN (so a log-scale plot simply stops there)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), values, np.nan)


def deep_linear_spec(depth: int = 10, width: int = 64, weight_scale: float = 1.5):
    """A linear MLP on the digits whose weights have std weight_scale/sqrt(fan_in): every layer
    multiplies the signal and the gradient by about weight_scale, so both explode with depth."""
    from ..spec import MLPSpec

    return MLPSpec(64, 10, depth=depth, width=width, activation="linear", init="normal",
                   weight_scale=weight_scale)


def train_deep_linear(clip: str = "none", threshold: float = 1.0, lr: float = 0.01, optimizer: str = "sgd",
                      steps: int = 200, backend: str = "torch", spec=None):
    """Train the deep linear network (fixed weights and batches, seed 0) and return its History."""
    from ..data import digits
    from ..spec import init_weights
    from ..training import train

    spec = spec if spec is not None else deep_linear_spec()
    data = digits(seed=0)
    steps = check_int("steps", steps)
    config = TrainConfig(optimizer=optimizer, lr=lr, epochs=steps // 21 + 1, batch_size=64, clip=clip,
                         clip_value=threshold, max_steps=steps, shuffle_seed=0)
    return train(spec, data, config, backend, init_weights(spec, seed=0))[1]


def exploding_rnn_spec(spectral_radius: float = 1.2, hidden: int = 32):
    """A ReLU RNN for the adding problem whose recurrent matrix has every |eigenvalue| = spectral_radius."""
    from ..rnn import RNNSpec

    return RNNSpec(2, 1, hidden=hidden, cell="rnn", activation="relu", spectral_radius=spectral_radius)


def train_exploding_rnn(clip: str = "none", threshold: float = 1.0, lr: float = 0.2, steps: int = 150,
                        length: int = 30, spec=None):
    """Train the ReLU RNN on the adding problem with SGD (seed 0) in PyTorch; return its History."""
    from .. import rnn
    from ..data import adding_problem

    spec = spec if spec is not None else exploding_rnn_spec()
    data = adding_problem(n=1000, length=length, seed=0)
    steps = check_int("steps", steps)
    config = TrainConfig(optimizer="sgd", lr=lr, epochs=steps // 15 + 1, batch_size=50, clip=clip,
                         clip_value=threshold, max_steps=steps, shuffle_seed=0)
    return rnn.train(spec, data, config, "torch", rnn.init_rnn_weights(spec, seed=0))[1]


def run_summary(label: str, history) -> dict:
    """One table row: status, loss at the end, test loss/accuracy, gradient norms, clipped fraction."""
    norms = finite_or_nan(history.grad_norm)
    return {"run": label, "status": history.status.split(" (")[0],
            "final_loss": history.final_loss if history.diverged_at is None else float("nan"),
            "test_loss": history.test_loss[-1] if history.test_loss else float("nan"),
            "test_acc": history.test_acc[-1] if history.test_acc else float("nan"),
            "median_grad_norm": float(np.nanmedian(norms)), "largest_grad_norm": float(np.nanmax(norms)),
            "clipped_fraction": history.clip_events / max(history.steps, 1)}


def compare_training(histories: dict, threshold: float | None = None, title: str = "") -> Chart:
    """Loss and global gradient norm per step for several labelled runs (dict label -> (History, colour))."""
    import pandas as pd

    losses = [Line(np.arange(1, h.steps + 1), finite_or_nan(h.loss), label, key)
              for label, (h, key) in histories.items()]
    norms = [Line(np.arange(1, h.steps + 1), finite_or_nan(h.grad_norm), label, key)
             for label, (h, key) in histories.items()]
    messages = [f"{label}: {h.status}" for label, (h, _) in histories.items() if h.diverged_at is not None]
    return Chart([Subplot(losses, "training loss", "step", "loss", logy=True),
                  Subplot(norms, "gradient norm before clipping", "step", "global norm ||g||", logy=True,
                          reference=threshold, reference_label="threshold" if threshold else "")],
                 title=title, message="; ".join(messages),
                 table=pd.DataFrame([run_summary(label, h) for label, (h, _) in histories.items()]))


def clipping_training(clip: str = "global_norm", threshold: float = 1.0, lr: float = 0.01,
                      optimizer: str = "sgd", steps: int = 150) -> Chart:
    """The deep linear network trained without clipping and with rule `clip` at `threshold`."""
    check_choice("clip", clip, CLIP_MODES)
    runs = {"no clipping": (train_deep_linear("none", threshold, lr, optimizer, steps), CLIP_COLORS["none"])}
    if clip != "none":
        runs[f"{CLIP_LABELS[clip]} at {threshold:g}"] = (
            train_deep_linear(clip, threshold, lr, optimizer, steps), CLIP_COLORS[clip])
    return compare_training(runs, threshold if clip != "none" else None,
                            f"10-layer linear network ×{deep_linear_spec().weight_scale:g} per layer, "
                            f"{optimizer}, lr = {lr:g}")


# ----- what each framework's optimizer really applies ---------------------------------------------
def applied_updates(backend: str, clip: str, threshold: float = 1.0, spec=None) -> tuple[list, list]:
    """(gradient, update): one full-batch SGD step with lr 1 and clipping rule `clip` in `backend`,
    so the change of the weights is exactly the clipped gradient the optimizer used. Both are lists
    of arrays in the order W1, b1, W2, b2, ... in the (fan_in, fan_out) layout."""
    from ..data import digits
    from ..spec import init_weights
    from ..training import train

    from ..numpy_ref import gradients as reference_gradients

    spec = spec if spec is not None else deep_linear_spec()
    data = digits(seed=0)
    weights = init_weights(spec, seed=0)
    config = TrainConfig(optimizer="sgd", lr=1.0, epochs=1, batch_size=len(data.x_train), clip=clip,
                         clip_value=threshold, max_steps=1)
    _, raw = reference_gradients(weights, data.x_train, data.y_train, spec.activation)  # float64, by hand
    model, _ = train(spec, data, config, backend, weights)
    if backend == "torch":
        after = [(lin.weight.detach().numpy().T, lin.bias.detach().numpy()) for lin in model.linears]
    else:
        after = [(dense.kernel.numpy(), dense.bias.numpy()) for dense in model.dense]
    gradient = [g for pair in zip(raw.dW, raw.db) for g in pair]
    before = [v for pair in zip(weights.W, weights.b) for v in pair]
    update = [b - a for b, a in zip(before, (v for pair in after for v in pair))]
    return gradient, update


def variable_gradient_norms(spec=None) -> dict[str, list[float]]:
    """Norms of each weight matrix's and each bias's full-batch gradient at initialisation (NumPy)."""
    from ..data import digits
    from ..numpy_ref import gradients
    from ..spec import init_weights

    spec = spec if spec is not None else deep_linear_spec()
    data = digits(seed=0)
    _, grads = gradients(init_weights(spec, seed=0), data.x_train, data.y_train, spec.activation)
    return {"W": [float(np.linalg.norm(g)) for g in grads.dW], "b": [float(np.linalg.norm(g)) for g in grads.db]}


# what each rule is called where you write it
FRAMEWORK_CALLS = {
    ("torch", "global_norm"): "clip_grad_norm_(params, c)",
    ("torch", "norm_per_variable"): "clip_grad_norm_([p], c) for each p",
    ("torch", "value"): "clip_grad_value_(params, c)",
    ("keras", "global_norm"): "global_clipnorm=c",
    ("keras", "norm_per_variable"): "clipnorm=c",
    ("keras", "value"): "clipvalue=c",
}


def framework_clipping(threshold: float = 1.0, backends=("torch", "keras"),
                       rules=("global_norm", "norm_per_variable")) -> list[dict]:
    """For each backend and rule: the norm of the update, the largest per-variable norm, the angle
    between the update and the gradient, and its distance from the NumPy rule of the same name."""
    rows = []
    for backend in backends:
        for rule in rules:
            gradient, update = applied_updates(backend, rule, threshold)
            reference = clip_gradients(gradient, rule, threshold)
            rows.append({"backend": backend, "rule": rule, "call": FRAMEWORK_CALLS[backend, rule],
                         "gradient_norm": float(np.linalg.norm(flat(gradient))),
                         "update_norm": float(np.linalg.norm(flat(update))),
                         "largest_variable_norm": max(float(np.linalg.norm(u)) for u in update),
                         "angle_deg": angle_degrees(update, gradient),
                         "max_diff_from_numpy": float(np.max(np.abs(flat(update) - flat(reference))))})
    return rows


# ----- choosing the threshold ---------------------------------------------------------------------
def threshold_sweep(quantiles=(0.5, 0.9, 0.99, 1.0), observe_lr: float = 0.05, lr: float = 0.2,
                    steps: int = 150) -> tuple[np.ndarray, list[dict]]:
    """Record the exploding RNN's gradient norms in a stable run at `observe_lr`, then train at `lr`
    with global-norm clipping at each quantile of them. Returns (observed norms, one row per run)."""
    observed = np.asarray(train_exploding_rnn("none", lr=observe_lr, steps=steps).grad_norm)
    rows = [{"quantile": "no clipping", "threshold": float("nan"),
             **run_summary("", train_exploding_rnn("none", lr=lr, steps=steps))}]
    for quantile in quantiles:
        check_positive("quantile", quantile)
        threshold = float(np.quantile(observed, quantile))
        history = train_exploding_rnn("global_norm", threshold, lr, steps)
        rows.append({"quantile": f"{100 * quantile:g}%", "threshold": threshold, **run_summary("", history)})
    return observed, [{k: v for k, v in row.items() if k not in ("run", "test_acc")} for row in rows]


EXPERIMENTS = [
    Experiment(
        "clipping_cliff",
        cliff_descent,
        {
            "clip": Choice(("global_norm", "value", "none"), "global_norm", "clipping rule"),
            "threshold": Slider((2.0, 5.0, 10.0, 20.0, 50.0, 200.0), 20.0, "threshold", log=True),
            "lr": Slider((0.002, 0.005, 0.01, 0.02, 0.05), 0.01, "learning rate", log=True),
        },
    ),
    Experiment(
        "clipping_training",
        clipping_training,
        {
            "clip": Choice(CLIP_MODES, "global_norm", "clipping rule"),
            "threshold": Slider((0.1, 1.0, 10.0, 100.0, 1000.0), 1.0, "threshold", log=True),
            "lr": Slider((0.001, 0.003, 0.01, 0.03), 0.01, "learning rate", log=True),
            "optimizer": Choice(("sgd", "adam"), "sgd", "optimizer"),
        },
        explore=("clip", "threshold"),  # 20 runs: the lr stays at the default that needs clipping
    ),
]
