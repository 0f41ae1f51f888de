"""One way to build a control panel: an `Experiment` (a pure function of its parameters, with the
controls that vary them) and `panel`, which lays out the controls, a Run button and an output area.

The same Experiment object is timed by `make bench` and precomputed over a grid for the HTML book,
so the notebook, the benchmark and the static explorer all run the very same code.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ._checks import check_choice
from .seeding import seed as set_seed


@dataclass(frozen=True)
class Choice:
    """A dropdown over `options`."""

    options: tuple
    default: object
    label: str = ""


@dataclass(frozen=True)
class Slider:
    """A slider over `values` (listed explicitly so the explorer can precompute each one)."""

    values: tuple
    default: float
    label: str = ""
    log: bool = False


@dataclass
class Experiment:
    """A named experiment: `compute(**params) -> Chart`, and the controls for its parameters."""

    name: str
    compute: Callable
    controls: dict = field(default_factory=dict)
    seed: int = 0
    explore: tuple[str, ...] | None = None  # controls the HTML explorer varies (None: all, capped)

    def __post_init__(self) -> None:
        for name in self.explore or ():
            check_choice("explore", name, self.controls)

    def defaults(self) -> dict:
        """Every control at its default value."""
        return {name: control.default for name, control in self.controls.items()}

    def run(self, **params):
        """Validate `params`, re-seed, and compute the Chart (missing parameters take defaults)."""
        for name, value in params.items():
            check_choice("parameter", name, self.controls)
            allowed = self.controls[name].options if isinstance(self.controls[name], Choice) else None
            if allowed is not None:
                check_choice(name, value, allowed)
        set_seed(self.seed)
        return self.compute(**{**self.defaults(), **params})

    def time_default(self) -> float:
        """Seconds to compute and draw the Chart at default settings (what a reader waits for)."""
        import matplotlib.pyplot as plt

        from .plots import render

        start = time.perf_counter()
        figure = render(self.run())
        figure.canvas.draw()
        plt.close(figure)
        return time.perf_counter() - start


def _control_widget(name: str, control):
    import ipywidgets as w

    description = control.label or name.replace("_", " ")
    style = {"description_width": "initial"}
    if isinstance(control, Choice):
        return w.Dropdown(options=list(control.options), value=control.default, description=description,
                          style=style)
    return w.SelectionSlider(options=list(control.values), value=control.default, description=description,
                             continuous_update=False, style=style)


def panel(experiment: Experiment):
    """An ipywidgets panel: one control per parameter, a Run button, and an output area showing the
    figure, the table and the message. Nothing runs until the button is pressed."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    from .plots import render

    controls = {name: _control_widget(name, control) for name, control in experiment.controls.items()}
    button = w.Button(description="Run", button_style="primary", icon="play")
    status = w.Label(value="Choose settings and press Run.")
    output = w.Output()

    def on_click(_button=None) -> None:
        status.value = "running…"
        start = time.perf_counter()
        with output:
            output.clear_output(wait=True)
            chart = experiment.run(**{name: widget.value for name, widget in controls.items()})
            figure = render(chart)
            display(figure)
            plt.close(figure)
            if chart.table is not None:
                display(chart.table)
        status.value = f"done in {time.perf_counter() - start:.1f} s"

    button.on_click(on_click)
    return w.VBox([w.HBox(list(controls.values()), layout=w.Layout(flex_flow="row wrap")),
                   w.HBox([button, status]), output])
