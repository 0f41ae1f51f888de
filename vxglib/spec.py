"""Framework-neutral model specs and initial weights, so PyTorch and Keras build the same network.

Weights are drawn once in NumPy (float64) and loaded into either framework: the two backends then
start from identical numbers and can be compared value for value. Shapes follow the math,
`W` is (fan_in, fan_out) and a layer computes `h @ W + b`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ._checks import check_choice, check_int, check_positive
from .seeding import rng as seeded_rng

ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "selu", "swish")
INITS = (
    "pytorch_default", "keras_default", "xavier_uniform", "xavier_normal", "he_uniform",
    "he_normal", "lecun_normal", "lecun_uniform", "orthogonal", "normal", "uniform", "zeros",
    "constant",
)
NORMS = ("none", "batch", "layer")
NORM_PLACEMENTS = ("before", "after")
LEAKY_SLOPE = 0.01  # PyTorch's default; Keras' LeakyReLU defaults to 0.3, so both are set explicitly


def init_std(init: str, fan_in: int, fan_out: int, gain: float = 1.0) -> float:
    """The standard deviation of a weight drawn by initialiser `init` (times `gain`)."""
    check_choice("init", init, INITS)
    fan_in, fan_out = check_int("fan_in", fan_in), check_int("fan_out", fan_out)
    gain = check_positive("gain", gain, allow_zero=True)
    base = {
        # U(-1/sqrt(fan_in), 1/sqrt(fan_in)): kaiming_uniform_(a=sqrt(5)), also Glorot's "standard"
        "pytorch_default": 1 / math.sqrt(3 * fan_in),
        "keras_default": math.sqrt(2 / (fan_in + fan_out)),  # glorot_uniform
        "xavier_uniform": math.sqrt(2 / (fan_in + fan_out)),
        "xavier_normal": math.sqrt(2 / (fan_in + fan_out)),
        "he_uniform": math.sqrt(2 / fan_in),
        "he_normal": math.sqrt(2 / fan_in),
        "lecun_normal": math.sqrt(1 / fan_in),
        "lecun_uniform": math.sqrt(1 / fan_in),
        "orthogonal": 1 / math.sqrt(max(fan_in, fan_out)),
        "normal": 1 / math.sqrt(fan_in),  # gain plays sigma_w: std = sigma_w / sqrt(fan_in)
        "uniform": 1 / math.sqrt(fan_in),
        "zeros": 0.0,
        "constant": 0.0,
    }[init]
    return gain * base


def draw_weight(init: str, fan_in: int, fan_out: int, gain: float = 1.0,
                generator: np.random.Generator | None = None) -> np.ndarray:
    """Draw a (fan_in, fan_out) float64 weight matrix with initialiser `init`."""
    std = init_std(init, fan_in, fan_out, gain)
    generator = generator if generator is not None else seeded_rng()
    shape = (fan_in, fan_out)
    if init in ("pytorch_default", "keras_default", "xavier_uniform", "he_uniform", "lecun_uniform",
                "uniform"):
        limit = std * math.sqrt(3)
        return generator.uniform(-limit, limit, size=shape)
    if init in ("xavier_normal", "normal"):
        return generator.normal(0.0, std, size=shape)
    if init in ("he_normal", "lecun_normal"):
        # Keras draws these from a normal truncated at 2 std, rescaled to keep the std
        draws = generator.normal(0.0, 1.0, size=shape)
        while np.any(bad := np.abs(draws) > 2):
            draws[bad] = generator.normal(0.0, 1.0, size=int(bad.sum()))
        return draws * std / 0.87962566103423978
    if init == "orthogonal":
        big, small = max(shape), min(shape)
        q, r = np.linalg.qr(generator.normal(size=(big, small)))
        q *= np.sign(np.diag(r))  # makes the draw uniform over orthogonal matrices
        q = q if shape[0] >= shape[1] else q.T
        return gain * q
    if init == "zeros":
        return np.zeros(shape)
    return np.full(shape, gain)  # "constant": every weight equals gain


@dataclass(frozen=True)
class MLPSpec:
    """A fully connected network: `depth` hidden layers of `width` units, then a linear output.

    `weight_scale` multiplies the initialiser's std (for init="normal" it is sigma_w, so the std is
    sigma_w / sqrt(fan_in)). `residual` adds the layer input to each hidden layer of equal width.
    """

    in_dim: int
    out_dim: int
    depth: int = 5
    width: int = 64
    activation: str = "relu"
    init: str = "he_normal"
    weight_scale: float = 1.0
    bias_init: str = "zeros"
    norm: str = "none"
    norm_placement: str = "before"
    residual: bool = False
    output_init: str | None = None

    def __post_init__(self) -> None:
        check_int("in_dim", self.in_dim)
        check_int("out_dim", self.out_dim)
        check_int("depth", self.depth, minimum=1)
        check_int("width", self.width)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("init", self.init, INITS)
        check_positive("weight_scale", self.weight_scale, allow_zero=True)
        check_choice("bias_init", self.bias_init, ("zeros", "pytorch_default"))
        check_choice("norm", self.norm, NORMS)
        check_choice("norm_placement", self.norm_placement, NORM_PLACEMENTS)
        if self.output_init is not None:
            check_choice("output_init", self.output_init, INITS)

    @property
    def layer_sizes(self) -> list[int]:
        """Sizes from input to output: [in_dim, width, ..., width, out_dim]."""
        return [self.in_dim] + [self.width] * self.depth + [self.out_dim]

    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden plus output)."""
        return self.depth + 1

    def with_(self, **changes) -> "MLPSpec":
        """A copy of this spec with some fields changed."""
        return replace(self, **changes)


@dataclass
class Weights:
    """Initial parameters for an MLPSpec: lists of W (fan_in, fan_out) and b (fan_out,), float64."""

    W: list[np.ndarray] = field(default_factory=list)
    b: list[np.ndarray] = field(default_factory=list)

    def copy(self) -> "Weights":
        """A deep copy."""
        return Weights([w.copy() for w in self.W], [b.copy() for b in self.b])


def init_weights(spec: MLPSpec, seed: int | None = None) -> Weights:
    """Draw the initial weights of `spec` in float64, reproducibly from `seed` (or the global seed)."""
    generator = np.random.default_rng(seed) if seed is not None else seeded_rng()
    sizes = spec.layer_sizes
    weights = Weights()
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        is_output = index == len(sizes) - 2
        init = spec.output_init if (is_output and spec.output_init) else spec.init
        weights.W.append(draw_weight(init, fan_in, fan_out, spec.weight_scale, generator))
        if spec.bias_init == "pytorch_default":
            bound = 1 / math.sqrt(fan_in)
            weights.b.append(generator.uniform(-bound, bound, size=fan_out))
        else:
            weights.b.append(np.zeros(fan_out))
    return weights
