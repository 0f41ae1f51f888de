"""The Keras/TensorFlow backend: the same MLPSpec, gradients, probes and loop as the PyTorch one.

Every step runs inside `tf.function` (eager TensorFlow is about 15x slower here). Keras' defaults
differ from PyTorch's (Dense uses glorot_uniform with zero bias; BatchNormalization momentum 0.99 and
epsilon 1e-3; Adam epsilon 1e-7; LeakyReLU slope 0.3), so this module sets PyTorch's values
explicitly wherever the two should agree.
"""
from __future__ import annotations

import time

import numpy as np

from . import seeding

seeding.apply_to_tensorflow()
import keras  # noqa: E402  (after the seeding module has set the environment)
import tensorflow as tf  # noqa: E402

from ._checks import check_choice  # noqa: E402
from .numpy_ref import LOSSES  # noqa: E402
from .probes import Snapshot, snapshot, update_ratio  # noqa: E402
from .spec import LEAKY_SLOPE, MLPSpec, Weights, init_weights  # noqa: E402
from .training import History, TrainConfig, batch_order, is_finite  # noqa: E402

DTYPES = ("float32", "float64")
_ACTIVATIONS = {
    "linear": tf.identity, "sigmoid": tf.sigmoid, "tanh": tf.tanh, "relu": tf.nn.relu,
    "leaky_relu": lambda z: tf.where(z > 0, z, LEAKY_SLOPE * z),
    "elu": tf.nn.elu,  # leaky ReLU by where(): exact in float64
    # tf.nn.gelu(approximate=False) is 4e-9 off the erf formula in float64; write the formula out
    "gelu": lambda z: 0.5 * z * (1 + tf.math.erf(z / np.sqrt(2).astype(z.dtype.as_numpy_dtype))), "selu": tf.nn.selu, "swish": tf.nn.silu,
}


class MLP(keras.Model):
    """The network an MLPSpec describes. `call(x, internals=True)` also returns each hidden
    layer's pre-activations and outputs, so a GradientTape can differentiate with respect to them."""

    def __init__(self, spec: MLPSpec, dtype: str):
        super().__init__(dtype=dtype)
        self.spec = spec
        self.phi = _ACTIVATIONS[spec.activation]
        self.dense = [keras.layers.Dense(n, dtype=dtype) for n in spec.layer_sizes[1:]]
        norm = {"batch": lambda: keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, dtype=dtype),
                "layer": lambda: keras.layers.LayerNormalization(epsilon=1e-5, dtype=dtype)}.get(spec.norm)
        self.norms = [norm() for _ in range(spec.depth)] if norm else None

    def call(self, x, training=False, internals=False):
        zs, hs, h = [], [], x
        for index, dense in enumerate(self.dense[:-1]):
            z = dense(h)
            if self.norms is not None and self.spec.norm_placement == "before":
                z = self.norms[index](z, training=training)
            out = self.phi(z)
            if self.norms is not None and self.spec.norm_placement == "after":
                out = self.norms[index](out, training=training)
            if self.spec.residual and h.shape[-1] == out.shape[-1]:
                out = out + h
            zs.append(z)
            hs.append(out)
            h = out
        logits = self.dense[-1](h)
        return (logits, zs, hs) if internals else logits

    @property
    def kernels(self) -> list:
        """The weight matrices (fan_in x fan_out), input to output."""
        return [dense.kernel for dense in self.dense]


def build_mlp(spec: MLPSpec, weights: Weights | None = None, dtype: str = "float32") -> MLP:
    """A Keras MLP for `spec`, initialised with `weights` (or fresh ones from the global seed)."""
    check_choice("dtype", dtype, DTYPES)
    weights = weights if weights is not None else init_weights(spec)
    model = MLP(spec, dtype)
    model(np.zeros((2, spec.in_dim), dtype=dtype))
    load_weights(model, weights)
    return model


def load_weights(model: MLP, weights: Weights) -> None:
    """Copy float64 NumPy weights into the model's Dense layers (same layout: fan_in x fan_out)."""
    if len(weights.W) != len(model.dense):
        raise ValueError(f"{len(weights.W)} weight matrices for {len(model.dense)} layers")
    for dense, W, b in zip(model.dense, weights.W, weights.b):
        if tuple(W.shape) != tuple(dense.kernel.shape):
            raise ValueError(f"weight of shape {W.shape} does not fit layer {tuple(dense.kernel.shape)}")
        dense.kernel.assign(W.astype(model.dtype))
        dense.bias.assign(b.astype(model.dtype))


def loss_fn(logits, y, loss: str):
    """Mean cross-entropy (integer labels) or mean squared error."""
    if loss == "cross_entropy":
        labels = tf.reshape(tf.cast(y, tf.int64), [-1])
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    return tf.reduce_mean(tf.square(logits - tf.reshape(tf.cast(y, logits.dtype), tf.shape(logits))))


def _gradient_function(model: MLP, loss: str):
    @tf.function(reduce_retracing=True)
    def compute(x, y):
        with tf.GradientTape() as tape:
            logits, zs, hs = model(x, training=True, internals=True)
            value = loss_fn(logits, y, loss)
        dW, db, dh = tape.gradient(value, ([d.kernel for d in model.dense], [d.bias for d in model.dense], hs))
        return value, dW, db, dh, zs, hs
    return compute


