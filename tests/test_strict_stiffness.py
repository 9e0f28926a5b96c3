"""Strict relaxation is gradient descent on the free energy F, so it is stable
only for eta < 2 / lambda_max, lambda_max the largest eigenvalue of F's Hessian
at the feed-forward point (where every prediction error is zero).

Layer norm divides by its input's standard deviation: a unit of small variance
feeding a layer norm has a large Jacobian, and so F a large curvature. That is
why strict relaxation of the transformer with small (glorot) embeddings diverged
at eta 0.1 and 0.02 (docs/experiments.md): not a wrong kernel or error rule,
the dynamics. A stable step is then also slow: the smallest curvature is about
1 / lambda_max. lambda_max is computed here independently, with autograd's Hessian
of F written out by hand.
"""
import autograd
import autograd.numpy as anp
import numpy
import pytest

import pcgrad
import pcgrad.numpy as np
from pcgrad import nn

RNG = numpy.random.default_rng(3)
X = RNG.standard_normal((2, 6))
W = [RNG.standard_normal((6, 6)) / numpy.sqrt(6), RNG.standard_normal((6, 6)) / numpy.sqrt(6),
     RNG.standard_normal((6, 3)) / numpy.sqrt(6)]
TARGET = RNG.standard_normal((2, 3))
BETA = 1e-3


def block(w, x, scale):
    """Two relaxed units, h1 = scale x W0 and h2 = layer_norm(h1) W1, and the output h2 W2."""
    h1 = pcgrad.pc_node(scale * (x @ w[0]))
    h2 = pcgrad.pc_node(nn.layer_norm(nn.layer_norm_params(6), h1) @ w[1])
    return pcgrad.pc_node(h2 @ w[2])


def _layer_norm(x):
    centred = x - anp.mean(x, axis=-1, keepdims=True)
    return centred / anp.sqrt(anp.mean(centred ** 2, axis=-1, keepdims=True) + 1e-5)


def largest_curvature(scale):
    """lambda_max of F(h1, h2) = 1/2 |scale x W0 - h1|^2 + 1/2 |layer_norm(h1) W1 - h2|^2
    + beta 1/2 |h2 W2 - target|^2 at the feed-forward values."""
    def energy(v):
        h1, h2 = v[:12].reshape(2, 6), v[12:].reshape(2, 6)
        return (0.5 * anp.sum((scale * (X @ W[0]) - h1) ** 2)
                + 0.5 * anp.sum((_layer_norm(h1) @ W[1] - h2) ** 2)
                + BETA * 0.5 * anp.sum((h2 @ W[2] - TARGET) ** 2))
    h1 = scale * (X @ W[0])
    v = numpy.concatenate([h1.ravel(), (_layer_norm(h1) @ W[1]).ravel()])
    return numpy.linalg.eigvalsh(autograd.hessian(energy)(v))[-1]


def strict(scale, eta, max_iters=None):
    return pcgrad.grad(lambda w, x: block(w, x, scale), target=TARGET, schedule="strict",
                       beta=BETA, eta=eta, max_iters=max_iters, units="marked",
                       return_info=True)(W, X)


def autograd_gradient(scale):
    def loss(w):
        h1 = scale * (X @ w[0])
        return 0.5 * anp.sum((_layer_norm(h1) @ w[1] @ w[2] - TARGET) ** 2)
    return autograd.grad(loss)(W)


def test_strict_converges_below_two_over_the_largest_curvature():
    # (at scale 0.1 it converges too, but needs millions of steps: F's Hessian
    # A^T A, A unit triangular, has its eigenvalues in pairs of product 1, so its
    # condition number is lambda_max^2)
    scale = 1.0
    g, info = strict(scale, 0.6 * 2 / largest_curvature(scale))
    assert info.converged
    exact = autograd_gradient(scale)
    error = (numpy.linalg.norm(numpy.concatenate([numpy.ravel(a - b) for a, b in zip(g, exact)]))
             / numpy.linalg.norm(numpy.concatenate([numpy.ravel(b) for b in exact])))
    assert error < 10 * BETA


@pytest.mark.parametrize("scale", [0.1, 1.0])
def test_strict_diverges_above_two_over_the_largest_curvature(scale):
    eta = 1.4 * 2 / largest_curvature(scale)
    assert eta <= 1.0
    with pytest.raises(pcgrad.ConvergenceError, match="diverged") as caught:
        strict(scale, eta)
    assert caught.value.info.diverged


def test_a_small_variance_input_to_layer_norm_keeps_strict_from_settling_at_the_default_step():
    # the same block, its first unit's standard deviation 10x smaller: lambda_max
    # grows about 100x and the default eta = 0.1 is far past 2 / lambda_max (the
    # layer norm bounds the blow-up, so the values oscillate instead of growing)
    assert 2 / largest_curvature(0.1) < 0.1 < 2 / largest_curvature(1.0)
    assert strict(1.0, 0.1, max_iters=5000)[1].converged
    with pytest.raises(pcgrad.ConvergenceError) as caught:
        strict(0.1, 0.1, max_iters=5000)
    assert caught.value.info.residual[-1] > 1e6 * caught.value.info.threshold


def test_forward_kernels_reproduce_numpy_on_a_pre_norm_attention_block():
    # strict recomputes every prediction with the forward kernels: on the block
    # that would not settle, they give numpy's values (layer norm's mean,
    # variance and sqrt, the einsums, softmax's max, exp and sum)
    from pcgrad.api import _Linearized
    from pcgrad.plan import Plan
    from pcgrad.relax import forward_pass, kernel_addresses
    params = nn.attention_params(numpy.random.default_rng(0), 8)
    x = 0.2 * numpy.random.default_rng(1).standard_normal((2, 5, 8))

    def block(x):
        h = pcgrad.pc_node(x + nn.causal_self_attention(params, nn.layer_norm(
            nn.layer_norm_params(8), x), heads=2))
        return np.sum(np.tanh(h))
    lin = _Linearized(block, (x,), 0, False, keep_values=True)
    plan = Plan(lin.graph, store_all=True)
    traced = plan.values_from(lin.graph)
    recomputed = traced.copy()
    for i in numpy.flatnonzero(plan.table.op != 0):
        o, n = plan.table.voff[i], plan.table.size[i]
        recomputed[o:o + n] = numpy.nan
    forward_pass(plan.table, recomputed, kernel_addresses(plan, "forward"))
    numpy.testing.assert_allclose(recomputed, traced, rtol=1e-12, atol=1e-12)
