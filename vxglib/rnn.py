"""Framework-neutral recurrent networks: a spec, weights drawn once in NumPy, and the layouts that
load them into PyTorch (nn.RNN / nn.LSTM / nn.GRU) and Keras (SimpleRNN / LSTM / GRU).

A model reads a sequence x_1..x_T with one recurrent layer and predicts from the last hidden state
h_T with a linear read-out. In the book's layout each gate has a (fan_in, hidden) block and the
blocks sit side by side in PyTorch's gate order: "rnn" (h), "lstm" (i, f, g, o), "gru" (r, z, n).
Both an input bias `b_x` and a recurrent bias `b_h` are kept because the GRU's candidate uses
r * (h W_hn + b_hn); the LSTM and plain RNN only ever see their sum.

Framework conventions this module hides: PyTorch stores W transposed (gates x fan_in) with two
biases; Keras stores W as (fan_in, gates) with one bias (LSTM, SimpleRNN) or a (2, 3H) bias (GRU
with reset_after=True, the only Keras GRU that matches PyTorch's), and orders GRU gates (z, r, h).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import expit

from ._checks import check_choice, check_int, check_positive
from .seeding import rng as seeded_rng
from .training import BACKENDS

CELLS = ("rnn", "lstm", "gru")
RNN_ACTIVATIONS = ("tanh", "relu")  # what nn.RNN supports
RECURRENT_INITS = ("orthogonal", "normal")
GATES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
KEEP_GATE = {"lstm": "f", "gru": "z"}  # the gate whose bias `forget_bias` sets
KERAS_GRU_ORDER = (1, 0, 2)  # Keras' (z, r, h) taken from PyTorch's (r, z, n)


@dataclass(frozen=True)
class RNNSpec:
    """One recurrent layer of `hidden` units (`cell` "rnn", "lstm" or "gru") and a linear read-out.

    Each gate's recurrent block is an orthogonal (or Gaussian) matrix scaled to spectral radius
    `spectral_radius`; input weights have std `input_scale / sqrt(in_dim)`; `forget_bias` is the
    bias of the gate that keeps the old state (LSTM forget gate f, GRU update gate z).
    """

    in_dim: int
    out_dim: int
    hidden: int = 32
    cell: str = "rnn"
    activation: str = "tanh"
    spectral_radius: float = 1.0
    recurrent_init: str = "orthogonal"
    input_scale: float = 1.0
    forget_bias: float = 0.0

    def __post_init__(self) -> None:
        check_int("in_dim", self.in_dim)
        check_int("out_dim", self.out_dim)
        check_int("hidden", self.hidden)
        check_choice("cell", self.cell, CELLS)
        check_choice("activation", self.activation, RNN_ACTIVATIONS)
        if self.cell != "rnn" and self.activation != "tanh":
            raise ValueError(f"activation={self.activation!r} is only available for cell='rnn'; "
                             f"LSTM and GRU use 'tanh'")
        check_positive("spectral_radius", self.spectral_radius, allow_zero=True)
        check_choice("recurrent_init", self.recurrent_init, RECURRENT_INITS)
        check_positive("input_scale", self.input_scale, allow_zero=True)
        if not math.isfinite(float(self.forget_bias)):
            raise ValueError(f"forget_bias={self.forget_bias!r} must be a finite number")

    @property
    def n_gates(self) -> int:
        """Number of (hidden x hidden) blocks: 1 for rnn, 4 for lstm, 3 for gru."""
        return len(GATES[self.cell])

    def with_(self, **changes) -> "RNNSpec":
        """A copy of this spec with some fields changed."""
        return replace(self, **changes)


@dataclass
class RNNWeights:
    """Parameters in the book's layout (float64): W_x (in_dim, G*H), W_h (H, G*H), b_x, b_h (G*H,),
    W_out (H, out_dim), b_out (out_dim,); gate blocks in PyTorch's order."""

    W_x: np.ndarray
    W_h: np.ndarray
    b_x: np.ndarray
    b_h: np.ndarray
    W_out: np.ndarray
    b_out: np.ndarray

    def gate(self, name: str, cell: str) -> slice:
        """The columns of gate `name` (e.g. "f") for `cell`."""
        check_choice("gate", name, GATES[cell])
        hidden = self.W_h.shape[0]
        index = GATES[cell].index(name)
        return slice(index * hidden, (index + 1) * hidden)