def gradients(model: MLP, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> dict:
    """Loss and gradients on one batch as NumPy: dW, db, dh (each hidden output), z and h."""
    check_choice("loss", loss, LOSSES)
    if not hasattr(model, "_vxg_grad_fns"):
        model._vxg_grad_fns = {}
    compute = model._vxg_grad_fns.setdefault(loss, _gradient_function(model, loss))
    value, dW, db, dh, zs, hs = compute(np.asarray(x, dtype=model.dtype), np.asarray(y))
    as_numpy = lambda tensors: [t.numpy() for t in tensors]  # noqa: E731
    return {"loss": float(value), "dW": as_numpy(dW), "db": as_numpy(db), "dh": as_numpy(dh),
            "z": as_numpy(zs), "h": as_numpy(hs)}


def probe(model: MLP, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> Snapshot:
    """Per-layer gradient, weight and activation statistics on one batch."""
    grads = gradients(model, x, y, loss)
    weights = [k.numpy() for k in model.kernels]
    return snapshot(model.spec.activation, weights, grads["dW"], grads["z"], grads["h"], grads["dh"])


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    """The optimizer `config` names, with PyTorch's conventions (Adam epsilon 1e-8) and Keras' own
    clipping arguments (global_clipnorm, clipvalue, clipnorm per variable)."""
    clipping = {"none": {}, "global_norm": {"global_clipnorm": config.clip_value},
                "value": {"clipvalue": config.clip_value},
                "norm_per_variable": {"clipnorm": config.clip_value}}[config.clip]
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=config.lr, epsilon=1e-8, **clipping)
    momentum = config.momentum if config.optimizer == "momentum" else 0.0
    return keras.optimizers.SGD(learning_rate=config.lr, momentum=momentum, **clipping)


def _train_step(model: MLP, optimizer, loss: str):
    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            value = loss_fn(model(x, training=True), y, loss)
        grads = tape.gradient(value, model.trainable_variables)
        layer_norms = tf.stack([tf.norm(g) for g, v in zip(grads, model.trainable_variables)
                                if any(v is k for k in model.kernels)])
        variable_norms = tf.stack([tf.norm(g) for g in grads])
        largest = tf.reduce_max(tf.stack([tf.reduce_max(tf.abs(g)) for g in grads]))
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return value, tf.linalg.global_norm(grads), layer_norms, variable_norms, largest
    return step


def evaluate(model: MLP, x: np.ndarray, y: np.ndarray, loss: str) -> tuple[float, float]:
    """(loss, accuracy) on a whole set; accuracy is NaN for regression."""
    logits = model(np.asarray(x, dtype=model.dtype), training=False)
    value = float(loss_fn(logits, y, loss))
    accuracy = float((np.argmax(logits, 1) == y.ravel()).mean()) if loss == "cross_entropy" else float("nan")
    return value, accuracy


def train(model: MLP, data, config: TrainConfig, probe_fn=None) -> History:
    """Train `model` on `data`, compiled; stop and record `diverged_at` at the first non-finite
    loss or gradient; take a full probe every `config.probe_every` steps."""
    history, start = History(), time.perf_counter()
    optimizer = make_optimizer(config)
    optimizer.build(model.trainable_variables)  # slots made before tracing: one trace, not two
    step_fn = _train_step(model, optimizer, data.loss)
    x_all = np.asarray(data.x_train, dtype=model.dtype)
    # trace once for any batch size, so an epoch's smaller last batch does not trace again
    step_fn.get_concrete_function(tf.TensorSpec([None, *x_all.shape[1:]], x_all.dtype),
                                  tf.TensorSpec([None, *data.y_train.shape[1:]], data.y_train.dtype))
    probe_batch = data.x_train[:256], data.y_train[:256]
    batches = batch_order(len(data.x_train), config)
    per_epoch = -(-len(data.x_train) // config.batch_size)
    for step, index in enumerate(batches):
        probing = config.probe_every and step % config.probe_every == 0
        if probing:
            history.probe_steps.append(step)
            history.probes.append((probe_fn or probe)(model, *probe_batch, data.loss))
            before = [k.numpy() for k in model.kernels]
        value, global_norm, layer_norms, variable_norms, largest = step_fn(x_all[index], data.y_train[index])
        value, global_norm = float(value), float(global_norm)
        history.loss.append(value)
        history.grad_norm.append(global_norm)
        history.layer_grad_norms.append(layer_norms.numpy())
        if not is_finite(value, global_norm):
            history.diverged_at = step
            break
        history.clip_events += {
            "none": False, "global_norm": global_norm > config.clip_value,
            "value": float(largest) > config.clip_value,
            "norm_per_variable": bool(np.any(variable_norms.numpy() > config.clip_value)),
        }[config.clip]
        if probing:
            history.update_ratios.append(update_ratio(before, [k.numpy() for k in model.kernels]))
        if (step + 1) % per_epoch == 0 or step == len(batches) - 1:
            history.epoch_end_steps.append(step + 1)
            history.train_acc.append(evaluate(model, data.x_train, data.y_train, data.loss)[1])
            test_loss, test_acc = evaluate(model, data.x_test, data.y_test, data.loss)
            history.test_loss.append(test_loss)
            history.test_acc.append(test_acc)
    history.seconds = time.perf_counter() - start
    return history
