"""Chapter 1: gradient descent on quadratics, its three learning-rate regimes and the 2/lambda_max
threshold, measured."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_int, check_positive
from ..plots import Chart, Line, Subplot
from ..widgets import Choice, Experiment, Slider

BLOW_UP = 1e8  # a run whose loss exceeds BLOW_UP times its starting loss, or is not finite, diverged


@dataclass
class Trajectory:
    """Iterates, losses and (if it diverged) the step at which it did."""

    points: np.ndarray
    loss: np.ndarray
    diverged_at: int | None

    @property
    def status(self) -> str:
        """'diverged at step k' or 'converged to loss L after N steps'."""
        if self.diverged_at is not None:
            return f"diverged at step {self.diverged_at}"
        return f"loss {self.loss[-1]:.2e} after {len(self.loss) - 1} steps"


def quadratic_loss(eigenvalues: np.ndarray, points: np.ndarray) -> np.ndarray:
    """f(x) = 1/2 sum_i lambda_i x_i^2 for each row of `points` (the quadratic in its eigenbasis)."""
    return 0.5 * np.sum(np.asarray(eigenvalues) * np.asarray(points) ** 2, axis=-1)


def gradient_descent(eigenvalues, lr: float, steps: int = 100, start=None) -> Trajectory:
    """Run x <- x - lr * grad f(x) on the quadratic with these eigenvalues (positive)."""
    eigenvalues = np.asarray(eigenvalues, dtype=float)
    if eigenvalues.ndim != 1 or np.any(eigenvalues <= 0):
        raise ValueError(f"eigenvalues={eigenvalues!r} must be a 1-D array of positive numbers")
    lr = check_positive("lr", lr)
    steps = check_int("steps", steps)
    point = np.ones_like(eigenvalues) if start is None else np.asarray(start, dtype=float).copy()
    if point.shape != eigenvalues.shape:
        raise ValueError(f"start has shape {point.shape}; expected {eigenvalues.shape}")
    points, diverged_at = [point.copy()], None
    start_loss = quadratic_loss(eigenvalues, point)
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(1, steps + 1):
            point = point - lr * eigenvalues * point
            points.append(point.copy())
            loss = quadratic_loss(eigenvalues, point)
            if not np.isfinite(loss) or loss > BLOW_UP * start_loss:
                diverged_at = step
                break
    points = np.array(points)
    return Trajectory(points, quadratic_loss(eigenvalues, points), diverged_at)


def regime(lr: float, lambda_max: float) -> str:
    """Theory's name for the behaviour along the steepest direction at this learning rate."""
    factor = 1 - lr * lambda_max
    if abs(factor) >= 1:
        return "diverge"
    return "monotone" if factor >= 0 else "oscillate"


def measured_threshold(eigenvalues, steps: int = 4000, tolerance: float = 1e-6) -> float:
    """The smallest learning rate at which gradient descent diverges, found by bisection on runs."""
    eigenvalues = np.asarray(eigenvalues, dtype=float)
    low, high = 0.0, 10.0 / eigenvalues.max()
    # Just above the threshold the steep direction grows by (1 + eps) per step while the others
    # shrink, so the final loss exceeds the first only once (1 + eps)^(2 steps) beats the share of
    # the loss in the other directions: many steps keep that bias to about ln(share) / (2 steps).
    grows = lambda lr: (t := gradient_descent(eigenvalues, lr, steps)).diverged_at is not None or t.loss[-1] > t.loss[0]  # noqa: E731
    while high - low > tolerance * high:
        middle = (low + high) / 2
        low, high = (low, middle) if grows(middle) else (middle, high)
    return high


def ellipse(eigenvalues, level: float, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The contour f(x) = level of a 2-D quadratic."""
    angle = np.linspace(0, 2 * np.pi, n)
    return (np.sqrt(2 * level / eigenvalues[0]) * np.cos(angle),
            np.sqrt(2 * level / eigenvalues[1]) * np.sin(angle))


def compare_learning_rates(condition: float = 10.0, lr_times_lambda_max: float = 1.5, steps: int = 30) -> Chart:
    """GD on a 2-D quadratic with eigenvalues (1, condition): path over the contours and loss."""
    condition = check_positive("condition", condition)
    eigenvalues = np.array([1.0, condition])
    lr = lr_times_lambda_max / condition
    run = gradient_descent(eigenvalues, lr, steps, start=np.array([-3.0, 1.0]))
    contours = [Line(*ellipse(eigenvalues, level), label="", color_key="contour", dashed=True)
                for level in (0.5, 2.0, 5.0)]
    path = Line(run.points[:, 0], run.points[:, 1], f"lr = {lr_times_lambda_max:g}/λmax", "relu")
    loss = Line(np.arange(len(run.loss)), run.loss, "loss", "relu")
    chart = Chart(
        [Subplot(contours + [path], "path over the loss contours", "x₁ (λ = 1)", f"x₂ (λ = {condition:g})"),
         Subplot([loss], f"regime: {regime(lr, condition)}", "step", "loss f(x)", logy=True)],
        title=f"condition number {condition:g}, lr × λmax = {lr_times_lambda_max:g} (threshold 2)",
        message=run.status,
    )
    chart.extra["run"] = run
    return chart


EXPERIMENTS = [
    Experiment(
        "gradient_descent",
        compare_learning_rates,
        {
            "condition": Choice((1.0, 2.0, 10.0, 50.0, 100.0), 10.0, "condition number"),
            "lr_times_lambda_max": Slider((0.1, 0.5, 0.9, 1.0, 1.5, 1.9, 1.99, 2.01, 2.2, 3.0), 1.5,
                                          "lr × λmax"),
        },
        explore=("condition", "lr_times_lambda_max"),  # 50 runs of a few microseconds each
    )
]
