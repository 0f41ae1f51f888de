"""Three-way agreement: NumPy reference, PyTorch autograd and TensorFlow GradientTape, float64."""
import numpy as np
import pytest

import vxglib
from vxglib import ACTIVATIONS, numpy_ref

from .conftest import small_problem

torch_backend = pytest.importorskip("vxglib.torch_backend")
keras_backend = pytest.importorskip("vxglib.keras_backend")


def worst_error(reference, other) -> float:
    return max(numpy_ref.relative_error(a, b) for a, b in zip(reference, other))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("residual", [False, True])
def test_three_frameworks_agree_in_float64(activation, residual):
    spec, weights, x, y = small_problem(activation, residual)
    loss, reference = numpy_ref.gradients(weights, x, y, activation, residual=residual)
    for backend in (torch_backend, keras_backend):
        model = backend.build_mlp(spec, weights, dtype="float64")
        result = backend.gradients(model, x, y)
        assert abs(result["loss"] - loss) < 1e-12
        assert worst_error(reference.dW, result["dW"]) < 1e-8
        assert worst_error(reference.db, result["db"]) < 1e-8
        # the backends report dL/dh for each hidden output, which is the reference's dh[1:]
        assert worst_error(reference.dh[1:], result["dh"]) < 1e-8


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_normalised_networks_agree_across_frameworks(norm):
    spec = vxglib.MLPSpec(5, 3, depth=3, width=8, activation="tanh", init="xavier_normal", norm=norm)
    weights = vxglib.init_weights(spec, seed=1)
    x = np.random.default_rng(0).normal(size=(16, 5))
    y = np.arange(16) % 3
    torch_grads = torch_backend.gradients(torch_backend.build_mlp(spec, weights, "float64"), x, y)
    keras_grads = keras_backend.gradients(keras_backend.build_mlp(spec, weights, "float64"), x, y)
    assert worst_error(torch_grads["dW"], keras_grads["dW"]) < 1e-8


def test_probes_have_the_same_columns_and_values_in_both_frameworks():
    spec, weights, x, y = small_problem("sigmoid")
    torch_snapshot = torch_backend.probe(torch_backend.build_mlp(spec, weights, "float64"), x, y)
    keras_snapshot = keras_backend.probe(keras_backend.build_mlp(spec, weights, "float64"), x, y)
    assert torch_snapshot.columns.keys() == keras_snapshot.columns.keys()
    for name in torch_snapshot.columns:
        np.testing.assert_allclose(torch_snapshot[name], keras_snapshot[name], rtol=1e-8, atol=1e-12)
    assert len(torch_snapshot["grad_norm"]) == spec.n_layers
    assert len(torch_snapshot["act_std"]) == spec.depth


def test_loading_weights_of_the_wrong_shape_fails_clearly():
    spec, weights, _, _ = small_problem("relu")
    wrong = vxglib.init_weights(spec.with_(width=7), seed=0)
    with pytest.raises(ValueError, match="does not fit"):
        torch_backend.build_mlp(spec, wrong)
    with pytest.raises(ValueError, match="does not fit"):
        keras_backend.build_mlp(spec, wrong)
    with pytest.raises(ValueError, match="dtype='float16'"):
        torch_backend.build_mlp(spec, weights, dtype="float16")
