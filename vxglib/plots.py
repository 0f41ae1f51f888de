"""The book's figures in one style: log-scale gradient norms by layer, layer x step heat maps,
per-layer histograms and training curves, plus `Chart`, the plain description of a figure that
an experiment returns and that both matplotlib (here) and the HTML explorers can draw."""
from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

# One colour per activation, initialiser or variant, used in every chapter.
COLORS = {
    "sigmoid": "#d62728", "tanh": "#ff7f0e", "relu": "#1f77b4", "leaky_relu": "#17becf",
    "elu": "#9467bd", "gelu": "#8c564b", "selu": "#e377c2", "swish": "#bcbd22", "linear": "#7f7f7f",
    "pytorch_default": "#7f7f7f", "keras_default": "#c49c94", "xavier_uniform": "#2ca02c",
    "xavier_normal": "#98df8a", "he_normal": "#1f77b4", "he_uniform": "#aec7e8",
    "lecun_normal": "#e377c2", "orthogonal": "#9467bd", "normal": "#ff9896", "torch": "#ee4c2c",
    "keras": "#d00000", "theory": "black",
}
_FALLBACK = plt.get_cmap("tab10").colors


def color(name: str, index: int = 0) -> str:
    """The book's colour for `name`, or a tab10 colour by `index` for other names; a key "C0".."C9"
    or "#rrggbb" names its colour directly (to pair a measured line with its dashed prediction)."""
    if name.startswith("#") or (name[:1] == "C" and name[1:].isdigit()):
        return matplotlib.colors.to_hex(name)
    return COLORS.get(name, matplotlib.colors.to_hex(_FALLBACK[index % len(_FALLBACK)]))


def use_style() -> None:
    """The book's matplotlib style: compact figures, grid, readable fonts, fixed dpi."""
    plt.rcParams.update({
        "figure.figsize": (7.0, 3.6), "figure.dpi": 90, "savefig.dpi": 90, "axes.grid": True,
        "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "font.size": 10, "axes.titlesize": 10.5, "legend.fontsize": 8.5, "legend.frameon": False,
        "figure.constrained_layout.use": True, "svg.hashsalt": "vxglib",
    })


@dataclass
class Line:
    """One curve: x and y values, a legend label and the colour key."""

    x: np.ndarray
    y: np.ndarray
    label: str = ""
    color_key: str = ""
    dashed: bool = False


@dataclass
class Subplot:
    """One set of axes: its lines, labels, scales and an optional horizontal reference line."""

    lines: list[Line]
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    logy: bool = False
    logx: bool = False
    reference: float | None = None
    reference_label: str = ""
    xlim: tuple[float, float] | None = None  # fixed axis limits (e.g. a map a path may leave)
    ylim: tuple[float, float] | None = None


@dataclass
class Chart:
    """What an experiment returns: subplots to draw, a table of the numbers behind them and a
    one-line message (for example "diverged at step 12")."""

    subplots: list[Subplot]
    title: str = ""
    table: object = None
    message: str = ""
    extra: dict = field(default_factory=dict)


def draw_subplot(subplot: Subplot, ax=None):
    """Draw one Subplot on `ax` (a new one if None) and return the axes."""
    ax = ax if ax is not None else plt.gca()
    for index, line in enumerate(subplot.lines):
        y = np.asarray(line.y, dtype=float)
        if subplot.logy:
            y = np.where(y > 0, y, np.nan)
        ax.plot(line.x, y, label=line.label or None, color=color(line.color_key or line.label, index),
                linestyle="--" if line.dashed else "-", marker="o" if len(y) <= 40 else None, markersize=3)
    if subplot.reference is not None:
        ax.axhline(subplot.reference, color="black", linewidth=0.8, linestyle=":",
                   label=subplot.reference_label or None)
    ax.set(title=subplot.title, xlabel=subplot.xlabel, ylabel=subplot.ylabel)
    if subplot.logy:
        ax.set_yscale("log")
    if subplot.logx:
        ax.set_xscale("log")
    if subplot.xlim is not None:
        ax.set_xlim(*subplot.xlim)
    if subplot.ylim is not None:
        ax.set_ylim(*subplot.ylim)
    if any(line.label for line in subplot.lines) or subplot.reference_label:
        ax.legend()
    return ax


def render(chart: Chart, width: float = 4.2, height: float = 3.4):
    """A matplotlib Figure with one panel per Subplot, side by side; the message goes in the title."""
    n = len(chart.subplots)
    figure, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    for subplot, ax in zip(chart.subplots, axes[0]):
        draw_subplot(subplot, ax)
    title = chart.title + (f"\n{chart.message}" if chart.message else "")
    if title:
        figure.suptitle(title)
    return figure


def grad_norms_by_layer(norms: dict[str, np.ndarray], ax=None, title: str = "",
                        ylabel: str = "gradient norm ||dL/dW||", reference: float | None = None):
    """Per-layer gradient norms on a log scale, layer 1 (input side) on the left, one line per key."""
    subplot = Subplot([Line(np.arange(1, len(v) + 1), v, label) for label, v in norms.items()],
                      title, "layer (input → output)", ylabel, logy=True, reference=reference)
    return draw_subplot(subplot, ax)


def layer_step_heatmap(values: np.ndarray, steps: np.ndarray | None = None, ax=None, title: str = "",
                       label: str = "log10 gradient norm"):
    """A layer x step heat map of log10(values); `values` has shape (n_steps, n_layers)."""
    ax = ax if ax is not None else plt.gca()
    values = np.asarray(values, dtype=float)
    steps = np.arange(len(values)) if steps is None else np.asarray(steps)
    logs = np.log10(np.where(values > 0, values, np.nan))
    image = ax.imshow(logs.T, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest",
                      extent=(steps[0], steps[-1] + 1, 0.5, values.shape[1] + 0.5))
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set(title=title, xlabel="training step", ylabel="layer (input → output)")
    ax.grid(False)
    return ax


def layer_histograms(arrays: list[np.ndarray], ax=None, title: str = "", xlabel: str = "value",
                     bins: int = 60, value_range: tuple[float, float] | None = None,
                     layers: list[int] | None = None):
    """Overlaid per-layer histograms (Glorot & Bengio's figures): one outline per layer, coloured
    from light (input side) to dark (output side); `layers` numbers them (default 1, 2, ...)."""
    ax = ax if ax is not None else plt.gca()
    flat = [np.ravel(a) for a in arrays]
    if value_range is None:
        spread = max(float(np.percentile(np.abs(f), 99.5)) for f in flat) or 1.0
        value_range = (-spread, spread)
    shades = plt.get_cmap("viridis")(np.linspace(0.9, 0.1, len(flat)))
    for index, (values, shade) in enumerate(zip(flat, shades)):
        ax.hist(values, bins=bins, range=value_range, histtype="step", color=shade, density=True,
                label=f"layer {layers[index] if layers is not None else index + 1}")
    ax.set(title=title, xlabel=xlabel, ylabel="density")
    ax.legend(ncol=2)
    return ax


def training_curves(curves: dict[str, np.ndarray], ax=None, title: str = "", ylabel: str = "training loss",
                    xlabel: str = "step", logy: bool = False, reference: float | None = None,
                    reference_label: str = ""):
    """Loss (or accuracy) curves, one per key, with an optional reference line (chance level)."""
    subplot = Subplot([Line(np.arange(1, len(v) + 1), v, label) for label, v in curves.items()],
                      title, xlabel, ylabel, logy=logy, reference=reference, reference_label=reference_label)
    return draw_subplot(subplot, ax)
