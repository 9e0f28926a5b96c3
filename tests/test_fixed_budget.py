"""A fixed relaxation budget (on_nonconvergence="ignore"): max_iters steps, the
approximate gradient returned, the gap to convergence in info."""
import warnings

import autograd
import autograd.numpy as anp
import numpy
import pytest

import pcgrad
import pcgrad.numpy as np

RNG = numpy.random.default_rng(5)
W1, W2, W3 = RNG.standard_normal((4, 6)), RNG.standard_normal((6, 5)), RNG.standard_normal((5, 3))
X, Y = RNG.standard_normal((8, 4)), RNG.standard_normal((8, 3))


def loss(weights, x, y, np=np, mark=pcgrad.pc_node):
    """A three-layer tanh network, each layer one marked unit, as in the PC papers."""
    h = x
    for w in weights[:-1]:
        h = mark(np.tanh(h @ w))
    return 0.5 * np.sum((mark(h @ weights[-1]) - y) ** 2) / x.shape[0]


EXACT = autograd.grad(lambda w: loss(w, X, Y, anp, lambda h: h))((W1, W2, W3))


def budget(max_iters, **options):
    return pcgrad.grad(loss, schedule="euler", eta=0.1, max_iters=max_iters, units="marked",
                       on_nonconvergence="ignore", return_info=True, **options)((W1, W2, W3), X, Y)


def relative_error(grads):
    return max(numpy.linalg.norm(g - e) / numpy.linalg.norm(e) for g, e in zip(grads, EXACT))


def test_a_fixed_budget_returns_without_error_or_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grads, info = budget(100)
    assert info.iterations == 100 and not info.converged
    assert all(g.shape == e.shape for g, e in zip(grads, EXACT))


def test_a_fixed_budget_reports_the_gap_in_the_residual():
    _, info = budget(100)
    assert info.residual[-1] > info.tol * 1e3
    assert info.residual[-1] < info.residual[0]


def test_a_fixed_budget_returns_what_the_warning_mode_returns():
    with pytest.warns(RuntimeWarning, match="did not converge"):
        warned, _ = pcgrad.grad(loss, schedule="euler", eta=0.1, max_iters=100, units="marked",
                                on_nonconvergence="warn", return_info=True)((W1, W2, W3), X, Y)
    for g, w in zip(budget(100)[0], warned):
        numpy.testing.assert_array_equal(g, w)


def test_the_fixed_budget_gradient_approaches_backprop_as_the_budget_grows():
    errors = [relative_error(budget(n)[0]) for n in (20, 100, 400)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[1] < 0.1  # the papers' 100 steps at eta 0.1: close on three layers
    assert errors[0] > 1e-3  # but not exact


def test_a_budget_that_suffices_converges_to_backprop():
    grads, info = budget(100_000)
    assert info.converged
    assert relative_error(grads) < 1e-8


def test_a_diverging_strict_relaxation_still_raises_under_a_fixed_budget():
    with pytest.raises(pcgrad.ConvergenceError) as caught:
        pcgrad.grad(loss, schedule="strict", eta=1.0, units="all", beta=1e-2, target=None,
                    on_nonconvergence="ignore")((W1, W2, W3), X, Y)
    assert caught.value.info.diverged
