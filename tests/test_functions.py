"""Whole functions: pcgrad's gradient equals autograd's under every schedule.

Each model is written once as ``model(np)`` and instantiated with both
``pcgrad.numpy`` and ``autograd.numpy``, so the two engines differentiate the
same source text.
"""
import autograd
import autograd.numpy as anp
import numpy as onp
import pytest

import pcgrad
import pcgrad.numpy as pnp
from pcgrad.pytree import flatten
from pcgrad.testing import check_grads

SCHEDULES = [
    pytest.param("sweep", {}, 1e-8, id="sweep"),
    pytest.param("jacobi", {}, 1e-8, id="jacobi"),
    pytest.param("euler", {"eta": 0.5, "tol": 1e-13}, 1e-6, id="euler"),
]


def assert_same_gradient(model, args, argnums, schedule, options, rtol):
    """pcgrad (with ``schedule``) and autograd agree on model's gradient at args."""
    got = pcgrad.grad(model(pnp), argnums=argnums, schedule=schedule, **options)(*args)
    if isinstance(argnums, tuple):
        reference = autograd.grad(lambda packed: model(anp)(*[
            packed[argnums.index(i)] if i in argnums else a for i, a in enumerate(args)]))(
            tuple(args[i] for i in argnums))
    else:
        reference = autograd.grad(model(anp), argnums)(*args)
    got_leaves, ref_leaves = flatten(got)[0], flatten(reference)[0]
    assert len(got_leaves) == len(ref_leaves)
    for g, r in zip(got_leaves, ref_leaves):
        assert onp.shape(g) == onp.shape(r)
        scale = max(1.0, float(onp.max(onp.abs(r))))
        onp.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * scale)


def rng():
    return onp.random.default_rng(0)


# --- the models -------------------------------------------------------------------------

def mlp(np):
    def loss(params, x, y):
        W1, b1, W2 = params
        h = np.tanh(x @ W1 + b1)
        logits = h @ W2
        logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
        return -np.mean(np.sum(y * logp, axis=1))
    return loss


def mlp_args():
    r = rng()
    params = (r.standard_normal((4, 8)) * 0.5, r.standard_normal(8) * 0.1,
              r.standard_normal((8, 3)) * 0.5)
    x = r.standard_normal((5, 4))
    y = onp.eye(3)[r.integers(0, 3, 5)]
    return params, x, y


def lstm(np):
    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    def loss(params, xs):
        W, b = params
        hidden = W.shape[1] // 4
        h = np.zeros((xs.shape[1], hidden))
        c = np.zeros((xs.shape[1], hidden))
        for t in range(3):
            gates = np.concatenate([xs[t], h], axis=1) @ W + b  # all four gates, one matmul
            i = sigmoid(gates[:, :hidden])
            f = sigmoid(gates[:, hidden:2 * hidden])
            o = sigmoid(gates[:, 2 * hidden:3 * hidden])
            g = np.tanh(gates[:, 3 * hidden:])
            c = f * c + i * g
            h = o * np.tanh(c)
        return np.sum(h ** 2)
    return loss


def lstm_args():
    r = rng()
    inputs, hidden, batch = 3, 4, 2
    params = (r.standard_normal((inputs + hidden, 4 * hidden)) * 0.5,
              r.standard_normal(4 * hidden) * 0.1)
    xs = r.standard_normal((3, batch, inputs))
    return params, xs


def attention(np):
    def block(params, x):
        Wq, Wk, Wv = params
        q, k, v = x @ Wq, x @ Wk, x @ Wv
        scores = q @ k.T / 2.0
        scores = scores - np.max(scores, axis=1, keepdims=True)
        weights = np.exp(scores)
        weights = weights / np.sum(weights, axis=1, keepdims=True)
        return np.sum(np.tanh(weights @ v))
    return block


def attention_args():
    r = rng()
    params = tuple(r.standard_normal((4, 4)) * 0.7 for _ in range(3))
    return params, r.standard_normal((5, 4))


def layer_norm(np):
    def f(x, params):
        gain, bias = params
        mean = np.mean(x, axis=-1, keepdims=True)
        var = np.mean((x - mean) ** 2, axis=-1, keepdims=True)
        y = (x - mean) / np.sqrt(var + 1e-5) * gain + bias
        return np.sum(np.sin(y))
    return f


def layer_norm_args():
    r = rng()
    return r.standard_normal((3, 6)), (1.0 + 0.1 * r.standard_normal(6), 0.1 * r.standard_normal(6))


def rosenbrock(np):
    def f(x):
        return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    return f


def control_flow(np):
    def f(x):
        if np.sum(x) > 0:
            y = np.sin(x)
        else:
            y = np.cos(x) * x
        while np.max(np.abs(y)) < 10.0:
            y = y * 1.5 + 0.1
        return np.sum(y ** 2)
    return f


def fan_out(np):
    def f(x):
        h = np.tanh(x)
        total = 0.0
        for k in range(50):
            total = total + np.sin(h * (k + 1) / 50.0)
        return np.sum(total)
    return f


