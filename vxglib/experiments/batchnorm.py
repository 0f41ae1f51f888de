"""Chapter 7: batch normalization. Its forward and backward pass in NumPy, deep sigmoid networks
with and without it, learning-rate sweeps, train versus eval mode, small batches, and the
frameworks' default running-statistics conventions."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import table as rows_table
from .._checks import check_choice, check_int, check_positive
from ..plots import Chart, Line, Subplot
from ..spec import NORM_PLACEMENTS, NORMS, MLPSpec, init_weights
from ..widgets import Choice, Experiment, Slider

INIT_FOR = {"sigmoid": "xavier_normal", "tanh": "xavier_normal", "relu": "he_normal"}


@dataclass
class BatchNormCache:
    """What the backward pass needs: the normalised input and the inverse standard deviation."""

    x_hat: np.ndarray
    inv_std: np.ndarray
    gamma: np.ndarray


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                      eps: float = 1e-5) -> tuple[np.ndarray, BatchNormCache]:
    """y = gamma (x - mean) / sqrt(var + eps) + beta with the batch's mean and (biased) variance."""
    check_positive("eps", eps)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"x has shape {x.shape}; expected (batch >= 2, features)")
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    return gamma * x_hat + beta, BatchNormCache(x_hat, inv_std, gamma)


def batchnorm_backward(dy: np.ndarray, cache: BatchNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dgamma, dbeta): dx = gamma / sigma (dy - mean(dy) - x_hat mean(dy x_hat))."""
    dgamma = np.sum(dy * cache.x_hat, axis=0)
    dbeta = np.sum(dy, axis=0)
    dx_hat = dy * cache.gamma
    dx = cache.inv_std * (dx_hat - dx_hat.mean(axis=0) - cache.x_hat * np.mean(dx_hat * cache.x_hat, axis=0))
    return dx, dgamma, dbeta


def train_mlp(norm: str = "batch", activation: str = "sigmoid", depth: int = 10, lr: float = 0.3,
              batch_size: int = 64, placement: str = "before", steps: int = 100, width: int = 64,
              seed: int = 0):
    """Train an MLP on digits with plain SGD; returns (model, History, Dataset)."""
    from .. import data
    from .. import torch_backend as tb
    from ..training import TrainConfig

    check_choice("norm", norm, NORMS)
    check_choice("activation", activation, tuple(INIT_FOR))
    digits = data.digits()
    spec = MLPSpec(digits.in_dim, digits.out_dim, depth=check_int("depth", depth), width=width,
                   activation=activation, init=INIT_FOR[activation], norm=norm, norm_placement=placement)
    steps, batch_size = check_int("steps", steps), check_int("batch_size", batch_size, minimum=2)
    per_epoch = -(-len(digits.x_train) // batch_size)
    config = TrainConfig(optimizer="sgd", lr=lr, batch_size=batch_size, epochs=steps // per_epoch + 1,
                         max_steps=steps, shuffle_seed=seed)
    model = tb.build_mlp(spec, init_weights(spec, seed=seed))
    return model, tb.train(model, digits, config), digits


def hidden_outputs(model, digits, n: int = 256) -> list[np.ndarray]:
    """Each hidden layer's output h_l on the first `n` training examples, in eval mode."""
    import torch

    model.eval()
    model.record = True
    try:  # recording retains gradients, so this forward pass runs with autograd on
        model(torch.as_tensor(digits.x_train[:n], dtype=next(model.parameters()).dtype))
    finally:
        model.record = False
        model.train()
    return [h.detach().numpy().copy() for h in model.h]


def layer_gradients(model, digits, n: int = 256) -> np.ndarray:
    """||dL/dW|| per layer on the first `n` training examples, leaving the running statistics as
    they were (a train-mode forward pass would update them)."""
    from .. import torch_backend as tb

    saved = {k: v.clone() for k, v in model.state_dict().items()}
    norms = tb.probe(model, digits.x_train[:n], digits.y_train[:n], digits.loss)["grad_norm"]
    model.load_state_dict(saved)
    return norms


