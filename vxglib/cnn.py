"""A framework-neutral convolutional network: `CNNSpec`, its layer plan and its initial weights.

The network is a stem convolution followed by blocks of two 3x3 convolutions, then global average
pooling and a linear output layer. With `residual=True` each block is the classic residual block
(conv-BN-activation-conv-BN, plus the block's input, then the activation), and a block that
changes the shape (stride 2, more channels) carries its input through a 1x1 projection. With
`residual=False` the very same convolutions run without the skips, so plain and residual networks
drawn from the same seed share every convolution kernel.

Kernels are drawn once in NumPy float64 in Keras' layout (height, width, in, out) and loaded into
either framework; images are channel-last (n, height, width, channels) in both (the PyTorch model
moves the channels first itself).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ._checks import check_choice, check_int, check_positive
from .seeding import rng as seeded_rng
from .spec import ACTIVATIONS, INITS, draw_weight, init_std

__all__ = ["CNNSpec", "CNNWeights", "ConvLayer", "conv_plan", "projection_plan", "init_cnn_weights",
           "build", "gradients", "probe", "train", "BACKENDS"]

BACKENDS = ("torch", "keras")


@dataclass(frozen=True)
class CNNSpec:
    """A stem conv plus (depth - 1) / 2 two-conv blocks, in `stages` stages whose channel count
    doubles (and image side halves) from one stage to the next; `depth` counts conv layers."""

    image_size: int = 8
    in_channels: int = 1
    n_classes: int = 10
    depth: int = 21
    channels: int = 8
    stages: int = 2
    kernel_size: int = 3
    activation: str = "relu"
    init: str = "he_normal"
    weight_scale: float = 1.0
    batch_norm: bool = False
    residual: bool = False

    def __post_init__(self) -> None:
        check_int("image_size", self.image_size)
        check_int("in_channels", self.in_channels)
        check_int("n_classes", self.n_classes, minimum=2)
        check_int("channels", self.channels)
        check_int("stages", self.stages)
        check_int("kernel_size", self.kernel_size)
        check_int("depth", self.depth, minimum=2 * self.stages + 1)
        if self.depth % 2 == 0:
            raise ValueError(f"depth={self.depth!r} must be odd: a stem conv plus blocks of two convs "
                             f"(for example {self.depth - 1} or {self.depth + 1})")
        if self.image_size < 2 ** (self.stages - 1):
            raise ValueError(f"image_size={self.image_size!r} is too small for stages={self.stages!r}")
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("init", self.init, INITS)
        check_positive("weight_scale", self.weight_scale, allow_zero=True)
        check_choice("batch_norm", self.batch_norm, (False, True))
        check_choice("residual", self.residual, (False, True))

    @property
    def n_blocks(self) -> int:
        """Number of two-conv blocks after the stem."""
        return (self.depth - 1) // 2

    @property
    def out_channels(self) -> int:
        """Channels of the last block (what the pooling hands to the output layer)."""
        return self.channels * 2 ** (self.stages - 1)

    @property
    def n_layers(self) -> int:
        """Weight layers the probes report: every conv layer plus the output layer."""
        return self.depth + 1

    def with_(self, **changes) -> "CNNSpec":
        """A copy of this spec with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class ConvLayer:
    """One 3x3 convolution of the plan: channels in and out, stride, its block (-1 for the stem)
    and its place in the block (0 first, 1 second: the one the skip is added to)."""

    in_channels: int
    out_channels: int
    stride: int
    block: int
    position: int


def conv_plan(spec: CNNSpec) -> list[ConvLayer]:
    """The conv layers from input to output; the first block of each later stage has stride 2."""
    plan = [ConvLayer(spec.in_channels, spec.channels, 1, -1, 0)]
    channels = spec.channels
    for block in range(spec.n_blocks):
        stage = block * spec.stages // spec.n_blocks
        new_stage = block > 0 and stage != (block - 1) * spec.stages // spec.n_blocks
        out = spec.channels * 2**stage
        plan.append(ConvLayer(channels, out, 2 if new_stage else 1, block, 0))
        plan.append(ConvLayer(out, out, 1, block, 1))
        channels = out
    return plan


def projection_plan(spec: CNNSpec) -> dict[int, ConvLayer]:
    """The 1x1 projections on the skips of blocks that change shape (empty without residual)."""
    if not spec.residual:
        return {}
    firsts = [layer for layer in conv_plan(spec) if layer.block >= 0 and layer.position == 0]
    return {layer.block: ConvLayer(layer.in_channels, layer.out_channels, layer.stride, layer.block, 0)
            for layer in firsts if layer.stride != 1 or layer.in_channels != layer.out_channels}


