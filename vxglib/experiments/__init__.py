"""The key experiment of each chapter, as `Experiment` objects: the chapter's widget panel, the
benchmark and the HTML explorer all call these, so they cannot drift apart.

Each module in this package defines `EXPERIMENTS`, a list of Experiment objects; modules are
found by name, so adding a chapter's module is all it takes to register its experiments.
"""
from __future__ import annotations

import importlib
import pkgutil


def all_experiments() -> list:
    """Every registered Experiment, module by module in name order."""
    found = []
    for module in sorted(info.name for info in pkgutil.iter_modules(__path__)):
        found += getattr(importlib.import_module(f".{module}", __name__), "EXPERIMENTS", [])
    return found
