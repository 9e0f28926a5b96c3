"""pcgrad.jit: trace once per signature, replay forward and relaxation in Numba."""
import sys

import autograd
import autograd.numpy as anp
import numpy
import pytest

import pcgrad
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
