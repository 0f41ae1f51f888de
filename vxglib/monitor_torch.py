"""The gradient monitor for PyTorch: hooks on a user's unchanged nn.Module and optimizer.

Forward hooks on the Linear/Conv layers take pre-activation statistics, post-accumulate-grad hooks
on their weights take gradient norms and NaN/inf counts, and optimizer step pre/post hooks take the
update-to-weight ratio and count clipping (the gradient got smaller between backward and step).
A recurrent layer (nn.RNN/LSTM/GRU) is watched through its recurrent matrix W_hh, and a forward
pre-hook on its input sequence gives ||dL/dx_t|| for every time step t: the gradient versus time.
Statistics are taken on every `every`-th optimizer step and kept as tensors until that step ends,
so a recorded step costs one conversion to NumPy and the other steps cost a few Python calls.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ._checks import check_int
from .monitor import Record, saturation_threshold

LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
RECURRENT_TYPES = (nn.RNN, nn.LSTM, nn.GRU)
ACTIVATION_MODULES = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu",
                      nn.ELU: "elu", nn.GELU: "gelu", nn.SELU: "selu", nn.SiLU: "swish", nn.Identity: "linear"}


def _activations(model: nn.Module, names: list[str]) -> list[str | None]:
    """The activation after each monitored layer: the next activation module in registration order
    (before the next layer), or the `spec.activation` of a vxglib MLP; None for the last layer."""
    spec = getattr(model, "spec", None)
    if spec is not None and hasattr(spec, "activation"):
        return [spec.activation] * (len(names) - 1) + [None]
    found, current = {}, None
    for name, module in model.named_modules():
        if isinstance(module, RECURRENT_TYPES):
            found[name] = getattr(module, "nonlinearity", "tanh")
        elif isinstance(module, LAYER_TYPES):
            current = name
        elif current is not None and type(module) in ACTIVATION_MODULES and current not in found:
            found[current] = ACTIVATION_MODULES[type(module)]
    return [found.get(name) for name in names]


class TorchMonitor:
    """Record per-layer statistics of `model` trained by `optimizer` every `every` steps; read the
    result from `.record` (a vxglib.monitor.Record). `detach()` removes every hook."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, every: int = 20):
        self.every = check_int("every", every)
        named = [(name, module) for name, module in model.named_modules()
                 if isinstance(module, LAYER_TYPES + RECURRENT_TYPES)]
        if not named:
            raise ValueError(f"{type(model).__name__} has no layer to monitor; monitored types: "
                             f"{', '.join(t.__name__ for t in LAYER_TYPES + RECURRENT_TYPES)}")
        self.names = [name for name, _ in named]
        self.modules = [module for _, module in named]
        self.weights = [module.weight_hh_l0 if isinstance(module, RECURRENT_TYPES) else module.weight
                        for module in self.modules]
        self.record = Record("torch", self.names, _activations(model, self.names))
        self.step = 0
        self._pending: dict[str, list] = {}
        self._before: list[torch.Tensor] = []
        self._handles = [optimizer.register_step_pre_hook(self._before_step),
                         optimizer.register_step_post_hook(self._after_step)]
        self._layer_handles: list = []
        self._hook_layers()  # step 0 is recorded

    def _hook_layers(self) -> None:
        """Hook every layer for the coming recorded step (unhooked in between, so the steps that are
        not recorded run at full speed)."""
        for index, module in enumerate(self.modules):
            self._layer_handles.append(module.register_forward_hook(self._forward_hook(index)))
            self._layer_handles.append(
                self.weights[index].register_post_accumulate_grad_hook(self._grad_hook(index)))
            if isinstance(module, RECURRENT_TYPES):
                self._layer_handles.append(module.register_forward_pre_hook(self._time_hook(module)))

    def _unhook_layers(self) -> None:
        for handle in self._layer_handles:
            handle.remove()
        self._layer_handles = []

    @property
    def recording(self) -> bool:
        """True on the steps whose statistics are kept."""
        return self.step % self.every == 0

    def _slot(self, column: str) -> list:
        return self._pending.setdefault(column, [None] * len(self.modules))

    def _forward_hook(self, index: int):
        activation = self.record.activations[index]
        recurrent = isinstance(self.modules[index], RECURRENT_TYPES)
        threshold = saturation_threshold(activation, on_output=recurrent)  # a recurrent layer gives h = phi(z)

        def hook(module, inputs, output):
            if not (self.recording and torch.is_grad_enabled()):
                return
            with torch.no_grad():
                z = output[0].detach().flatten(0, -2) if recurrent else output.detach()
                self._slot("act_mean")[index] = z.mean()
                self._slot("act_std")[index] = z.std()
                if threshold is not None:
                    self._slot("frac_saturated")[index] = (z.abs() > threshold).float().mean()
                if activation == "relu":  # a unit (channel) is dead when no example makes it positive
                    largest = z.amax(0) if z.dim() == 2 else z.transpose(0, 1).flatten(1).amax(1)
                    self._slot("frac_dead")[index] = (largest <= 0).float().mean()
        return hook

    def _time_hook(self, module: nn.Module):
        time_axis = 1 if module.batch_first else 0

        def hook(module, args):
            if not (self.recording and torch.is_grad_enabled()) or not torch.is_tensor(args[0]):
                return None
            x = args[0] if args[0].requires_grad else args[0].detach().requires_grad_()
            dims = [d for d in range(x.dim()) if d != time_axis]
            x.register_hook(lambda grad: self._pending.__setitem__("time_grad", grad.detach().norm(dim=dims)))
            return (x, *args[1:])
        return hook

    def _grad_hook(self, index: int):
        def hook(weight: torch.Tensor) -> None:
            if self.recording:
                norm = weight.grad.detach().norm()
                self._slot("grad_norm")[index] = norm
                self._slot("nonfinite")[index] = norm  # turned into 0/1 (finite or not) below
        return hook

    def _before_step(self, optimizer, args, kwargs) -> None:
        if self.recording:
            weights = [weight.detach() for weight in self.weights]
            self._before = [w.clone() for w in weights]
            self._slot("weight_norm")[:] = [w.norm() for w in self._before]
            accumulated = self._slot("grad_norm")
            if all(g is not None for g in accumulated):
                now = torch.stack([w.grad.norm() for w in self.weights])
                self._clipped = bool((now < 0.999 * torch.stack(accumulated)).any())

    def _after_step(self, optimizer, args, kwargs) -> None:
        if self.recording and self._before:
            self._slot("update_ratio")[:] = [(w.detach() - b).norm() / b.norm().clamp_min(1e-30)
                                             for w, b in zip(self.weights, self._before)]
            time_grad = self._pending.pop("time_grad", None)
            if time_grad is not None:
                self.record.time_grad[self.step] = time_grad.double().numpy()
            nan = torch.tensor(float("nan"))
            columns = {column: torch.stack([nan if v is None else v.float() for v in values]).tolist()
                       for column, values in self._pending.items()}
            columns["nonfinite"] = [float(not math.isfinite(v)) for v in columns.get("nonfinite", [])]
            self.record.add(self.step, **columns)
            self.record.clip_events += getattr(self, "_clipped", False)
            self._pending, self._before, self._clipped = {}, [], False
        self.step += 1
        if self.recording and not self._layer_handles and self._handles:
            self._hook_layers()
        elif not self.recording and self._layer_handles:
            self._unhook_layers()

    def log_loss(self, loss) -> None:
        """Optionally log the loss of the current step (kept on recorded steps): lets the findings
        see a loss that blows up or turns NaN (kept on any step). Call it before `optimizer.step()`."""
        value = float(loss.detach() if isinstance(loss, torch.Tensor) else loss)
        if self.recording or value != value or abs(value) == float("inf"):
            self.record.loss[self.step] = value

    def detach(self) -> Record:
        """Remove every hook and return the record."""
        self._unhook_layers()
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return self.record


