"""pcgrad.jit: trace once per signature, replay forward and relaxation in Numba."""
import sys

import autograd
import autograd.numpy as anp
import numpy
import pytest

import pcgrad
import pcgrad.jit  # noqa: F401  (imported on first use; sys.modules["pcgrad.jit"] below)
import pcgrad.numpy as np

rng = numpy.random.default_rng(3)
PARAMS = (rng.standard_normal((5, 4)), rng.standard_normal(4), rng.standard_normal((4, 3)))
X = rng.standard_normal((6, 5))
Y = numpy.eye(3)[rng.integers(0, 3, 6)]


def mlp(np):
    def loss(params, x, y):
        W1, b1, W2 = params
        h = np.tanh(x @ W1 + b1)
        logits = h @ W2
        logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
        return -np.mean(np.sum(y * logp, axis=1))
    return loss


def close(a, b, rtol=1e-10):
    for u, v in zip(pcgrad.pytree.flatten(a)[0], pcgrad.pytree.flatten(b)[0]):
        numpy.testing.assert_allclose(u, v, rtol=rtol, atol=1e-13)


def replays(compiled):
    return len(compiled._replays)


@pytest.mark.parametrize("schedule", ["sweep", "jacobi", "euler"])
def test_compiled_gradient_equals_autograd(schedule):
    fast = pcgrad.jit(pcgrad.grad(mlp(np), schedule=schedule))
    close(fast(PARAMS, X, Y), autograd.grad(mlp(anp))(PARAMS, X, Y), 1e-8)


def test_new_data_of_the_same_signature_replays_without_retracing():
    compiled = pcgrad.jit(pcgrad.grad(mlp(np)))
    compiled(PARAMS, X, Y)
    x2, params2 = X * 2.0 - 1.0, tuple(p * 0.5 for p in PARAMS)
    close(compiled(params2, x2, Y[::-1]), autograd.grad(mlp(anp))(params2, x2, Y[::-1]))
    assert replays(compiled) == 1


def test_a_new_shape_traces_a_new_replay():
    compiled = pcgrad.jit(pcgrad.grad(mlp(np)))
    compiled(PARAMS, X, Y)
    close(compiled(PARAMS, X[:2], Y[:2]), autograd.grad(mlp(anp))(PARAMS, X[:2], Y[:2]))
    assert replays(compiled) == 2


def test_comparisons_are_recomputed_on_replay():
    def f(np):
        return lambda x: np.sum(np.where(x > 0.0, x ** 2, -3.0 * x) + np.maximum(x, 0.5))
    compiled = pcgrad.jit(pcgrad.grad(f(np)))
    a = numpy.array([1.0, -2.0, 0.3])
    compiled(a)
    close(compiled(-a), autograd.grad(f(anp))(-a))


def test_value_and_grad_returns_the_replayed_value():
    compiled = pcgrad.jit(pcgrad.value_and_grad(mlp(np), argnums=(0, 1)))
    compiled(PARAMS, X, Y)
    value, (gp, gx) = compiled(PARAMS, X + 1.0, Y)
    numpy.testing.assert_allclose(value, mlp(numpy)(PARAMS, X + 1.0, Y), rtol=1e-12)
    close(gx, autograd.grad(mlp(anp), 1)(PARAMS, X + 1.0, Y))


def test_strict_schedule_and_targets_compile():
    def net(w, x):
        return np.tanh(x @ w)
    w, x, y = rng.standard_normal((5, 3)), X, rng.standard_normal((6, 3))
    compiled = pcgrad.jit(pcgrad.grad(net, target=y, schedule="strict", beta=1e-3))
    plain = pcgrad.grad(net, target=y, schedule="strict", beta=1e-3)
    close(compiled(w, x), plain(w, x), 1e-9)


def test_strict_replay_recomputes_nodes_without_errors():
    def net(w, x):
        return np.tanh(np.where(x > 0.0, x, 0.1 * x) @ w)
    w, y = rng.standard_normal((5, 3)), rng.standard_normal((6, 3))
    compiled = pcgrad.jit(pcgrad.grad(net, target=y, schedule="strict"))
    compiled(w, X)
    plain = pcgrad.grad(net, target=y, schedule="strict")
    close(compiled(w, -X), plain(w, -X), 1e-9)


