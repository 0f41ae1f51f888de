"""Gradient clipping in NumPy: the three rules (global norm, value, norm per variable) as the
frameworks apply them, the angle a rule turns a gradient by, and the one-unit recurrent model of
Pascanu et al. (2013) whose loss surface has a cliff, with gradient descent on it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ._checks import check_choice, check_int, check_positive
from .training import CLIP_MODES

__all__ = ["CLIFF_START", "CLIFF_STEPS", "Descent", "angle_degrees", "clip_gradients", "cliff_forward",
           "cliff_gradient", "cliff_loss", "descend_cliff", "flat"]


def clip_gradients(grads: list[np.ndarray], mode: str, threshold: float) -> list[np.ndarray]:
    """Clipped copies of `grads` (one array per variable) under rule `mode` (see CLIP_MODES)."""
    check_choice("mode", mode, CLIP_MODES)
    threshold = check_positive("threshold", threshold)
    grads = [np.asarray(g, dtype=float) for g in grads]
    if mode == "global_norm":
        total = np.sqrt(sum(float(np.sum(g ** 2)) for g in grads))
        return [g * min(1.0, threshold / total) if total > 0 else g.copy() for g in grads]
    if mode == "value":
        return [np.clip(g, -threshold, threshold) for g in grads]
    if mode == "norm_per_variable":
        return [g * min(1.0, threshold / n) if (n := np.linalg.norm(g)) > 0 else g.copy() for g in grads]
    return [g.copy() for g in grads]


def flat(grads: list[np.ndarray]) -> np.ndarray:
    """All variables' entries in one vector."""
    return np.concatenate([np.ravel(g) for g in grads])


def angle_degrees(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """The angle between two gradients (lists of arrays), in degrees."""
    a, b = flat(a) / np.linalg.norm(flat(a)), flat(b) / np.linalg.norm(flat(b))
    # 2 atan2(|a - b|, |a + b|) is exact near 0 degrees, where arccos of the cosine is not
    return float(np.degrees(2 * np.arctan2(np.linalg.norm(a - b), np.linalg.norm(a + b))))


# The cliff: x_t = w * sigmoid(x_{t-1}) + b, loss (x_T - target)^2.
CLIFF_STEPS, CLIFF_X0, CLIFF_TARGET = 20, 0.5, 0.7
CLIFF_START = (10.0, -1.0)


def cliff_forward(w, b, steps: int = CLIFF_STEPS, x0: float = CLIFF_X0) -> np.ndarray:
    """x_T of the one-unit recurrent model, elementwise over arrays of (w, b)."""
    x = np.full(np.broadcast(np.asarray(w), np.asarray(b)).shape, x0, dtype=float)
    for _ in range(steps):
        x = w * expit(x) + b
    return x


def cliff_loss(w, b, steps: int = CLIFF_STEPS) -> np.ndarray:
    """(x_T - 0.7)^2 elementwise over (w, b)."""
    return (cliff_forward(w, b, steps) - CLIFF_TARGET) ** 2


def cliff_gradient(w: float, b: float, steps: int = CLIFF_STEPS) -> tuple[float, np.ndarray]:
    """The loss and its gradient (dL/dw, dL/db) by backpropagation through time."""
    xs = [CLIFF_X0]
    for _ in range(steps):
        xs.append(w * expit(xs[-1]) + b)
    loss = (xs[-1] - CLIFF_TARGET) ** 2
    dx, dw, db = 2 * (xs[-1] - CLIFF_TARGET), 0.0, 0.0
    for t in range(steps, 0, -1):
        s = expit(xs[t - 1])
        dw, db = dw + dx * s, db + dx
        dx = dx * w * s * (1 - s)  # dx_t/dx_{t-1}: the factor whose product makes the wall
    return float(loss), np.array([dw, db])


@dataclass
class Descent:
    """Parameters, loss and gradient norm at every step of a gradient-descent run."""

    points: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    clip_events: int

    @property
    def step_lengths(self) -> np.ndarray:
        """||theta_{k+1} - theta_k|| for every step."""
        return np.linalg.norm(np.diff(self.points, axis=0), axis=1)


def descend_cliff(start=CLIFF_START, lr: float = 0.01, steps: int = 200, clip: str = "none",
                  threshold: float = 10.0) -> Descent:
    """Gradient descent on the cliff loss from `start`, clipping each gradient with rule `clip`."""
    lr, steps = check_positive("lr", lr), check_int("steps", steps)
    check_choice("clip", clip, CLIP_MODES)
    point = np.array(start, dtype=float)
    points, losses, norms, events = [point.copy()], [], [], 0
    for _ in range(steps):
        loss, gradient = cliff_gradient(*point)
        losses.append(loss)
        norms.append(float(np.linalg.norm(gradient)))
        clipped = clip_gradients([gradient], clip, threshold)[0]
        events += bool(np.any(clipped != gradient))
        point = point - lr * clipped
        points.append(point.copy())
    losses.append(cliff_gradient(*point)[0])
    return Descent(np.array(points), np.array(losses), np.array(norms), events)