def attach(model: nn.Module, optimizer: torch.optim.Optimizer, every: int = 20) -> TorchMonitor:
    """Monitor `model` (unchanged) and `optimizer` with hooks; statistics every `every` steps."""
    return TorchMonitor(model, optimizer, every)


def overhead(steps: int = 60, every: int = 20, repeats: int = 15) -> float:
    """Extra time per training step with the monitor attached, as a fraction of a plain step, for
    the reference MLP (10 hidden layers of width 256, batch 64, Adam, digits); the median over
    `repeats` paired timings of `steps` steps each (CPU time of this process), monitored and plain
    run back to back so a busy machine inflates both sides alike."""
    import time

    import numpy as np

    from . import data as datasets
    from .spec import MLPSpec, init_weights
    from .torch_backend import build_mlp

    digits = datasets.digits()
    spec = MLPSpec(digits.in_dim, 10, depth=10, width=256, activation="relu", init="he_normal")
    model = build_mlp(spec, init_weights(spec, seed=0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.as_tensor(digits.x_train, dtype=torch.float32)
    y = torch.as_tensor(digits.y_train).long()
    batches = np.random.default_rng(0).integers(0, len(x), size=(steps, 64))

    def timed(monitored: bool) -> float:
        monitor = attach(model, optimizer, every) if monitored else None
        start = time.process_time()
        for index in batches:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
        seconds = time.process_time() - start
        if monitor is not None:
            monitor.detach()
        return seconds

    timed(True)  # warm-up
    ratios = [timed(True) / timed(False) for _ in range(repeats)]
    return float(np.median(ratios)) - 1