def scaled_recurrent(hidden: int, radius: float, init: str, generator: np.random.Generator) -> np.ndarray:
    """A (hidden, hidden) matrix with spectral radius `radius` (orthogonal: every |eigenvalue| is radius)."""
    matrix = generator.normal(size=(hidden, hidden))
    if init == "orthogonal":
        q, r = np.linalg.qr(matrix)
        return radius * q * np.sign(np.diag(r))
    return radius * matrix / np.max(np.abs(np.linalg.eigvals(matrix)))


def init_rnn_weights(spec: RNNSpec, seed: int | None = None) -> RNNWeights:
    """Draw the initial weights of `spec` in float64, reproducibly from `seed` (or the global seed)."""
    generator = np.random.default_rng(seed) if seed is not None else seeded_rng()
    hidden, gates = spec.hidden, spec.n_gates
    W_x = generator.normal(0.0, spec.input_scale / math.sqrt(spec.in_dim), size=(spec.in_dim, gates * hidden))
    W_h = np.concatenate([scaled_recurrent(hidden, spec.spectral_radius, spec.recurrent_init, generator)
                          for _ in range(gates)], axis=1)
    weights = RNNWeights(W_x, W_h, np.zeros(gates * hidden), np.zeros(gates * hidden),
                         generator.normal(0.0, 1 / math.sqrt(hidden), size=(hidden, spec.out_dim)),
                         np.zeros(spec.out_dim))
    if spec.cell in KEEP_GATE:
        weights.b_x[weights.gate(KEEP_GATE[spec.cell], spec.cell)] = spec.forget_bias
    return weights


def torch_layout(weights: RNNWeights) -> dict[str, np.ndarray]:
    """The arrays nn.RNN/nn.LSTM/nn.GRU (one layer) hold: weight_ih_l0 (G*H, in), weight_hh_l0, biases."""
    return {"weight_ih_l0": weights.W_x.T.copy(), "weight_hh_l0": weights.W_h.T.copy(),
            "bias_ih_l0": weights.b_x.copy(), "bias_hh_l0": weights.b_h.copy()}


def keras_layout(weights: RNNWeights, cell: str) -> list[np.ndarray]:
    """[kernel, recurrent_kernel, bias] as Keras' SimpleRNN/LSTM/GRU(reset_after=True) hold them."""
    check_choice("cell", cell, CELLS)
    if cell != "gru":
        return [weights.W_x.copy(), weights.W_h.copy(), weights.b_x + weights.b_h]
    hidden = weights.W_h.shape[0]

    def reorder(array: np.ndarray) -> np.ndarray:
        blocks = [array[..., i * hidden:(i + 1) * hidden] for i in KERAS_GRU_ORDER]
        return np.concatenate(blocks, axis=-1)

    return [reorder(weights.W_x), reorder(weights.W_h), np.stack([reorder(weights.b_x), reorder(weights.b_h)])]


