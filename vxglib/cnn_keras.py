"""The Keras CNN of a `CNNSpec`: model, weight loading, compiled gradients and probes.

Training uses the one Keras loop (`keras_backend.train`, every step inside tf.function). Keras'
BatchNormalization is set to PyTorch's epsilon 1e-5 and momentum 0.9 (PyTorch calls it 0.1).
"""
from __future__ import annotations

import numpy as np

from .keras_backend import _ACTIVATIONS, DTYPES, keras, loss_fn, tf
from ._checks import check_choice
from .cnn import CNNSpec, CNNWeights, conv_plan, projection_plan
from .numpy_ref import LOSSES
from .probes import Snapshot, snapshot


class CNN(keras.Model):
    """The network a CNNSpec describes. `call(x, internals=True)` also returns each conv layer's
    activation input and output, so a GradientTape can differentiate with respect to them."""

    backend_name = "keras"

    def __init__(self, spec: CNNSpec, dtype: str):
        super().__init__(dtype=dtype)
        self.spec = spec
        self.phi = _ACTIVATIONS[spec.activation]
        self.plan = conv_plan(spec)
        self.convs = [keras.layers.Conv2D(layer.out_channels, spec.kernel_size, layer.stride, padding="same",
                                          dtype=dtype) for layer in self.plan]
        self.norms = [keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, dtype=dtype)
                      for _ in self.plan] if spec.batch_norm else None
        self.projections = {block: keras.layers.Conv2D(layer.out_channels, 1, layer.stride, padding="same",
                                                       dtype=dtype)
                            for block, layer in projection_plan(spec).items()}
        self.projection_list = list(self.projections.values())  # so Keras tracks their variables
        self.output_layer = keras.layers.Dense(spec.n_classes, dtype=dtype)

    def _conv(self, index: int, h, training: bool):
        z = self.convs[index](h)
        return self.norms[index](z, training=training) if self.norms is not None else z

    def call(self, x, training=False, internals=False):
        zs, hs = [], []

        def activate(z):
            zs.append(z)
            hs.append(self.phi(z))
            return hs[-1]

        h = activate(self._conv(0, x, training))
        for index in range(1, len(self.plan), 2):
            block = self.plan[index].block
            skip = self.projections[block](h) if block in self.projections else h
            inner = activate(self._conv(index, h, training))
            z = self._conv(index + 1, inner, training)
            h = activate(z + skip if self.spec.residual else z)
        logits = self.output_layer(tf.reduce_mean(h, axis=(1, 2)))
        return (logits, zs, hs) if internals else logits

    @property
    def kernels(self) -> list:
        """The conv kernels then the output weight, input to output (what the probes report)."""
        return [conv.kernel for conv in self.convs] + [self.output_layer.kernel]


def load_weights(model: CNN, weights: CNNWeights) -> None:
    """Copy float64 kernels (already in Keras' (k, k, in, out) layout) into the model."""
    if len(weights.kernels) != len(model.convs) or set(weights.projections) != set(model.projections):
        raise ValueError(f"weights for {len(weights.kernels)} convs and projections "
                         f"{sorted(weights.projections)} do not fit this spec")
    pairs = list(zip(model.convs, weights.kernels, weights.biases))
    pairs += [(model.projections[block], *weights.projections[block]) for block in weights.projections]
    pairs.append((model.output_layer, weights.W, weights.b))
    for layer, kernel, bias in pairs:
        layer.kernel.assign(kernel.astype(model.dtype))
        layer.bias.assign(bias.astype(model.dtype))


def build_cnn(spec: CNNSpec, weights: CNNWeights, dtype: str = "float32") -> CNN:
    """A Keras CNN for `spec` loaded with `weights`."""
    check_choice("dtype", dtype, DTYPES)
    model = CNN(spec, dtype)
    model(np.zeros((2, spec.image_size, spec.image_size, spec.in_channels), dtype=dtype))
    load_weights(model, weights)
    return model


def _gradient_function(model: CNN, loss: str):
    @tf.function(reduce_retracing=True)
    def compute(x, y):
        with tf.GradientTape() as tape:
            logits, zs, hs = model(x, training=True, internals=True)
            value = loss_fn(logits, y, loss)
        dW, dh = tape.gradient(value, (model.kernels, hs))
        return value, dW, dh, zs, hs
    return compute


def gradients(model: CNN, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> dict:
    """Loss and gradients on one batch as NumPy (compiled): dW, z, h and dh per conv layer."""
    check_choice("loss", loss, LOSSES)
    if not hasattr(model, "_vxg_grad_fns"):
        model._vxg_grad_fns = {}
    compute = model._vxg_grad_fns.setdefault(loss, _gradient_function(model, loss))
    value, dW, dh, zs, hs = compute(np.asarray(x, dtype=model.dtype), np.asarray(y))
    as_numpy = lambda tensors: [t.numpy() for t in tensors]  # noqa: E731
    return {"loss": float(value), "dW": as_numpy(dW), "z": as_numpy(zs), "h": as_numpy(hs),
            "dh": as_numpy(dh)}


def probe(model: CNN, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> Snapshot:
    """Per-layer gradient, weight and activation statistics on one batch."""
    grads = gradients(model, x, y, loss)
    weights = [kernel.numpy() for kernel in model.kernels]
    return snapshot(model.spec.activation, weights, grads["dW"], grads["z"], grads["h"], grads["dh"])
