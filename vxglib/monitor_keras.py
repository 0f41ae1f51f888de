"""The gradient monitor for Keras: a `keras.callbacks.Callback` for `model.fit`, and the same
monitor around the optimizer step of a custom GradientTape loop (`with monitor.around_step(): ...`).

A callback cannot see the gradients `fit` computes, so on every `every`-th step the monitor runs its
own compiled (tf.function) probe on a fixed batch: per-layer pre-activations, gradient norms and
NaN/inf counts in one graph call, which also copies the weights; a second compiled call after the
step gives the update ratio (a few eager ops per layer would cost more than the probe).
A recurrent layer (SimpleRNN/LSTM/GRU) is watched, as in PyTorch, through its recurrent matrix, and
the gradient with respect to its input sequence gives ||dL/dx_t|| for every time step t. Its
activation statistics are those of its output (the last hidden state unless `return_sequences`).
Clipping inside the optimizer is invisible to a callback: clip events are counted in PyTorch only.
"""
from __future__ import annotations

import contextlib

import numpy as np

from . import seeding

seeding.apply_to_tensorflow()
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from ._checks import check_int  # noqa: E402
from .monitor import Record, saturation_threshold  # noqa: E402

LAYER_TYPES = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
RECURRENT_TYPES = (keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU)
STATS = ("act_mean", "act_std", "frac_saturated", "frac_dead")


def _layers(model) -> tuple[list, list[str | None]]:
    """The monitored layers and the activation after each (None: none, or the output layer's)."""
    spec = getattr(model, "spec", None)
    if spec is not None and hasattr(model, "dense"):  # a vxglib MLP: activation applied in call()
        return list(model.dense), [spec.activation] * (len(model.dense) - 1) + [None]
    layers = [layer for layer in model.layers if isinstance(layer, LAYER_TYPES + RECURRENT_TYPES)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no layer to monitor; monitored types: "
                         f"{', '.join(t.__name__ for t in LAYER_TYPES + RECURRENT_TYPES)}")
    names = [getattr(getattr(layer, "cell", layer).activation, "__name__", None) for layer in layers]
    names = ["swish" if name == "silu" else name for name in names]
    return layers, names[:-1] + [None if names[-1] == "linear" else names[-1]]


def _kernel(layer):
    """The watched weight: a recurrent layer's recurrent matrix, any other layer's kernel."""
    return layer.cell.recurrent_kernel if isinstance(layer, RECURRENT_TYPES) else layer.kernel


def _z_stats(z, activation: str | None, recurrent: bool = False):
    """Mean, std, saturated and dead fractions of one pre-activation tensor (NaN where not defined);
    for a recurrent layer, of its output h = phi(z), so the saturation threshold is phi's."""
    nan = tf.constant(np.nan, z.dtype)
    threshold = saturation_threshold(activation, on_output=recurrent)
    saturated = tf.reduce_mean(tf.cast(tf.abs(z) > threshold, z.dtype)) if threshold else nan
    units = tf.reshape(z, [-1, z.shape[-1]])  # channels last: one column per unit
    dead = tf.reduce_mean(tf.cast(tf.reduce_all(units <= 0, axis=0), z.dtype)) if activation == "relu" else nan
    return tf.stack([tf.reduce_mean(z), tf.math.reduce_std(z), saturated, dead])


