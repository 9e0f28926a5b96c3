"""pcgrad.nn layers and losses against independent autograd implementations,
and pcgrad.optim.momentum against its recursion solved in closed form."""
import autograd
import autograd.numpy as anp
import numpy
import pytest

import pcgrad
import pcgrad.numpy as np
from pcgrad import nn, optim

RNG = numpy.random.default_rng(7)


def check(f, reference, params, *args, atol=1e-10):
    """f (pcgrad.nn) and reference (autograd.numpy) agree in value and in the
    gradient with respect to params."""
    value, grads = pcgrad.value_and_grad(f)(params, *args)
    expected_value, expected = autograd.value_and_grad(reference)(params, *args)
    assert numpy.isclose(value, expected_value, rtol=1e-12, atol=1e-12)
    got, _ = pcgrad.pytree.flatten(grads)
    want, _ = pcgrad.pytree.flatten(expected)
    for g, w in zip(got, want):
        numpy.testing.assert_allclose(g, w, rtol=1e-9, atol=atol)


def weighted(shape):
    """A fixed weighting that makes every output element matter to the scalar loss."""
    return numpy.random.default_rng(1).standard_normal(shape)


def test_dense_matches_autograd():
    params, x = nn.dense_params(RNG, 4, 3), RNG.standard_normal((5, 4))
    params["b"] = RNG.standard_normal(3)
    c = weighted((5, 3))
    check(lambda p, x: np.sum(c * np.tanh(nn.dense(p, x))),
          lambda p, x: anp.sum(c * anp.tanh(x @ p["W"] + p["b"])), params, x)


def reference_conv(x, w, stride, padding):
    """Direct cross-correlation: a loop over output positions."""
    if padding:
        x = anp.concatenate([anp.zeros(x.shape[:2] + (padding, x.shape[3])), x,
                             anp.zeros(x.shape[:2] + (padding, x.shape[3]))], axis=2)
        x = anp.concatenate([anp.zeros(x.shape[:3] + (padding,)), x,
                             anp.zeros(x.shape[:3] + (padding,))], axis=3)
    k = w.shape[2]
    rows = []
    for i in range(0, x.shape[2] - k + 1, stride):
        cols = []
        for j in range(0, x.shape[3] - k + 1, stride):
            patch = x[:, :, i:i + k, j:j + k]
            cols.append(anp.einsum("bchw,ochw->bo", patch, w))
        rows.append(anp.stack(cols, axis=-1))
    return anp.stack(rows, axis=-2)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_conv2d_matches_a_direct_convolution_under_autograd(stride, padding):
    params, x = nn.conv2d_params(RNG, 2, 3, 3), RNG.standard_normal((2, 2, 6, 7))
    params["b"] = RNG.standard_normal(3)
    out_shape = reference_conv(x, params["W"], stride, padding).shape
    c = weighted(out_shape)
    check(lambda p, x: np.sum(c * nn.conv2d(p, x, stride, padding)),
          lambda p, x: anp.sum(c * (reference_conv(x, p["W"], stride, padding)
                                    + p["b"][None, :, None, None])), params, x)


@pytest.mark.parametrize("size, stride", [(2, None), (3, 2)])
def test_max_pool2d_matches_autograd(size, stride):
    x = RNG.standard_normal((2, 3, 7, 7))
    step = stride or size
    side = (7 - size) // step + 1
    c = weighted((2, 3, side, side))

    def reference(x):
        rows = [anp.stack([anp.max(x[:, :, i:i + size, j:j + size], axis=(2, 3))
                           for j in range(0, step * side, step)], axis=-1)
                for i in range(0, step * side, step)]
        return anp.sum(c * anp.stack(rows, axis=-2))

    check(lambda x: np.sum(c * nn.max_pool2d(x, size, stride)), reference, x)


def test_avg_pool2d_matches_autograd():
    x, c = RNG.standard_normal((2, 3, 6, 6)), weighted((2, 3, 3, 3))
    check(lambda x: np.sum(c * nn.avg_pool2d(x)),
          lambda x: anp.sum(c * anp.mean(anp.reshape(x, (2, 3, 3, 2, 3, 2)), axis=(3, 5))), x)


