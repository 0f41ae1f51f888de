"""Chapter 10: backpropagation through time. ||dL/dh_t|| against t for several spectral radii of
W_hh (with the per-step factor theory predicts), and what a vanilla RNN can learn on the adding
problem and on a memory task whose dependency length is a parameter."""
from __future__ import annotations

import numpy as np

from .. import data as datasets
from .. import rnn
from .._checks import check_choice, check_int
from ..plots import Chart, Line, Subplot
from ..training import TrainConfig
from ..widgets import Choice, Experiment, Slider

ADDING_BASELINE = 1 / 6  # MSE of always predicting the mean target, Var(U1 + U2)
PROBE_BATCH = 128


def gradient_profile(spectral_radius: float = 1.0, length: int = 50, activation: str = "tanh",
                     hidden: int = 64, cell: str = "rnn", input_scale: float = 0.25,
                     forget_bias: float = 0.0, seed: int = 0) -> dict:
    """||dL/dh_t|| for t = 1..length of a fresh model on a memory-task batch (PyTorch), with the
    measured per-step factor, Pascanu's bound (spectral radius times max |phi'| = radius, as the
    recurrent blocks are orthogonal) and the mean-field estimate radius * rms(phi'(z_t))."""
    length = check_int("length", length, minimum=2)
    task = datasets.memory_task(n=2 * PROBE_BATCH, length=length, seed=seed)
    spec = rnn.RNNSpec(task.in_dim, task.out_dim, hidden=hidden, cell=cell, activation=activation,
                       spectral_radius=spectral_radius, input_scale=input_scale, forget_bias=forget_bias)
    model = rnn.build(spec, rnn.init_rnn_weights(spec, seed=seed), "torch")
    result = rnn.hidden_gradients(model, task.x_train[:PROBE_BATCH], task.y_train[:PROBE_BATCH])
    slopes = 1 - result["h"] ** 2 if activation == "tanh" else (result["h"] > 0).astype(float)
    result.update(
        factor=rnn.per_step_factor(result["h_grad"]),
        bound=spectral_radius,
        predicted=spectral_radius * float(np.sqrt(np.mean(slopes**2))),
        first_over_last=float(result["h_grad"][0] / result["h_grad"][-1]),
        c_factor=rnn.per_step_factor(result["c_grad"]) if result["c_grad"] is not None else float("nan"),
    )
    return result


def compare_radii(radii=(0.8, 0.9, 1.0, 1.1, 1.5), length: int = 50, activation: str = "tanh",
                  hidden: int = 64) -> Chart:
    """||dL/dh_t|| against t for each spectral radius, with a table of measured and predicted factors."""
    lines, rows = [], []
    for index, radius in enumerate(radii):
        profile = gradient_profile(radius, length, activation, hidden)
        steps = np.arange(1, length + 1)
        lines.append(Line(steps, profile["h_grad"], f"ρ = {radius:g}", f"radius{index}"))
        rows.append({"spectral radius": radius, "measured factor": profile["factor"],
                     "bound ρ·max|φ'|": profile["bound"], "mean-field ρ·rms φ'": profile["predicted"],
                     "||dL/dh_1|| / ||dL/dh_T||": profile["first_over_last"]})
    from .. import table

    finite = all(np.all(np.isfinite(line.y)) for line in lines)
    return Chart([Subplot(lines, f"{activation} RNN, {hidden} units", "time step t",
                          "gradient norm ||dL/dh_t||", logy=True)],
                 title="Backpropagation through time: a factor per step, raised to the distance",
                 table=table(rows, digits=3), message="" if finite else "the gradient overflowed (inf/NaN)")


def gradient_vs_time(spectral_radius: float = 1.0, length: int = 50, activation: str = "tanh",
                     hidden: int = 64) -> Chart:
    """The widget: one spectral radius, with the mean-field factor's line (dashed) beside the measurement."""
    chart = compare_radii((spectral_radius,), length, activation, hidden)
    profile = gradient_profile(spectral_radius, length, activation, hidden)
    steps = np.arange(1, length + 1)
    with np.errstate(over="ignore", under="ignore"):
        theory = profile["h_grad"][-1] * profile["predicted"] ** (steps - length).astype(float)
    chart.subplots[0].lines.append(Line(steps, theory, "(ρ·rms φ')^(T−t)", "theory", dashed=True))
    return chart


def train_on_task(task: str = "memory", cell: str = "rnn", length: int = 20, hidden: int = 32,
                  steps: int = 120, lr: float = 1e-2, forget_bias: float = 0.0, n: int = 2000,
                  batch_size: int = 128, spectral_radius: float = 1.0, input_scale: float = 1.0,
                  seed: int = 0):
    """Train a fresh model (PyTorch, Adam) on the memory task or the adding problem; return its History."""
    check_choice("task", task, ("memory", "adding"))
    dataset = (datasets.memory_task(n=n, length=length, seed=seed) if task == "memory"
               else datasets.adding_problem(n=n, length=length, seed=seed))
    spec = rnn.RNNSpec(dataset.in_dim, dataset.out_dim, hidden=hidden, cell=cell, forget_bias=forget_bias,
                       spectral_radius=spectral_radius, input_scale=input_scale)
    config = TrainConfig(optimizer="adam", lr=lr, epochs=1000, batch_size=batch_size, max_steps=steps,
                         shuffle_seed=seed)
    return rnn.train(spec, dataset, config, "torch", rnn.init_rnn_weights(spec, seed=seed))[1]


def accuracy_vs_length(cells=("rnn",), lengths=(5, 10, 20, 40), steps: int = 120,
                       forget_bias: float = 1.0) -> Chart:
    """Memory-task test accuracy after `steps` Adam steps, per dependency length and cell type."""
    from .. import table

    rows, lines = [], []
    for cell in cells:
        accuracies = [train_on_task("memory", cell, length, steps=steps, forget_bias=forget_bias).test_acc[-1]
                      for length in lengths]
        lines.append(Line(np.array(lengths), np.array(accuracies), cell, cell))
        rows += [{"cell": cell, "length": length, "test accuracy": acc} for length, acc in zip(lengths, accuracies)]
    return Chart([Subplot(lines, "memory task: recall the first of L symbols", "dependency length L",
                          "test accuracy", logx=True, reference=0.25, reference_label="chance (1/4)")],
                 title=f"After {steps} Adam steps", table=table(rows, digits=3))


EXPERIMENTS = [
    Experiment(
        "rnn_gradient_vs_time",
        gradient_vs_time,
        {
            "spectral_radius": Slider((0.5, 0.8, 0.9, 1.0, 1.1, 1.3, 1.5, 2.0), 1.0, "spectral radius ρ"),
            "length": Choice((10, 25, 50, 100), 50, "sequence length T"),
            "activation": Choice(rnn.RNN_ACTIVATIONS, "tanh", "activation"),
            "hidden": Choice((16, 64, 128), 64, "hidden units"),
        },
    )
]