class KerasMonitor(keras.callbacks.Callback):
    """Record per-layer statistics every `every` steps on the probe batch `(x, y)` with `loss`
    (a callable loss(y_true, y_pred); default: the compiled model's loss). Read `.record`."""

    def __init__(self, model, probe_data, loss=None, every: int = 20):
        super().__init__()
        self.every = check_int("every", every)
        self.watched, activations = _layers(model)
        self.record = Record("keras", [layer.name for layer in self.watched], activations)
        x, y = probe_data
        self.x, self.y = tf.constant(np.asarray(x, dtype=model.dtype)), tf.constant(np.asarray(y))
        self.step, self._before = 0, None
        self._monitored_model, self._loss = model, loss
        self._probe = None

    def _build_probe(self):
        model, watched = self._monitored_model, self.watched
        loss = self._loss if self._loss is not None else keras.losses.get(model.loss)
        kernels = [_kernel(layer) for layer in watched]
        activations = self.record.activations
        recurrent = [isinstance(layer, RECURRENT_TYPES) for layer in watched]

        @tf.function(reduce_retracing=True)
        def probe(x, y):
            with tf.GradientTape() as tape:
                sequence = None  # the first recurrent layer's input: its gradient is the one against time
                if hasattr(model, "spec") and hasattr(model, "dense"):
                    logits, zs, _ = model(x, training=True, internals=True)
                    zs = list(zs) + [logits]
                else:
                    zs, h = [], x
                    for layer in model.layers:
                        if isinstance(layer, RECURRENT_TYPES):
                            if sequence is None:
                                sequence = h
                                tape.watch(sequence)
                            h = layer(h, training=True)
                            zs.append(h)
                        elif isinstance(layer, LAYER_TYPES):
                            z = layer.convolution_op(h, layer.kernel) if hasattr(layer, "convolution_op") \
                                else tf.matmul(h, layer.kernel)
                            z = z + layer.bias if layer.use_bias else z
                            zs.append(z)
                            h = layer.activation(z)
                        else:
                            h = layer(h, training=True)
                    logits = h
                value = tf.reduce_mean(loss(y, logits))
            grads = tape.gradient(value, kernels + ([sequence] if sequence is not None else []))
            grad_norms = tf.stack([tf.norm(g) for g in grads[:len(kernels)]])
            nonfinite = tf.cast(~tf.math.is_finite(grad_norms), grad_norms.dtype)  # 1: NaN/inf in the layer
            stats = tf.stack([_z_stats(z, act, rec) for z, act, rec in zip(zs, activations, recurrent)])
            time_grad = tf.sqrt(tf.reduce_sum(tf.square(grads[-1]), axis=[0, 2])) if sequence is not None else tf.zeros([0], value.dtype)
            return value, grad_norms, nonfinite, stats, time_grad, [tf.identity(kernel) for kernel in kernels]

        @tf.function
        def changes(before):
            return (tf.stack([tf.norm(b) for b in before]),
                    tf.stack([tf.norm(kernel - b) for kernel, b in zip(kernels, before)]))
        self._changes = changes
        return probe

    def begin(self) -> None:
        """Before the optimizer step: on a recorded step, run the probe and keep the weights."""
        if self.step % self.every:
            return
        self._probe = self._probe or self._build_probe()
        *self._result, self._before = self._probe(self.x, self.y)

    def end(self, loss: float | None = None) -> None:
        """After the optimizer step: on a recorded step, add the row to the record."""
        if self._before is not None:
            value, grad_norms, nonfinite, stats, time_grad = (t.numpy() for t in self._result)
            if len(time_grad):
                self.record.time_grad[self.step] = time_grad.astype(float)
            before_norms, change = (t.numpy() for t in self._changes(self._before))
            columns = dict(zip(STATS, stats.T))
            self.record.add(self.step, grad_norm=grad_norms, nonfinite=nonfinite, weight_norm=before_norms,
                            update_ratio=change / np.maximum(before_norms, 1e-30), **columns)
            self.record.loss[self.step] = float(value) if loss is None or np.isfinite(loss) else float(loss)
            self._before = None
        elif loss is not None and not np.isfinite(loss):  # a NaN loss is kept on any step
            self.record.loss[self.step] = float(loss)
        self.step += 1

    @contextlib.contextmanager
    def around_step(self):
        """For a custom GradientTape loop: `with monitor.around_step(): optimizer.apply_gradients(...)`."""
        self.begin()
        yield self
        self.end()

    def on_train_batch_begin(self, batch, logs=None):  # noqa: D102 (Keras callback API)
        self.begin()

    def on_train_batch_end(self, batch, logs=None):  # noqa: D102
        loss = (logs or {}).get("loss")
        self.end(None if loss is None else float(loss))


def attach(model, probe_data, loss=None, every: int = 20) -> KerasMonitor:
    """A KerasMonitor for `model`: pass it to `model.fit(callbacks=[...])`, or wrap the optimizer
    step of a GradientTape loop in `monitor.around_step()`."""
    return KerasMonitor(model, probe_data, loss, every)


def overhead(steps: int = 100, every: int = 20, repeats: int = 7) -> float:
    """Extra time per `model.fit` step with the monitor callback, as a fraction of a plain step,
    for the reference MLP (10 hidden layers of width 256, batch 64, Adam, digits); the median over
    `repeats` paired timings (CPU time of this process)."""
    import time

    from . import data as datasets
    from .keras_backend import build_mlp
    from .spec import MLPSpec, init_weights

    digits = datasets.digits()
    spec = MLPSpec(digits.in_dim, 10, depth=10, width=256, activation="relu", init="he_normal")
    model = build_mlp(spec, init_weights(spec, seed=0))
    model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-8), jit_compile=False,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    order = np.random.default_rng(0).integers(0, len(digits.x_train), size=steps * 64)
    x, y = digits.x_train[order].astype("float32"), digits.y_train[order]
    monitor = attach(model, (x[:64], y[:64]), every=every)

    def timed(monitored: bool) -> float:
        monitor.step = 0
        start = time.process_time()
        model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0, callbacks=[monitor] if monitored else [])
        return time.process_time() - start

    timed(True)  # warm-up: traces the training step and the probe
    ratios = [timed(True) / timed(False) for _ in range(repeats)]
    return float(np.median(ratios)) - 1
