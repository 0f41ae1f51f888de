"""Kernel-free explorers for the HTML book: an Experiment's Chart precomputed over a grid of its
control values, drawn by Plotly, whose dropdowns and sliders switch among the results in the page.

The grid runs the very same `Experiment.run` as the notebook's widget panel. Results are cached
under a fingerprint of the vxglib source the experiment depends on (and the versions of the
numerical packages), so rebuilding the book without changing vxglib recomputes nothing.
`python -m vxglib.explorer [NAME...]` precomputes and times explorers without building the book.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import itertools
import json
import math
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from ._checks import check_choice
from .plots import Chart, Subplot, color
from .widgets import Choice, Experiment

DEFAULT_RUNS = 30  # without `explore`, controls are added in order while the grid stays this small
MAX_RUNS = 100  # an explicit `explore` (the author knows a run is cheap) may ask for this many
MAX_POINTS = 400  # longer curves are thinned to about this many points
DIGITS = 4  # significant digits kept in the page
PLOT_HEIGHT = 300  # pixels of the plotting area; titles and controls add to it
# Pixels of the rows around the plotting area, read by explorer.js too: the title (with its message
# line and the subplot titles), the dropdowns, the x-axis titles, each slider.
ROWS = {"title": 85, "menus": 50, "axis": 55, "slider": 80}
PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "tensorflow-cpu", "keras")


def control_values(control) -> tuple:
    """The values a control offers: a Choice's options or a Slider's values."""
    return tuple(control.options if isinstance(control, Choice) else control.values)


def explored_controls(experiment: Experiment, max_runs: int = MAX_RUNS,
                      default_runs: int = DEFAULT_RUNS) -> tuple[str, ...]:
    """The controls the explorer varies: `experiment.explore` if given (at most `max_runs` runs),
    else each control in declared order that keeps the grid within `default_runs` runs."""
    sizes = {name: len(control_values(control)) for name, control in experiment.controls.items()}
    if experiment.explore is not None:
        runs = math.prod(sizes[name] for name in experiment.explore)
        if runs > max_runs:
            raise ValueError(f"explore={experiment.explore!r} of {experiment.name!r} needs {runs} runs; "
                             f"at most {max_runs} allowed (control sizes: {sizes})")
        return tuple(experiment.explore)
    chosen, runs = [], 1
    for name, size in sizes.items():
        if runs * size <= min(default_runs, max_runs):
            chosen.append(name)
            runs *= size
    return tuple(chosen)


def grid(experiment: Experiment, max_runs: int = MAX_RUNS) -> list[dict]:
    """The parameter sets the explorer precomputes (controls not explored stay at their default)."""
    names = explored_controls(experiment, max_runs)
    axes = [control_values(experiment.controls[name]) for name in names]
    return [dict(zip(names, values)) for values in itertools.product(*axes)]


def fingerprint(experiment: Experiment) -> str:
    """A hash of everything the experiment's results depend on: vxglib's core modules, the
    experiment modules it uses, and the versions of the numerical packages."""
    root = Path(__file__).parent
    files = sorted(root.glob("*.py"))
    module = sys.modules.get(getattr(experiment.compute, "__module__", ""), None)
    used = {getattr(experiment.compute, "__module__", "")}
    for value in vars(module).values() if module else ():
        used.add(getattr(value, "__module__", None) or getattr(value, "__name__", ""))
    for name in sorted(n for n in used if n and n.startswith("vxglib.experiments.")):
        files.append(root / "experiments" / f"{name.rsplit('.', 1)[1]}.py")
    digest = hashlib.sha256(experiment.name.encode())
    for path in files:
        if path.exists():
            digest.update(path.name.encode() + path.read_bytes())
    for package in PACKAGES:
        try:
            digest.update(f"{package}={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            pass
    return digest.hexdigest()[:16]


def _numbers(values) -> list:
    """Finite floats rounded to DIGITS significant digits; inf and NaN become null (a gap)."""
    array = np.asarray(values, dtype=float).ravel()
    return [float(f"{v:.{DIGITS}g}") if math.isfinite(v) else None for v in array.tolist()]


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every k-th point of a long curve (the last one always kept)."""
    if len(x) <= MAX_POINTS:
        return x, y
    keep = np.unique(np.r_[np.arange(0, len(x), math.ceil(len(x) / MAX_POINTS)), len(x) - 1])
    return x[keep], y[keep]


