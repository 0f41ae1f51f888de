"""vxglib: the shared library of the Gradient Flow book.

Importing it imports neither PyTorch nor TensorFlow: `vxglib.torch_backend` and
`vxglib.keras_backend` load their framework the first time they are used.
"""
from __future__ import annotations

import importlib

from . import data, numpy_ref, plots, probes, spec, theory, training, widgets
from .data import Dataset, DatasetUnavailableError
from .plots import Chart, Line, Subplot, render
from .probes import Snapshot
from .seeding import rng, seed
from .spec import ACTIVATIONS, INITS, MLPSpec, Weights, init_weights
from .training import History, TrainConfig, train
from .widgets import Choice, Experiment, Slider, panel

__version__ = "0.1.0"
_LAZY = ("torch_backend", "keras_backend", "experiments")

__all__ = [
    "ACTIVATIONS", "INITS", "Chart", "Choice", "Dataset", "DatasetUnavailableError", "Experiment",
    "History", "Line", "MLPSpec", "Slider", "Snapshot", "Subplot", "TrainConfig", "Weights",
    "data", "glue", "init_weights", "numpy_ref", "panel", "plots", "probes", "render", "rng", "seed",
    "setup", "spec", "table", "theory", "train", "training", "widgets",
]  # the lazy backends are left out on purpose: a star-import must not load a framework


def setup(seed_value: int = 0) -> None:
    """What every chapter's first cell calls: seed everything and use the book's plot style."""
    seed(seed_value)
    plots.use_style()


def table(rows, digits: int = 3, index: str | None = None):
    """A pandas DataFrame of `rows` (a list of dicts, or a dict of columns) with every float
    rounded to `digits` significant digits, so stored outputs reproduce on any CPU."""
    import math

    import pandas as pd

    frame = pd.DataFrame(rows)
    if index is not None:
        frame = frame.set_index(index)

    def round_value(value):
        if isinstance(value, float) and math.isfinite(value) and value != 0:
            return float(f"{value:.{digits}g}")
        return value

    return frame.map(round_value)


def glue(name: str, value, display: bool = False, digits: int = 6) -> None:
    """myst_nb's `glue` for a number quoted in the text: a float (NumPy's included) is stored as a
    plain float rounded to `digits` significant digits, so the stored output reproduces on any CPU."""
    import numbers

    from myst_nb import glue as myst_glue

    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(f"{float(value):.{digits}g}")
    myst_glue(name, value, display=display)


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'vxglib' has no attribute {name!r}")
