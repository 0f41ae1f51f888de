"""Chapter 6: the ReLU family. Each activation with its matching initialiser, dead ReLU units after
training, SELU's self-normalisation, and a panel that trains briefly and probes every layer."""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from .. import data, numpy_ref
from .._checks import check_choice, check_int, check_positive
from ..plots import Chart, Line, Subplot
from ..probes import dead_fraction
from ..spec import ACTIVATIONS, MLPSpec, init_weights
from ..training import TrainConfig
from ..widgets import Choice, Experiment, Slider

FAMILY = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "selu", "swish")
# the initialiser each activation is usually paired with (chapter 5)
MATCHING_INIT = {
    "sigmoid": "xavier_normal", "tanh": "xavier_normal", "relu": "he_normal", "leaky_relu": "he_normal",
    "elu": "he_normal", "gelu": "he_normal", "selu": "lecun_normal", "swish": "he_normal", "linear": "lecun_normal",
}


def curves(activation: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """phi(z) and phi'(z) on a grid."""
    check_choice("activation", activation, ACTIVATIONS)
    return numpy_ref.activate(activation, z), numpy_ref.derivative(activation, z)


def dead_units_after_training(activation: str, lr: float, bias: float = 0.0, depth: int = 4, width: int = 64,
                              steps: int = 100, seed: int = 0, optimizer: str = "adam") -> dict:
    """Train on the digits with `optimizer` from hidden biases set to `bias`; return the fraction of hidden
    units whose pre-activation is <= 0 on every training example (dead, for ReLU), the final loss
    and the status."""
    from .. import torch_backend

    check_choice("activation", activation, ACTIVATIONS)
    lr = check_positive("lr", lr)
    digits = data.digits(seed=seed)
    spec = MLPSpec(digits.in_dim, 10, depth=depth, width=width, activation=activation,
                   init=MATCHING_INIT[activation])
    weights = init_weights(spec, seed=seed)
    for hidden_bias in weights.b[:-1]:
        hidden_bias[:] = bias
    model = torch_backend.build_mlp(spec, weights)
    history = torch_backend.train(model, digits, TrainConfig(optimizer=optimizer, lr=lr, epochs=20, max_steps=steps,
                                                             shuffle_seed=seed))
    grads = torch_backend.gradients(model, digits.x_train, digits.y_train)
    return {"dead": float(np.mean([dead_fraction(z) for z in grads["z"]])), "final loss": history.final_loss,
            "status": history.status}


def self_normalisation(activation: str = "selu", init: str = "lecun_normal", depth: int = 60, width: int = 256,
                       input_mean: float = 0.0, input_std: float = 1.0, batch: int = 512,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of every hidden layer's activations (over units and examples) of a random MLP
    fed Gaussian inputs with the given mean and std."""
    depth, width = check_int("depth", depth), check_int("width", width)
    check_positive("input_std", input_std)
    spec = MLPSpec(width, 1, depth=depth, width=width, activation=activation, init=init)
    x = input_mean + input_std * np.random.default_rng(seed + 1).normal(size=(batch, width))
    with threadpool_limits(1), np.errstate(all="ignore"):
        cache = numpy_ref.forward(init_weights(spec, seed=seed), x, activation)
    hidden = cache.h[1:]  # the inputs of layers 2.., i.e. the outputs of the hidden layers
    return np.array([h.mean() for h in hidden]), np.array([h.std() for h in hidden])


def train_and_probe(activation: str = "relu", depth: int = 10, lr: float = 0.1, steps: int = 60,
                    width: int = 64) -> Chart:
    """Per-layer gradient norms at initialisation and after `steps` of SGD, and the dead (ReLU) or
    saturated fraction of every layer after training."""
    from .. import torch_backend

    check_choice("activation", activation, ACTIVATIONS)
    depth, steps = check_int("depth", depth), check_int("steps", steps)
    digits = data.digits(seed=0)
    spec = MLPSpec(digits.in_dim, 10, depth=depth, width=width, activation=activation,
                   init=MATCHING_INIT[activation])
    model = torch_backend.build_mlp(spec, init_weights(spec, seed=0))
    probe_batch = digits.x_train[:256], digits.y_train[:256]
    before = torch_backend.probe(model, *probe_batch)
    history = torch_backend.train(model, digits, TrainConfig(optimizer="sgd", lr=check_positive("lr", lr),
                                                             epochs=50, max_steps=steps))
    after = torch_backend.probe(model, *probe_batch) if history.diverged_at is None else None
    layers = np.arange(1, spec.n_layers + 1)
    grad_lines = [Line(layers, before["grad_norm"], "at initialisation", "theory", dashed=True)]
    fraction_lines = []
    if after is not None:
        grad_lines.append(Line(layers, after["grad_norm"], f"after {steps} steps", activation))
        hidden = np.arange(1, depth + 1)
        fraction_lines = [Line(hidden, after["frac_dead"], "dead (ReLU)", "relu"),
                          Line(hidden, after["frac_saturated"], "saturated", "sigmoid")]
    chart = Chart([Subplot(grad_lines, "gradient norm per layer", "layer (input → output)", "||dL/dW||", logy=True),
                   Subplot(fraction_lines, "after training", "hidden layer (input → output)", "fraction of units")],
                  title=f"{activation} + {MATCHING_INIT[activation]}, {depth} layers, SGD lr {lr:g}",
                  message=history.status + f", final loss {history.final_loss:.3g}")
    chart.extra["before"], chart.extra["after"], chart.extra["history"] = before, after, history
    return chart


EXPERIMENTS = [
    Experiment(
        "relu_family",
        train_and_probe,
        {
            "activation": Choice(FAMILY, "relu", "activation"),
            "depth": Slider((5, 10, 20, 30), 10, "depth"),
            "lr": Slider((0.01, 0.03, 0.1, 0.3, 1.0), 0.1, "learning rate", log=True),
        },
    )
]
