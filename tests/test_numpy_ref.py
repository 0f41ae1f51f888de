"""The hand-written backward pass against central finite differences."""
import numpy as np
import pytest

from vxglib import ACTIVATIONS, numpy_ref

from .conftest import small_problem


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_backward_matches_finite_differences(activation, loss):
    spec, weights, x, y = small_problem(activation, loss=loss)
    _, grads = numpy_ref.gradients(weights, x, y, activation, loss)
    objective = lambda: numpy_ref.gradients(weights, x, y, activation, loss)[0]  # noqa: E731
    for layer in range(spec.n_layers):
        numeric_W = numpy_ref.numerical_gradient(objective, weights.W[layer])
        numeric_b = numpy_ref.numerical_gradient(objective, weights.b[layer])
        assert numpy_ref.relative_error(grads.dW[layer], numeric_W) < 1e-6
        assert numpy_ref.relative_error(grads.db[layer], numeric_b) < 1e-6


def test_residual_backward_matches_finite_differences():
    spec, weights, x, y = small_problem("tanh", residual=True)
    _, grads = numpy_ref.gradients(weights, x, y, "tanh", residual=True)
    objective = lambda: numpy_ref.gradients(weights, x, y, "tanh", residual=True)[0]  # noqa: E731
    numeric = numpy_ref.numerical_gradient(objective, weights.W[0])
    assert numpy_ref.relative_error(grads.dW[0], numeric) < 1e-6


def test_a_wrong_backward_is_caught_by_the_check():
    spec, weights, x, y = small_problem("sigmoid")
    _, grads = numpy_ref.gradients(weights, x, y, "sigmoid")
    objective = lambda: numpy_ref.gradients(weights, x, y, "sigmoid")[0]  # noqa: E731
    numeric = numpy_ref.numerical_gradient(objective, weights.W[0])
    assert numpy_ref.relative_error(2 * grads.dW[0], numeric) > 0.1


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_derivative_matches_difference_quotient(activation):
    z = np.linspace(-4, 4, 81) + 0.0123  # avoid the kink of ReLU-like functions at 0
    numeric = (numpy_ref.activate(activation, z + 1e-6) - numpy_ref.activate(activation, z - 1e-6)) / 2e-6
    np.testing.assert_allclose(numpy_ref.derivative(activation, z), numeric, rtol=1e-5, atol=1e-8)


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="activation='softsign'.*'relu'"):
        numpy_ref.activate("softsign", np.zeros(3))
    spec, weights, x, y = small_problem("relu")
    with pytest.raises(ValueError, match=r"shape \(9, 5\)"):
        numpy_ref.forward(weights, np.zeros((9, 5)), "relu")
    with pytest.raises(ValueError, match="loss='hinge'"):
        numpy_ref.loss_and_output_grad(np.zeros((2, 3)), np.zeros(2), "hinge")
    with pytest.raises(ValueError, match="shapes differ"):
        numpy_ref.relative_error(np.zeros(2), np.zeros(3))
