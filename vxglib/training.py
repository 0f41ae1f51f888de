"""What a training run is asked to do (`TrainConfig`) and what it reports (`History`).

Each backend has exactly one loop that reads a TrainConfig and fills a History; both loops draw
their mini-batches from `batch_order`, so the two frameworks see the same batches in the same order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._checks import check_choice, check_int, check_positive
from .probes import Snapshot

OPTIMIZERS = ("sgd", "momentum", "adam")
CLIP_MODES = ("none", "global_norm", "value", "norm_per_variable")
BACKENDS = ("torch", "keras")


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer, learning rate, schedule, clipping and how often to take full probes."""

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    epochs: int = 10
    batch_size: int = 64
    clip: str = "none"
    clip_value: float = 1.0
    probe_every: int = 0
    max_steps: int | None = None
    shuffle_seed: int = 0

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("lr", self.lr)
        check_positive("momentum", self.momentum, allow_zero=True)
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size)
        check_choice("clip", self.clip, CLIP_MODES)
        check_positive("clip_value", self.clip_value)
        check_int("probe_every", self.probe_every, minimum=0)
        if self.max_steps is not None:
            check_int("max_steps", self.max_steps)


def batch_order(n_examples: int, config: TrainConfig) -> list[np.ndarray]:
    """The index arrays of every mini-batch of the run, epoch after epoch, cut at max_steps."""
    generator = np.random.default_rng(config.shuffle_seed)
    batches = []
    for _ in range(config.epochs):
        order = generator.permutation(n_examples)
        batches += [order[start:start + config.batch_size]
                    for start in range(0, n_examples, config.batch_size)]
    return batches[: config.max_steps] if config.max_steps else batches


@dataclass
class History:
    """Loss and global gradient norm per step, per-layer gradient norms per step, accuracy per
    epoch, full probes every `probe_every` steps, and where (if anywhere) the run diverged."""

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    layer_grad_norms: list[np.ndarray] = field(default_factory=list)
    epoch_end_steps: list[int] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    probe_steps: list[int] = field(default_factory=list)
    probes: list[Snapshot] = field(default_factory=list)
    update_ratios: list[np.ndarray] = field(default_factory=list)
    clip_events: int = 0
    diverged_at: int | None = None
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        """Number of optimisation steps taken."""
        return len(self.loss)

    @property
    def status(self) -> str:
        """'diverged at step k (gradient norm before it: g)' or 'trained N steps'."""
        if self.diverged_at is None:
            return f"trained {self.steps} steps"
        finite = [g for g in self.grad_norm if np.isfinite(g)]
        before = f"{finite[-1]:.3g}" if finite else "none finite"
        return f"diverged at step {self.diverged_at} (last finite gradient norm: {before})"

    def probe_array(self, column: str) -> np.ndarray:
        """One probe column over time: shape (n_probes, n_layers)."""
        return np.array([snap[column] for snap in self.probes])

    @property
    def final_loss(self) -> float:
        """Mean training loss over the last epoch's steps (or the last 20 steps)."""
        tail = self.loss[-20:] if not self.epoch_end_steps else self.loss[
            (self.epoch_end_steps[-2] if len(self.epoch_end_steps) > 1 else 0):]
        return float(np.mean(tail)) if tail else float("nan")


def is_finite(*values: float) -> bool:
    """True when every value is a finite number."""
    return bool(np.all(np.isfinite(values)))


def train(spec, data, config: TrainConfig, backend: str = "torch", weights=None, dtype: str = "float32"):
    """Build `spec` in `backend` (from `weights`, or fresh ones from the global seed), train it on
    `data` with `config`, and return (model, History)."""
    check_choice("backend", backend, BACKENDS)
    from .spec import init_weights

    weights = weights if weights is not None else init_weights(spec)
    if backend == "torch":
        from . import torch_backend as framework
    else:
        from . import keras_backend as framework
    model = framework.build_mlp(spec, weights, dtype=dtype)
    return model, framework.train(model, data, config)
