"""Chapter 9: gradients in deep plain and residual CNNs on the 8x8 digits, and the mitigations
(ReLU, He initialisation, batch normalisation, residual blocks) stacked one by one."""
from __future__ import annotations

import math

import numpy as np

from .. import cnn
from .._checks import check_int, check_positive
from ..data import digits
from ..plots import Chart, Line, Subplot
from ..spec import init_std
from ..training import TrainConfig
from ..widgets import Choice, Experiment

CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over the ten digits
PROBE_SIZE = 256
# Each step adds one change to the one before it: the ladder of the chapter's table.
LADDER = (
    ("sigmoid, default init", dict(activation="sigmoid", init="pytorch_default")),
    ("+ ReLU", dict(activation="relu", init="pytorch_default")),
    ("+ He init", dict(activation="relu", init="he_normal")),
    ("+ batch norm", dict(activation="relu", init="he_normal", batch_norm=True)),
    ("+ residual", dict(activation="relu", init="he_normal", batch_norm=True, residual=True)),
)


def _images():
    return digits(images=True, seed=0)


def init_probe(spec: cnn.CNNSpec, seed: int = 0, backend: str = "torch", data=None, dtype: str = "float32"):
    """A Snapshot of `spec` at initialisation, on the first 256 training images."""
    data = data if data is not None else _images()
    model = cnn.build(spec, cnn.init_cnn_weights(spec, seed=seed), backend, dtype)
    return cnn.probe(model, data.x_train[:PROBE_SIZE], data.y_train[:PROBE_SIZE])


def init_grad_norms(spec: cnn.CNNSpec, seed: int = 0, backend: str = "torch", data=None,
                    dtype: str = "float32") -> np.ndarray:
    """Per-layer gradient norms ||dL/dW|| of `spec` at initialisation, on the first 256 images."""
    return init_probe(spec, seed, backend, data, dtype)["grad_norm"]


def predicted_factor(activation: str, init: str, kernel_size: int = 3, channels: int = 8) -> float:
    """sqrt(k^2 C Var(W) E[phi'(z)^2]): the backward factor per conv layer, ignoring the border
    (for the sigmoid an upper bound, from phi' <= 1/4)."""
    fan = kernel_size**2 * channels
    slope_squared = {"relu": 0.5, "sigmoid": 1 / 16, "tanh": 1.0}[activation]
    return math.sqrt(fan * init_std(init, fan, fan) ** 2 * slope_squared)


def measured_factors(spec: cnn.CNNSpec, act_grad_norms: np.ndarray) -> list[float]:
    """Per-stage geometric-mean factor of ||dL/dh|| per conv layer (inside each stage, where every
    layer has the same shape; the stem and the stride-2 conv are left out)."""
    plan, factors, start = cnn.conv_plan(spec), [], 1
    for index in range(1, len(plan) + 1):
        if index == len(plan) or plan[index].stride != 1:
            layers = index - 1 - start
            factors.append(float((act_grad_norms[start] / act_grad_norms[index - 1]) ** (1 / layers)))
            start = index + 1
    return factors


def activation_init_grid(depth: int = 21, activations=("sigmoid", "relu"),
                         inits=("pytorch_default", "he_normal")) -> Chart:
    """Per-layer gradient norms at initialisation of a plain CNN, one line per (activation, init)."""
    depth = check_int("depth", depth, minimum=5)
    data, lines, rows = _images(), [], []
    for activation in activations:
        for init in inits:
            spec = cnn.CNNSpec(depth=depth, activation=activation, init=init)
            snapshot = init_probe(spec, data=data)
            norms = snapshot["grad_norm"]
            lines.append(Line(np.arange(1, len(norms) + 1), norms, f"{activation}, {init}", activation,
                              dashed=init != "he_normal"))
            factors = measured_factors(spec, snapshot["act_grad_norm"])
            rows.append({"activation": activation, "init": init, "first layer": norms[0],
                         "last conv": norms[-2], "first / last conv": norms[0] / norms[-2],
                         "factor (theory)": predicted_factor(activation, init, spec.kernel_size, spec.channels),
                         "factor 8x8": factors[0], "factor 4x4": factors[-1]})
    subplot = Subplot(lines, f"plain {depth}-conv CNN at initialisation", "layer (input → output)",
                      "gradient norm ||dL/dW||", logy=True)
    return Chart([subplot], table=rows, extra={"norms": {line.label: line.y for line in lines}})


