"""Chapter 8: residual connections. Plain against residual deep MLPs on the digits (gradient norms,
the degradation problem, deleting blocks), shattered gradients on a 1-D grid, a residual CNN in
both frameworks, and the widget over depth, skips, block type and normalisation."""
from __future__ import annotations

import math

import numpy as np

from .. import cnn, residual
from .._checks import check_choice, check_int, check_positive
from ..data import digits
from ..plots import Chart, Line, Subplot
from ..spec import MLPSpec
from ..training import TrainConfig
from ..widgets import Choice, Experiment

CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over the ten digits
WIDTH = 64
PROBE_SIZE = 256
NORM_NAMES = {"none": "", "batch": " + BN", "layer": " + LN"}
COLOR_KEYS = {(False, "none"): "C3", (True, "none"): "C0", (False, "batch"): "C1", (True, "batch"): "C2",
              (False, "layer"): "C4", (True, "layer"): "C9"}


def mlp_spec(depth: int, skips: bool, norm: str = "none", in_dim: int = 64, out_dim: int = 10,
             width: int = WIDTH, **changes) -> MLPSpec:
    """A ReLU, He-initialised MLP of `depth` hidden layers; with `skips` every hidden layer of equal
    width is a residual block h + relu(N(W h + b)) (N: the normalisation, if any)."""
    return MLPSpec(in_dim, out_dim, depth=depth, width=width, norm=norm, residual=skips, **changes)


def label(depth: int, skips: bool, norm: str) -> str:
    """A short name such as 'plain 50 + BN' or 'residual 50'."""
    return f"{'residual' if skips else 'plain'} {depth}{NORM_NAMES[norm]}"


def _flat():
    return digits(seed=0)


def init_probe(spec: MLPSpec, seed: int = 0, data=None, backend: str = "torch", dtype: str = "float32"):
    """A Snapshot of `spec` at initialisation (residual_weights) on 256 training digits."""
    check_choice("backend", backend, ("torch", "keras"))
    if backend == "torch":
        from .. import torch_backend as framework
    else:
        from .. import keras_backend as framework
    data = data if data is not None else _flat()
    model = framework.build_mlp(spec, residual.residual_weights(spec, seed), dtype=dtype)
    return framework.probe(model, data.x_train[:PROBE_SIZE], data.y_train[:PROBE_SIZE])


def init_profiles(depth: int = 50, seed: int = 0) -> Chart:
    """Per-layer gradient norms at initialisation of plain and residual MLPs, without and with BN."""
    depth = check_int("depth", depth, minimum=2)
    data, lines, rows = _flat(), [], []
    for norm in ("none", "batch"):
        for skips in (False, True):
            snap = init_probe(mlp_spec(depth, skips, norm), seed, data)
            norms, hidden = snap["grad_norm"], snap["act_grad_norm"]
            name = label(depth, skips, norm)
            lines.append(Line(np.arange(1, depth + 2), norms, name, COLOR_KEYS[skips, norm]))
            rows.append({"network": name, "first layer": norms[0], "last hidden": norms[depth - 1],
                         "output layer": norms[depth], "first / last hidden": norms[0] / norms[depth - 1],
                         "dL/dh first / last": hidden[0] / hidden[-1]})
    subplot = Subplot(lines, f"{depth} hidden layers at initialisation", "layer (input → output)",
                      "gradient norm ||dL/dW||", logy=True)
    return Chart([subplot], table=rows, extra={"norms": {line.label: line.y for line in lines}})


def degradation(shallow: int = 10, deep: int = 50, steps: int = 100, lr: float = 1e-3, seed: int = 0) -> Chart:
    """Train plain `shallow`, plain `deep` and residual `deep` MLPs, without and with BN, on the same
    batches with Adam; table of training loss, test accuracy and first / last gradient ratios."""
    from .. import torch_backend

    shallow, deep = check_int("shallow", shallow), check_int("deep", deep, minimum=shallow + 1)
    steps, lr = check_int("steps", steps), check_positive("lr", lr)
    data = _flat()
    config = TrainConfig(optimizer="adam", lr=lr, epochs=steps, batch_size=64, max_steps=steps, shuffle_seed=seed)
    rows, curves, profiles, models, histories = [], [], [], {}, {}
    for norm in ("none", "batch"):
        for depth, skips in ((shallow, False), (deep, False), (deep, True)):
            spec, name = mlp_spec(depth, skips, norm), label(depth, skips, norm)
            model = torch_backend.build_mlp(spec, residual.residual_weights(spec, seed))
            at_init = torch_backend.probe(model, data.x_train[:PROBE_SIZE], data.y_train[:PROBE_SIZE])["grad_norm"]
            history = torch_backend.train(model, data, config)
            late = np.median(np.array(history.layer_grad_norms[-20:]), axis=0)
            models[name], histories[name] = model, history
            rows.append({"network": name, "train loss": history.final_loss, "test accuracy": history.test_acc[-1],
                         "first / last hidden (init)": at_init[0] / at_init[depth - 1],
                         "first / last hidden (end)": late[0] / late[depth - 1]})
            key = COLOR_KEYS[skips, norm]
            curves.append(Line(np.arange(1, history.steps + 1), _smooth(history.loss), name, key,
                               dashed=depth == shallow))
            if depth == deep:
                profiles.append(Line(np.arange(1, depth + 2), late, name, key))
    subplots = [
        Subplot(curves, f"training loss (Adam, lr {lr:g}, smoothed over 10 steps)", "step", "cross-entropy",
                logy=True, reference=CHANCE_LOSS, reference_label="chance (ln 10)"),
        Subplot(profiles, "gradient norms by layer, last 20 steps (median)", "layer (input → output)",
                "gradient norm ||dL/dW||", logy=True),
    ]
    return Chart(subplots, title=f"plain {shallow} and {deep} against residual {deep} hidden layers", table=rows,
                 extra={"models": models, "histories": histories, "data": data})


