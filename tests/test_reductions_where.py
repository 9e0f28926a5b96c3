"""Reductions with numpy's where= and initial= (sum, mean, var, std, max, min),
compared with numpy's values and central finite differences of numpy."""
import numpy
import pytest

import pcgrad
import pcgrad.numpy as np

X = numpy.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]])
MASK = numpy.array([[True, False, True], [True, True, False]])

CASES = {
    "sum": lambda np, x: np.sum(x ** 2, where=MASK),
    "sum-axis": lambda np, x: np.sum(np.sum(x ** 3, axis=0, keepdims=True, where=MASK)),
    "mean": lambda np, x: np.sum(np.mean(x ** 3, axis=1, where=MASK)),
    "mean-row-mask": lambda np, x: np.mean(np.sin(x), where=MASK[0]),
    "var": lambda np, x: np.var(x, where=MASK),
    "std": lambda np, x: np.sum(np.std(x, axis=1, ddof=1, where=MASK)),
    "max-initial": lambda np, x: np.max(x, initial=1.0),
    "max-initial-axis": lambda np, x: np.sum(np.max(x, axis=0, initial=0.0)),
    "min-initial": lambda np, x: np.sum(np.min(x, axis=1, initial=-0.8)),
    "max-where": lambda np, x: np.sum(np.max(x, axis=1, initial=-5.0, where=MASK)),
    "min-where": lambda np, x: np.min(x, initial=5.0, where=MASK),
    "mean-traced-mask": lambda np, x: np.mean(x ** 2, where=x > 0),
}


def central_differences(f, x, eps=1e-6):
    g = numpy.zeros_like(x)
    for i in numpy.ndindex(x.shape):
        step = numpy.zeros_like(x)
        step[i] = eps
        g[i] = (f(x + step) - f(x - step)) / (2 * eps)
    return g


@pytest.mark.parametrize("name", sorted(CASES))
def test_reduction_with_where_or_initial_matches_numpy_value_and_finite_differences(name):
    f = CASES[name]
    value, g = pcgrad.value_and_grad(lambda x: f(np, x))(X)
    assert value == pytest.approx(f(numpy, X), rel=1e-14)
    numpy.testing.assert_allclose(g, central_differences(lambda x: f(numpy, x), X), atol=1e-8)


@pytest.mark.parametrize("name", ["sum", "mean-traced-mask", "max-where"])
def test_plain_numpy_reduction_with_where_on_a_traced_array_runs_as_pcgrad(name):
    f = CASES[name]
    g = pcgrad.grad(lambda x: f(numpy, x))(X)
    numpy.testing.assert_allclose(g, central_differences(lambda x: f(numpy, x), X), atol=1e-8)


def test_compiled_mean_with_a_traced_mask_recounts_the_mask_on_every_call():
    f = CASES["mean-traced-mask"]
    fast = pcgrad.jit(pcgrad.grad(lambda x: f(np, x)))
    fast(X)
    numpy.testing.assert_allclose(fast(-X), central_differences(lambda x: f(numpy, x), -X),
                                  atol=1e-8)


def test_where_that_does_not_broadcast_to_the_array_raises_value_error():
    with pytest.raises(ValueError, match=r"where= of shape \(2, 2, 3\) does not broadcast"):
        pcgrad.grad(lambda x: np.sum(x, where=numpy.ones((2, 2, 3), bool)))(X)


@pytest.mark.parametrize("x, axis", [(3.5, None), (numpy.ones((2, 1)), 1), (numpy.ones(1), 0)])
def test_std_of_one_element_groups_has_zero_derivative_as_finite_differences_give(x, axis):
    # std over one element is identically 0: its derivative is 0, not 0 * inf
    g = pcgrad.grad(lambda v: np.sum(np.std(v, axis=axis)))(x)
    assert numpy.all(numpy.asarray(g) == 0.0)
    assert numpy.all(numpy.std(x, axis=axis) == 0.0)
