"""Clipping rules and the cliff model (vxglib.clipping), and chapter 12's experiments and framework
comparison (vxglib.experiments.clipping)."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import vxglib  # noqa: E402
from vxglib import clipping as rules  # noqa: E402
from vxglib.experiments import clipping  # noqa: E402


def grads():
    return [np.array([[3.0, -4.0], [0.0, 12.0]]), np.array([0.5, -0.2])]


def test_global_norm_keeps_direction_and_caps_the_norm():
    clipped = rules.clip_gradients(grads(), "global_norm", 2.0)
    assert np.linalg.norm(rules.flat(clipped)) == pytest.approx(2.0)
    assert rules.angle_degrees(clipped, grads()) == pytest.approx(0.0, abs=1e-6)
    small = rules.clip_gradients(grads(), "global_norm", 100.0)  # below the threshold: untouched
    np.testing.assert_array_equal(rules.flat(small), rules.flat(grads()))


def test_value_and_per_variable_clipping_turn_the_gradient():
    by_value = rules.clip_gradients(grads(), "value", 1.0)
    assert np.max(np.abs(rules.flat(by_value))) == 1.0
    np.testing.assert_array_equal(by_value[1], [0.5, -0.2])  # entries inside the box stay
    per_variable = rules.clip_gradients(grads(), "norm_per_variable", 1.0)
    assert np.linalg.norm(per_variable[0]) == pytest.approx(1.0)
    np.testing.assert_allclose(per_variable[1], [0.5, -0.2])  # norm 0.54 < 1: untouched
    assert rules.angle_degrees(by_value, grads()) > 5
    assert rules.angle_degrees(per_variable, grads()) > 5


def test_clip_rejects_unknown_mode_and_bad_threshold():
    with pytest.raises(ValueError, match="mode='norm'"):
        rules.clip_gradients(grads(), "norm", 1.0)
    with pytest.raises(ValueError, match="threshold=-1"):
        rules.clip_gradients(grads(), "value", -1)


def test_cliff_gradient_matches_finite_differences():
    for w, b in [(3.0, -1.0), (7.0, -3.5), (-2.0, 1.0)]:
        loss, gradient = rules.cliff_gradient(w, b)
        eps = 1e-6
        numeric = [(rules.cliff_loss(w + eps, b) - rules.cliff_loss(w - eps, b)) / (2 * eps),
                   (rules.cliff_loss(w, b + eps) - rules.cliff_loss(w, b - eps)) / (2 * eps)]
        assert loss == pytest.approx(float(rules.cliff_loss(w, b)))
        np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-6)


def test_clipped_descent_never_steps_further_than_lr_times_threshold():
    run = rules.descend_cliff(lr=0.01, steps=150, clip="global_norm", threshold=20.0)
    assert run.step_lengths.max() <= 0.01 * 20.0 * (1 + 1e-9)
    free = rules.descend_cliff(lr=0.01, steps=150)
    assert free.step_lengths.max() > 10 * run.step_lengths.max()  # the wall throws the free run


def test_direction_example_table():
    table = clipping.direction_example(3.0, 1.0, 1.0).table.set_index("rule")
    assert table.loc["global norm", "angle_deg"] == pytest.approx(0.0, abs=1e-6)
    assert table.loc["global norm", "norm"] == pytest.approx(1.0)
    assert table.loc["by value", "angle_deg"] == pytest.approx(45 - np.degrees(np.arctan(1 / 3)), abs=0.01)


def test_angle_is_exact_for_parallel_and_orthogonal_gradients():
    g = [np.array([1e-3, 2.0]), np.array([[3.0]])]
    assert rules.angle_degrees(g, [5 * x for x in g]) < 1e-6
    assert rules.angle_degrees([np.array([1.0, 0.0])], [np.array([0.0, 2.0])]) == pytest.approx(90.0)


def test_torch_optimizer_applies_the_numpy_rules():
    spec = clipping.deep_linear_spec(depth=3, width=16)
    for rule in ("global_norm", "norm_per_variable", "value"):
        gradient, update = clipping.applied_updates("torch", rule, 1.0, spec=spec)
        reference = rules.clip_gradients(gradient, rule, 1.0)
        np.testing.assert_allclose(rules.flat(update), rules.flat(reference), atol=1e-5)


def test_keras_optimizer_applies_the_numpy_rules():
    pytest.importorskip("vxglib.keras_backend")
    spec = clipping.deep_linear_spec(depth=3, width=16)
    for rule in ("global_norm", "norm_per_variable"):
        gradient, update = clipping.applied_updates("keras", rule, 1.0, spec=spec)
        reference = rules.clip_gradients(gradient, rule, 1.0)
        np.testing.assert_allclose(rules.flat(update), rules.flat(reference), atol=1e-5)


def test_subplot_limits_are_applied():
    import matplotlib.pyplot as plt

    subplot = vxglib.Subplot([vxglib.Line(np.array([0, 100]), np.array([0, 100]))], xlim=(1, 2), ylim=(3, 4))
    ax = vxglib.plots.draw_subplot(subplot, plt.figure().gca())
    assert ax.get_xlim() == (1, 2) and ax.get_ylim() == (3, 4)
    plt.close("all")
