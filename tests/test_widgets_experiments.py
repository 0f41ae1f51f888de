"""Every registered experiment runs at its defaults, is deterministic, and its panel builds."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import vxglib  # noqa: E402
from vxglib.experiments import all_experiments, gradient_descent  # noqa: E402

EXPERIMENTS = all_experiments()


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=[e.name for e in EXPERIMENTS])
def test_experiment_runs_at_defaults_and_repeats_exactly(experiment):
    first, second = experiment.run(), experiment.run()
    assert isinstance(first, vxglib.Chart) and first.subplots
    assert all(line.y is not None and len(line.y) > 0 for sub in first.subplots for line in sub.lines)
    for sub_a, sub_b in zip(first.subplots, second.subplots):
        for a, b in zip(sub_a.lines, sub_b.lines):
            np.testing.assert_array_equal(np.asarray(a.y, float), np.asarray(b.y, float))
    assert first.message == second.message


def test_experiment_rejects_unknown_parameters_and_values():
    experiment = EXPERIMENTS[0]
    with pytest.raises(ValueError, match="parameter='depthh'"):
        experiment.run(depthh=3)
    choice = next(n for n, c in gradient_descent.EXPERIMENTS[0].controls.items() if isinstance(c, vxglib.Choice))
    with pytest.raises(ValueError, match=f"{choice}=-7"):
        gradient_descent.EXPERIMENTS[0].run(**{choice: -7})


def test_panel_has_one_control_per_parameter_and_a_run_button():
    experiment = gradient_descent.EXPERIMENTS[0]
    panel = vxglib.panel(experiment)
    controls, (button, status) = panel.children[0].children, panel.children[1].children
    assert len(controls) == len(experiment.controls)
    assert button.description == "Run" and status.value.startswith("Choose")
    button.click()  # outside a kernel the output area captures nothing, but the run completes
    assert status.value.startswith("done in")


def test_gradient_descent_threshold_is_two_over_lambda_max():
    eigenvalues = np.array([1.0, 10.0])
    assert abs(gradient_descent.measured_threshold(eigenvalues) - 0.2) < 1e-3
    assert gradient_descent.gradient_descent(eigenvalues, 0.19).diverged_at is None
    assert gradient_descent.gradient_descent(eigenvalues, 0.3, steps=200).diverged_at is not None
    assert gradient_descent.regime(0.15, 10.0) == "oscillate"
    with pytest.raises(ValueError, match="eigenvalues"):
        gradient_descent.gradient_descent([1.0, -2.0], 0.1)


def test_import_vxglib_does_not_import_a_framework():
    import subprocess
    import sys

    code = "import sys, vxglib; from vxglib import *; print('torch' in sys.modules, 'tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False False"
