"""Strict relaxation sends errors to the clamped inputs once, after its last iteration.

The parameters of a network are clamped leaves: they receive errors but send
none, so within a relaxation nothing reads their errors until the read-out.
settle_strict leaves those sends (and the predictions computed from clamped
leaves alone) out of its iterations and makes them once at the end; a hook
(``record="errors"``) reads every error at every iteration, so a recorded
relaxation still sends everything each iteration. These tests hold the two
paths to the same numbers bit for bit, and the result to autograd's gradient.
"""
import autograd
import autograd.numpy as anp
import numpy
import pytest

import pcgrad
import pcgrad.numpy as pnp
from pcgrad.pytree import flatten

RNG = numpy.random.default_rng(0)
X = RNG.normal(size=(6, 4))  # a clamped input that is not differentiated
PARAMS = {"v": RNG.normal(size=(4, 5)) * 0.5, "b": RNG.normal(size=5) * 0.1,
          "w": RNG.normal(size=(5, 5)) * 0.4, "out": RNG.normal(size=(5, 3)) * 0.5}
OPTIONS = dict(schedule="strict", beta=1e-3, units="marked", return_info=True)


def net(p, x, np=pnp, mark=pcgrad.pc_node):
    """A parameter-only node between a leaf and a product (tanh of v), a first
    layer whose prediction depends on clamped leaves only, and a weight
    shared by two layers."""
    w1 = np.tanh(p["v"])
    h = mark(np.tanh(x @ w1 + p["b"]), name="h")
    h = mark(np.tanh(h @ p["w"]), name="h2")
    h = mark(np.tanh(h @ p["w"]), name="h3")
    return np.sum(mark(h @ p["out"]) ** 2)


def strict(**options):
    return pcgrad.grad(net, **{**OPTIONS, **options})(PARAMS, X)


def leaves(tree):
    return flatten(tree)[0]


def test_strict_gradient_equals_the_gradient_of_a_relaxation_that_sends_every_iteration():
    g, _ = strict()
    every, _ = strict(record="errors")
    for a, b in zip(leaves(g), leaves(every)):
        numpy.testing.assert_array_equal(a, b)


def test_strict_info_equals_that_of_a_relaxation_that_sends_every_iteration():
    _, info = strict()
    _, every = strict(record="errors")
    assert info.iterations == every.iterations
    for name in ("residual", "energy", "squared_errors"):
        numpy.testing.assert_array_equal(getattr(info, name), getattr(every, name))
    assert info.node_errors.keys() == every.node_errors.keys() == {"h", "h2", "h3"}
    for name in info.node_errors:
        numpy.testing.assert_array_equal(info.node_errors[name], every.node_errors[name])
        numpy.testing.assert_array_equal(info.errors[name], every.errors[name])
        numpy.testing.assert_array_equal(info.values[name], every.values[name])


@pytest.mark.parametrize("iterations", [1, 3, 40])
def test_strict_record_reads_at_each_iteration_the_gradient_a_relaxation_stopped_there_returns(
        iterations):
    _, info = strict(record="errors")
    row = list(info.record.iterations).index(iterations)
    stopped, _ = strict(max_iters=iterations, on_nonconvergence="ignore")
    for k, g in enumerate(leaves(stopped)):
        assert numpy.any(g != 0.0)
        numpy.testing.assert_array_equal(info.record.gradients[k][row], g)


def test_strict_gradient_at_small_beta_is_autograds_within_order_beta():
    reference = autograd.grad(lambda p: net(p, X, np=anp, mark=lambda h, name=None: h))(PARAMS)
    errors = {}
    for beta in (1e-2, 1e-3):
        g, info = strict(beta=beta, tol=1e-8)
        assert info.converged
        flat_g = numpy.concatenate([numpy.ravel(a) for a in leaves(g)])
        flat_ref = numpy.concatenate([numpy.ravel(a) for a in leaves(reference)])
        errors[beta] = numpy.linalg.norm(flat_g - flat_ref) / numpy.linalg.norm(flat_ref)
    assert errors[1e-3] < 1e-2
    assert errors[1e-3] < errors[1e-2] / 5  # O(beta): about ten times smaller per decade
