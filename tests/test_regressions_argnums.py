"""A repeated argnum gets its gradient again, as in JAX, on every path (issue 9, item 2)."""
import autograd
import autograd.numpy as anp
import numpy
import pytest

import pcgrad
import pcgrad.numpy as np

X = numpy.array([0.5, -1.0, 2.0])
Y = numpy.array([1.5, 0.25, -0.5])


def loss(np):
    return lambda x, y: np.sum(np.sin(x) * y ** 2)


def assert_gradients(got, expected):
    assert type(got) is tuple and len(got) == len(expected)
    for g, e in zip(got, expected):
        numpy.testing.assert_allclose(g, e, rtol=1e-12)


@pytest.mark.parametrize("schedule", ["sweep", "jacobi", "euler", "strict"])
def test_grad_with_a_repeated_argnum_returns_the_gradient_twice(schedule):
    options = {"tol": 1e-12} if schedule == "euler" else {}
    got = pcgrad.grad(loss(np), argnums=(0, 0), schedule=schedule, **options)(X, Y)
    g = autograd.grad(loss(anp), 0)(X, Y)
    rtol = 1e-2 if schedule == "strict" else 1e-9  # strict is O(beta) off the gradient
    assert type(got) is tuple and len(got) == 2
    for part in got:
        numpy.testing.assert_allclose(part, g, rtol=rtol)


def test_grad_with_argnums_repeating_among_others_keeps_their_order():
    got = pcgrad.grad(loss(np), argnums=(1, 0, 1))(X, Y)
    gx, gy = autograd.grad(loss(anp), 0)(X, Y), autograd.grad(loss(anp), 1)(X, Y)
    assert_gradients(got, (gy, gx, gy))


def test_value_and_grad_with_a_repeated_argnum_returns_the_gradient_twice():
    value, got = pcgrad.value_and_grad(loss(np), argnums=(0, 0))(X, Y)
    assert value == pytest.approx(loss(numpy)(X, Y), rel=1e-15)
    g = autograd.grad(loss(anp), 0)(X, Y)
    assert_gradients(got, (g, g))


def test_repeated_gradients_are_separate_arrays():
    first, second = pcgrad.grad(loss(np), argnums=(0, 0))(X, Y)
    first[:] = 0.0
    numpy.testing.assert_allclose(second, autograd.grad(loss(anp), 0)(X, Y), rtol=1e-12)


def test_jacobian_with_a_repeated_argnum_returns_the_jacobian_twice():
    f = lambda np: lambda x, y: np.sin(x) * y
    got = pcgrad.jacobian(f(np), argnums=(0, 0))(X, Y)
    jac = autograd.jacobian(f(anp), 0)(X, Y)
    assert_gradients(got, (jac, jac))


def test_elementwise_grad_with_a_repeated_argnum_returns_the_derivative_twice():
    f = lambda np: lambda x, y: np.sin(x) * y
    got = pcgrad.elementwise_grad(f(np), argnums=(1, 1))(X, Y)
    assert_gradients(got, (numpy.sin(X), numpy.sin(X)))


def test_jit_with_a_repeated_argnum_returns_the_gradient_twice():
    got = pcgrad.jit(pcgrad.grad(loss(np), argnums=(1, 0, 1)))(X, Y)
    gx, gy = autograd.grad(loss(anp), 0)(X, Y), autograd.grad(loss(anp), 1)(X, Y)
    assert_gradients(got, (gy, gx, gy))


def test_jit_and_grad_agree_on_a_repeated_pytree_argnum():
    f = lambda p, y: np.sum(np.tanh(p["w"]) * y) * p["s"]
    params = {"w": X, "s": 2.0}
    compiled = pcgrad.jit(pcgrad.grad(f, argnums=(0, 0)))(params, Y)
    plain = pcgrad.grad(f, argnums=(0, 0))(params, Y)
    expected = {"w": 2.0 * Y / numpy.cosh(X) ** 2, "s": numpy.sum(numpy.tanh(X) * Y)}
    for got in (compiled, plain):
        assert len(got) == 2
        for part in got:
            assert set(part) == {"w", "s"} and isinstance(part["s"], float)
            numpy.testing.assert_allclose(part["w"], expected["w"], rtol=1e-12)
            assert part["s"] == pytest.approx(expected["s"], rel=1e-12)


def test_numpy_integer_argnums_are_accepted_as_in_jax():
    got = pcgrad.grad(loss(np), argnums=numpy.int64(1))(X, Y)
    numpy.testing.assert_allclose(got, autograd.grad(loss(anp), 1)(X, Y), rtol=1e-12)
    got = pcgrad.grad(loss(np), argnums=(numpy.int32(0), numpy.int64(-1)))(X, Y)
    assert_gradients(got, (autograd.grad(loss(anp), 0)(X, Y), autograd.grad(loss(anp), 1)(X, Y)))
