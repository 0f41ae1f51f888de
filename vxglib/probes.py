"""Per-layer statistics of a network, computed the same way from either framework's arrays.

A backend hands over NumPy arrays (weights, their gradients, pre-activations, hidden outputs and
the gradients of the hidden outputs); this module turns them into one `Snapshot` with the same
columns whichever framework produced them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .numpy_ref import derivative
from .theory import derivative_bound

# An entry is saturated when phi'(z) is under 10% of its largest value (sigmoid: h < 0.026 or
# h > 0.974; tanh: |h| > 0.949). ReLU-like units do not saturate: they die (see `frac_dead`).
SATURATION_LEVEL = 0.1
NON_SATURATING = ("linear", "relu", "leaky_relu")
WEIGHT_COLUMNS = ("grad_norm", "grad_mean", "grad_std", "weight_norm", "weight_mean", "weight_std")
HIDDEN_COLUMNS = ("act_mean", "act_std", "frac_saturated", "frac_dead", "act_grad_norm")


@dataclass
class Snapshot:
    """Per-layer statistics at one moment. Weight columns have one entry per weight layer
    (hidden layers then the output layer); hidden columns one entry per hidden layer."""

    columns: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise ValueError(f"no column {name!r}; choose one of {', '.join(self.columns)}")
        return self.columns[name]

    @property
    def n_layers(self) -> int:
        """Number of weight layers."""
        return len(self.columns["grad_norm"])

    def table(self, columns: tuple[str, ...] = ("grad_norm", "weight_std", "act_std"),
              digits: int = 3):
        """A pandas DataFrame, one row per layer (1 = nearest the input), rounded to `digits`
        significant digits. Hidden-layer columns are blank on the output layer."""
        import pandas as pd

        rows = {}
        for name in columns:
            values = list(self[name])
            values += [np.nan] * (self.n_layers - len(values))
            rows[name] = [float(f"{v:.{digits}g}") if np.isfinite(v) else np.nan for v in values]
        frame = pd.DataFrame(rows, index=pd.RangeIndex(1, self.n_layers + 1, name="layer"))
        return frame


def saturated_fraction(activation: str, preactivations: np.ndarray) -> float:
    """Fraction of entries where phi'(z) < 10% of max phi' (0 for ReLU, leaky ReLU, linear)."""
    if activation in NON_SATURATING:
        return 0.0
    slope = np.abs(derivative(activation, preactivations))
    return float(np.mean(slope < SATURATION_LEVEL * derivative_bound(activation)))


def dead_fraction(preactivations: np.ndarray) -> float:
    """Fraction of units whose pre-activation is <= 0 for every example in the batch."""
    return float(np.mean(np.all(preactivations.reshape(len(preactivations), -1) <= 0, axis=0)))


def snapshot(activation: str, weights: list[np.ndarray], weight_grads: list[np.ndarray],
             preactivations: list[np.ndarray], hidden: list[np.ndarray],
             hidden_grads: list[np.ndarray]) -> Snapshot:
    """Assemble a Snapshot from per-layer arrays (weight lists cover all layers, hidden lists the
    hidden layers only)."""
    if len(weights) != len(weight_grads):
        raise ValueError(f"{len(weights)} weights but {len(weight_grads)} gradients")
    columns = {
        "grad_norm": [np.linalg.norm(g) for g in weight_grads],
        "grad_mean": [g.mean() for g in weight_grads],
        "grad_std": [g.std() for g in weight_grads],
        "weight_norm": [np.linalg.norm(w) for w in weights],
        "weight_mean": [w.mean() for w in weights],
        "weight_std": [w.std() for w in weights],
        "act_mean": [h.mean() for h in hidden],
        "act_std": [h.std() for h in hidden],
        "frac_saturated": [saturated_fraction(activation, z) for z in preactivations],
        "frac_dead": [dead_fraction(z) if activation in ("relu",) else 0.0 for z in preactivations],
        "act_grad_norm": [np.linalg.norm(g) for g in hidden_grads],
    }
    return Snapshot({name: np.asarray(values, dtype=float) for name, values in columns.items()})


def update_ratio(before: list[np.ndarray], after: list[np.ndarray]) -> np.ndarray:
    """||W_after - W_before|| / ||W_before|| per layer (Karpathy's rule of thumb: about 1e-3)."""
    return np.array([np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)
                     for b, a in zip(before, after)])
