"""A gradient monitor's framework-neutral half: the per-layer, per-step `Record`, the `findings`
that turn it into diagnoses with evidence, and the report figure.

`monitor_torch` (hooks on an unchanged nn.Module and optimizer) and `monitor_keras` (a callback
for `model.fit`, and a helper for GradientTape loops) fill the same Record with the same columns,
so a run looks the same whichever framework trained it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ._checks import check_choice

COLUMNS = ("grad_norm", "weight_norm", "update_ratio", "act_mean", "act_std", "frac_saturated",
           "frac_dead", "nonfinite")
# Thresholds of the findings. Each is a rule of thumb, stated with its number in the field guide.
VANISHING_INDEX = 1e-2      # first/last layer gradient norm below this: vanishing
VANISHING_LAYER = 0.1       # a layer whose gradient is under 10% of the output layer's is listed
EXPLODING_INDEX = 1e2       # first/last layer gradient norm above this: exploding with depth
SPIKE_FACTOR = 1e2          # a gradient norm 100x its early median: exploding in time
SATURATED = 0.2             # a layer with over 20% of its pre-activations saturated
DEAD = 0.5                  # a layer with over half its units dead on the whole batch
UPDATE_BAND = (1e-5, 1e-1)  # median update/weight ratio outside this band (rule of thumb: 1e-3)
LOSS_BLOWUP = 1e2           # a logged loss 100x its first value: divergence
SATURATING = ("sigmoid", "tanh")
DYING = ("relu",)
# z beyond which phi'(z) < 10% of its largest value (the saturation level of vxglib.probes)
SATURATION_Z = {"sigmoid": 2 * math.acosh(math.sqrt(0.1) ** -1), "tanh": math.acosh(math.sqrt(0.1) ** -1)}


def saturation_threshold(activation: str | None, on_output: bool = False) -> float | None:
    """|z| beyond which a unit counts as saturated (None if `activation` does not saturate); with
    `on_output`, the same level measured on h = phi(z), as a recurrent layer's output gives it."""
    threshold = SATURATION_Z.get(activation)
    if threshold is None or not on_output:
        return threshold
    return math.tanh(threshold) if activation == "tanh" else 1 / (1 + math.exp(-threshold))

REMEDIES = {
    "vanishing": ("ch. 5 initialisation (Xavier/He by activation)", "ch. 6 ReLU-family activations",
                  "ch. 7 normalisation layers", "ch. 11 gated cells (LSTM/GRU) for recurrent nets"),
    "exploding": ("ch. 5 initialisation (scale the weights to gain 1)", "ch. 12 gradient clipping",
                  "ch. 7 normalisation layers"),
    "saturation": ("ch. 5 initialisation (smaller weights)", "ch. 6 non-saturating activations",
                   "ch. 7 normalisation layers"),
    "dead units": ("ch. 6 leaky ReLU / ELU", "ch. 1 a smaller learning rate",
                   "ch. 5 initialisation (zero bias, He scale)"),
    "update ratio": ("ch. 1 the learning rate (aim for an update ratio near 1e-3)",
                     "ch. 12 gradient clipping for rare spikes"),
    "divergence": ("ch. 1 a smaller learning rate", "ch. 12 gradient clipping",
                   "ch. 4 exploding gradients (what grew first)"),
}
CAUSES = {
    "vanishing": ("saturating activation (sigmoid/tanh) in a deep stack",
                  "weights scaled below gain 1 (per-layer factor < 1)", "long recurrence (small recurrent weight)"),
    "exploding": ("weights scaled above gain 1 (per-layer factor > 1)", "learning rate too large",
                  "large recurrent weight (spectral radius > 1)"),
    "saturation": ("weights too large for a sigmoid/tanh", "inputs not standardised", "no normalisation"),
    "dead units": ("learning rate too large (a big step pushed biases negative)",
                   "negative bias initialisation", "unstandardised inputs"),
    "update ratio": ("learning rate too large (ratio > 1e-1) or too small (< 1e-5)",
                     "weights far from their initial scale"),
    "divergence": ("learning rate too large", "exploding gradients", "overflow in float16/float32"),
}


