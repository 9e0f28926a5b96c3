"""Pytrees: flattening, rebuilding and naming leaves, and gradients in the argument's form.

Flat tuples and lists of leaves (the common argument, e.g. a network's
parameters) are flattened without walking the tree; these tests hold that
path to the behaviour of the general walk.
"""
from collections import namedtuple

import numpy as onp
import pytest

import pcgrad
import pcgrad.numpy as np
from pcgrad.pytree import flatten, leaf_paths, tree_map

Pair = namedtuple("Pair", "w b")
A, B = onp.array([0.5, -1.0, 2.0]), onp.array([1.5, 0.25])


def test_flat_tuple_flattens_to_its_items_and_rebuilds_a_tuple():
    leaves, unflatten = flatten((A, 2.0, B))
    assert leaves[0] is A and leaves[1] == 2.0 and leaves[2] is B
    rebuilt = unflatten(["a", "b", "c"])
    assert type(rebuilt) is tuple and rebuilt == ("a", "b", "c")


def test_flat_list_rebuilds_a_list():
    leaves, unflatten = flatten([A, B])
    rebuilt = unflatten([1, 2])
    assert type(rebuilt) is list and rebuilt == [1, 2]


def test_single_leaf_flattens_to_itself():
    leaves, unflatten = flatten(A)
    assert len(leaves) == 1 and leaves[0] is A
    assert unflatten(["x"]) == "x"


def test_namedtuple_of_leaves_rebuilds_the_namedtuple():
    leaves, unflatten = flatten(Pair(A, B))
    assert leaves[0] is A and leaves[1] is B
    assert unflatten([1, 2]) == Pair(1, 2) and type(unflatten([1, 2])) is Pair


def test_none_in_a_tuple_has_no_leaf_and_is_kept():
    leaves, unflatten = flatten((A, None, B))
    assert len(leaves) == 2
    assert unflatten([1, 2]) == (1, None, 2)


def test_tuple_holding_a_tuple_is_walked():
    leaves, unflatten = flatten((A, (B, 3.0)))
    assert len(leaves) == 3
    assert unflatten([1, 2, 3]) == (1, (2, 3))


def test_flat_tuple_of_numpy_scalars_and_arrays_flattens_to_its_items():
    leaves, unflatten = flatten((onp.float64(1.5), A, onp.float32(2.0)))
    assert len(leaves) == 3 and leaves[1] is A
    assert unflatten([1, 2, 3]) == (1, 2, 3)


@pytest.mark.parametrize("inner", [{"w": B}, Pair(A, B), [B]], ids=["dict", "namedtuple", "list"])
def test_a_container_among_arrays_is_walked(inner):
    leaves, unflatten = flatten([A, inner])
    assert len(leaves) == 1 + len(flatten(inner)[0])
    rebuilt = unflatten(list(range(len(leaves))))
    assert type(rebuilt) is list and type(rebuilt[1]) is type(inner)


def test_empty_tuple_has_no_leaves():
    leaves, unflatten = flatten(())
    assert leaves == [] and unflatten([]) == ()


def test_leaf_paths_index_each_item_of_a_flat_tuple():
    assert leaf_paths((A, B, 1.0), "args[0]") == ["args[0][0]", "args[0][1]", "args[0][2]"]


def test_leaf_paths_of_a_leaf_is_the_prefix():
    assert leaf_paths(A, "args[2]") == ["args[2]"]


def test_leaf_paths_skip_none_and_follow_nesting():
    assert leaf_paths((A, None, {"w": B}), "p") == ["p[0]", "p[2]['w']"]


def test_leaf_paths_are_fresh_lists():
    first = leaf_paths((A, B), "q")
    first.append("changed")
    assert leaf_paths((A, B), "q") == ["q[0]", "q[1]"]


def test_tree_map_keeps_a_flat_list_a_list():
    assert tree_map(lambda x: x * 2, [1, 2]) == [2, 4]


def _loss(params):
    w, b = params
    return np.sum(np.tanh(w) ** 2) * np.sum(b ** 3)


def _expected(w, b):
    """d/dw and d/db of sum(tanh(w)^2) * sum(b^3), derived by hand."""
    t = onp.tanh(w)
    return 2 * t * (1 - t ** 2) * onp.sum(b ** 3), onp.sum(t ** 2) * 3 * b ** 2


@pytest.mark.parametrize("kind", [tuple, list, Pair._make])
def test_gradient_of_a_sequence_argument_has_its_type(kind):
    g = pcgrad.grad(_loss)(kind([A, B]))
    assert type(g) is type(kind([A, B]))
    for got, want in zip(g, _expected(A, B)):
        onp.testing.assert_allclose(got, want, rtol=1e-12)


def test_gradients_of_a_tuple_argument_are_not_changed_by_later_calls():
    f = pcgrad.grad(_loss)
    first = f((A, B))
    kept = [g.copy() for g in first]
    f((A + 1.0, B - 1.0))
    for g, k in zip(first, kept):
        onp.testing.assert_array_equal(g, k)


def test_float_leaf_of_a_tuple_gets_a_float_gradient():
    g = pcgrad.grad(lambda p: p[0] ** 2 * np.sum(p[1]))((3.0, B))
    assert onp.ndim(g[0]) == 0 and g[0] == pytest.approx(6.0 * onp.sum(B))
    onp.testing.assert_allclose(g[1], onp.full(2, 9.0))
