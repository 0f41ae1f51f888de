"""Chapter 3: vanishing gradients in deep sigmoid networks, measured layer by layer: the deep
digits MLP (sigmoid vs ReLU + He), the 5x5 circles MLP, gradient ratios at initialisation against
(1/4)^L, saturation, and the two frameworks' default initialisers."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .. import numpy_ref
from .._checks import check_choice, check_int, check_positive
from ..data import Dataset, circles, digits
from ..plots import Chart, Line, Subplot
from ..spec import ACTIVATIONS, INITS, MLPSpec, init_weights
from ..training import OPTIMIZERS, History, TrainConfig, train
from ..widgets import Choice, Experiment, Slider

DIGITS_CONFIG = TrainConfig(optimizer="adam", lr=1e-3, epochs=10, batch_size=64, probe_every=11)
CIRCLES_CONFIG = TrainConfig(optimizer="momentum", lr=0.03, epochs=40, batch_size=64, probe_every=12)
CIRCLES_INITS = {"sigmoid": "xavier_uniform", "tanh": "xavier_uniform", "relu": "he_uniform"}
_DATA: dict[str, Dataset] = {}


def digits_data() -> Dataset:
    """scikit-learn's digits, split with seed 0, loaded once."""
    return _DATA.setdefault("digits", digits(seed=0))


def circles_data() -> Dataset:
    """1,000 points on two circles, split with seed 0, loaded once."""
    return _DATA.setdefault("circles", circles(seed=0))


def digits_spec(activation: str = "sigmoid", init: str = "pytorch_default", depth: int = 10,
                width: int = 256) -> MLPSpec:
    """The chapter's deep digits MLP: `depth` hidden layers of `width` units, 10 softmax outputs."""
    return MLPSpec(64, 10, depth=depth, width=width, activation=activation, init=init)


def circles_spec(activation: str) -> MLPSpec:
    """The small circles MLP: 5 hidden layers of 5 units, Xavier (sigmoid, tanh) or He (ReLU)."""
    check_choice("activation", activation, tuple(CIRCLES_INITS))
    return MLPSpec(2, 2, depth=5, width=5, activation=activation, init=CIRCLES_INITS[activation])


def grad_ratio_at_init(activation: str, init: str, depth: int, width: int = 256, seed: int = 0) -> float:
    """||dL/dW_1|| / ||dL/dW_output|| at initialisation on 256 digits (NumPy reference, float64)."""
    spec = digits_spec(activation, init, depth, width)
    data = digits_data()
    _, grads = numpy_ref.gradients(init_weights(spec, seed=seed), data.x_train[:256],
                                   data.y_train[:256], activation)
    return float(np.linalg.norm(grads.dW[0]) / np.linalg.norm(grads.dW[-1]))


def saturation_at_init(init: str = "pytorch_default", weight_scale: float = 1.0, depth: int = 10,
                       width: int = 256, seed: int = 0) -> np.ndarray:
    """Fraction of saturated sigmoid units (phi' < 10% of 1/4) per hidden layer at initialisation."""
    from ..probes import saturated_fraction

    spec = digits_spec("sigmoid", init, depth, width).with_(weight_scale=weight_scale)
    cache = numpy_ref.forward(init_weights(spec, seed=seed), digits_data().x_train[:256], "sigmoid")
    return np.array([saturated_fraction("sigmoid", z) for z in cache.z[:-1]])


def per_epoch_stats(history: History) -> dict[str, np.ndarray]:
    """Per-layer weight and gradient mean and std at each probe: arrays (n_probes, n_layers)."""
    return {name: history.probe_array(name)
            for name in ("weight_mean", "weight_std", "grad_mean", "grad_std")}


def circles_figure(histories: dict[str, History]):
    """Glorot-style diagnostics of the circles runs: one row per activation, per-layer weight and
    gradient mean and std against epoch (layer 1 light, output layer dark)."""
    titles = {"weight_mean": "weight mean", "weight_std": "weight std",
              "grad_mean": "gradient mean", "grad_std": "gradient std (log)"}
    figure, axes = plt.subplots(len(histories), 4, figsize=(13, 2.6 * len(histories)), squeeze=False)
    for row, (activation, history) in enumerate(histories.items()):
        stats = per_epoch_stats(history)
        shades = plt.get_cmap("viridis")(np.linspace(0.9, 0.1, stats["grad_std"].shape[1]))
        for column, (name, values) in enumerate(stats.items()):
            ax = axes[row, column]
            for layer, shade in enumerate(shades):
                ax.plot(np.arange(len(values)), values[:, layer], color=shade, label=f"layer {layer + 1}")
            ax.set(title=f"{activation}: {titles[name]}", xlabel="epoch")
            if name == "grad_std":
                ax.set_yscale("log")
    axes[0, -1].legend(ncol=2, fontsize=7)
    return figure


def explore(activation: str = "sigmoid", depth: int = 10, width: int = 64, init: str = "pytorch_default",
            optimizer: str = "adam", lr: float = 1e-3, steps: int = 100) -> Chart:
    """Train a digits MLP for `steps` steps in PyTorch: loss curve and per-layer gradient norms."""
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("init", init, INITS)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    depth, width = check_int("depth", depth, maximum=40), check_int("width", width, maximum=512)
    lr, steps = check_positive("lr", lr), check_int("steps", steps)
    spec = digits_spec(activation, init, depth, width)
    config = TrainConfig(optimizer=optimizer, lr=lr, epochs=50, batch_size=64, max_steps=steps)
    _, history = train(spec, digits_data(), config, "torch", init_weights(spec, seed=0))
    norms = np.array(history.layer_grad_norms)
    layers = np.arange(1, norms.shape[1] + 1)
    accuracy = history.test_acc[-1] if history.test_acc else float("nan")
    chart = Chart(
        [Subplot([Line(np.arange(1, history.steps + 1), history.loss, activation, activation)],
                 "training loss", "step", "cross-entropy", reference=float(np.log(10)),
                 reference_label="chance: ln 10"),
         Subplot([Line(layers, norms[0], "step 0", activation),
                  Line(layers, norms[-1], f"step {history.steps - 1}", activation, dashed=True)],
                 "per-layer gradient norm", "layer (input → output)", "||dL/dW_l||", logy=True)],
        title=f"{activation} + {init}, {depth}×{width}, {optimizer} lr {lr:g}",
        message=f"{history.status}; test accuracy {accuracy:.2f}; "
                f"layer 1 / output gradient at step 0: {norms[0, 0] / norms[0, -1]:.1e}",
    )
    chart.extra["history"] = history
    return chart


EXPERIMENTS = [
    Experiment(
        "vanishing_training",
        explore,
        {
            "activation": Choice(("sigmoid", "tanh", "relu"), "sigmoid", "activation"),
            "depth": Slider((2, 5, 10, 20), 10, "hidden layers"),
            "width": Slider((16, 64, 256), 64, "width"),
            "init": Choice(("pytorch_default", "keras_default", "xavier_uniform", "he_normal"),
                           "pytorch_default", "initialisation"),
            "optimizer": Choice(("sgd", "momentum", "adam"), "adam", "optimizer"),
            "lr": Slider((1e-4, 1e-3, 1e-2, 1e-1), 1e-3, "learning rate", log=True),
        },
    )
]