def _smooth(values, window: int = 10) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.array([values[max(0, i - window + 1): i + 1].mean() for i in range(len(values))])


def shattered(depths=(2, 5, 10, 20, 50), seeds: int = 3, points: int = 256, width: int = 128,
              norm: str = "batch") -> Chart:
    """d(output)/d(input) of 1-D networks over `points` inputs in [-2, 2] (Balduzzi et al.'s setting:
    ReLU, He initialisation, BN over the grid); the lag-1 autocorrelation by depth, averaged over seeds."""
    seeds, points = check_int("seeds", seeds), check_int("points", points, minimum=8)
    check_choice("norm", norm, ("none", "batch", "layer"))
    x = np.linspace(-2, 2, points)[:, None]
    rows, shapes, correlations = [], [], {False: [], True: []}
    for depth in depths:
        row = {"depth": depth}
        for skips in (False, True):
            spec = mlp_spec(depth, skips, norm, in_dim=1, out_dim=1, width=width, bias_init="pytorch_default")
            lag1 = []
            for seed in range(seeds):
                grads = residual.input_gradients(spec, residual.residual_weights(spec, seed), x).ravel()
                lag1.append(residual.autocorrelation(grads, 1)[1])
                if seed == 0 and depth == max(depths):  # the residual curve is shifted up to be seen
                    shapes.append(Line(x.ravel(), grads / grads.std() + (8 if skips else 0),
                                       label(depth, skips, norm) + (" (+8)" if skips else ""), COLOR_KEYS[skips, norm]))
            row["plain" if not skips else "residual"] = float(np.mean(lag1))
            correlations[skips].append(float(np.mean(lag1)))
        rows.append(row)
    subplots = [
        Subplot(shapes, f"input gradient at depth {max(depths)} (seed 0, divided by its std)", "input x",
                "d output / dx (standardised)"),
        Subplot([Line(np.array(depths), correlations[skips], "residual" if skips else "plain",
                      COLOR_KEYS[skips, norm]) for skips in (False, True)],
                f"lag-1 autocorrelation of the input gradient (mean of {seeds} seeds)", "depth (hidden layers)",
                "autocorrelation", reference=0.0, reference_label="white noise"),
    ]
    return Chart(subplots, title="shattered gradients: plain networks turn the gradient into noise", table=rows)


def lesion(models: dict, data, names) -> Chart:
    """Test accuracy of each trained network in `names` with one hidden layer (block) deleted at a
    time, beside the intact network's; and the binomial distribution of path lengths."""
    rows, lines = [], []
    for name in names:
        model = models[name]
        intact = residual.accuracy_without(model, data.x_test, data.y_test)
        deletable = [i for i in range(model.spec.depth) if model.spec.layer_sizes[i] == model.spec.layer_sizes[i + 1]]
        accuracies = np.array([residual.accuracy_without(model, data.x_test, data.y_test, [i]) for i in deletable])
        rows.append({"network": name, "intact": intact, "mean, one deleted": float(accuracies.mean()),
                     "worst, one deleted": float(accuracies.min()),
                     "share of deletions within 0.05": float(np.mean(accuracies >= intact - 0.05))})
        lines.append(Line(np.array(deletable) + 1, accuracies, name, COLOR_KEYS[model.spec.residual, model.spec.norm]))
    n_blocks = max(models[name].spec.depth for name in names)
    counts = residual.path_length_counts(n_blocks)
    subplots = [
        Subplot(lines, "test accuracy with one layer deleted", "deleted layer (input → output)", "test accuracy",
                reference=0.1, reference_label="chance"),
        Subplot([Line(np.arange(n_blocks + 1), counts / counts.sum(), f"{n_blocks} blocks", "C0")],
                "share of paths through k blocks", "path length k (blocks)", "share of the 2^n paths"),
    ]
    return Chart(subplots, title="deleting one layer at test time", table=rows)


