"""The gradient monitor: findings on constructed records, planted problems found in both
frameworks, nothing reported on a healthy ReLU + He network, the report files, and the overhead."""
import subprocess
import sys

import numpy as np
import pytest

from vxglib import monitor
from vxglib.experiments import diagnosing as dg

STEPS = 60


def synthetic(grad_profile, act_std=None, nonfinite_at=None, activation="relu", steps=5) -> monitor.Record:
    """A Record with a fixed per-layer gradient profile at every step."""
    layers = len(grad_profile)
    record = monitor.Record("test", [f"l{i}" for i in range(layers)], [activation] * (layers - 1) + [None])
    for step in range(steps):
        nonfinite = np.zeros(layers)
        if nonfinite_at is not None and step >= nonfinite_at:
            nonfinite[:] = 1
        record.add(step, grad_norm=np.asarray(grad_profile, float), update_ratio=np.full(layers, 1e-3),
                   act_std=np.asarray(act_std if act_std is not None else np.ones(layers), float),
                   frac_dead=np.zeros(layers), nonfinite=nonfinite)
    return record


def kinds(record) -> set:
    return {finding.kind for finding in monitor.findings(record)}


def test_import_vxglib_loads_no_framework():
    code = "import sys, vxglib, vxglib.monitor; print('torch' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_findings_on_constructed_records():
    assert kinds(synthetic([1.0] * 6)) == set()
    vanishing = synthetic([0.5**k for k in range(9, -1, -1)])  # layer 1 is 2^-9 of the output layer
    assert kinds(vanishing) == {"vanishing"}
    assert monitor.vanishing_index(vanishing) == pytest.approx(2.0**-9)
    finding = monitor.findings(vanishing)[0]
    assert finding.layers == [1, 2, 3, 4, 5, 6] and "ch. 5" in finding.remedies[0]
    assert kinds(synthetic([2.0**k for k in range(9, -1, -1)])) == {"exploding"}
    assert kinds(synthetic([1.0] * 6, act_std=[2.0**k for k in range(5)] + [1.0], activation="linear")) == set()
    assert kinds(synthetic([1.0] * 8, act_std=[3.0**k for k in range(7)] + [1.0], activation="linear")) == {"exploding"}
    diverged = monitor.findings(synthetic([1.0] * 4, nonfinite_at=3))
    assert [f.kind for f in diverged] == ["divergence"] and "diverged at step 3" in diverged[0].evidence


def test_record_validates_and_tables():
    record = synthetic([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="grad_nrom"):
        record.add(5, grad_nrom=np.ones(3))
    with pytest.raises(ValueError, match="3 layers"):
        record.add(5, grad_norm=np.ones(4))
    with pytest.raises(ValueError, match="choose one of"):
        record.array("gradient")
    table = record.table()
    assert list(table.columns) == ["name", *monitor.COLUMNS] and list(table["grad_norm"]) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("case, expected", [
    ("deep sigmoid", {"vanishing", "saturation"}),
    ("badly scaled deep linear", {"exploding"}),
    ("ReLU, huge learning rate", {"divergence"}),
    ("ReLU, negative bias", {"dead units"}),
    ("RNN, large recurrent weight", {"exploding", "divergence"}),
])
def test_torch_finds_planted_problem_and_fix_clears_it(case, expected):
    broken = dg.run(*dg.case_setup(case), steps=STEPS)
    assert expected <= kinds(broken), monitor.findings(broken)
    assert kinds(dg.run(*dg.case_setup(case, fixed=True), steps=STEPS)) == set()


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.01), ("adam", 1e-3)])
def test_torch_healthy_relu_he_has_no_findings(optimizer, lr):
    spec = dg.case_setup("healthy ReLU + He")[0].with_(width=128)
    record = dg.run(spec, optimizer, lr, steps=STEPS)
    assert kinds(record) == set(), monitor.findings(record)
    assert 0.1 < monitor.vanishing_index(record) < 10


def test_keras_matches_torch_on_planted_and_healthy():
    for case, expected in (("deep sigmoid", {"vanishing", "saturation"}), ("healthy ReLU + He", set()),
                           ("ReLU, huge learning rate", {"divergence"})):
        records = {backend: dg.run(*dg.case_setup(case), steps=40, backend=backend) for backend in ("torch", "keras")}
        assert kinds(records["keras"]) == kinds(records["torch"]) == expected or expected <= kinds(records["keras"])
        assert list(records["keras"].table().columns) == list(records["torch"].table().columns)
        ratio = monitor.vanishing_index(records["keras"]) / monitor.vanishing_index(records["torch"])
        assert 0.5 < ratio < 2 or case == "ReLU, huge learning rate", (case, ratio)


