"""The PyTorch backend: build an MLPSpec, take gradients and probes, and the one training loop."""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from . import seeding
from ._checks import check_choice
from .numpy_ref import LOSSES
from .probes import Snapshot, snapshot, update_ratio
from .spec import LEAKY_SLOPE, MLPSpec, Weights, init_weights
from .training import History, TrainConfig, batch_order, is_finite

seeding.apply_to_torch()
DTYPES = {"float32": torch.float32, "float64": torch.float64}

_ACTIVATIONS = {
    "linear": lambda z: z, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
    "leaky_relu": lambda z: torch.where(z > 0, z, LEAKY_SLOPE * z),
    "elu": nn.functional.elu,  # leaky ReLU by where(): exact in float64
    "gelu": nn.functional.gelu, "selu": torch.selu, "swish": nn.functional.silu,
}


class MLP(nn.Module):
    """The network an MLPSpec describes; with `record = True` it keeps each hidden layer's
    pre-activation `z` and output `h` of the last forward pass (with gradients retained)."""

    def __init__(self, spec: MLPSpec, weights: Weights, dtype: torch.dtype):
        super().__init__()
        self.spec, self.record = spec, False
        self.phi = _ACTIVATIONS[spec.activation]
        sizes = spec.layer_sizes
        self.linears = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:]))
        norm = {"batch": lambda n: nn.BatchNorm1d(n, dtype=dtype),
                "layer": lambda n: nn.LayerNorm(n, dtype=dtype)}.get(spec.norm)
        self.norms = nn.ModuleList(norm(spec.width) for _ in range(spec.depth)) if norm else None
        load_weights(self, weights)
        self.z: list[torch.Tensor] = []
        self.h: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, removed: frozenset[int] = frozenset()) -> torch.Tensor:
        """The logits; hidden layers in `removed` are skipped (their input passes on unchanged), which
        only makes sense for layers that keep the width (see vxglib.residual.forward_without)."""
        self.z, self.h = [], []
        h = x
        for index, linear in enumerate(self.linears[:-1]):
            if index in removed:
                continue
            z = linear(h)
            if self.norms is not None and self.spec.norm_placement == "before":
                z = self.norms[index](z)
            out = self.phi(z)
            if self.norms is not None and self.spec.norm_placement == "after":
                out = self.norms[index](out)
            if self.spec.residual and h.shape[1] == out.shape[1]:
                out = out + h
            if self.record:
                out.retain_grad()
                self.z.append(z)
                self.h.append(out)
            h = out
        return self.linears[-1](h)

    @property
    def weights(self) -> list[torch.Tensor]:
        """The weight matrices, input to output."""
        return [linear.weight for linear in self.linears]


def load_weights(model: MLP, weights: Weights) -> None:
    """Copy float64 NumPy weights (W is fan_in x fan_out) into the model's Linear layers."""
    if len(weights.W) != len(model.linears):
        raise ValueError(f"{len(weights.W)} weight matrices for {len(model.linears)} layers")
    with torch.no_grad():
        for linear, W, b in zip(model.linears, weights.W, weights.b):
            if tuple(W.T.shape) != tuple(linear.weight.shape):
                raise ValueError(f"weight of shape {W.shape} does not fit layer {tuple(linear.weight.shape)[::-1]}")
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))


def build_mlp(spec: MLPSpec, weights: Weights | None = None, dtype: str = "float32") -> MLP:
    """A PyTorch MLP for `spec`, initialised with `weights` (or fresh ones from the global seed)."""
    check_choice("dtype", dtype, DTYPES)
    return MLP(spec, weights if weights is not None else init_weights(spec), DTYPES[dtype])


def _tensor(array: np.ndarray, model: nn.Module) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array), dtype=next(model.parameters()).dtype)


