"""A structure met again at new shapes (a new batch size, the last smaller
batch of an epoch) reuses its pruning and its plan's skeleton (issue 12, part
5): gradients stay exact at every shape, on every schedule, including when
the new shapes change how operands broadcast."""
import autograd
import autograd.numpy as anp
import numpy
import pytest

import pcgrad
import pcgrad.numpy as np
import pcgrad.plan
from pcgrad.graph import structure_key
from pcgrad.plan import _cache

SCHEDULES = {"sweep": {}, "jacobi": {}, "euler": {"tol": 1e-13, "max_iters": 5000}}


def layer(np_like):
    def loss(w, b, x):
        return np_like.sum(np_like.tanh(x @ w + b) ** 2 * np_like.exp(-x[:, :3] * 0.5))
    return loss


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_a_layer_at_new_batch_sizes_has_autograds_gradient_on_every_schedule(schedule):
    rng = numpy.random.default_rng(12)  # its own draws, whatever runs before it
    w, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    grad = pcgrad.grad(layer(np), argnums=(0, 1), schedule=schedule, **SCHEDULES[schedule])
    for batch in (5, 1, 7, 2, 5):
        x = rng.standard_normal((batch, 4))
        for got, want in zip(grad(w, b, x),
                             autograd.grad(layer(anp), (0, 1))(w, b, x)):
            numpy.testing.assert_allclose(got, want, rtol=1e-9 if schedule == "euler" else 1e-12)


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_an_operand_that_broadcasts_at_one_shape_and_not_at_another_is_exact(schedule):
    rng = numpy.random.default_rng(12)  # its own draws, whatever runs before it
    f = lambda np_like: lambda x, y: np_like.sum(np_like.sin(x + y) * x * y)
    grad = pcgrad.grad(f(np), argnums=(0, 1), schedule=schedule, **SCHEDULES[schedule])
    for m in (1, 6, 1, 6):
        x, y = rng.standard_normal(6), rng.standard_normal(m)
        for got, want in zip(grad(x, y), autograd.grad(f(anp), (0, 1))(x, y)):
            numpy.testing.assert_allclose(got, want, rtol=1e-9 if schedule == "euler" else 1e-12)


def test_strict_at_new_batch_sizes_gives_what_a_plan_built_from_scratch_gives(monkeypatch):
    # strict nudges the output by beta, so its gradient is autograd's only
    # to O(beta): the oracle is the same relaxation of a freshly built plan
    rng = numpy.random.default_rng(12)  # its own draws, whatever runs before it
    w, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    grad = pcgrad.grad(layer(np), argnums=(0, 1), schedule="strict")
    grad(w, b, rng.standard_normal((5, 4)))
    for batch in (1, 7):
        x = rng.standard_normal((batch, 4))
        reused = grad(w, b, x)
        monkeypatch.setattr(pcgrad.plan, "_cache", pcgrad.plan._Cache())
        monkeypatch.setattr(pcgrad.plan._scratch, "last", None)
        fresh = grad(w, b, x)
        monkeypatch.undo()
        for got, want in zip(reused, fresh):
            numpy.testing.assert_array_equal(got, want)


def test_a_structure_at_a_new_shape_gets_its_own_plan_sharing_the_skeleton():
    f = lambda x: np.sum(np.cos(x) * x - x ** 3)
    pcgrad.grad(f)(numpy.ones(83))
    first = next(reversed(_cache.entries.values()))
    pcgrad.grad(f)(numpy.ones(89))
    second = next(reversed(_cache.entries.values()))
    assert first is not second
    assert second.plans[False].skeleton is first.plans[False].skeleton
    assert second.plans[False].table.size.sum() > first.plans[False].table.size.sum()


def test_named_pc_nodes_and_precisions_at_new_shapes_are_read_out_at_those_shapes():
    def f(x):
        h = pcgrad.pc_node(np.tanh(x), name="h", precision=2.0)
        return np.sum(h ** 2)
    grad = pcgrad.grad(f, return_info=True)
    for n in (3, 5):
        x = numpy.linspace(-1.0, 1.0, n)
        g, info = grad(x)
        numpy.testing.assert_allclose(g, autograd.grad(lambda x: anp.sum(anp.tanh(x) ** 2))(x),
                                      rtol=1e-12)
        assert info.values["h"].shape == (n,) and info.errors["h"].shape == (n,)


def test_an_index_array_that_changes_with_the_shape_is_not_taken_for_the_previous_one():
    # the same structure at a new shape reuses the previous trace's key only
    # when its parameters are the same: here the index differs, and a later
    # call at the second shape with the first index must not get its plan
    f = lambda index: lambda x: np.sum(x[index] ** 2)
    first, second = numpy.array([0, 1]), numpy.array([2, 3])
    for n, index in ((5, first), (6, second), (6, first), (5, second)):
        x = numpy.linspace(0.5, 1.0, n)
        want = numpy.zeros(n)
        numpy.add.at(want, index, 2 * x[index])
        numpy.testing.assert_array_equal(pcgrad.grad(f(index))(x), want)


def test_a_structure_at_a_new_shape_is_cached_under_the_key_a_fresh_trace_gives():
    f = lambda x: np.sum(np.sin(x[1:]) * x[:-1])
    pcgrad.grad(f)(numpy.ones(97))
    pcgrad.grad(f)(numpy.ones(101))
    graph = pcgrad.trace(f, numpy.ones(101))
    key = structure_key(graph.trace, graph.inputs, graph.output)
    assert next(reversed(_cache.entries)) == key
