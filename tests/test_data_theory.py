"""Datasets (offline, shapes, baselines) and theory helpers (bounds, variance propagation)."""
import math

import numpy as np
import pytest

import vxglib
from vxglib import data, numpy_ref, theory


def test_datasets_have_the_promised_shapes_and_are_standardised():
    digits = data.digits()
    assert digits.x_train.shape[1] == 64 and digits.n_classes == 10
    assert len(digits.x_train) + len(digits.x_test) == 1797
    np.testing.assert_allclose(digits.x_train.mean(axis=0), 0, atol=1e-12)
    images = data.digits(images=True)
    assert images.x_train.shape[1:] == (8, 8, 1)
    for loader in (data.circles, data.moons, data.spirals):
        dataset = loader(seed=0)
        assert dataset.x_train.shape[1] == 2 and dataset.task == "classification"


def test_adding_problem_baseline_is_one_sixth():
    adding = data.adding_problem(n=20000, length=10, seed=0)
    assert adding.x_train.shape[1:] == (10, 2)
    assert np.all(adding.x_train[:, :, 1].sum(axis=1) == 2)
    targets = np.concatenate([adding.y_train, adding.y_test])
    assert abs(np.mean((targets - 1.0) ** 2) - 1 / 6) < 0.01


def test_memory_task_label_is_the_first_symbol():
    memory = data.memory_task(n=50, length=7, n_symbols=3, seed=0)
    assert memory.x_train.shape[1:] == (7, 4)
    np.testing.assert_array_equal(memory.x_train[:, 0, :3].argmax(axis=1), memory.y_train)


def test_same_seed_same_data_and_bad_arguments_raise():
    assert np.array_equal(data.spirals(seed=4).x_train, data.spirals(seed=4).x_train)
    with pytest.raises(ValueError, match="test_fraction=1.5"):
        data.digits(test_fraction=1.5)
    with pytest.raises(ValueError, match="length=1"):
        data.memory_task(length=1)


def test_missing_optional_dataset_fails_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("VXGLIB_MNIST", raising=False)
    with pytest.raises(data.DatasetUnavailableError, match="not downloaded.*digits"):
        data.mnist(tmp_path / "missing.npz")


@pytest.mark.parametrize("activation", vxglib.ACTIVATIONS)
def test_derivative_bounds_match_a_fine_grid(activation):
    z = np.linspace(-10, 10, 200001)
    assert abs(np.abs(numpy_ref.derivative(activation, z)).max() - theory.derivative_bound(activation)) < 1e-3


def test_variance_propagation_matches_known_cases():
    linear = theory.propagate_variance("linear", sigma_w=1.5, depth=5)
    np.testing.assert_allclose(linear.preactivation_var, 1.5 ** (2 * np.arange(1, 6)))
    np.testing.assert_allclose(linear.grad_norm_ratio, 1.5 ** np.arange(4, -1, -1.0))
    relu = theory.propagate_variance("relu", sigma_w=math.sqrt(2), depth=6)
    np.testing.assert_allclose(relu.chi, 1.0, rtol=1e-6)  # He initialisation: critical
    np.testing.assert_allclose(relu.activation_second_moment, 1.0, rtol=1e-6)
    assert abs(theory.per_layer_factor("relu", "xavier_normal", 256) - math.sqrt(0.5)) < 1e-6


def test_measured_depth_profile_follows_the_prediction():
    """Wide random ReLU nets with Xavier init: the activation second moment halves per layer."""
    spec = vxglib.MLPSpec(256, 10, depth=8, width=256, activation="relu", init="xavier_normal")
    x = np.random.default_rng(0).normal(size=(512, 256))
    predicted = theory.propagate_variance("relu", 1.0, 8).activation_second_moment
    assert abs(predicted[1] / predicted[0] - 0.5) < 1e-9
    for seed in range(4):
        cache = numpy_ref.forward(vxglib.init_weights(spec, seed=seed), x, "relu")
        measured = np.array([np.mean(h**2) for h in cache.h[1:]])
        assert abs(measured[0] / predicted[0] - 1) < 0.05  # one layer: little finite-width noise
        factor = (measured[-1] / measured[0]) ** (1 / 7)  # geometric mean of the per-layer factor
        assert abs(factor - 0.5) < 0.05, factor