def ladder(depth: int = 21, epochs: int = 3, lr: float = 3e-3, seed: int = 0) -> Chart:
    """Train the five LADDER networks (same data, batches and seed); per-layer gradient norms at
    initialisation, training curves, and a table of first-layer gradient, final loss and accuracy."""
    depth, epochs = check_int("depth", depth, minimum=5), check_int("epochs", epochs)
    lr = check_positive("lr", lr)
    data, rows, curves, profiles, histories = _images(), [], [], [], {}
    config = TrainConfig(optimizer="adam", lr=lr, epochs=epochs, batch_size=64, shuffle_seed=seed)
    for index, (name, changes) in enumerate(LADDER):
        spec = cnn.CNNSpec(depth=depth, **changes)
        weights = cnn.init_cnn_weights(spec, seed=seed)
        norms = init_grad_norms(spec, seed, data=data)
        _, history = cnn.train(spec, data, config, "torch", weights)
        histories[name] = history
        rows.append({"network": name, "first-layer grad": norms[0], "first / last conv": norms[0] / norms[-2],
                     "final train loss": history.final_loss, "test accuracy": history.test_acc[-1]})
        steps = np.arange(1, history.steps + 1)
        curves.append(Line(steps, history.loss, name, f"ladder{index}"))
        profiles.append(Line(np.arange(1, len(norms) + 1), norms, name, f"ladder{index}"))
    subplots = [
        Subplot(profiles, "gradient norms at initialisation", "layer (input → output)",
                "gradient norm ||dL/dW||", logy=True),
        Subplot(curves, f"training loss ({epochs} epochs, Adam lr {lr:g})", "step", "cross-entropy",
                reference=CHANCE_LOSS, reference_label="chance (ln 10)"),
    ]
    return Chart(subplots, title=f"{depth}-conv CNN on the digits: the mitigations one by one", table=rows,
                 extra={"histories": histories})


def explore(depth: int = 21, activation: str = "relu", init: str = "he_normal", batch_norm: bool = False,
            residual: bool = False, steps: int = 20) -> Chart:
    """The widget: gradient norms by layer at initialisation and after `steps` Adam steps, and the loss."""
    spec = cnn.CNNSpec(depth=depth, activation=activation, init=init, batch_norm=batch_norm, residual=residual)
    data = _images()
    weights = cnn.init_cnn_weights(spec, seed=0)
    before = init_grad_norms(spec, data=data)
    config = TrainConfig(optimizer="adam", lr=3e-3, epochs=2, batch_size=64, max_steps=steps)
    model, history = cnn.train(spec, data, config, "torch", weights)
    after = cnn.probe(model, data.x_train[:PROBE_SIZE], data.y_train[:PROBE_SIZE])["grad_norm"]
    layers = np.arange(1, spec.n_layers + 1)
    subplots = [
        Subplot([Line(layers, before, "at initialisation", activation, dashed=True),
                 Line(layers, after, f"after {history.steps} steps", activation)],
                "gradient norm by layer", "layer (input → output)", "gradient norm ||dL/dW||", logy=True),
        Subplot([Line(np.arange(1, history.steps + 1), history.loss, "training loss", activation)],
                "training loss", "step", "cross-entropy", reference=CHANCE_LOSS, reference_label="chance (ln 10)"),
    ]
    name = f"{depth} convs, {activation}, {init}" + (", BN" if batch_norm else "") + (", residual" if residual else "")
    message = f"{history.status}; first/last conv gradient at init {before[0] / before[-2]:.1e}"
    return Chart(subplots, title=name, message=message, extra={"history": history})


EXPERIMENTS = [
    Experiment(
        "cnn_gradients",
        explore,
        {
            "depth": Choice((5, 11, 21, 31), 21, "conv layers"),
            "activation": Choice(("sigmoid", "tanh", "relu"), "relu"),
            "init": Choice(("pytorch_default", "xavier_uniform", "he_normal"), "he_normal", "initialisation"),
            "batch_norm": Choice((False, True), False, "batch norm"),
            "residual": Choice((False, True), False, "residual"),
        },
        explore=("activation", "batch_norm", "residual"),
    )
]