def cnn_frameworks(depth: int = 11, epochs: int = 2, lr: float = 3e-3, seed: int = 0) -> Chart:
    """Train one residual CNN with BN (ch. 9's blocks, 1x1 projection on the stride-2 block) in
    PyTorch and in Keras from the same kernels and batches; table of loss and accuracy."""
    data = digits(images=True, seed=0)
    spec = cnn.CNNSpec(depth=depth, batch_norm=True, residual=True)
    weights = cnn.init_cnn_weights(spec, seed=seed)
    config = TrainConfig(optimizer="adam", lr=lr, epochs=epochs, batch_size=64, shuffle_seed=seed)
    rows, curves = [], []
    for backend in cnn.BACKENDS:
        _, history = cnn.train(spec, data, config, backend, weights)
        rows.append({"framework": backend, "first-layer grad, step 1": float(history.layer_grad_norms[0][0]),
                     "first loss": history.loss[0],
                     "final train loss": history.final_loss, "test accuracy": history.test_acc[-1]})
        curves.append(Line(np.arange(1, history.steps + 1), history.loss, backend, backend))
    subplot = Subplot(curves, f"residual CNN, {depth} convs + BN: training loss", "step", "cross-entropy",
                      reference=CHANCE_LOSS, reference_label="chance (ln 10)")
    return Chart([subplot], table=rows)


def explore(depth: int = 20, skips: bool = True, block: str = "dense", norm: str = "batch", steps: int = 30) -> Chart:
    """The widget: gradient norms by layer at initialisation and after `steps` Adam steps, and the
    loss, for a dense (MLP) or conv network of `depth` layers after the first."""
    check_choice("block", block, ("dense", "conv"))
    check_choice("norm", norm, ("none", "batch"))
    steps = check_int("steps", steps)
    from .. import torch_backend

    config = TrainConfig(optimizer="adam", lr=1e-3 if block == "dense" else 3e-3, epochs=steps, max_steps=steps)
    if block == "dense":
        from .. import torch_backend as framework

        data, spec = _flat(), mlp_spec(depth, skips, norm)
        model = framework.build_mlp(spec, residual.residual_weights(spec))
    else:
        from .. import cnn_torch as framework

        data = digits(images=True, seed=0)
        spec = cnn.CNNSpec(depth=depth + 1, batch_norm=norm == "batch", residual=skips)
        weights = cnn.init_cnn_weights(spec, seed=0)
        if skips and norm == "none":  # scale each block's second conv, as residual_weights does for MLPs
            for index, layer in enumerate(cnn.conv_plan(spec)):
                if layer.block >= 0 and layer.position == 1:
                    weights.kernels[index] *= 1 / math.sqrt(spec.n_blocks)
        model = framework.build_cnn(spec, weights)
    batch = data.x_train[:PROBE_SIZE], data.y_train[:PROBE_SIZE]
    before = framework.probe(model, *batch)["grad_norm"]
    history = torch_backend.train(model, data, config, probe_fn=framework.probe)
    after = framework.probe(model, *batch)["grad_norm"] if history.diverged_at is None else np.full_like(before, np.nan)
    layers, key = np.arange(1, len(before) + 1), COLOR_KEYS[skips, norm]
    subplots = [
        Subplot([Line(layers, before, "at initialisation", key, dashed=True),
                 Line(layers, after, f"after {history.steps} steps", key)],
                "gradient norm by layer", "layer (input → output)", "gradient norm ||dL/dW||", logy=True),
        Subplot([Line(np.arange(1, history.steps + 1), history.loss, "training loss", key)],
                "training loss", "step", "cross-entropy", reference=CHANCE_LOSS, reference_label="chance (ln 10)"),
    ]
    name = f"{block}, {'residual' if skips else 'plain'}, {depth} layers{NORM_NAMES[norm]}"
    message = f"{history.status}; first / last hidden gradient at init {before[0] / before[-2]:.1e}"
    return Chart(subplots, title=name, message=message, extra={"history": history})


EXPERIMENTS = [
    Experiment(
        "residual_connections",
        explore,
        {
            "depth": Choice((4, 20, 50), 20, "depth"),
            "skips": Choice((False, True), True, "residual"),
            "block": Choice(("dense", "conv"), "dense", "block type"),
            "norm": Choice(("none", "batch"), "batch", "normalisation"),
        },
        explore=("depth", "skips", "norm"),
    )
]
