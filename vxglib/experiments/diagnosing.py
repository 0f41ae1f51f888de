"""Chapter 13: the gradient monitor attached to plain training loops in both frameworks, and the
capstone's broken networks with their fixes."""
from __future__ import annotations

import warnings

import numpy as np

from .. import data as datasets
from .._checks import check_choice, check_int, check_positive
from ..monitor import Record, findings, time_profile, vanishing_index
from ..plots import Chart, Line, Subplot
from ..spec import MLPSpec, init_weights
from ..widgets import Choice, Experiment, Slider

# name: (spec changes, optimizer, learning rate, hidden bias); every net has 64 inputs, 10 outputs
CASES = {
    "healthy ReLU + He": (dict(depth=10, activation="relu", init="he_normal"), "sgd", 0.01, 0.0),
    "deep sigmoid": (dict(depth=15, activation="sigmoid", init="normal", weight_scale=5.0), "sgd", 0.1, 0.0),
    "badly scaled deep linear": (dict(depth=10, activation="linear", init="normal", weight_scale=2.0), "sgd", 1e-4, 0.0),
    "ReLU, huge learning rate": (dict(depth=6, activation="relu", init="he_normal"), "sgd", 2.0, 0.0),
    "ReLU, negative bias": (dict(depth=6, activation="relu", init="he_normal"), "sgd", 0.01, -3.0),
    "RNN, large recurrent weight": (dict(rnn=True, cell="rnn", activation="relu", spectral_radius=2.0), "sgd", 0.05, 0.0),
}
FIXES = {
    "deep sigmoid": (dict(depth=15, activation="relu", init="he_normal"), "sgd", 0.1, 0.0),
    "badly scaled deep linear": (dict(depth=10, activation="linear", init="orthogonal"), "sgd", 0.01, 0.0),
    "ReLU, huge learning rate": (dict(depth=6, activation="relu", init="he_normal"), "sgd", 0.01, 0.0),
    "ReLU, negative bias": (dict(depth=6, activation="relu", init="he_normal"), "sgd", 0.01, 0.0),
    "RNN, large recurrent weight": (dict(rnn=True, cell="lstm", spectral_radius=1.0, forget_bias=2.0), "sgd", 0.05, 0.0),
}
SEQUENCE_LENGTH, RNN_HIDDEN, RNN_BATCH = 30, 32, 50  # the recurrent case: adding problem, 30 steps, 32 units
WIDTH, BATCH = 64, 64


def case_setup(case: str, fixed: bool = False):
    """(spec, optimizer, lr, bias) of a capstone case, broken or with its fix applied."""
    check_choice("case", case, CASES)
    changes, optimizer, lr, bias = FIXES[case] if fixed and case in FIXES else CASES[case]
    if changes.get("rnn"):
        from ..rnn import RNNSpec

        return RNNSpec(2, 1, hidden=RNN_HIDDEN, **{k: v for k, v in changes.items() if k != "rnn"}), optimizer, lr, bias
    return MLPSpec(64, 10, width=WIDTH, **changes), optimizer, lr, bias


def _weights(spec: MLPSpec, bias: float, seed: int):
    weights = init_weights(spec, seed=seed)
    for index in range(spec.depth):
        weights.b[index][:] = bias
    return weights


def _batches(n_examples: int, steps: int, seed: int, batch: int = BATCH) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_examples, size=(steps, batch))


def _keras_optimizer(optimizer: str, lr: float, clip: float | None = None):
    import keras

    return (keras.optimizers.Adam(lr, epsilon=1e-8, global_clipnorm=clip) if optimizer == "adam"
            else keras.optimizers.SGD(lr, global_clipnorm=clip))


def run_torch(spec: MLPSpec, optimizer: str = "sgd", lr: float = 0.01, bias: float = 0.0, steps: int = 100,
              every: int = 5, seed: int = 0) -> Record:
    """A plain user-written PyTorch loop on the digits, with the monitor attached by hooks."""
    import torch

    from .. import monitor_torch, torch_backend

    digits = datasets.digits()
    model = torch_backend.build_mlp(spec, _weights(spec, bias, seed))
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=lr)
    monitor = monitor_torch.attach(model, opt, every=every)
    x = torch.as_tensor(digits.x_train, dtype=torch.float32)
    y = torch.as_tensor(digits.y_train).long()
    for index in _batches(len(x), steps, seed):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
        monitor.log_loss(loss)
        if not torch.isfinite(loss):
            break  # a careful loop stops at a NaN loss; the monitor has seen it
        loss.backward()
        opt.step()
    return monitor.detach()


def run_rnn_torch(spec, optimizer: str = "sgd", lr: float = 0.05, steps: int = 100, every: int = 5,
                  seed: int = 0, clip: float | None = None) -> Record:
    """A plain PyTorch loop for a recurrent net on the adding problem (MSE), monitor attached;
    `clip` clips the global gradient norm (the monitor counts the clipping events)."""
    import torch

    from .. import monitor_torch, rnn

    task = datasets.adding_problem(n=1000, length=SEQUENCE_LENGTH, seed=seed)
    model = rnn.build(spec, rnn.init_rnn_weights(spec, seed=seed), "torch")
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=lr)
    monitor = monitor_torch.attach(model, opt, every=every)
    x = torch.as_tensor(task.x_train, dtype=torch.float32)
    y = torch.as_tensor(task.y_train, dtype=torch.float32).reshape(len(x), -1)
    for index in _batches(len(x), steps, seed, RNN_BATCH):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x[index]), y[index])
        monitor.log_loss(loss)
        if not torch.isfinite(loss):
            break
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
    return monitor.detach()