def deep_chain(np):
    def f(x):
        for _ in range(5000):
            x = np.sin(x) * 1.0001
        return np.sum(x)
    return f


# --- the tests ------------------------------------------------------------------------

@pytest.mark.parametrize("schedule, options, rtol", SCHEDULES)
def test_mlp_with_softmax_cross_entropy_matches_autograd(schedule, options, rtol):
    assert_same_gradient(mlp, mlp_args(), 0, schedule, options, rtol)


@pytest.mark.parametrize("schedule, options, rtol", SCHEDULES)
def test_lstm_cell_unrolled_three_steps_matches_autograd(schedule, options, rtol):
    params, xs = lstm_args()
    assert_same_gradient(lstm, (params, xs), 0, schedule, options, rtol)


@pytest.mark.parametrize("schedule, options, rtol", SCHEDULES)
def test_attention_block_matches_autograd(schedule, options, rtol):
    assert_same_gradient(attention, attention_args(), (0, 1), schedule, options, rtol)


@pytest.mark.parametrize("schedule, options, rtol", SCHEDULES)
def test_layer_norm_gradient_wrt_input_and_gain_bias_matches_autograd(schedule, options, rtol):
    assert_same_gradient(layer_norm, layer_norm_args(), (0, 1), schedule, options, rtol)


@pytest.mark.parametrize("schedule, options, rtol", SCHEDULES)
def test_rosenbrock_with_slices_matches_autograd(schedule, options, rtol):
    x = onp.array([-1.2, 1.0, 0.5, 0.8, 1.3])
    assert_same_gradient(rosenbrock, (x,), 0, schedule, options, rtol)


def test_rosenbrock_gradient_vanishes_at_its_minimum():
    g = pcgrad.grad(rosenbrock(pnp))(onp.ones(6))
    onp.testing.assert_array_equal(g, onp.zeros(6))


@pytest.mark.parametrize("schedule, options, rtol", SCHEDULES)
@pytest.mark.parametrize("x", [onp.array([0.3, 0.5, -0.1]), onp.array([-0.3, -0.5, 0.1])],
                         ids=["if-branch", "else-branch"])
def test_python_control_flow_on_values_matches_autograd(x, schedule, options, rtol):
    assert_same_gradient(control_flow, (x,), 0, schedule, options, rtol)


@pytest.mark.parametrize("schedule, options, rtol", SCHEDULES)
def test_node_used_fifty_times_sums_its_childrens_errors(schedule, options, rtol):
    assert_same_gradient(fan_out, (onp.array([0.2, -0.4, 0.9]),), 0, schedule, options, rtol)


def test_fanned_out_node_has_fifty_children_in_the_graph():
    graph = pcgrad.trace(fan_out(pnp), onp.array([0.2, -0.4, 0.9]))
    (tanh,) = [n for n, a in graph.nx.nodes(data=True) if a["primitive"] == "tanh"]
    assert graph.nx.out_degree(tanh) == 50


CHAIN_X = onp.array([0.3, -0.7, 1.1])


@pytest.fixture(scope="module")
def chain_reference():
    return autograd.grad(deep_chain(anp))(CHAIN_X)


@pytest.mark.parametrize("schedule", ["sweep", "jacobi"])
def test_depth_ten_thousand_chain_matches_autograd(schedule, chain_reference):
    g, info = pcgrad.grad(deep_chain(pnp), schedule=schedule, return_info=True)(CHAIN_X)
    assert info.depth == 10_001
    onp.testing.assert_allclose(g, chain_reference, rtol=1e-8)


def test_depth_ten_thousand_chain_euler_converges_to_autograd(chain_reference):
    g, info = pcgrad.grad(deep_chain(pnp), schedule="euler", eta=0.9, tol=1e-14,
                          return_info=True)(CHAIN_X)
    assert info.converged
    onp.testing.assert_allclose(g, chain_reference, rtol=1e-6)


def test_depth_ten_thousand_chain_traces_without_recursion():
    graph = pcgrad.trace(deep_chain(pnp), CHAIN_X)
    assert graph.depth == 10_001


def test_check_grads_accepts_mlp_params_pytree():
    check_grads(mlp(pnp), *mlp_args(), argnums=0)


def test_check_grads_accepts_lstm():
    check_grads(lstm(pnp), *lstm_args())


def test_check_grads_accepts_layer_norm_both_arguments():
    check_grads(layer_norm(pnp), *layer_norm_args(), argnums=(0, 1))


def test_check_grads_accepts_rosenbrock():
    check_grads(rosenbrock(pnp), onp.array([-1.2, 1.0, 0.5, 0.8]))


def test_check_grads_rejects_a_wrong_gradient():
    def sneaky(x):  # stop_gradient hides a dependence that finite differences see
        return pnp.sum(pnp.sin(x) * pnp.stop_gradient(x))
    with pytest.raises(AssertionError, match="check_grads"):
        check_grads(sneaky, onp.array([0.3, 1.2]), schedules=("sweep",))