def test_float32_and_python_float_arguments_keep_their_types():
    compiled = pcgrad.jit(pcgrad.grad(lambda x, s: np.sum(np.sin(x) * s), argnums=(0, 1)))
    gx, gs = compiled(numpy.ones(3, numpy.float32), 2.0)
    assert gx.dtype == numpy.float32 and isinstance(gs, float)


def test_return_info_reports_the_relaxation():
    compiled = pcgrad.jit(pcgrad.grad(mlp(np), schedule="jacobi", return_info=True))
    g, info = compiled(PARAMS, X, Y)
    assert info.converged and info.iterations == info.depth


def test_value_dependent_control_flow_raises_naming_grad():
    def f(x):
        return np.sum(x) if np.sum(x) > 0 else -np.sum(x)
    with pytest.raises(TypeError, match="pcgrad.grad"):
        pcgrad.jit(pcgrad.grad(f))(numpy.ones(3))


def test_indexing_by_a_traced_mask_raises_naming_grad():
    with pytest.raises(TypeError, match="pcgrad.grad"):
        pcgrad.jit(pcgrad.grad(lambda x: np.sum(x[x > 0])))(numpy.ones(3))


def test_jit_of_a_plain_function_raises_type_error():
    with pytest.raises(TypeError, match="pcgrad.grad"):
        pcgrad.jit(lambda x: x)


def test_jit_with_has_aux_raises_not_implemented():
    with pytest.raises(NotImplementedError, match="has_aux"):
        pcgrad.jit(pcgrad.grad(lambda x: (np.sum(x), 1.0), has_aux=True))


def test_jit_module_docstring_example_runs():
    import doctest
    assert doctest.testmod(sys.modules["pcgrad.jit"]).failed == 0


# --- the signature cache -----------------------------------------------------

jit_module = sys.modules["pcgrad.jit"]


def cubic(np):
    return lambda x: np.sum(x ** 3)


def test_a_repeated_signature_skips_building_its_key(monkeypatch):
    compiled = pcgrad.jit(pcgrad.grad(mlp(np)))
    compiled(PARAMS, X, Y)
    keys = []
    monkeypatch.setattr(jit_module, "_signature",
                        lambda tree, leaves: keys.append(tree) or pytest.fail("key built"))
    close(compiled(PARAMS, X * 2.0, Y), autograd.grad(mlp(anp))(PARAMS, X * 2.0, Y))
    assert keys == []


def test_alternating_shapes_each_get_their_own_replay():
    compiled = pcgrad.jit(pcgrad.grad(cubic(np)))
    for x in (numpy.arange(3.0), numpy.arange(5.0), numpy.arange(3.0) + 1.0, numpy.arange(5.0)):
        close(compiled(x), 3.0 * x ** 2)
    assert replays(compiled) == 2


def test_a_new_dtype_traces_a_new_replay_in_that_dtype():
    compiled = pcgrad.jit(pcgrad.grad(cubic(np)))
    compiled(numpy.arange(3.0))
    g = compiled(numpy.arange(3.0, dtype=numpy.float32))
    assert g.dtype == numpy.float32 and replays(compiled) == 2
    close(g, 3.0 * numpy.arange(3.0) ** 2)


@pytest.mark.parametrize("first, second", [(2.0, numpy.float64(2.0)), (2.0, numpy.array(2.0)),
                                           (numpy.float64(2.0), numpy.float32(2.0))])
def test_python_and_numpy_float_scalars_are_different_signatures(first, second):
    compiled = pcgrad.jit(pcgrad.grad(lambda s, x: np.sum(x * s ** 2), argnums=(0, 1)))
    x = numpy.arange(3.0)
    for s in (first, second):
        gs, gx = compiled(s, x)
        expected = pcgrad.grad(lambda s, x: np.sum(x * s ** 2), argnums=(0, 1))(s, x)
        assert type(gs) is type(expected[0]) and gs.dtype == expected[0].dtype
        close((gs, gx), expected)
    assert replays(compiled) == 2