def run_keras(spec: MLPSpec, optimizer: str = "sgd", lr: float = 0.01, bias: float = 0.0, steps: int = 100,
              every: int = 5, seed: int = 0) -> Record:
    """`model.fit` on the same batches as `run_torch`, with the monitor as a callback."""
    import keras

    from .. import keras_backend, monitor_keras

    digits = datasets.digits()
    model = keras_backend.build_mlp(spec, _weights(spec, bias, seed))
    model.compile(optimizer=_keras_optimizer(optimizer, lr), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    order = _batches(len(digits.x_train), steps, seed).ravel()
    x, y = digits.x_train[order].astype("float32"), digits.y_train[order]
    monitor = monitor_keras.attach(model, (x[:BATCH], y[:BATCH]), every=every)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[monitor, keras.callbacks.TerminateOnNaN()])
    return monitor.record


def run_rnn_keras(spec, optimizer: str = "sgd", lr: float = 0.05, steps: int = 100, every: int = 5,
                  seed: int = 0, clip: float | None = None) -> Record:
    """`model.fit` for a recurrent net on the same adding-problem batches as `run_rnn_torch`, the
    monitor as a callback; `clip` sets the optimizer's `global_clipnorm`."""
    import keras

    from .. import monitor_keras, rnn

    task = datasets.adding_problem(n=1000, length=SEQUENCE_LENGTH, seed=seed)
    model = rnn.build(spec, rnn.init_rnn_weights(spec, seed=seed), "keras")
    model.compile(optimizer=_keras_optimizer(optimizer, lr, clip), loss=keras.losses.MeanSquaredError(),
                  jit_compile=False)
    order = _batches(len(task.x_train), steps, seed, RNN_BATCH).ravel()
    x, y = task.x_train[order].astype("float32"), task.y_train[order].reshape(len(order), -1).astype("float32")
    monitor = monitor_keras.attach(model, (x[:RNN_BATCH], y[:RNN_BATCH]), every=every)
    model.fit(x, y, batch_size=RNN_BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[monitor, keras.callbacks.TerminateOnNaN()])
    return monitor.record


def run(spec: MLPSpec, optimizer: str = "sgd", lr: float = 0.01, bias: float = 0.0, steps: int = 100,
        every: int = 5, seed: int = 0, backend: str = "torch") -> Record:
    """Train `spec` with the monitor in `backend` ("torch" or "keras") and return its Record."""
    check_choice("backend", backend, ("torch", "keras"))
    check_choice("optimizer", optimizer, ("sgd", "adam"))
    check_positive("lr", lr)
    check_int("steps", steps)
    if not isinstance(spec, MLPSpec):
        return (run_rnn_torch if backend == "torch" else run_rnn_keras)(spec, optimizer, lr, steps, every, seed)
    return (run_torch if backend == "torch" else run_keras)(spec, optimizer, lr, bias, steps, every, seed)


def summary(record: Record) -> dict:
    """The headline numbers of a run: vanishing index, median update ratio, worst saturated and
    dead fractions, and the kinds of the findings."""
    def worst(column: str) -> float:
        values = record.array(column)
        return float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
    ratios = record.array("update_ratio")
    return {"vanishing index": vanishing_index(record),
            "update ratio": float(np.nanmedian(ratios)) if np.isfinite(ratios).any() else float("nan"),
            "max saturated": worst("frac_saturated"), "max dead": worst("frac_dead"),
            "findings": ", ".join(f.kind for f in findings(record)) or "none"}


def diagnose(case: str = "deep sigmoid", fixed: bool = False, backend: str = "torch", steps: int = 60) -> Chart:
    """Monitor a capstone case (or its fix): depth profile of gradient norms and update ratios."""
    spec, optimizer, lr, bias = case_setup(case, fixed)
    record = run(spec, optimizer, lr, bias, steps=steps, backend=backend)
    grads, ratios = record.array("grad_norm"), record.array("update_ratio")
    layers = np.arange(1, len(record.layers) + 1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a layer whose gradient was never finite: NaN
        profile = np.nanmedian(np.where(grads > 0, grads, np.nan), axis=0) if len(grads) else layers * np.nan
    found = findings(record)
    steps_axis = np.asarray(record.steps)
    over_time = time_profile(record)
    first = (Subplot([Line(np.arange(1, len(over_time) + 1), over_time, "median over steps", "relu")],
                     "gradient by time step", "time step t", "||dL/dx_t||", logy=True) if len(over_time) else
             Subplot([Line(layers, profile, "median over steps", "relu")], "gradient norm by layer",
                     "layer (input → output)", "||dL/dW||", logy=True))
    return Chart(
        [first,
         Subplot([Line(steps_axis, ratios[:, i], f"layer {i + 1}", f"C{i % 10}") for i in (0, len(layers) - 1)],
                 "update / weight ratio", "step", "||ΔW|| / ||W||", logy=True, reference=1e-3, reference_label="1e-3")],
        title=f"{case}{' (fixed)' if fixed else ''}, {backend}",
        message="findings: " + (", ".join(f.kind for f in found) or "none"),
        table=summary(record),
    )


EXPERIMENTS = [
    Experiment("diagnose", diagnose, {
        "case": Choice(tuple(CASES), "deep sigmoid", "network"),
        "fixed": Choice((False, True), False, "apply the fix"),
        "backend": Choice(("torch", "keras"), "torch", "framework"),
        "steps": Slider((30, 60, 120), 60, "training steps"),
    }, explore=("case", "fixed")),
]
