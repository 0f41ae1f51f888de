"""The kernel-free explorer: which grid it precomputes, what it writes into the page, its cache,
and that every registered experiment can have one."""
import json

import numpy as np
import pytest

from vxglib import explorer
from vxglib.experiments import all_experiments
from vxglib.plots import Chart, Line, Subplot
from vxglib.widgets import Choice, Experiment, Slider

CALLS = []


def power_curve(power: float = 1.0, kind: str = "up", length: int = 5) -> Chart:
    """y = x**power on 1..length (negated when kind is 'down'), drawn on a log and a linear axis."""
    CALLS.append((power, kind, length))
    x = np.arange(1.0, length + 1)
    y = x**power * (1 if kind == "up" else -1)
    return Chart([Subplot([Line(x, y, "curve", "relu")], "log", "x", "y", logy=True, reference=1.0,
                          reference_label="one"),
                  Subplot([Line(x, y, "curve", "relu"), Line(x, -y, "mirror", "tanh", dashed=True)], "linear")],
                 title=f"power {power}", message="diverged at step 3" if power > 2 else "")


def make(explore=None, length_values=(5, 1000)) -> Experiment:
    return Experiment("power", power_curve, {"power": Slider((0.5, 1.0, 3.0), 1.0, "power p"),
                                             "kind": Choice(("up", "down"), "up"),
                                             "length": Choice(length_values, 5)}, explore=explore)


def test_explore_names_must_be_controls():
    with pytest.raises(ValueError, match=r"explore='depth' is not valid; choose one of 'power', 'kind', 'length'"):
        make(explore=("depth",))


def test_default_grid_adds_controls_in_order_while_it_fits_and_explicit_grids_are_capped():
    experiment = make()
    assert explorer.explored_controls(experiment, default_runs=6) == ("power", "kind")
    assert explorer.explored_controls(experiment, default_runs=4) == ("power",)
    assert len(explorer.grid(experiment)) == 12
    assert explorer.grid(make(explore=("kind",))) == [{"kind": "up"}, {"kind": "down"}]
    with pytest.raises(ValueError, match="needs 12 runs; at most 10 allowed"):
        explorer.explored_controls(make(explore=("power", "kind", "length")), max_runs=10)


@pytest.mark.parametrize("experiment", all_experiments(), ids=lambda e: e.name)
def test_every_registered_experiment_has_a_small_explorer_grid(experiment):
    names = explorer.explored_controls(experiment)  # raises if an explicit `explore` is too large
    assert names and 1 < len(explorer.grid(experiment)) <= explorer.MAX_RUNS


def test_chart_figure_masks_log_axes_thins_long_curves_and_shows_each_label_once():
    traces, layout = explorer.chart_figure(power_curve(power=1.0, kind="down", length=1000))
    log_curve, reference, linear_curve, mirror = traces
    assert set(log_curve["y"]) == {None}  # negative values have no place on a log axis
    assert len(log_curve["x"]) <= explorer.MAX_POINTS + 1 and log_curve["x"][-1] == 1000
    assert reference["y"] == [1.0, 1.0] and reference["x"] == [1.0, 1000.0]
    assert [t["showlegend"] for t in traces] == [True, True, False, True]
    assert linear_curve["y"][0] == -1.0 and mirror["line"]["dash"] == "dash"
    assert layout["yaxis"]["type"] == "log" and layout["yaxis2"]["type"] == "linear"
    assert layout["xaxis"]["domain"][1] < layout["xaxis2"]["domain"][0]
    assert [a["text"] for a in layout["annotations"]] == ["log", "linear"]


def test_precompute_covers_the_grid_pools_shared_traces_and_uses_the_cache(tmp_path):
    experiment = make(explore=("power", "kind"))
    CALLS.clear()
    data = explorer.precompute(experiment, tmp_path)
    assert len(CALLS) == 6 and {c[2] for c in CALLS} == {5}  # length stays at its default
    assert [c["name"] for c in data["controls"]] == ["power", "kind"]
    assert data["controls"][0] == {"name": "power", "label": "power p", "kind": "slider",
                                   "values": ["0.5", "1", "3"], "default": 1}
    assert sorted(data["runs"]) == ["0-0", "0-1", "1-0", "1-1", "2-0", "2-1"]
    drawn = {key: [data["traces"][i]["y"] for i in run["traces"]] for key, run in data["runs"].items()}
    assert drawn["1-0"][2] == [1.0, 2.0, 3.0, 4.0, 5.0] and drawn["1-1"][2] == [-1.0, -2.0, -3.0, -4.0, -5.0]
    assert len({json.dumps(d) for d in drawn.values()}) == 6  # every grid point shows something else
    assert len(data["traces"]) < sum(len(run["traces"]) for run in data["runs"].values())  # the reference line is shared
    assert "diverged at step 3" in data["layouts"][data["runs"]["2-0"]["layout"]]["title"]["text"]
    CALLS.clear()
    assert explorer.precompute(experiment, tmp_path) == data and CALLS == []
    assert len(list(tmp_path.glob("power-*.json"))) == 1


def test_explorer_html_holds_the_data_and_cannot_end_its_script_early():
    data = {"name": "x</script><b>", "controls": [{"kind": "slider", "label": "a"}], "runs": {}}
    page = explorer.explorer_html(data, "explorer-x")
    assert page.count("</script>") == 1 and "<\\/script>" in page and "&lt;/script&gt;" in page
    assert 'style="height:' in page and 'data-rows="' in page  # explorer.js reads the row sizes from it


def test_find_names_the_registered_experiments():
    with pytest.raises(ValueError, match="experiment='nope' is not valid; choose one of .*'gradient_descent'"):
        explorer.find("nope")
    assert explorer.find("gradient_descent").name == "gradient_descent"


def test_chart_figure_keeps_fixed_limits_and_labels_few_log_digits():
    x = np.arange(1.0, 11.0)
    narrow = Subplot([Line(x, 1 + x / 10)], logy=True, xlim=(0.0, 20.0), ylim=(0.1, 10.0))
    wide = Subplot([Line(x, 10.0 ** x)], logy=True)
    _, layout = explorer.chart_figure(Chart([narrow, wide]))
    assert layout["xaxis"]["range"] == [0.0, 20.0] and layout["yaxis"]["range"] == [-1.0, 1.0]
    assert "range" not in layout["xaxis2"] and "range" not in layout["yaxis2"]
    assert layout["yaxis"]["dtick"] == "D2" and "dtick" not in layout["yaxis2"]  # 10 decades: Plotly's own ticks