def test_keras_gradient_tape_loop():
    import keras
    import tensorflow as tf

    from vxglib import keras_backend, monitor_keras

    spec = dg.case_setup("deep sigmoid")[0]
    model = keras_backend.build_mlp(spec, dg._weights(spec, 0.0, 0))
    data = dg.datasets.digits()
    x, y = data.x_train[:64].astype("float32"), data.y_train[:64]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.SGD(0.1)
    tape_monitor = monitor_keras.attach(model, (x, y), loss=loss, every=2)
    for _ in range(6):
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        grads = tape.gradient(value, model.trainable_variables)
        with tape_monitor.around_step():
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
    assert tape_monitor.record.steps == [0, 2, 4]
    assert {"vanishing", "saturation"} <= kinds(tape_monitor.record)
    assert np.all(tape_monitor.record.array("update_ratio") > 0)


def test_reports_are_saved(tmp_path):
    record = dg.run(*dg.case_setup("deep sigmoid"), steps=20)
    png = monitor.save_report(record, str(tmp_path / "report.png"), "deep sigmoid", theory_factor=0.7)
    html = monitor.save_report(record, str(tmp_path / "report.html"))
    assert (tmp_path / "report.png").stat().st_size > 10_000
    text = open(html, encoding="utf-8").read()
    assert "vanishing" in text and "data:image/png;base64" in text and "frac_saturated" in text
    with pytest.raises(ValueError, match="pdf"):
        monitor.save_report(record, str(tmp_path / "report.pdf"))


def test_torch_overhead_under_ten_percent():
    from vxglib import monitor_torch

    assert monitor_torch.overhead(steps=100, every=20, repeats=9) < 0.10


def test_time_profile_findings_on_constructed_records():
    record = synthetic([1.0] * 3)
    assert np.isnan(monitor.time_index(record)) and len(monitor.time_profile(record)) == 0
    record.layers[0] = "recurrent"
    for step in record.steps:
        record.time_grad[step] = 0.5 ** np.arange(20.0)[::-1]  # step 1 gets 2^-19 of step 20's gradient
    assert monitor.time_index(record) == pytest.approx(0.5**19)
    found = monitor.findings(record)
    assert [f.kind for f in found] == ["vanishing"] and found[0].layers == [1] and "20 time steps" in found[0].evidence
    for step in record.steps:
        record.time_grad[step] = 1.5 ** np.arange(20.0)[::-1]
    assert kinds(record) == {"exploding"}


def test_torch_rnn_time_profile_and_clipping_counter():
    spec = dg.case_setup("RNN, large recurrent weight")[0]
    broken = dg.run(spec, lr=0.05, steps=20)
    profile = monitor.time_profile(broken)
    assert len(profile) == dg.SEQUENCE_LENGTH and profile[0] > 100 * profile[-1]
    assert broken.clip_events == 0
    clipped = dg.run_rnn_torch(spec, lr=0.05, steps=20, clip=1.0)
    assert clipped.clip_events == len(clipped.steps) > 0
    assert "divergence" not in kinds(clipped)


def test_keras_overhead_under_ten_percent():
    from vxglib import monitor_keras

    assert monitor_keras.overhead(steps=100, every=20, repeats=7) < 0.10


def test_keras_rnn_time_profile_matches_torch():
    case = dg.case_setup("RNN, large recurrent weight")
    torch_record, keras_record = (dg.run(*case, steps=20, backend=backend) for backend in ("torch", "keras"))
    assert keras_record.layers[0] == "simple_rnn" and keras_record.activations[0] == "relu"
    assert kinds(keras_record) == kinds(torch_record) >= {"exploding", "divergence"}
    # step 0 sees the same weights and the same batch in both: the same gradient against time
    np.testing.assert_allclose(keras_record.time_grad[0], torch_record.time_grad[0], rtol=1e-4)
    fixed = dg.run(*dg.case_setup("RNN, large recurrent weight", fixed=True), steps=20, backend="keras")
    assert kinds(fixed) == set() and monitor.time_index(fixed) < 1