def mode_accuracy(model, digits) -> dict[str, float]:
    """Test accuracy with batch statistics of the whole test set (train mode) and with the
    running statistics (eval mode, what a deployed model uses)."""
    import torch

    from .. import torch_backend as tb

    _, eval_accuracy = tb.evaluate(model, digits.x_test, digits.y_test, digits.loss)
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}  # train-mode BN updates buffers
    with torch.no_grad():
        logits = model(torch.as_tensor(digits.x_test, dtype=next(model.parameters()).dtype))
    model.load_state_dict(snapshot)
    train_accuracy = float((logits.argmax(1).numpy() == digits.y_test.ravel()).mean())
    return {"train mode (batch statistics)": train_accuracy, "eval mode (running statistics)": eval_accuracy}


def compare_norm(norm: str = "batch", placement: str = "before", batch_size: int = 64, lr: float = 0.3,
                 depth: int = 10, activation: str = "sigmoid") -> Chart:
    """The same network trained without normalisation and with `norm`: loss curves, and each
    hidden layer's output spread (eval mode) after training."""
    runs = {"none": train_mlp("none", activation, depth, lr, batch_size, placement)}
    if norm != "none":
        runs[norm] = train_mlp(norm, activation, depth, lr, batch_size, placement)
    losses, spreads, rows = [], [], []
    for index, (name, (model, history, digits)) in enumerate(runs.items()):
        label = "no norm" if name == "none" else f"{name} norm ({placement})"
        losses.append(Line(np.arange(history.steps), history.loss, label, f"C{index}"))
        spread = [h.std(axis=0).mean() for h in hidden_outputs(model, digits)]
        spreads.append(Line(np.arange(1, depth + 1), spread, label, f"C{index}"))
        test_acc = history.test_acc[-1] if history.test_acc else float("nan")
        rows.append({"model": label, "status": history.status, "final loss": history.final_loss,
                     "test accuracy": test_acc})
    chart = Chart([Subplot(losses, "training loss", "step", "cross-entropy", reference=float(np.log(10)),
                           reference_label="chance (ln 10)"),
                   Subplot(spreads, "hidden outputs after training", "hidden layer (input → output)",
                           "mean per-unit std of h_l over the batch", logy=True)],
                  f"{activation}, depth {depth}, SGD lr {lr:g}, batch {batch_size}", table=rows_table(rows),
                  message="; ".join(f"{r['model']}: {r['status']}" for r in rows))
    chart.extra["runs"] = runs
    return chart


def default_running_stats(n_batches: int = 5, mean: float = 5.0, std: float = 2.0, batch: int = 32,
                          seed: int = 0):
    """Feed the same batches (features of mean `mean`) to torch.nn.BatchNorm1d() and
    keras.layers.BatchNormalization(), both with their DEFAULT arguments, in training mode; return
    their running means and variances after each batch, next to each convention's formula."""
    import torch

    from .. import keras_backend  # noqa: F401  (seeds and configures TensorFlow first)
    import keras

    check_int("n_batches", n_batches)
    torch_bn, keras_bn = torch.nn.BatchNorm1d(1, dtype=torch.float64), keras.layers.BatchNormalization(dtype="float64")
    generator = np.random.default_rng(seed)
    rows = []
    for step in range(1, n_batches + 1):
        x = generator.normal(mean, std, size=(batch, 1))
        torch_bn(torch.as_tensor(x))
        keras_bn(x, training=True)
        rows.append({"batches seen": step,
                     "torch running_mean": float(torch_bn.running_mean[0]),
                     "torch formula": mean * (1 - (1 - torch_bn.momentum) ** step),
                     "keras moving_mean": float(keras_bn.moving_mean.numpy()[0]),
                     "keras formula": mean * (1 - keras_bn.momentum ** step),
                     "torch running_var": float(torch_bn.running_var[0]),
                     "keras moving_variance": float(keras_bn.moving_variance.numpy()[0])})
    conventions = {"torch momentum": torch_bn.momentum, "torch eps": torch_bn.eps,
                   "keras momentum": keras_bn.momentum, "keras epsilon": keras_bn.epsilon}
    return rows_table(rows), conventions


EXPERIMENTS = [
    Experiment(
        "batchnorm",
        compare_norm,
        {
            "norm": Choice(NORMS, "batch", "normalisation"),
            "placement": Choice(NORM_PLACEMENTS, "before", "placement (vs activation)"),
            "batch_size": Choice((4, 16, 64, 256), 64, "batch size"),
            "lr": Slider((0.03, 0.1, 0.3, 1.0, 3.0), 0.3, "learning rate", log=True),
            "depth": Choice((5, 10, 20), 10),
        },
        explore=("norm", "lr"),  # the chapter's claim: which learning rates train with and without BN
    )
]
