"""The PyTorch CNN of a `CNNSpec`: module, weight loading, gradients and probes.

Training uses the one PyTorch loop (`torch_backend.train`). The module takes channel-last images,
as the data come, and moves the channels first itself; it pads as TensorFlow's "same" does, so a
stride-2 layer samples the same pixels as the Keras model.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._checks import check_choice
from .cnn import CNNSpec, CNNWeights, conv_plan, projection_plan, same_padding
from .probes import Snapshot, snapshot
from .torch_backend import _ACTIVATIONS, DTYPES, _tensor, loss_fn


class CNN(nn.Module):
    """The network a CNNSpec describes; with `record = True` the forward pass keeps each conv
    layer's activation input `z` and output `h` (channel-first, gradients retained)."""

    backend_name = "torch"

    def __init__(self, spec: CNNSpec, dtype: torch.dtype):
        super().__init__()
        self.spec, self.record = spec, False
        self.phi = _ACTIVATIONS[spec.activation]
        self.plan = conv_plan(spec)
        size = spec.kernel_size
        self.convs = nn.ModuleList(nn.Conv2d(layer.in_channels, layer.out_channels, size, layer.stride,
                                             dtype=dtype) for layer in self.plan)
        self.norms = nn.ModuleList(nn.BatchNorm2d(layer.out_channels, eps=1e-5, momentum=0.1, dtype=dtype)
                                   for layer in self.plan) if spec.batch_norm else None
        # a 1x1 conv of stride s is a stride-1 1x1 conv of every s-th pixel; written that way
        # because PyTorch 2.13's oneDNN 1x1 stride-2 backward corrupts memory on small
        # channel-last inputs
        self.projections = nn.ModuleDict({
            str(block): nn.Conv2d(layer.in_channels, layer.out_channels, 1, 1, dtype=dtype)
            for block, layer in projection_plan(spec).items()})
        self.projection_strides = {str(block): layer.stride for block, layer in projection_plan(spec).items()}
        self.output = nn.Linear(spec.out_channels, spec.n_classes, dtype=dtype)
        self.z: list[torch.Tensor] = []
        self.h: list[torch.Tensor] = []

    def _conv(self, index: int, h: torch.Tensor) -> torch.Tensor:
        layer, conv = self.plan[index], self.convs[index]
        top, bottom = same_padding(h.shape[2], self.spec.kernel_size, layer.stride)
        left, right = same_padding(h.shape[3], self.spec.kernel_size, layer.stride)
        z = conv(nn.functional.pad(h, (left, right, top, bottom)))
        return self.norms[index](z) if self.norms is not None else z

    def _activate(self, z: torch.Tensor) -> torch.Tensor:
        h = self.phi(z)
        if self.record:
            h.retain_grad()
            self.z.append(z)
            self.h.append(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.z, self.h = [], []
        h = self._activate(self._conv(0, x.permute(0, 3, 1, 2).contiguous()))
        for index in range(1, len(self.plan), 2):
            block = self.plan[index].block
            skip = h
            if str(block) in self.projections:
                stride = self.projection_strides[str(block)]
                skip = self.projections[str(block)](h[:, :, ::stride, ::stride])
            inner = self._activate(self._conv(index, h))
            z = self._conv(index + 1, inner)
            h = self._activate(z + skip if self.spec.residual else z)
        return self.output(h.mean(dim=(2, 3)))

    @property
    def weights(self) -> list[torch.Tensor]:
        """The conv kernels then the output weight, input to output (what the probes report)."""
        return [conv.weight for conv in self.convs] + [self.output.weight]


def load_weights(model: CNN, weights: CNNWeights) -> None:
    """Copy float64 kernels (k, k, in, out) into the model's (out, in, k, k) parameters."""
    if len(weights.kernels) != len(model.convs) or set(map(str, weights.projections)) != set(model.projections):
        raise ValueError(f"weights for {len(weights.kernels)} convs and projections "
                         f"{sorted(weights.projections)} do not fit this spec")
    pairs = list(zip(model.convs, weights.kernels, weights.biases))
    pairs += [(model.projections[str(block)], *weights.projections[block]) for block in weights.projections]
    with torch.no_grad():
        for conv, kernel, bias in pairs:
            conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(bias))
        model.output.weight.copy_(torch.from_numpy(weights.W.T.copy()))
        model.output.bias.copy_(torch.from_numpy(weights.b))


def build_cnn(spec: CNNSpec, weights: CNNWeights, dtype: str = "float32") -> CNN:
    """A PyTorch CNN for `spec` loaded with `weights`."""
    check_choice("dtype", dtype, DTYPES)
    model = CNN(spec, DTYPES[dtype])
    load_weights(model, weights)
    return model


def _channel_last(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().permute(0, 2, 3, 1).numpy().copy()


def gradients(model: CNN, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> dict:
    """Loss and gradients on one batch, as NumPy in Keras' layout (kernels (k, k, in, out),
    activations channel-last), so both frameworks' results compare entry by entry."""
    model.zero_grad()
    model.record = True
    try:
        value = loss_fn(model(_tensor(x, model)), torch.as_tensor(y), loss)
        value.backward()
    finally:
        model.record = False
    dW = [conv.weight.grad.detach().numpy().transpose(2, 3, 1, 0).copy() for conv in model.convs]
    return {
        "loss": value.item(),
        "dW": dW + [model.output.weight.grad.detach().numpy().T.copy()],
        "z": [_channel_last(z) for z in model.z],
        "h": [_channel_last(h) for h in model.h],
        "dh": [_channel_last(h.grad) for h in model.h],
    }


def probe(model: CNN, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> Snapshot:
    """Per-layer gradient, weight and activation statistics on one batch."""
    grads = gradients(model, x, y, loss)
    weights = [conv.weight.detach().numpy().transpose(2, 3, 1, 0) for conv in model.convs]
    weights.append(model.output.weight.detach().numpy().T)
    return snapshot(model.spec.activation, weights, grads["dW"], grads["z"], grads["h"], grads["dh"])