def test_a_changed_static_argument_retraces():
    compiled = pcgrad.jit(pcgrad.grad(lambda x, n: np.sum(x ** n)))
    x = numpy.arange(1.0, 4.0)
    close(compiled(x, 2), 2.0 * x)
    close(compiled(x, 3), 3.0 * x ** 2)
    close(compiled(x, n=2), 2.0 * x)
    close(compiled(x, n=3), 3.0 * x ** 2)


def test_a_static_array_argument_changed_in_place_retraces():
    compiled = pcgrad.jit(pcgrad.grad(lambda x, picks: np.sum(x[picks] ** 2)))
    x, picks = numpy.arange(1.0, 5.0), numpy.array([0, 1])
    close(compiled(x, picks), numpy.array([2.0, 4.0, 0.0, 0.0]))
    picks[:] = [2, 3]
    close(compiled(x, picks), numpy.array([0.0, 0.0, 6.0, 8.0]))


def test_a_closure_constant_changed_in_place_stays_frozen_as_documented():
    scale = numpy.ones(3)
    compiled = pcgrad.jit(pcgrad.grad(lambda x: np.sum(x * scale)))
    x = numpy.arange(3.0)
    close(compiled(x), numpy.ones(3))
    scale[:] = 5.0
    close(compiled(x), numpy.ones(3))


A4, B4 = rng.standard_normal((5, 4)), rng.standard_normal(4)
BY_POSITION, BY_NAME = (lambda p: (p[0], p[1])), (lambda p: (p["a"], p["b"]))


@pytest.mark.parametrize("first, second, unpack", [
    ((A4, B4), [A4, B4], BY_POSITION),  # a list instead of a tuple
    ({"a": A4, "b": B4}, {"b": B4, "a": A4}, BY_NAME),  # the keys in another order
    ((A4, B4), (A4, B4, numpy.ones(2)), BY_POSITION),  # one more (unused) leaf
])
def test_a_container_of_another_structure_retraces(first, second, unpack):
    def loss(np):
        def f(p, x):
            a, b = unpack(p)
            return np.sum(np.tanh(x @ a) * b)
        return f
    compiled = pcgrad.jit(pcgrad.grad(loss(np)))
    close(compiled(first, X), autograd.grad(loss(anp))(first, X))
    g = compiled(second, X)
    assert type(g) is type(second) and replays(compiled) == 2
    if isinstance(second, dict):
        assert list(g) == list(second)
    close(g, autograd.grad(loss(anp))(second, X))


def test_matching_the_last_signature_is_never_looser_than_its_key():
    trees = [(numpy.ones(3),), (numpy.ones(4),), (numpy.ones(3, numpy.float32),),
             (numpy.ones((3, 1)),), ([numpy.ones(3)],), ((numpy.ones(3),),), (2.0,), (2,),
             (3,), (True,), ("a",), (numpy.float64(2.0),), (numpy.int64(2),),
             ({"a": 1.0, "b": 2.0},), ({"b": 2.0, "a": 1.0},), (None,), (numpy.arange(3),)]
    for tree in trees:
        match = jit_module._matcher(tree)
        for other in trees:
            if match is None:
                continue
            leaves, expected = [], []
            key = jit_module._signature(other, expected)
            if match(other, leaves):
                assert key == jit_module._signature(tree, [])
                assert len(leaves) == len(expected)
                assert all(u is v for u, v in zip(leaves, expected))
            else:
                assert other is not tree


# --- the returned gradients ----------------------------------------------------

def test_returned_gradients_are_not_changed_by_later_calls():
    compiled = pcgrad.jit(pcgrad.grad(mlp(np)))
    first = compiled(PARAMS, X, Y)
    kept = [g.copy() for g in first]
    compiled(tuple(p * 2.0 for p in PARAMS), X, Y)
    close(first, kept, 0.0)
    with_value = pcgrad.jit(pcgrad.value_and_grad(cubic(np)))
    value, g = with_value(numpy.arange(3.0))
    with_value(numpy.arange(3.0) + 7.0)
    assert value == 9.0  # 0 + 1 + 8
    close(g, 3.0 * numpy.arange(3.0) ** 2, 0.0)