@dataclass
class Record:
    """Per-layer statistics at each recorded step. `values[column]` holds one row per recorded step
    with one entry per monitored layer (input to output); NaN where a statistic does not apply.
    `nonfinite` is 1 on a step whose gradient in that layer held NaN or inf, else 0."""

    framework: str
    layers: list[str]
    activations: list[str | None]
    steps: list[int] = field(default_factory=list)
    values: dict[str, list[np.ndarray]] = field(default_factory=lambda: {c: [] for c in COLUMNS})
    loss: dict[int, float] = field(default_factory=dict)
    clip_events: int = 0  # recorded steps on which the gradient was clipped between backward and step
    time_grad: dict[int, np.ndarray] = field(default_factory=dict)  # step -> ||dL/dx_t||, t = 1..T

    def add(self, step: int, **columns: np.ndarray) -> None:
        """Append one recorded step; missing columns are filled with NaN."""
        unknown = set(columns) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown columns {sorted(unknown)}; choose from {', '.join(COLUMNS)}")
        rows = {name: np.asarray(columns.get(name, np.full(len(self.layers), np.nan)), dtype=float)
                for name in COLUMNS}
        for name, row in rows.items():
            if row.shape != (len(self.layers),):
                raise ValueError(f"column {name!r} has shape {row.shape}; expected {len(self.layers)} layers")
        self.steps.append(int(step))
        for name, row in rows.items():
            self.values[name].append(row)

    def array(self, column: str) -> np.ndarray:
        """One column over time: shape (n_recorded_steps, n_layers)."""
        check_choice("column", column, COLUMNS)
        return np.array(self.values[column]).reshape(len(self.steps), len(self.layers))

    def table(self, digits: int = 3):
        """One row per layer, the same columns in either framework: median over the recorded steps
        (NaN/inf appearances are summed), rounded to `digits` significant digits."""
        import pandas as pd

        rows = {}
        for name in COLUMNS:
            values = self.array(name)
            if name == "nonfinite":
                rows[name] = values.sum(0).astype(int) if len(values) else np.zeros(len(self.layers), int)
                continue
            median = _finite_median(values, positive=False) if len(values) else np.full(len(self.layers), np.nan)
            rows[name] = [float(f"{v:.{digits}g}") if np.isfinite(v) else np.nan for v in median]
        frame = pd.DataFrame(rows, index=pd.Index(range(1, len(self.layers) + 1), name="layer"))
        frame.insert(0, "name", self.layers)
        return frame


@dataclass
class Finding:
    """One diagnosis: what, where, the numbers behind it, why it may happen and where to read up."""

    kind: str
    layers: list[int]
    evidence: str
    causes: tuple[str, ...]
    remedies: tuple[str, ...]
    step: int | None = None


def _finite_median(values: np.ndarray, axis: int = 0, positive: bool = True) -> np.ndarray:
    values = np.where(np.isfinite(values) & ((values > 0) | (not positive)), values, np.nan)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axis)


def vanishing_index(record: Record) -> float:
    """Median over the recorded steps of ||dL/dW_first|| / ||dL/dW_last|| (1 is ideal)."""
    grads = record.array("grad_norm")
    if len(grads) == 0:
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(_finite_median(grads[:, 0] / grads[:, -1]))


def time_profile(record: Record) -> np.ndarray:
    """Median over the recorded steps of ||dL/dx_t|| for each time step t of a recurrent layer's
    input (empty when no recurrent layer was monitored)."""
    if not record.time_grad:
        return np.array([])
    return _finite_median(np.stack(list(record.time_grad.values())))


def time_index(record: Record) -> float:
    """Median over the recorded steps of ||dL/dx_1|| / ||dL/dx_T|| (NaN without a recurrent layer)."""
    if not record.time_grad:
        return float("nan")
    rows = np.stack(list(record.time_grad.values()))
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(_finite_median(rows[:, 0] / rows[:, -1]))


def activation_growth(record: Record) -> float:
    """Median over the recorded steps of act_std(last hidden layer) / act_std(first layer)."""
    stds = record.array("act_std")
    hidden = [i for i, act in enumerate(record.activations) if act is not None]
    if len(stds) == 0 or len(hidden) < 2:
        return float("nan")
    return float(_finite_median(stds[:, hidden[-1]] / stds[:, hidden[0]]))


def _finding(kind: str, layers, evidence: str, step: int | None = None) -> Finding:
    return Finding(kind, [int(layer) for layer in layers], evidence, CAUSES[kind], REMEDIES[kind], step)


