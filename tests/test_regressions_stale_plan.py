"""Arrays a traced function reads (index arrays, masks, where conditions,
precisions, constants) changed in place between calls: every call must see
the arrays as they are when it runs (issue 9, item 1)."""
import autograd
import autograd.numpy as anp
import numpy
import pytest

import pcgrad
import pcgrad.numpy as np

X = numpy.arange(1.0, 7.0)
C = numpy.array([1.5, 2.0])


def test_grad_after_an_index_array_changes_in_place_uses_the_new_indices():
    idx = numpy.array([0, 1])
    f = lambda np: lambda x: np.sum(x[idx] ** 2 * C)
    grad = pcgrad.grad(f(np))
    numpy.testing.assert_allclose(grad(X), autograd.grad(f(anp))(X), rtol=1e-12)
    idx[:] = [4, 5]
    numpy.testing.assert_allclose(grad(X), autograd.grad(f(anp))(X), rtol=1e-12)


def test_grad_after_a_boolean_mask_changes_in_place_uses_the_new_mask():
    mask = numpy.array([True, False, False, False, False, True])
    f = lambda np: lambda x: np.sum(x[mask] ** 2 * C)
    grad = pcgrad.grad(f(np))
    numpy.testing.assert_allclose(grad(X), autograd.grad(f(anp))(X), rtol=1e-12)
    mask[:] = [False, True, False, False, True, False]  # as many selected: same shapes
    numpy.testing.assert_allclose(grad(X), autograd.grad(f(anp))(X), rtol=1e-12)


def test_grad_after_take_indices_change_in_place_uses_the_new_indices():
    idx = numpy.array([0, 2])
    grad = pcgrad.grad(lambda x: np.sum(np.take(x, idx) ** 3))
    grad(X)
    idx[:] = [3, 5]
    expected = numpy.zeros(6)
    expected[[3, 5]] = 3.0 * X[[3, 5]] ** 2
    numpy.testing.assert_allclose(grad(X), expected, rtol=1e-12)


def test_grad_after_a_where_condition_changes_in_place_uses_the_new_condition():
    condition = X > 3.0
    f = lambda np: lambda x: np.sum(np.where(condition, x ** 2, 3.0 * x))
    grad = pcgrad.grad(f(np))
    numpy.testing.assert_allclose(grad(X), autograd.grad(f(anp))(X), rtol=1e-12)
    condition[:] = ~condition
    numpy.testing.assert_allclose(grad(X), autograd.grad(f(anp))(X), rtol=1e-12)


def test_grad_after_an_index_change_is_right_when_another_function_ran_in_between():
    idx = numpy.array([0, 1])
    f = lambda np: lambda x: np.sum(x[idx] ** 2 * C)
    grad = pcgrad.grad(f(np))
    grad(X)
    pcgrad.grad(lambda x: np.sum(np.sin(x)))(X)
    idx[:] = [3, 2]
    grad(X)
    idx[:] = [4, 5]
    numpy.testing.assert_allclose(grad(X), autograd.grad(f(anp))(X), rtol=1e-12)


def strict_readout(x, c, precision, beta):
    """The strict equilibrium of F = P/2 (v - x)^2 + beta sum(c v^2) (the
    pc_node h with precision P predicted by the input x, the output's energy
    linear), read out at x and divided by beta: 2 c P x / (P + 2 beta c)."""
    return 2.0 * c * precision * x / (precision + 2.0 * beta * c)


def test_strict_grad_after_a_pc_node_precision_changes_in_place_uses_the_new_precision():
    P = numpy.ones(6)
    c = numpy.linspace(0.5, 1.0, 6)
    f = lambda x: np.sum(c * pcgrad.pc_node(x, precision=P) ** 2)
    grad = pcgrad.grad(f, schedule="strict", units="marked", beta=0.5, eta=0.05, tol=1e-12)
    numpy.testing.assert_allclose(grad(X), strict_readout(X, c, 1.0, 0.5), rtol=1e-8)
    P *= 10
    numpy.testing.assert_allclose(grad(X), strict_readout(X, c, 10.0, 0.5), rtol=1e-8)


def test_vjp_uses_the_constants_as_they_were_when_it_traced():
    c = numpy.array([1.0, 2.0, 3.0])
    x = numpy.array([0.5, 1.0, 1.5])
    out, vjp_fn = pcgrad.vjp(lambda x: np.sin(x) * c, x)
    expected = numpy.cos(x) * c
    c[:] = 100.0
    numpy.testing.assert_allclose(out, numpy.sin(x) * [1.0, 2.0, 3.0], rtol=1e-15)
    numpy.testing.assert_allclose(vjp_fn(numpy.ones(3))[0], expected, rtol=1e-12)


def test_traced_graph_keeps_the_index_it_traced_when_the_array_changes_later():
    idx = numpy.array([0, 1])
    graph = pcgrad.trace(lambda x: np.sum(x[idx]), X)
    idx[:] = [4, 5]
    (index,) = [params["index"] for _, params in graph.nx.nodes(data="params")
                if params and "index" in params]
    numpy.testing.assert_array_equal(index[0], [0, 1])


@pytest.mark.parametrize("kind", ["mask", "index"])
def test_jit_retraces_when_a_non_float_argument_changes_in_place(kind):
    picks = numpy.array([True, False, True, False, False, False]) if kind == "mask" \
        else numpy.array([0, 2])
    f = lambda np: lambda x, picks: np.sum(x[picks] ** 2 * C)
    fast = pcgrad.jit(pcgrad.grad(f(np)))
    numpy.testing.assert_allclose(fast(X, picks), autograd.grad(f(anp))(X, picks), rtol=1e-12)
    picks[:] = picks[::-1]
    numpy.testing.assert_allclose(fast(X, picks), autograd.grad(f(anp))(X, picks), rtol=1e-12)


def test_jit_with_a_where_condition_argument_changed_in_place_uses_the_new_condition():
    condition = X > 3.0
    f = lambda np: lambda x, condition: np.sum(np.where(condition, x ** 2, 3.0 * x))
    fast = pcgrad.jit(pcgrad.grad(f(np)))
    fast(X, condition)
    condition[:] = ~condition
    numpy.testing.assert_allclose(fast(X, condition), autograd.grad(f(anp))(X, condition),
                                  rtol=1e-12)


def test_jit_freezes_closure_constants_at_trace_time_as_documented():
    c = numpy.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    idx = numpy.array([0, 1])
    f = lambda x: np.sum(np.sin(x) * c) + np.sum(x[idx] ** 2)
    fast = pcgrad.jit(pcgrad.grad(f))
    traced = numpy.cos(X) * c + numpy.array([2.0, 4.0, 0, 0, 0, 0])
    numpy.testing.assert_allclose(fast(X), traced, rtol=1e-12)
    c *= 10.0
    idx[:] = [4, 5]
    numpy.testing.assert_allclose(fast(X), traced, rtol=1e-12)
    numpy.testing.assert_allclose(pcgrad.grad(f)(X),
                                  numpy.cos(X) * c + numpy.array([0, 0, 0, 0, 10.0, 12.0]),
                                  rtol=1e-12)