def step(spec: RNNSpec, weights: RNNWeights, x_t: np.ndarray, h: np.ndarray,
         c: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """One time step in NumPy (the reference the frameworks are tested against): (h_t, c_t)."""
    gates_x = x_t @ weights.W_x + weights.b_x
    gates_h = h @ weights.W_h + weights.b_h
    if spec.cell == "rnn":
        z = gates_x + gates_h
        return (np.tanh(z) if spec.activation == "tanh" else np.maximum(z, 0.0)), None
    split = lambda a: np.split(a, spec.n_gates, axis=-1)  # noqa: E731
    if spec.cell == "lstm":
        i, f, g, o = split(gates_x + gates_h)
        c = expit(f) * c + expit(i) * np.tanh(g)
        return expit(o) * np.tanh(c), c
    (rx, zx, nx), (rh, zh, nh) = split(gates_x), split(gates_h)
    r, update = expit(rx + rh), expit(zx + zh)
    candidate = np.tanh(nx + r * nh)
    return update * h + (1 - update) * candidate, None


def forward(spec: RNNSpec, weights: RNNWeights, x: np.ndarray) -> np.ndarray:
    """The model's outputs for inputs x of shape (batch, T, in_dim), in NumPy float64."""
    h = np.zeros((len(x), spec.hidden))
    c = np.zeros_like(h) if spec.cell == "lstm" else None
    for t in range(x.shape[1]):
        h, c = step(spec, weights, x[:, t], h, c)
    return h @ weights.W_out + weights.b_out


def keep_gate(spec: RNNSpec, weights: RNNWeights, x: np.ndarray) -> np.ndarray:
    """The keep gate's values (LSTM forget gate f_t, GRU update gate z_t), shape (batch, T, hidden),
    from a NumPy run of the model on x."""
    check_choice("cell", spec.cell, tuple(KEEP_GATE))
    columns = weights.gate(KEEP_GATE[spec.cell], spec.cell)
    h = np.zeros((len(x), spec.hidden))
    c = np.zeros_like(h) if spec.cell == "lstm" else None
    values = []
    for t in range(x.shape[1]):
        total = x[:, t] @ weights.W_x[:, columns] + weights.b_x[columns] + h @ weights.W_h[:, columns] + weights.b_h[columns]
        values.append(expit(total))
        h, c = step(spec, weights, x[:, t], h, c)
    return np.stack(values, axis=1)


def per_step_factor(norms: np.ndarray, skip: int = 1) -> float:
    """The geometric-mean ratio ||dL/dh_t|| / ||dL/dh_{t+1}|| over the sequence (ignoring the last
    `skip` steps, where the read-out sets the scale): below 1 the gradient vanishes going back."""
    norms = np.asarray(norms, dtype=float)
    usable = norms[: len(norms) - skip]
    if len(usable) < 2 or np.any(~np.isfinite(usable)) or np.any(usable <= 0):
        return float("nan")
    return float(np.exp((np.log(usable[-1]) - np.log(usable[0])) / -(len(usable) - 1)))


def _framework(backend: str):
    check_choice("backend", backend, BACKENDS)
    if backend == "torch":
        from . import rnn_torch as framework
    else:
        from . import rnn_keras as framework
    return framework


def build(spec: RNNSpec, weights: RNNWeights | None = None, backend: str = "torch", dtype: str = "float32"):
    """The model for `spec` in `backend` ("torch" or "keras"), initialised with `weights`."""
    weights = weights if weights is not None else init_rnn_weights(spec)
    return _framework(backend).build_rnn(spec, weights, dtype=dtype)


def hidden_gradients(model, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy",
                     backend: str = "torch") -> dict[str, np.ndarray]:
    """Gradient norms ||dL/dh_t|| (and ||dL/dc_t|| for an LSTM) for t = 1..T on one batch, plus the
    loss, hidden states and gates; `model` comes from `build` with the same backend."""
    return _framework(backend).hidden_gradients(model, x, y, loss)


def framework_defaults(backend: str, hidden: int = 64) -> dict[str, float]:
    """What a freshly made layer of `backend` starts with (its own defaults, not this module's):
    the spectral radius of a plain RNN's W_hh and the mean keep-gate bias of an LSTM and a GRU."""
    framework = _framework(backend)
    hidden = check_int("hidden", hidden)
    return {"rnn_recurrent_radius": framework.default_recurrent_radius(hidden),
            "lstm_forget_bias": framework.default_keep_bias("lstm", hidden),
            "gru_update_bias": framework.default_keep_bias("gru", hidden)}


def train(spec: RNNSpec, data, config, backend: str = "torch", weights: RNNWeights | None = None,
          dtype: str = "float32"):
    """Build `spec` in `backend` and train it on a sequence Dataset with the backend's one loop;
    return (model, History)."""
    model = build(spec, weights, backend, dtype)
    if backend == "torch":
        from . import torch_backend as loop
    else:
        from . import keras_backend as loop
    return model, loop.train(model, data, config)
