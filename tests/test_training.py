"""The training loops: divergence is reported, seeding makes runs identical, both frameworks agree."""
import numpy as np
import pytest

import vxglib
from vxglib import data

pytest.importorskip("vxglib.torch_backend")
pytest.importorskip("vxglib.keras_backend")

BACKENDS = ("torch", "keras")


@pytest.fixture(scope="module")
def moons():
    return data.moons(n=256, seed=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_diverging_run_reports_its_step(moons, backend):
    spec = vxglib.MLPSpec(2, 2, depth=6, width=32, activation="relu", init="normal", weight_scale=3.0)
    config = vxglib.TrainConfig(optimizer="sgd", lr=5.0, epochs=5, batch_size=32)
    _, history = vxglib.train(spec, moons, config, backend, vxglib.init_weights(spec, seed=0))
    assert history.diverged_at is not None
    assert history.steps == history.diverged_at + 1  # it stopped at the bad step
    assert history.status.startswith(f"diverged at step {history.diverged_at}")
    assert not np.isfinite(history.loss[-1]) or not np.isfinite(history.grad_norm[-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_makes_two_runs_identical(moons, backend):
    spec = vxglib.MLPSpec(2, 2, depth=3, width=16, activation="tanh", init="xavier_normal")
    config = vxglib.TrainConfig(optimizer="adam", lr=1e-2, epochs=2, batch_size=32, probe_every=4)
    runs = []
    for _ in range(2):
        vxglib.seed(5)
        runs.append(vxglib.train(spec, moons, config, backend)[1])
    assert runs[0].loss == runs[1].loss
    assert np.array_equal(runs[0].probe_array("grad_norm"), runs[1].probe_array("grad_norm"))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("clip", ["none", "global_norm", "value", "norm_per_variable"])
def test_torch_and_keras_train_the_same_way_in_float64(moons, optimizer, clip):
    spec = vxglib.MLPSpec(2, 2, depth=3, width=16, activation="tanh", init="xavier_normal")
    weights = vxglib.init_weights(spec, seed=2)
    config = vxglib.TrainConfig(optimizer=optimizer, lr=0.05, epochs=1, batch_size=32, clip=clip,
                                clip_value=0.02 if clip == "value" else 0.2, max_steps=6)
    histories = [vxglib.train(spec, moons, config, backend, weights, dtype="float64")[1] for backend in BACKENDS]
    # Conventions differ, so agreement is as close as they allow: Keras' Adam adds epsilon to
    # sqrt(v) before the bias correction (PyTorch after it), and Adam's m / sqrt(v) turns rounding
    # noise in near-zero gradient entries into whole-size steps (measured: 1e-4 relative after 6
    # steps with default epsilon, 8e-6 with epsilon removed from both); and PyTorch's clip_grad_norm_ divides by
    # (norm + 1e-6) where Keras divides by the norm. Plain steps differ only because Keras stores
    # the learning rate as a float32 variable (0.05 becomes 0.0500000007).
    tolerance = 1e-2 if optimizer == "adam" else 1e-5 if clip in ("global_norm", "norm_per_variable") else 1e-7
    np.testing.assert_allclose(histories[0].loss, histories[1].loss, rtol=tolerance)
    np.testing.assert_allclose(histories[0].layer_grad_norms, histories[1].layer_grad_norms, rtol=tolerance)
    assert histories[0].clip_events == histories[1].clip_events
    if clip != "none":
        assert histories[0].clip_events > 0


def test_history_records_epochs_probes_and_update_ratios(moons):
    spec = vxglib.MLPSpec(2, 2, depth=2, width=8)
    config = vxglib.TrainConfig(epochs=2, batch_size=64, probe_every=2)
    _, history = vxglib.train(spec, moons, config, "torch")
    assert history.epoch_end_steps == [3, 6]
    assert len(history.test_acc) == 2 and 0 <= history.test_acc[-1] <= 1
    assert history.probe_steps == [0, 2, 4]
    assert np.array(history.update_ratios).shape == (3, 3)
    assert history.status == "trained 6 steps"


@pytest.mark.parametrize("field, value, message", [
    ("optimizer", "rmsprop", "optimizer='rmsprop' is not valid; choose one of 'sgd', 'momentum', 'adam'"),
    ("lr", -0.1, "lr=-0.1 must be > 0"),
    ("clip", "norm", "clip='norm' is not valid"),
    ("batch_size", 0, "batch_size=0 must be an integer >= 1"),
])
def test_bad_config_values_raise(field, value, message):
    with pytest.raises(ValueError, match=message):
        vxglib.TrainConfig(**{field: value})


def test_unknown_backend_raises(moons):
    with pytest.raises(ValueError, match="backend='jax'"):
        vxglib.train(vxglib.MLPSpec(2, 2), moons, vxglib.TrainConfig(), backend="jax")
