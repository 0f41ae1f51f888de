"""Offline datasets: generated 2-D sets, scikit-learn's 8x8 digits, and sequence tasks.

Nothing here downloads anything. Every loader returns a `Dataset` with a train/test split and
inputs standardised with the training statistics.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._checks import check_fraction, check_int, check_positive
from .seeding import current_seed


class DatasetUnavailableError(RuntimeError):
    """An optional dataset is not on this machine; the message says how to provide it."""


@dataclass
class Dataset:
    """Train and test arrays; `task` is "classification" (integer labels) or "regression"."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str = "classification"
    n_classes: int = 0

    @property
    def in_dim(self) -> int:
        """Number of input features (the last axis)."""
        return int(self.x_train.shape[-1])

    @property
    def out_dim(self) -> int:
        """Output units a model needs: n_classes, or the target width for regression."""
        return self.n_classes if self.task == "classification" else int(np.prod(self.y_train.shape[1:]) or 1)

    @property
    def loss(self) -> str:
        """The loss that fits the task."""
        return "cross_entropy" if self.task == "classification" else "mse"


def _generator(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(current_seed() if seed is None else seed)


def split(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float = 0.25,
          seed: int | None = None, standardize: bool = True, task: str = "classification") -> Dataset:
    """Shuffle, split into train/test and (optionally) standardise features with train statistics."""
    check_fraction("test_fraction", test_fraction)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
    order = _generator(seed).permutation(len(x))
    n_test = max(1, int(round(len(x) * test_fraction)))
    test, train = order[:n_test], order[n_test:]
    x_train, x_test = x[train].astype(np.float64), x[test].astype(np.float64)
    if standardize:
        axes = tuple(range(x_train.ndim - 1)) if x_train.ndim <= 2 else None
        mean, std = x_train.mean(axis=axes), x_train.std(axis=axes)
        std = np.where(std > 0, std, 1.0)
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    n_classes = int(y.max()) + 1 if task == "classification" else 0
    return Dataset(name, x_train, y[train], x_test, y[test], task, n_classes)


def circles(n: int = 1000, noise: float = 0.1, factor: float = 0.5, seed: int | None = None) -> Dataset:
    """Two concentric circles (scikit-learn's make_circles), two classes."""
    from sklearn.datasets import make_circles

    n = check_int("n", n, minimum=4)
    check_positive("noise", noise, allow_zero=True)
    check_fraction("factor", factor)
    state = current_seed() if seed is None else seed
    x, y = make_circles(n_samples=n, noise=noise, factor=factor, random_state=state)
    return split("circles", x, y, seed=seed)


def moons(n: int = 1000, noise: float = 0.15, seed: int | None = None) -> Dataset:
    """Two interleaving half moons (scikit-learn's make_moons), two classes."""
    from sklearn.datasets import make_moons

    n = check_int("n", n, minimum=4)
    check_positive("noise", noise, allow_zero=True)
    state = current_seed() if seed is None else seed
    x, y = make_moons(n_samples=n, noise=noise, random_state=state)
    return split("moons", x, y, seed=seed)


def spirals(n: int = 1500, classes: int = 3, noise: float = 0.2, seed: int | None = None) -> Dataset:
    """Interleaved spiral arms in 2-D, one class per arm."""
    n = check_int("n", n, minimum=classes)
    classes = check_int("classes", classes, minimum=2)
    check_positive("noise", noise, allow_zero=True)
    generator = _generator(seed)
    per_class = n // classes
    radius = np.tile(np.linspace(0.05, 1.0, per_class), classes)
    labels = np.repeat(np.arange(classes), per_class)
    angle = labels * 2 * np.pi / classes + radius * 4 + generator.normal(0, noise, labels.size)
    x = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
    return split("spirals", x, labels, seed=seed)


def digits(images: bool = False, test_fraction: float = 0.25, seed: int | None = None) -> Dataset:
    """scikit-learn's 1,797 8x8 handwritten digits, 10 classes; flat (64,) or images (8, 8, 1)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images[..., None] if images else bunch.data
    data = split("digits", x / 16.0, bunch.target, test_fraction, seed, standardize=not images)
    if images:  # one global mean/std for pixels keeps the images' spatial structure
        mean, std = data.x_train.mean(), data.x_train.std()
        data.x_train, data.x_test = (data.x_train - mean) / std, (data.x_test - mean) / std
    return data


def adding_problem(n: int = 2000, length: int = 50, seed: int | None = None) -> Dataset:
    """Hochreiter & Schmidhuber's adding problem: sum the two marked values of a long sequence.

    Inputs are (n, length, 2): a value in U(0, 1) and a marker that is 1 at two positions, one in
    each half. The target is the sum of the two marked values; always predicting its mean (1.0)
    scores an MSE of Var(U1 + U2) = 1/6, about 0.167.
    """
    n = check_int("n", n, minimum=2)
    length = check_int("length", length, minimum=2)
    generator = _generator(seed)
    values = generator.uniform(0, 1, size=(n, length))
    markers = np.zeros((n, length))
    half = length // 2
    first = generator.integers(0, half, size=n)
    second = generator.integers(half, length, size=n)
    markers[np.arange(n), first] = 1
    markers[np.arange(n), second] = 1
    x = np.stack([values, markers], axis=-1)
    y = (values[np.arange(n), first] + values[np.arange(n), second])[:, None]
    return split("adding", x, y, seed=seed, standardize=False, task="regression")


def memory_task(n: int = 2000, length: int = 20, n_symbols: int = 4, seed: int | None = None) -> Dataset:
    """Recall the first symbol of a sequence after `length` - 1 steps of noise.

    Inputs are one-hot (n, length, n_symbols + 1): step 0 carries a symbol, every later step a
    random distractor symbol from the same alphabet; the label is the symbol at step 0, so the
    dependency is `length` steps long. Chance accuracy is 1 / n_symbols.
    """
    n = check_int("n", n, minimum=2)
    length = check_int("length", length, minimum=2)
    n_symbols = check_int("n_symbols", n_symbols, minimum=2)
    generator = _generator(seed)
    tokens = generator.integers(0, n_symbols, size=(n, length))
    x = np.zeros((n, length, n_symbols + 1))
    x[np.arange(n)[:, None], np.arange(length)[None, :], tokens] = 1
    x[:, 1:, n_symbols] = 1  # a flag channel: "this is a distractor"
    return split("memory", x, tokens[:, 0], seed=seed, standardize=False)


def mnist(path: str | os.PathLike | None = None) -> Dataset:
    """MNIST from a local `mnist.npz` (optional: nothing is downloaded).

    Looks at `path`, then $VXGLIB_MNIST, then ~/.vxglib/mnist.npz. The file must hold
    x_train, y_train, x_test, y_test as saved by keras.datasets.mnist.load_data.
    """
    candidates = [Path(p) for p in (path, os.environ.get("VXGLIB_MNIST")) if p]
    candidates.append(Path.home() / ".vxglib" / "mnist.npz")
    for candidate in candidates:
        if candidate.is_file():
            with np.load(candidate) as arrays:
                x_train, x_test = arrays["x_train"] / 255.0, arrays["x_test"] / 255.0
                return Dataset("mnist", x_train.reshape(len(x_train), -1), arrays["y_train"],
                               x_test.reshape(len(x_test), -1), arrays["y_test"], "classification", 10)
    looked = ", ".join(str(c) for c in candidates)
    raise DatasetUnavailableError(
        f"MNIST is optional and is not downloaded by this book. Looked for: {looked}. "
        "To use it, save mnist.npz (x_train, y_train, x_test, y_test) at one of those places, or "
        "use vxglib.data.digits(), which ships with scikit-learn."
    )
