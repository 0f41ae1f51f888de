"""A NumPy reference MLP with forward and backward written by hand, in float64.

Small enough to read as the math of backpropagation: a layer computes z = h W + b, h' = phi(z)
(plus h for a residual layer), and the backward pass walks the same layers in reverse with
dz = dh' * phi'(z), dW = h^T dz, db = sum(dz), dh = dz W^T (plus dh' for a residual layer).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import erf, expit

from ._checks import check_choice, check_positive
from .spec import ACTIVATIONS, LEAKY_SLOPE, Weights

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
LOSSES = ("cross_entropy", "mse")


def activate(name: str, z: np.ndarray) -> np.ndarray:
    """phi(z) for activation `name`."""
    check_choice("activation", name, ACTIVATIONS)
    if name == "linear":
        return z
    if name == "sigmoid":
        return expit(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_SLOPE * z)
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))
    if name == "gelu":
        return 0.5 * z * (1 + erf(z / np.sqrt(2)))
    if name == "selu":
        return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))
    return z * expit(z)  # swish


def derivative(name: str, z: np.ndarray) -> np.ndarray:
    """phi'(z) for activation `name` (at the kink of ReLU-like functions, the right derivative)."""
    check_choice("activation", name, ACTIVATIONS)
    if name == "linear":
        return np.ones_like(z)
    if name == "sigmoid":
        s = expit(z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, LEAKY_SLOPE)
    if name == "elu":
        return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0)))
    if name == "gelu":
        return 0.5 * (1 + erf(z / np.sqrt(2))) + z * np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    if name == "selu":
        return SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0.0)))
    s = expit(z)
    return s + z * s * (1 - s)  # swish


@dataclass
class Cache:
    """What the forward pass keeps for the backward pass: inputs h[l] and pre-activations z[l]."""

    h: list[np.ndarray]
    z: list[np.ndarray]
    output: np.ndarray


@dataclass
class Gradients:
    """dL/dW, dL/db per layer, and dL/dh for each layer's input h[l] (h[0] is the data)."""

    dW: list[np.ndarray]
    db: list[np.ndarray]
    dh: list[np.ndarray]


def _residual_here(residual: bool, h: np.ndarray, W: np.ndarray) -> bool:
    return residual and h.shape[1] == W.shape[1]


def forward(weights: Weights, x: np.ndarray, activation: str, residual: bool = False) -> Cache:
    """Run the MLP on `x`; hidden layers apply `activation`, the output layer is linear."""
    check_choice("activation", activation, ACTIVATIONS)
    if x.ndim != 2 or x.shape[1] != weights.W[0].shape[0]:
        raise ValueError(f"x has shape {x.shape}; expected (batch, {weights.W[0].shape[0]})")
    h, hs, zs = x, [], []
    for index, (W, b) in enumerate(zip(weights.W, weights.b)):
        hs.append(h)
        z = h @ W + b
        zs.append(z)
        if index == len(weights.W) - 1:
            h = z
        else:
            h = activate(activation, z) + (h if _residual_here(residual, h, W) else 0.0)
    return Cache(h=hs, z=zs, output=h)


def loss_and_output_grad(output: np.ndarray, y: np.ndarray, loss: str) -> tuple[float, np.ndarray]:
    """The mean loss over the batch and its gradient with respect to `output`."""
    check_choice("loss", loss, LOSSES)
    n = output.shape[0]
    if loss == "mse":
        diff = output - y.reshape(output.shape)
        return float(np.mean(diff**2)), 2 * diff / diff.size
    shifted = output - output.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    labels = y.astype(int).ravel()
    value = -float(np.mean(log_probs[np.arange(n), labels]))
    grad = np.exp(log_probs)
    grad[np.arange(n), labels] -= 1
    return value, grad / n


def backward(weights: Weights, cache: Cache, d_output: np.ndarray, activation: str,
             residual: bool = False) -> Gradients:
    """Backpropagate `d_output` = dL/d(output) through the layers recorded in `cache`."""
    n_layers = len(weights.W)
    dW, db, dh = [None] * n_layers, [None] * n_layers, [None] * n_layers
    d_out = d_output
    for index in reversed(range(n_layers)):
        W, h, z = weights.W[index], cache.h[index], cache.z[index]
        is_output = index == n_layers - 1
        dz = d_out if is_output else d_out * derivative(activation, z)
        dW[index] = h.T @ dz
        db[index] = dz.sum(axis=0)
        dh[index] = dz @ W.T
        if not is_output and _residual_here(residual, h, W):
            dh[index] = dh[index] + d_out
        d_out = dh[index]
    return Gradients(dW=dW, db=db, dh=dh)


def gradients(weights: Weights, x: np.ndarray, y: np.ndarray, activation: str,
              loss: str = "cross_entropy", residual: bool = False) -> tuple[float, Gradients]:
    """Loss and all gradients of the MLP on a batch, by the hand-written backward pass."""
    cache = forward(weights, x, activation, residual)
    value, d_output = loss_and_output_grad(cache.output, y, loss)
    return value, backward(weights, cache, d_output, activation, residual)


def numerical_gradient(f: Callable[[], float], param: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Two-sided finite differences of f() with respect to every entry of `param` (changed in place)."""
    check_positive("eps", eps)
    grad = np.zeros_like(param)
    for index in np.ndindex(param.shape):
        original = param[index]
        param[index] = original + eps
        plus = f()
        param[index] = original - eps
        minus = f()
        param[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||): 0 for equal arrays, 1 for opposite ones, scale-free."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denominator == 0 else float(np.linalg.norm(a - b) / denominator)