def _decades(subplot: Subplot) -> float:
    """How many powers of ten the subplot's positive, finite y values span (inf if none)."""
    ys = np.concatenate([np.asarray(line.y, dtype=float).ravel() for line in subplot.lines] or [np.empty(0)])
    ys = ys[np.isfinite(ys) & (ys > 0)]
    return float(np.log10(ys.max() / ys.min())) if len(ys) else math.inf


def chart_figure(chart: Chart) -> tuple[list[dict], dict]:
    """Plotly traces and layout (axes, titles) for a Chart: one panel per Subplot, side by side."""
    n = len(chart.subplots)
    gap = 0.12 if n <= 2 else 0.18  # room for the next panel's tick labels and axis title
    width = (1 - gap * (n - 1)) / n
    traces, layout, titles, legend = [], {}, [], set()
    for i, subplot in enumerate(chart.subplots, start=1):
        axis = "" if i == 1 else str(i)
        left = (i - 1) * (width + gap)
        layout[f"xaxis{axis}"] = {"domain": [left, left + width], "anchor": f"y{axis}",
                                  "title": {"text": subplot.xlabel}, "type": "log" if subplot.logx else "linear"}
        layout[f"yaxis{axis}"] = {"anchor": f"x{axis}", "title": {"text": subplot.ylabel},
                                  "type": "log" if subplot.logy else "linear", "exponentformat": "power"}
        for name, limits, log in ((f"xaxis{axis}", subplot.xlim, subplot.logx), (f"yaxis{axis}", subplot.ylim, subplot.logy)):
            if limits is not None:  # Plotly gives a log axis's range in powers of ten
                layout[name]["range"] = [math.log10(v) for v in limits] if log else [float(v) for v in limits]
        if subplot.logy and _decades(subplot) < 3:  # Plotly would label every digit: 10 above a small 9 reads 10^9
            layout[f"yaxis{axis}"]["dtick"] = "D2"
        titles.append({"text": subplot.title, "x": left + width / 2, "y": 1.0, "xref": "paper", "yref": "paper",
                       "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 13}})
        for index, line in enumerate(subplot.lines):
            x, y = np.asarray(line.x, dtype=float), np.asarray(line.y, dtype=float)
            if subplot.logy:
                y = np.where(y > 0, y, np.nan)
            x, y = _thin(x, y)
            traces.append({"type": "scatter", "x": _numbers(x), "y": _numbers(y), "xaxis": f"x{axis}",
                           "yaxis": f"y{axis}", "name": line.label, "legendgroup": line.label,
                           "showlegend": bool(line.label) and line.label not in legend,
                           "mode": "lines+markers" if len(y) <= 40 else "lines", "marker": {"size": 5},
                           "line": {"color": color(line.color_key or line.label, index),
                                    "dash": "dash" if line.dashed else "solid"}})
            legend.add(line.label)
        if subplot.reference is not None:
            xs = [v for line in subplot.lines for v in np.asarray(line.x, dtype=float).ravel() if math.isfinite(v)]
            traces.append({"type": "scatter", "x": _numbers([min(xs), max(xs)]) if xs else [0, 1],
                           "y": _numbers([subplot.reference] * 2), "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                           "mode": "lines", "name": subplot.reference_label,
                           "showlegend": bool(subplot.reference_label),
                           "line": {"color": "black", "dash": "dot", "width": 1}})
    title = chart.title + (f"<br><i>{chart.message}</i>" if chart.message else "")
    layout.update(title={"text": title}, annotations=titles)
    return traces, layout


def precompute(experiment: Experiment, cache_dir: str | Path | None = None,
               max_runs: int = MAX_RUNS) -> dict:
    """The explorer's data: controls, and each grid point's traces and layout (shared ones pooled).

    With `cache_dir`, a result computed earlier for the same fingerprint is read instead."""
    cache = Path(cache_dir) / f"{experiment.name}-{fingerprint(experiment)}.json" if cache_dir else None
    if cache is not None and cache.exists():
        return json.loads(cache.read_text())
    names = explored_controls(experiment, max_runs)
    controls = [{"name": name, "label": experiment.controls[name].label or name.replace("_", " "),
                 "kind": "dropdown" if isinstance(experiment.controls[name], Choice) else "slider",
                 "values": [f"{v:g}" if isinstance(v, float) else str(v)
                            for v in control_values(experiment.controls[name])],
                 "default": control_values(experiment.controls[name]).index(experiment.controls[name].default)}
                for name in names]
    pools: dict[str, dict[str, int]] = {"traces": {}, "layouts": {}}

    def pooled(kind: str, item: dict) -> int:
        return pools[kind].setdefault(json.dumps(item, sort_keys=True), len(pools[kind]))

    runs = {}
    for params in grid(experiment, max_runs):
        traces, layout = chart_figure(experiment.run(**params))
        key = "-".join(str(control_values(experiment.controls[n]).index(params[n])) for n in names)
        runs[key] = {"traces": [pooled("traces", t) for t in traces], "layout": pooled("layouts", layout)}
    data = {"name": experiment.name, "controls": controls, "runs": runs,
            **{kind: [json.loads(item) for item in pool] for kind, pool in pools.items()}}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        for stale in cache.parent.glob(f"{experiment.name}-*.json"):  # results of older code
            stale.unlink()
        cache.write_text(json.dumps(data, separators=(",", ":")))
    return data


def explorer_html(data: dict, element_id: str) -> str:
    """The HTML for one explorer: a div that `explorer.js` fills, with the data inline as JSON (so
    the page also works opened straight from disk)."""
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    labels = ", ".join(control["label"] for control in data["controls"]) or "no controls"
    return (f'<figure class="vx-explorer" id="{html.escape(element_id)}" data-rows="{html.escape(json.dumps(ROWS))}">'
            f'<div class="vx-explorer-plot" style="height:{_height(data)}px"></div>'
            f'<script type="application/json" class="vx-explorer-data">{payload}</script>'
            f'<figcaption>Explore <code>{html.escape(data["name"])}</code>: change {html.escape(labels)}; '
            f'every setting was computed when the book was built.</figcaption></figure>')


def _height(data: dict) -> int:
    """Page pixels for the plot, its titles, the dropdown row and one row per slider."""
    kinds = [control["kind"] for control in data["controls"]]
    return (PLOT_HEIGHT + ROWS["title"] + ROWS["axis"] + ROWS["menus"] * ("dropdown" in kinds)
            + ROWS["slider"] * kinds.count("slider"))


def find(name: str, experiments: list[Experiment] | None = None) -> Experiment:
    """The registered Experiment called `name` (ValueError listing the names otherwise)."""
    if experiments is None:
        from .experiments import all_experiments

        experiments = all_experiments()
    by_name = {experiment.name: experiment for experiment in experiments}
    return by_name[check_choice("experiment", name, by_name)]


def main(argv: list[str] | None = None) -> None:
    """Precompute explorers (all by default) and print how long each took and its size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="experiment names (default: all)")
    parser.add_argument("--cache", default=None, help="cache directory (default: none, always compute)")
    args = parser.parse_args(argv)
    from .experiments import all_experiments

    experiments = all_experiments()
    for name in args.names or [e.name for e in experiments]:
        start = time.perf_counter()
        data = precompute(find(name, experiments), args.cache)
        size = len(json.dumps(data, separators=(",", ":"))) / 1e3
        print(f"{name}: {len(data['runs'])} runs in {time.perf_counter() - start:.1f} s, {size:.0f} kB")


if __name__ == "__main__":
    main()