@dataclass
class CNNWeights:
    """Initial parameters, float64: conv kernels (k, k, in, out) and biases in plan order, the
    projections by block, and the output layer W (channels, classes) and b."""

    kernels: list[np.ndarray] = field(default_factory=list)
    biases: list[np.ndarray] = field(default_factory=list)
    projections: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    W: np.ndarray | None = None
    b: np.ndarray | None = None


def draw_kernel(init: str, size: int, in_channels: int, out_channels: int, gain: float,
                generator: np.random.Generator) -> np.ndarray:
    """A (size, size, in, out) kernel; fans count the receptive field, as both frameworks do."""
    fan_in, fan_out = size * size * in_channels, size * size * out_channels
    matrix = draw_weight(init, fan_in, out_channels, gain, generator)
    drawn_std = init_std(init, fan_in, out_channels, gain)
    if init != "orthogonal" and drawn_std > 0:  # draw_weight used fan_out = out_channels
        matrix = matrix * (init_std(init, fan_in, fan_out, gain) / drawn_std)
    return matrix.reshape(size, size, in_channels, out_channels)


def init_cnn_weights(spec: CNNSpec, seed: int | None = None) -> CNNWeights:
    """Draw `spec`'s weights in float64 from `seed`; projections are drawn last, so a plain and a
    residual spec with the same seed share every conv kernel and the output layer."""
    generator = np.random.default_rng(seed) if seed is not None else seeded_rng()
    weights = CNNWeights()
    for layer in conv_plan(spec):
        weights.kernels.append(draw_kernel(spec.init, spec.kernel_size, layer.in_channels,
                                           layer.out_channels, spec.weight_scale, generator))
        weights.biases.append(np.zeros(layer.out_channels))
    weights.W = draw_weight(spec.init, spec.out_channels, spec.n_classes, spec.weight_scale, generator)
    weights.b = np.zeros(spec.n_classes)
    for block, layer in projection_plan(spec).items():
        kernel = draw_kernel(spec.init, 1, layer.in_channels, layer.out_channels, spec.weight_scale, generator)
        weights.projections[block] = (kernel, np.zeros(layer.out_channels))
    return weights


def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's "same": the extra pixel goes after, so a stride-2
    3x3 conv on an even image pads 0 before and 1 after (PyTorch's padding=1 pads 1 and 1)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def _framework(backend: str):
    check_choice("backend", backend, BACKENDS)
    if backend == "torch":
        from . import cnn_torch as framework
    else:
        from . import cnn_keras as framework
    return framework


def build(spec: CNNSpec, weights: CNNWeights | None = None, backend: str = "torch", dtype: str = "float32"):
    """The network `spec` describes in `backend`, loaded with `weights` (or fresh ones)."""
    framework = _framework(backend)
    return framework.build_cnn(spec, weights if weights is not None else init_cnn_weights(spec), dtype)


def gradients(model, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> dict:
    """Loss and gradients on one batch, as NumPy in Keras' layout: dW (conv kernels then output
    layer), z (input of each conv layer's activation), h (its output) and dh (dL/dh)."""
    return _framework(model.backend_name).gradients(model, x, y, loss)


def probe(model, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy"):
    """A Snapshot of per-layer statistics (layer 1 = stem conv, last = output layer)."""
    return _framework(model.backend_name).probe(model, x, y, loss)


def train(spec: CNNSpec, data, config, backend: str = "torch", weights: CNNWeights | None = None,
          dtype: str = "float32"):
    """Build `spec` in `backend` and train it on image `data` with the backend's one training loop;
    returns (model, History). Keras steps run compiled (tf.function)."""
    framework = _framework(backend)
    if tuple(data.x_train.shape[1:]) != (spec.image_size, spec.image_size, spec.in_channels):
        raise ValueError(f"images of shape {data.x_train.shape[1:]} do not fit the spec "
                         f"({spec.image_size}, {spec.image_size}, {spec.in_channels}); "
                         "load digits with images=True")
    model = build(spec, weights, backend, dtype)
    if backend == "torch":
        from . import torch_backend as loop
    else:
        from . import keras_backend as loop
    return model, loop.train(model, data, config, probe_fn=framework.probe)