def test_lstm_cell_over_a_sequence_matches_autograd():
    params = nn.lstm_params(RNG, 3, 4)
    xs, h0 = RNG.standard_normal((5, 2, 3)), RNG.standard_normal((2, 4))
    c = weighted((2, 4))

    def model(p, xs, layer, tanh, sigmoid):
        h, cell = h0, numpy.zeros((2, 4))
        for x in xs:
            h, cell = layer(p, x, (h, cell), tanh, sigmoid)
        return h

    def ours(p, x, state, tanh, sigmoid):
        return nn.lstm_cell(p, x, state)

    def reference(p, x, state, tanh, sigmoid):
        h, cell = state
        z = x @ p["Wx"] + h @ p["Wh"] + p["b"]
        i, f, g, o = (z[:, k * 4:(k + 1) * 4] for k in range(4))
        cell = sigmoid(f) * cell + sigmoid(i) * tanh(g)
        return sigmoid(o) * tanh(cell), cell

    check(lambda p, xs: np.sum(c * model(p, xs, ours, None, None)),
          lambda p, xs: anp.sum(c * model(p, xs, reference, anp.tanh,
                                          lambda z: 1 / (1 + anp.exp(-z)))), params, xs)


def test_embedding_matches_autograd():
    params, ids = nn.embedding_params(RNG, 6, 3), numpy.array([[0, 5, 5], [2, 0, 1]])
    c = weighted((2, 3, 3))
    check(lambda p: np.sum(c * nn.embedding(p, ids) ** 2),
          lambda p: anp.sum(c * p["table"][ids] ** 2), params)


def test_layer_norm_matches_autograd():
    params, x = nn.layer_norm_params(5), RNG.standard_normal((3, 5))
    params = {"scale": RNG.standard_normal(5), "shift": RNG.standard_normal(5)}
    c = weighted((3, 5))

    def reference(p, x):
        mean = anp.mean(x, axis=-1, keepdims=True)
        var = anp.var(x, axis=-1, keepdims=True)
        return anp.sum(c * ((x - mean) / anp.sqrt(var + 1e-5) * p["scale"] + p["shift"]))

    check(lambda p, x: np.sum(c * nn.layer_norm(p, x)), reference, params, x)


def reference_attention(p, x, heads):
    """Causal attention head by head, query by query (no mask: slices up to t)."""
    batch, time, size = x.shape
    d = size // heads
    q, k, v = x @ p["Wq"], x @ p["Wk"], x @ p["Wv"]
    outputs = []
    for t in range(time):
        per_head = []
        for h in range(heads):
            cols = slice(h * d, (h + 1) * d)
            scores = anp.einsum("bd,bsd->bs", q[:, t, cols], k[:, :t + 1, cols]) / numpy.sqrt(d)
            weights = anp.exp(scores - anp.max(scores, axis=1, keepdims=True))
            weights = weights / anp.sum(weights, axis=1, keepdims=True)
            per_head.append(anp.einsum("bs,bsd->bd", weights, v[:, :t + 1, cols]))
        outputs.append(anp.concatenate(per_head, axis=1))
    return anp.stack(outputs, axis=1) @ p["Wo"]


def test_causal_self_attention_matches_autograd():
    params, x = nn.attention_params(RNG, 6), RNG.standard_normal((2, 4, 6))
    c = weighted((2, 4, 6))
    check(lambda p, x: np.sum(c * nn.causal_self_attention(p, x, heads=3)),
          lambda p, x: anp.sum(c * reference_attention(p, x, 3)), params, x)


def test_causal_self_attention_ignores_the_future():
    params, x = nn.attention_params(RNG, 4), RNG.standard_normal((1, 5, 4))
    changed = x.copy()
    changed[:, 3:] += 10.0
    numpy.testing.assert_allclose(nn.causal_self_attention(params, x, 2)[:, :3],
                                  nn.causal_self_attention(params, changed, 2)[:, :3],
                                  rtol=1e-12, atol=1e-12)