def _divergence(record: Record) -> Finding | None:
    bad = record.array("nonfinite").sum(1) > 0
    losses = [(step, value) for step, value in sorted(record.loss.items())]
    if losses:
        first = losses[0][1]
        for step, value in losses:
            if not np.isfinite(value) or (first > 0 and value > LOSS_BLOWUP * first):
                return _finding("divergence", [], f"loss {value:.3g} at step {step} (first: {first:.3g}): "
                                f"diverged at step {step}", step)
    if bad.any():
        index = int(np.argmax(bad))
        layers = [int(i) + 1 for i in np.nonzero(record.array("nonfinite")[index] > 0)[0]]
        return _finding("divergence", layers, f"NaN/inf gradients from recorded step {record.steps[index]} "
                        f"in layers {list(layers)}: diverged at step {record.steps[index]}", record.steps[index])
    return None


def findings(record: Record) -> list[Finding]:
    """Diagnose a run: vanishing, exploding (with depth or in time), saturation, dead units, update
    ratio far from 1e-3, divergence; each with its evidence, likely causes and remedies."""
    found: list[Finding] = []
    if not record.steps:
        return found
    divergence = _divergence(record)
    finite_rows = record.array("nonfinite").sum(1) == 0
    grads = record.array("grad_norm")[finite_rows]
    if len(grads):
        with np.errstate(divide="ignore", invalid="ignore"):
            profile = _finite_median(grads / grads[:, -1:])
        index = vanishing_index(record)
        n = len(record.layers)
        if index < VANISHING_INDEX:
            weak = [int(i) + 1 for i in np.nonzero(profile < VANISHING_LAYER)[0]]
            found.append(_finding("vanishing", weak, f"vanishing index {index:.2g}: layer 1's gradient is "
                                  f"{index:.2g} of the output layer's; layers {list(weak)} under "
                                  f"{VANISHING_LAYER:g} of it (per-layer factor {index ** (1 / (n - 1)):.2f})"))
        elif index > EXPLODING_INDEX:
            strong = [int(i) + 1 for i in np.nonzero(profile > 1 / VANISHING_LAYER)[0]]
            found.append(_finding("exploding", strong, f"vanishing index {index:.2g}: gradients grow by "
                                  f"{index ** (1 / (n - 1)):.2f}x per layer towards the input"))
        over_time = time_index(record)
        if over_time < VANISHING_INDEX or over_time > EXPLODING_INDEX:
            length = len(time_profile(record))
            kind = "vanishing" if over_time < VANISHING_INDEX else "exploding"
            found = [f for f in found if f.kind != kind]  # the time profile is the sharper evidence
            recurrent = [i + 1 for i, name in enumerate(record.layers) if any(key in name.lower() for key in ("recurrent", "rnn", "lstm", "gru"))]
            found.append(_finding(kind, recurrent, f"over {length} time steps: the gradient reaching step 1 is "
                                  f"{over_time:.2g} of that at step {length} (factor "
                                  f"{over_time ** (1 / (length - 1)):.2f} per step)"))
        growth = activation_growth(record)
        if growth > EXPLODING_INDEX and not any(f.kind == "exploding" for f in found):
            hidden = sum(act is not None for act in record.activations)
            found.append(_finding("exploding", [], f"activation std grows {growth:.3g}x from the first to the "
                                  f"last hidden layer ({growth ** (1 / max(hidden - 1, 1)):.2f}x per layer): the "
                                  f"backward pass multiplies gradients by the same factors"))
        total = np.sqrt(np.nansum(grads**2, axis=1))
        early = float(np.median(total[: max(3, len(total) // 10)]))
        spike = np.nonzero(total > SPIKE_FACTOR * early)[0]
        if len(spike) and not any(f.kind == "exploding" for f in found):
            at = int(spike[0])
            steps = np.asarray(record.steps)[finite_rows]
            growth = (total[at] / total[0]) ** (1 / max(steps[at] - steps[0], 1))
            found.append(_finding("exploding", [], f"gradient norm {total[at]:.3g} at step {steps[at]}, "
                                  f"{total[at] / early:.3g}x its early median (growth {growth:.2f}x per step)",
                                  int(steps[at])))
    for kind, column, limit, applies in (("saturation", "frac_saturated", SATURATED, SATURATING),
                                         ("dead units", "frac_dead", DEAD, DYING)):
        values = record.array(column)[finite_rows]
        if not len(values):
            continue
        level = np.nan_to_num(_finite_median(values[-max(1, len(values) // 4):], positive=False), nan=0.0)
        layers = [i + 1 for i, act in enumerate(record.activations) if act in applies and level[i] > limit]
        if layers:
            worst = max(layers, key=lambda layer: level[layer - 1])
            found.append(_finding(kind, layers, f"{len(layers)} layer(s) over {limit:.0%}; worst: layer {worst} "
                                  f"at {level[worst - 1]:.0%} {'saturated' if kind == 'saturation' else 'dead'}"))
    ratios = _finite_median(record.array("update_ratio")[finite_rows]) if finite_rows.any() else np.array([])
    if np.isfinite(ratios).any():
        typical = float(np.nanmedian(ratios))
        low, high = UPDATE_BAND
        if not low <= typical <= high:
            side = [i + 1 for i, r in enumerate(ratios) if np.isfinite(r) and not low <= r <= high]
            found.append(_finding("update ratio", side, f"median update/weight ratio {typical:.2g} "
                                  f"({'above' if typical > high else 'below'} {high if typical > high else low:g}; "
                                  f"rule of thumb 1e-3)"))
    if divergence is not None:
        found.append(divergence)
    return found


def findings_table(found: list[Finding]):
    """The findings as a pandas DataFrame (kind, layers, evidence, first remedy)."""
    import pandas as pd

    if not found:
        return pd.DataFrame([{"finding": "none", "layers": "", "evidence": "no problem found", "read": ""}])
    return pd.DataFrame([{"finding": f.kind, "layers": ", ".join(map(str, f.layers)), "evidence": f.evidence,
                          "read": f.remedies[0]} for f in found])


def report(record: Record, title: str = "", theory_factor: float | None = None):
    """The report figure: layer x step heat map of gradient norms, the depth profile (with the
    theory's backward per-layer factor, e.g. theory.per_layer_factor, drawn over it if given)
    and update-ratio curves with the 1e-3 line."""
    import matplotlib.pyplot as plt

    from .plots import Line, Subplot, draw_subplot, layer_step_heatmap

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    grads, steps = record.array("grad_norm"), np.asarray(record.steps)
    if len(steps):
        layer_step_heatmap(grads, steps, ax=axes[0], title="gradient norm by layer and step")
    layers = np.arange(1, len(record.layers) + 1)
    profile = Line(layers, _finite_median(grads) if len(grads) else np.full(len(layers), np.nan), "measured (median)", "relu")
    lines = [profile]
    if theory_factor is not None and np.isfinite(profile.y[-2] if len(layers) > 1 else np.nan):
        anchor = len(layers) - 1  # the last hidden layer
        lines.append(Line(layers[:-1], profile.y[anchor - 1] * theory_factor ** (anchor - layers[:-1]),
                          f"theory: ×{theory_factor:.2g} per layer back", "theory", dashed=True))
    draw_subplot(Subplot(lines, f"depth profile (vanishing index {vanishing_index(record):.2g})",
                         "layer (input → output)", "gradient norm ||dL/dW||", logy=True), axes[1])
    ratios = record.array("update_ratio")
    draw_subplot(Subplot([Line(steps, ratios[:, i], f"layer {i + 1}", f"C{i % 10}") for i in range(ratios.shape[1])]
                         if len(steps) else [], "update / weight ratio", "training step", "||ΔW|| / ||W||",
                         logy=True, reference=1e-3, reference_label="1e-3"), axes[2])
    if ratios.shape[1] > 6 and axes[2].get_legend() is not None:
        axes[2].legend(ncol=2, fontsize=7)
    kinds = sorted({f.kind for f in findings(record)})
    figure.suptitle((title + ": " if title else "") + ("findings: " + ", ".join(kinds) if kinds else "no findings"))
    return figure


def save_report(record: Record, path: str, title: str = "", theory_factor: float | None = None) -> str:
    """Save the report as PNG (the figure) or HTML (figure, findings and the run's table)."""
    import base64
    import io

    import matplotlib.pyplot as plt

    suffix = str(path).rsplit(".", 1)[-1].lower()
    check_choice("file type", suffix, ("png", "html"))
    figure = report(record, title, theory_factor)
    if suffix == "png":
        figure.savefig(path)
    else:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        image = base64.b64encode(buffer.getvalue()).decode()
        body = (f"<h1>{title or 'gradient monitor report'}</h1><img src='data:image/png;base64,{image}'>"
                f"<h2>Findings</h2>{findings_table(findings(record)).to_html(index=False)}"
                f"<h2>Per-layer table ({record.framework})</h2>{record.table().to_html()}")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"<!doctype html><html><meta charset='utf-8'><body>{body}</body></html>")
    plt.close(figure)
    return str(path)
