"""PyTorch recurrent models built from an RNNSpec (nn.RNN / nn.LSTM / nn.GRU and a linear read-out),
and ||dL/dh_t|| for every time step."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import seeding
from ._checks import check_choice
from .rnn import RNNSpec, RNNWeights, torch_layout
from .torch_backend import DTYPES, loss_fn

seeding.apply_to_torch()
_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentModel(nn.Module):
    """One recurrent layer (batch first) and a linear read-out of the last hidden state."""

    def __init__(self, spec: RNNSpec, weights: RNNWeights, dtype: torch.dtype):
        super().__init__()
        self.spec = spec
        options = {"nonlinearity": spec.activation} if spec.cell == "rnn" else {}
        self.recurrent = _LAYERS[spec.cell](spec.in_dim, spec.hidden, batch_first=True, dtype=dtype, **options)
        self.readout = nn.Linear(spec.hidden, spec.out_dim, dtype=dtype)
        load_weights(self, weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.recurrent(x)
        return self.readout(outputs[:, -1])

    @property
    def weights(self) -> list[torch.Tensor]:
        """The weight matrices: input, recurrent, read-out (what the training loop reports on)."""
        return [self.recurrent.weight_ih_l0, self.recurrent.weight_hh_l0, self.readout.weight]


def load_weights(model: RecurrentModel, weights: RNNWeights) -> None:
    """Copy float64 NumPy weights in the book's layout into the model."""
    with torch.no_grad():
        for name, array in torch_layout(weights).items():
            parameter = getattr(model.recurrent, name)
            if tuple(parameter.shape) != array.shape:
                raise ValueError(f"{name} of shape {array.shape} does not fit {tuple(parameter.shape)}")
            parameter.copy_(torch.from_numpy(array))
        model.readout.weight.copy_(torch.from_numpy(weights.W_out.T.copy()))
        model.readout.bias.copy_(torch.from_numpy(weights.b_out))


def build_rnn(spec: RNNSpec, weights: RNNWeights, dtype: str = "float32") -> RecurrentModel:
    """A PyTorch model for `spec` initialised with `weights`."""
    check_choice("dtype", dtype, DTYPES)
    return RecurrentModel(spec, weights, DTYPES[dtype])


def _lstm_step(layer: nn.LSTM, x_t: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
    """nn.LSTM's step written out, so that h_t is computed from c_t where autograd can see it."""
    gates = x_t @ layer.weight_ih_l0.T + layer.bias_ih_l0 + h @ layer.weight_hh_l0.T + layer.bias_hh_l0
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def hidden_gradients(model: RecurrentModel, x: np.ndarray, y: np.ndarray, loss: str = "cross_entropy") -> dict:
    """||dL/dh_t|| and, for an LSTM, ||dL/dc_t|| for t = 1..T, the loss and the hidden states.

    The fused layer call hides h_1..h_{T-1} from autograd, so the layer runs one step at a time
    (an LSTM step is written out: in the fused step c_t's path through h_t would be invisible)."""
    spec, layer = model.spec, model.recurrent
    inputs = torch.as_tensor(np.asarray(x), dtype=layer.weight_ih_l0.dtype)
    h = torch.zeros(len(inputs), spec.hidden, dtype=inputs.dtype)
    c = torch.zeros_like(h)
    hiddens, cells = [], []
    for t in range(inputs.shape[1]):
        if spec.cell == "lstm":
            h, c = _lstm_step(layer, inputs[:, t], h, c)
            c.retain_grad()
            cells.append(c)
        else:
            h = layer(inputs[:, t:t + 1], h[None])[1][0]
        h.retain_grad()
        hiddens.append(h)
    value = loss_fn(model.readout(h), torch.as_tensor(np.asarray(y)), loss)
    model.zero_grad()
    value.backward()
    norms = lambda tensors: np.array([float(t.grad.norm()) for t in tensors])  # noqa: E731
    return {"loss": value.item(), "h_grad": norms(hiddens), "c_grad": norms(cells) if cells else None,
            "h": np.stack([t.detach().numpy() for t in hiddens], axis=1)}


def default_keep_bias(cell: str, hidden: int = 64) -> float:
    """Mean total bias of the keep gate (LSTM f, GRU z) in a freshly made PyTorch layer (its defaults)."""
    check_choice("cell", cell, ("lstm", "gru"))
    layer = _LAYERS[cell](4, hidden)
    rows = slice(hidden, 2 * hidden)  # f is gate 1 of (i, f, g, o); z is gate 1 of (r, z, n)
    return float((layer.bias_ih_l0[rows] + layer.bias_hh_l0[rows]).mean().detach())


def default_recurrent_radius(hidden: int = 64) -> float:
    """Spectral radius of W_hh in a freshly made nn.RNN (PyTorch's default: U(-1/sqrt(H), 1/sqrt(H)))."""
    layer = nn.RNN(4, hidden)
    return float(np.max(np.abs(np.linalg.eigvals(layer.weight_hh_l0.detach().double().numpy()))))