def test_softmax_cross_entropy_matches_autograd():
    logits, labels = RNG.standard_normal((4, 3, 5)), RNG.integers(0, 5, (4, 3))

    def reference(z):
        logp = z - anp.log(anp.sum(anp.exp(z), axis=-1, keepdims=True))
        return -anp.mean(anp.sum(logp * numpy.eye(5)[labels], axis=-1))

    check(lambda z: nn.softmax_cross_entropy(z, labels), reference, logits)


def test_mse_matches_autograd():
    predictions, targets = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    check(lambda p: nn.mse(p, targets),
          lambda p: 0.5 * anp.mean(anp.sum((p - targets) ** 2, axis=1)), predictions)


def test_initialisers_have_their_variances():
    rng = numpy.random.default_rng(0)
    assert numpy.isclose(nn.glorot(rng, (400, 600)).var(), 2 / 1000, rtol=0.02)
    assert numpy.isclose(nn.he(rng, (64, 32, 3, 3)).var(), 2 / (32 * 9), rtol=0.02)
    assert numpy.isclose(nn.normal(rng, (500, 500), std=0.5).std(), 0.5, rtol=0.01)


def test_initialisers_are_reproducible_from_the_generator():
    a = nn.dense_params(numpy.random.default_rng(3), 4, 5)
    b = nn.dense_params(numpy.random.default_rng(3), 4, 5)
    numpy.testing.assert_array_equal(a["W"], b["W"])


def test_conv2d_rejects_mismatched_channels():
    with pytest.raises(ValueError, match="the input has 2 channels but the weights of shape"):
        nn.conv2d(nn.conv2d_params(RNG, 3, 4, 3), numpy.ones((1, 2, 5, 5)))


def test_pooling_rejects_a_window_larger_than_the_input():
    with pytest.raises(ValueError, match="the window spans 3 along the .* but the padded input has only 2"):
        nn.max_pool2d(numpy.ones((1, 1, 2, 2)), size=3)


def test_attention_rejects_heads_that_do_not_divide_the_size():
    with pytest.raises(ValueError, match="choose a number of heads that divides it"):
        nn.causal_self_attention(nn.attention_params(RNG, 6), numpy.ones((1, 2, 6)), heads=4)


def test_momentum_follows_the_heavy_ball_recursion_on_a_quadratic():
    # f(p) = a p^2 / 2: (p, v) evolves by the matrix [[1 - lr a mu... ]] below,
    # from v' = mu v + a p and p' = p - lr v'.
    a, lr, mu, steps = 3.0, 0.05, 0.8, 25
    matrix = numpy.array([[1 - lr * a, -lr * mu], [a, mu]])
    expected = numpy.linalg.matrix_power(matrix, steps) @ numpy.array([1.0, 0.0])
    opt = optim.momentum(lr, mu)
    p, state = numpy.array([1.0]), opt.init(numpy.array([1.0]))
    for _ in range(steps):
        p, state = opt.step(p, a * p, state)
    assert numpy.isclose(p[0], expected[0], rtol=1e-12)


def test_nesterov_follows_its_recursion_on_a_quadratic():
    # v' = mu v + a p, p' = p - lr (a p + mu v')
    a, lr, mu, steps = 3.0, 0.05, 0.8, 25
    matrix = numpy.array([[1 - lr * a - lr * mu * a, -lr * mu * mu], [a, mu]])
    expected = numpy.linalg.matrix_power(matrix, steps) @ numpy.array([1.0, 0.0])
    opt = optim.momentum(lr, mu, nesterov=True)
    p, state = numpy.array([1.0]), opt.init(numpy.array([1.0]))
    for _ in range(steps):
        p, state = opt.step(p, a * p, state)
    assert numpy.isclose(p[0], expected[0], rtol=1e-12)


def test_momentum_rejects_mu_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"momentum mu must be in \[0, 1\)"):
        optim.momentum(0.1, mu=1.0)
