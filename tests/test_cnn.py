"""The CNN spec: layer plan, initial weights, PyTorch and Keras builders that agree in float64,
finite-difference checks of the gradients, and both training loops."""
import subprocess
import sys

import numpy as np
import pytest

import vxglib
from vxglib import cnn, numpy_ref

cnn_torch = pytest.importorskip("vxglib.cnn_torch")
cnn_keras = pytest.importorskip("vxglib.cnn_keras")


def tiny_images(n: int = 12, size: int = 8, seed: int = 0):
    generator = np.random.default_rng(seed)
    return generator.normal(size=(n, size, size, 1)), np.arange(n) % 10


def test_import_vxglib_loads_no_framework():
    code = "import sys, vxglib, vxglib.cnn; print('torch' in sys.modules, 'tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("changes, word", [
    (dict(depth=20), "odd"), (dict(depth=3), "depth"), (dict(activation="relu6"), "relu"),
    (dict(init="kaiming"), "he_normal"), (dict(batch_norm="yes"), "batch_norm"),
])
def test_bad_specs_raise_value_errors_naming_the_problem(changes, word):
    with pytest.raises(ValueError, match=word):
        cnn.CNNSpec(**changes)


def test_plan_has_depth_convs_one_downsampling_and_doubling_channels():
    spec = cnn.CNNSpec(depth=21, channels=8, stages=2)
    plan = cnn.conv_plan(spec)
    assert len(plan) == 21 and spec.n_layers == 22
    assert [layer.stride for layer in plan].count(2) == 1
    assert plan[0].in_channels == 1 and plan[-1].out_channels == 16 == spec.out_channels
    assert all(a.out_channels == b.in_channels for a, b in zip(plan[:-1], plan[1:]))
    assert cnn.projection_plan(spec) == {}
    projections = cnn.projection_plan(spec.with_(residual=True))
    assert list(projections) == [5] and projections[5].stride == 2


def test_same_padding_matches_tensorflow():
    assert cnn.same_padding(8, 3, 1) == (1, 1)
    assert cnn.same_padding(8, 3, 2) == (0, 1)  # PyTorch's padding=1 would give (1, 1)
    assert cnn.same_padding(8, 1, 2) == (0, 0)


def test_plain_and_residual_share_kernels_and_he_std_is_right():
    plain = cnn.init_cnn_weights(cnn.CNNSpec(depth=11, channels=16), seed=3)
    residual = cnn.init_cnn_weights(cnn.CNNSpec(depth=11, channels=16, residual=True), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(plain.kernels, residual.kernels))
    assert np.array_equal(plain.W, residual.W) and len(residual.projections) == 1
    kernel = plain.kernels[1]  # 3 x 3 x 16 x 16: He std is sqrt(2 / (9 * 16))
    assert kernel.shape == (3, 3, 16, 16)
    assert abs(kernel.std() / np.sqrt(2 / 144) - 1) < 0.05
    xavier = cnn.init_cnn_weights(cnn.CNNSpec(depth=5, channels=16, init="xavier_normal"), seed=0).kernels[1]
    assert abs(xavier.std() / np.sqrt(2 / (144 + 144)) - 1) < 0.05  # fans count the 3 x 3 field


@pytest.mark.parametrize("changes", [
    dict(activation="sigmoid", init="pytorch_default"),
    dict(activation="tanh", batch_norm=True),
    dict(activation="relu", batch_norm=True, residual=True),
    dict(activation="relu", residual=True, stages=3, depth=7),
])
def test_torch_and_keras_give_the_same_gradients_in_float64(changes):
    spec = cnn.CNNSpec(depth=7, channels=4, **{k: v for k, v in changes.items() if k != "depth"})
    spec = spec.with_(depth=changes.get("depth", 7))
    weights = cnn.init_cnn_weights(spec, seed=1)
    x, y = tiny_images(16)
    torch_grads = cnn.gradients(cnn.build(spec, weights, "torch", "float64"), x, y)
    keras_grads = cnn.gradients(cnn.build(spec, weights, "keras", "float64"), x, y)
    assert abs(torch_grads["loss"] - keras_grads["loss"]) < 1e-12
    assert len(torch_grads["dW"]) == spec.n_layers
    for key in ("dW", "z", "h", "dh"):
        for a, b in zip(torch_grads[key], keras_grads[key]):
            assert a.shape == b.shape
            assert numpy_ref.relative_error(a, b) < 1e-10, key


@pytest.mark.parametrize("residual", [False, True])
def test_torch_gradients_match_finite_differences(residual):
    import torch

    spec = cnn.CNNSpec(depth=5, channels=2, activation="tanh", init="xavier_normal", residual=residual)
    weights = cnn.init_cnn_weights(spec, seed=2)
    model = cnn.build(spec, weights, "torch", "float64")
    x, y = tiny_images(6)
    analytic = cnn.gradients(model, x, y)["dW"]
    for index in (0, 3):  # the stem and the stride-2 conv
        kernel = weights.kernels[index]

        def loss() -> float:
            cnn_torch.load_weights(model, weights)
            with torch.no_grad():
                return float(torch.nn.functional.cross_entropy(model(torch.as_tensor(x)), torch.as_tensor(y)))

        numeric = numpy_ref.numerical_gradient(loss, kernel)
        assert numpy_ref.relative_error(analytic[index], numeric) < 1e-7


def test_probe_reports_one_row_per_layer_and_vanishing_for_sigmoid():
    spec = cnn.CNNSpec(depth=11, activation="sigmoid", init="pytorch_default")
    x, y = tiny_images(32)
    snapshot = cnn.probe(cnn.build(spec, cnn.init_cnn_weights(spec, seed=0)), x, y)
    norms = snapshot["grad_norm"]
    assert len(norms) == spec.n_layers and len(snapshot["act_std"]) == spec.depth
    assert norms[0] < 1e-4 * norms[-2]  # ten layers of sigmoid at a small gain


def test_both_training_loops_learn_and_agree_on_the_first_steps():
    data = vxglib.data.digits(images=True, seed=0)
    spec = cnn.CNNSpec(depth=5, channels=4, batch_norm=True, residual=True)
    weights = cnn.init_cnn_weights(spec, seed=0)
    config = vxglib.TrainConfig(optimizer="adam", lr=3e-3, epochs=1, batch_size=64, probe_every=10)
    _, torch_history = cnn.train(spec, data, config, "torch", weights)
    _, keras_history = cnn.train(spec, data, config, "keras", weights)
    assert torch_history.status == keras_history.status == "trained 22 steps"
    assert abs(torch_history.loss[0] - keras_history.loss[0]) < 1e-4
    assert abs(torch_history.loss[5] - keras_history.loss[5]) < 1e-2
    assert torch_history.loss[-1] < 0.8 * torch_history.loss[0]
    assert len(torch_history.probes) == 3 and torch_history.probes[0].n_layers == spec.n_layers
    assert torch_history.layer_grad_norms[0].shape == (spec.n_layers,)


def test_train_rejects_flat_inputs():
    flat = vxglib.data.digits(images=False, seed=0)
    with pytest.raises(ValueError, match="images=True"):
        cnn.train(cnn.CNNSpec(depth=5), flat, vxglib.TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="backend"):
        cnn.build(cnn.CNNSpec(depth=5), backend="jax")
