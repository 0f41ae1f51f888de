"""Keras recurrent models built from an RNNSpec (SimpleRNN / LSTM / GRU(reset_after=True) and a Dense
read-out), and ||dL/dh_t|| for every time step, compiled with tf.function."""
from __future__ import annotations

import numpy as np

from . import seeding

seeding.apply_to_tensorflow()
import keras  # noqa: E402  (after the seeding module has set the environment)
import tensorflow as tf  # noqa: E402

from ._checks import check_choice  # noqa: E402
from .keras_backend import DTYPES, loss_fn  # noqa: E402
from .rnn import RNNSpec, RNNWeights, keras_layout  # noqa: E402


def _layer(spec: RNNSpec, dtype: str, **options):
    if spec.cell == "rnn":
        return keras.layers.SimpleRNN(spec.hidden, activation=spec.activation, dtype=dtype, **options)
    if spec.cell == "lstm":
        return keras.layers.LSTM(spec.hidden, dtype=dtype, **options)
    return keras.layers.GRU(spec.hidden, reset_after=True, dtype=dtype, **options)


class RecurrentModel(keras.Model):
    """One recurrent layer and a Dense read-out of the last hidden state."""

    def __init__(self, spec: RNNSpec, dtype: str):
        super().__init__(dtype=dtype)
        self.spec = spec
        self.recurrent = _layer(spec, dtype)
        self.readout = keras.layers.Dense(spec.out_dim, dtype=dtype)

    def call(self, x, training=False):
        return self.readout(self.recurrent(x, training=training))

    @property
    def kernels(self) -> list:
        """The weight matrices: input, recurrent, read-out (what the training loop reports on)."""
        return [self.recurrent.cell.kernel, self.recurrent.cell.recurrent_kernel, self.readout.kernel]


def load_weights(model: RecurrentModel, weights: RNNWeights) -> None:
    """Copy float64 NumPy weights in the book's layout into the model."""
    cell = model.recurrent.cell
    for variable, array in zip((cell.kernel, cell.recurrent_kernel, cell.bias), keras_layout(weights, model.spec.cell)):
        if tuple(variable.shape) != array.shape:
            raise ValueError(f"array of shape {array.shape} does not fit {tuple(variable.shape)}")
        variable.assign(array.astype(model.dtype))
    model.readout.kernel.assign(weights.W_out.astype(model.dtype))
    model.readout.bias.assign(weights.b_out.astype(model.dtype))


def build_rnn(spec: RNNSpec, weights: RNNWeights, dtype: str = "float32") -> RecurrentModel:
    """A Keras model for `spec` initialised with `weights`."""
    check_choice("dtype", dtype, DTYPES)
    model = RecurrentModel(spec, dtype)
    model(np.zeros((2, 3, spec.in_dim), dtype=dtype))
    load_weights(model, weights)
    return model


def _gradient_function(model: RecurrentModel, loss: str):
    cell, is_lstm = model.recurrent.cell, model.spec.cell == "lstm"

    @tf.function(reduce_retracing=True)
    def compute(x, y):
        h = tf.zeros((tf.shape(x)[0], model.spec.hidden), dtype=x.dtype)
        states = [h, tf.zeros_like(h)] if is_lstm else [h]
        hiddens, cells = [], []
        with tf.GradientTape() as tape:
            for t in range(x.shape[1]):  # unrolled: every h_t is a tensor the tape can differentiate
                _, states = cell(x[:, t], states)
                states = list(states) if isinstance(states, (list, tuple)) else [states]
                hiddens.append(states[0])
                if is_lstm:
                    cells.append(states[1])
            value = loss_fn(model.readout(hiddens[-1]), y, loss)
        h_grads, c_grads = tape.gradient(value, (hiddens, cells), unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return value, [tf.norm(g) for g in h_grads], [tf.norm(g) for g in c_grads], tf.stack(hiddens, axis=1)
    return compute


def hidden_gradients(model: RecurrentModel, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> dict:
    """||dL/dh_t||, ||dL/dc_t|| (LSTM), the loss and the hidden states on one batch."""
    if not hasattr(model, "_vxg_hidden_grad_fns"):
        model._vxg_hidden_grad_fns = {}
    compute = model._vxg_hidden_grad_fns.setdefault(loss, _gradient_function(model, loss))
    value, h_grads, c_grads, hiddens = compute(np.asarray(x, dtype=model.dtype), np.asarray(y))
    return {"loss": float(value), "h_grad": np.array([float(g) for g in h_grads]),
            "c_grad": np.array([float(g) for g in c_grads]) if c_grads else None, "h": hiddens.numpy()}


def default_keep_bias(cell: str, hidden: int = 64) -> float:
    """Mean bias of the keep gate (LSTM f, GRU z) in a freshly made Keras layer (its defaults)."""
    check_choice("cell", cell, ("lstm", "gru"))
    layer = keras.layers.LSTM(hidden) if cell == "lstm" else keras.layers.GRU(hidden)
    layer.build((None, 3, 4))
    bias = np.asarray(layer.cell.bias)
    columns = slice(hidden, 2 * hidden) if cell == "lstm" else slice(0, hidden)  # Keras GRU: (z, r, h)
    return float(bias[..., columns].sum(axis=0).mean()) if cell == "gru" else float(bias[columns].mean())


def default_recurrent_radius(hidden: int = 64) -> float:
    """Spectral radius of the recurrent kernel of a freshly made SimpleRNN (Keras' default: orthogonal)."""
    layer = keras.layers.SimpleRNN(hidden)
    layer.build((None, 3, 4))
    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(layer.cell.recurrent_kernel, dtype=np.float64)))))
