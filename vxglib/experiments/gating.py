"""Chapter 11: gated recurrent cells. ||dL/dh_t|| (and the LSTM cell's ||dL/dc_t||) against t for
RNN, LSTM and GRU, the forget gate's bias and the cell gradient's per-step factor, and the memory
task at growing dependency lengths for all three cells."""
from __future__ import annotations

import numpy as np

from .. import data as datasets
from .. import rnn, table
from ..plots import Chart, Line, Subplot
from ..widgets import Choice, Experiment, Slider
from .rnn import PROBE_BATCH, gradient_profile

CELL_LABELS = {"rnn": "vanilla RNN", "lstm": "LSTM", "gru": "GRU"}


def compare_cells(cells=("rnn", "lstm", "gru"), length: int = 50, hidden: int = 32,
                  forget_bias: float = 1.0, spectral_radius: float = 1.0) -> Chart:
    """||dL/dh_t|| against t for each cell at initialisation on the same memory-task batch, the
    LSTM's ||dL/dc_t|| dashed, and a table of per-step factors."""
    lines, rows = [], []
    steps = np.arange(1, length + 1)
    for cell in cells:
        profile = gradient_profile(spectral_radius, length, "tanh", hidden, cell, input_scale=1.0,
                                   forget_bias=forget_bias)
        lines.append(Line(steps, profile["h_grad"], f"{CELL_LABELS[cell]}: h", cell))
        if profile["c_grad"] is not None:
            lines.append(Line(steps[:-1], profile["c_grad"][:-1], "LSTM: cell state c", cell, dashed=True))
        rows.append({"cell": cell, "factor of ||dL/dh_t||": profile["factor"],
                     "factor of ||dL/dc_t||": profile["c_factor"],
                     "||dL/dh_1|| / ||dL/dh_T||": profile["first_over_last"]})
    finite = all(np.all(np.isfinite(line.y)) for line in lines)
    return Chart([Subplot(lines, f"{hidden} units, forget/update-gate bias {forget_bias:g}", "time step t",
                          "gradient norm", logy=True)],
                 title="Gates give the gradient a path whose factor can stay near 1",
                 table=table(rows, digits=3), message="" if finite else "the gradient overflowed (inf/NaN)")


def forget_gate_study(biases=(0.0, 1.0, 3.0), length: int = 50, hidden: int = 32,
                      spectral_radius: float = 1.0, input_scale: float = 1.0, seed: int = 0):
    """Per forget-gate bias: sigma(b), the measured mean forget gate, and the per-step factor of
    ||dL/dc_t|| measured with the full recurrence and with W_hh = 0 (the carousel alone)."""
    task = datasets.memory_task(n=2 * PROBE_BATCH, length=length, seed=seed)
    x = task.x_train[:PROBE_BATCH]
    rows = []
    for bias in biases:
        spec = rnn.RNNSpec(task.in_dim, task.out_dim, hidden=hidden, cell="lstm",
                           spectral_radius=spectral_radius, input_scale=input_scale, forget_bias=bias)
        forget = rnn.keep_gate(spec, rnn.init_rnn_weights(spec, seed=seed), x)
        carousel = gradient_profile(0.0, length, "tanh", hidden, "lstm", input_scale, bias, seed)
        full = gradient_profile(spectral_radius, length, "tanh", hidden, "lstm", input_scale, bias, seed)
        rows.append({"forget bias b": bias, "σ(b)": float(1 / (1 + np.exp(-bias))),
                     "mean forget gate": float(forget.mean()),
                     "c factor, W_hh = 0": carousel["c_factor"], f"c factor, ρ = {spectral_radius:g}": full["c_factor"]})
    return table(rows, digits=3)


def gated_gradient(cell: str = "lstm", length: int = 50, forget_bias: float = 1.0) -> Chart:
    """The widget: the chosen cell's gradient against t, with the vanilla RNN's for reference."""
    cells = ("rnn", cell) if cell != "rnn" else ("rnn",)
    return compare_cells(cells, length, forget_bias=forget_bias)


EXPERIMENTS = [
    Experiment(
        "gated_gradient_vs_time",
        gated_gradient,
        {
            "cell": Choice(rnn.CELLS, "lstm", "cell"),
            "length": Choice((10, 25, 50, 100), 50, "sequence length T"),
            "forget_bias": Slider((-1.0, 0.0, 1.0, 2.0, 3.0), 1.0, "forget/update-gate bias"),
        },
    )
]
