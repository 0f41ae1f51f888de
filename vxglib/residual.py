"""Tools for residual networks: scaled residual branches, input gradients over a 1-D grid and their
autocorrelation (shattered gradients), path-length counts, and deleting blocks at test time.

Residual MLPs are `MLPSpec(residual=True)` and residual CNNs `CNNSpec(residual=True)`; this module
adds what those specs leave out. PyTorch is imported only by the functions that need it.
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import check_int, check_positive
from .spec import MLPSpec, Weights, init_weights

__all__ = ["residual_layers", "scale_branches", "residual_weights", "input_gradients", "autocorrelation",
           "path_length_counts", "forward_without", "accuracy_without"]


def residual_layers(spec: MLPSpec) -> list[int]:
    """Indices (0 = first hidden layer) of the hidden layers that carry a skip connection."""
    if not spec.residual:
        return []
    sizes = spec.layer_sizes
    return [index for index in range(spec.depth) if sizes[index] == sizes[index + 1]]


def scale_branches(spec: MLPSpec, weights: Weights, factor: float) -> Weights:
    """A copy of `weights` with every residual layer's W and b times `factor`; for ReLU-like
    activations (positively homogeneous) this scales the branch F(h) itself by `factor`."""
    factor = check_positive("factor", factor)
    scaled = weights.copy()
    for index in residual_layers(spec):
        scaled.W[index] *= factor
        scaled.b[index] *= factor
    return scaled


def residual_weights(spec: MLPSpec, seed: int = 0) -> Weights:
    """Initial weights of `spec`; a residual spec without normalisation gets its branches scaled by
    1/sqrt(depth), so the forward variance grows by (1 + 1/depth)^depth < e instead of 2^depth."""
    weights = init_weights(spec, seed=seed)
    if spec.residual and spec.norm == "none":
        return scale_branches(spec, weights, 1 / math.sqrt(spec.depth))
    return weights


def input_gradients(spec: MLPSpec, weights: Weights, x: np.ndarray) -> np.ndarray:
    """d(output)/d(input) at every row of `x` (shape (n, 1) for a 1-D grid), float64 PyTorch;
    `spec` must have one output and no batch normalisation (rows must not interact)."""
    if spec.out_dim != 1:
        raise ValueError(f"out_dim={spec.out_dim!r}, norm={spec.norm!r}: need out_dim=1")
    import torch

    from .torch_backend import build_mlp

    model = build_mlp(spec, weights, dtype="float64")
    inputs = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    model(inputs).sum().backward()
    return inputs.grad.numpy().copy()


def autocorrelation(values: np.ndarray, max_lag: int = 20) -> np.ndarray:
    """Correlation of a sequence with itself shifted by 0..max_lag steps (1 at lag 0)."""
    values = np.asarray(values, dtype=float).ravel()
    max_lag = check_int("max_lag", max_lag, minimum=0, maximum=len(values) - 2)
    centred = values - values.mean()
    variance = float(np.mean(centred**2))
    if variance == 0:
        return np.ones(max_lag + 1)
    return np.array([np.mean(centred[: len(centred) - lag] * centred[lag:]) / variance
                     for lag in range(max_lag + 1)])


def path_length_counts(n_blocks: int) -> np.ndarray:
    """Number of input-to-output paths through k residual blocks, k = 0..n_blocks: C(n, k)
    (each block is either taken or skipped, Veit et al. 2016)."""
    n_blocks = check_int("n_blocks", n_blocks, minimum=1)
    return np.array([math.comb(n_blocks, k) for k in range(n_blocks + 1)], dtype=float)


def forward_without(model, x: np.ndarray, removed=()) -> np.ndarray:
    """Logits of a PyTorch MLP (from `torch_backend.build_mlp`) in eval mode with the hidden layers
    in `removed` deleted: their input passes on unchanged, as if the layer were an identity."""
    import torch

    spec = model.spec
    removed = set(removed)
    sizes = spec.layer_sizes
    for index in removed:
        check_int("removed layer", index, minimum=0, maximum=spec.depth - 1)
        if sizes[index] != sizes[index + 1]:
            raise ValueError(f"layer {index} maps {sizes[index]} to {sizes[index + 1]} units: cannot be deleted")
    was_training, kept = model.training, (model.record, model.z, model.h)  # the last recorded pass stays
    model.eval()
    model.record = False  # no gradients here, nothing to retain
    with torch.no_grad():
        logits = model(torch.as_tensor(np.asarray(x), dtype=model.linears[0].weight.dtype), frozenset(removed)).numpy()
    model.train(was_training)
    model.record, model.z, model.h = kept
    return logits


def accuracy_without(model, x: np.ndarray, y: np.ndarray, removed=()) -> float:
    """Classification accuracy with the hidden layers in `removed` deleted (see forward_without)."""
    return float(np.mean(forward_without(model, x, removed).argmax(1) == np.ravel(y)))