def loss_fn(output: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean cross-entropy (integer labels) or mean squared error."""
    check_choice("loss", loss, LOSSES)
    if loss == "cross_entropy":
        return nn.functional.cross_entropy(output, y.long().reshape(-1))
    return nn.functional.mse_loss(output, y.reshape(output.shape).to(output.dtype))


def gradients(model: MLP, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> dict:
    """Loss and gradients on one batch, as NumPy in the reference's layout: dW (fan_in x fan_out),
    db, and dh (gradient of each hidden layer's output)."""
    model.zero_grad()
    model.record = True
    try:
        value = loss_fn(model(_tensor(x, model)), torch.as_tensor(y), loss)
        value.backward()
    finally:
        model.record = False
    return {
        "loss": value.item(),
        "dW": [lin.weight.grad.detach().numpy().T.copy() for lin in model.linears],
        "db": [lin.bias.grad.detach().numpy().copy() for lin in model.linears],
        "dh": [h.grad.detach().numpy().copy() for h in model.h],
        "z": [z.detach().numpy().copy() for z in model.z],
        "h": [h.detach().numpy().copy() for h in model.h],
    }


def probe(model: MLP, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> Snapshot:
    """Per-layer gradient, weight and activation statistics on one batch."""
    grads = gradients(model, x, y, loss)
    weights = [lin.weight.detach().numpy().T for lin in model.linears]
    return snapshot(model.spec.activation, weights, grads["dW"], grads["z"], grads["h"], grads["dh"])


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer `config` names, with PyTorch's conventions (Adam eps 1e-8)."""
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr)
    momentum = config.momentum if config.optimizer == "momentum" else 0.0
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=momentum)


def clip_gradients(model: nn.Module, config: TrainConfig, global_norm: float) -> bool:
    """Clip in place as `config.clip` says; return True when clipping changed the gradients."""
    params = [p for p in model.parameters() if p.grad is not None]
    if config.clip == "global_norm":
        nn.utils.clip_grad_norm_(params, config.clip_value)
        return global_norm > config.clip_value
    if config.clip == "value":
        clipped = any(bool((p.grad.abs() > config.clip_value).any()) for p in params)
        nn.utils.clip_grad_value_(params, config.clip_value)
        return clipped
    if config.clip == "norm_per_variable":  # what Keras' clipnorm does
        clipped = False
        for p in params:
            clipped |= bool(nn.utils.clip_grad_norm_([p], config.clip_value) > config.clip_value)
        return clipped
    return False


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, loss: str) -> tuple[float, float]:
    """(loss, accuracy) on a whole set; accuracy is NaN for regression."""
    model.eval()
    with torch.no_grad():
        output = model(_tensor(x, model))
        value = float(loss_fn(output, torch.as_tensor(y), loss))
        accuracy = float((output.argmax(1).numpy() == y.ravel()).mean()) if loss == "cross_entropy" else float("nan")
    model.train()
    return value, accuracy


def train(model: MLP, data, config: TrainConfig, probe_fn=None) -> History:
    """Train `model` on `data`; stop and record `diverged_at` at the first non-finite loss or
    gradient; take a full probe every `config.probe_every` steps."""
    history, start = History(), time.perf_counter()
    optimizer = make_optimizer(model, config)
    x_all, y_all = _tensor(data.x_train, model), torch.as_tensor(data.y_train)
    probe_batch = data.x_train[:256], data.y_train[:256]
    batches = batch_order(len(data.x_train), config)
    per_epoch = -(-len(data.x_train) // config.batch_size)
    model.train()
    for step, index in enumerate(batches):
        probing = config.probe_every and step % config.probe_every == 0
        if probing:
            history.probe_steps.append(step)
            history.probes.append((probe_fn or probe)(model, *probe_batch, data.loss))
            before = [w.detach().clone().numpy() for w in model.weights]
        optimizer.zero_grad()
        value = loss_fn(model(x_all[index]), y_all[index], data.loss)
        value.backward()
        layer_norms = torch.stack([w.grad.norm() for w in model.weights]).detach().numpy()
        global_norm = float(torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters())))
        history.loss.append(value.item())
        history.grad_norm.append(global_norm)
        history.layer_grad_norms.append(layer_norms)
        if not is_finite(value.item(), global_norm):
            history.diverged_at = step
            break
        history.clip_events += clip_gradients(model, config, global_norm)
        optimizer.step()
        if probing:
            history.update_ratios.append(update_ratio(before, [w.detach().numpy() for w in model.weights]))
        if (step + 1) % per_epoch == 0 or step == len(batches) - 1:
            history.epoch_end_steps.append(step + 1)
            history.train_acc.append(evaluate(model, data.x_train, data.y_train, data.loss)[1])
            test_loss, test_acc = evaluate(model, data.x_test, data.y_test, data.loss)
            history.test_loss.append(test_loss)
            history.test_acc.append(test_acc)
    history.seconds = time.perf_counter() - start
    return history
