"""pcgrad.lax: the conv primitive and the pools against independent references.

The reference convolution is written once, for a numpy-like module, as a sum
of strided slices contracted by einsum (no im2col, no shared code with the
primitive); autograd differentiates it. Central differences check it in turn.
"""
import autograd
import autograd.numpy as anp
import numpy as onp
import pytest

import pcgrad
import pcgrad.lax as lax
import pcgrad.numpy as pnp
from pcgrad.primitives import PRIMITIVES

# (input shape, weight shape, stride, padding, dilation, groups)
CASES = [
    pytest.param((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1, id="valid"),
    pytest.param((2, 4, 7, 6), (6, 2, 3, 2), (2, 1), ((1, 0), (2, 1)), (1, 2), 2,
                 id="stride-pad-dilation-groups"),
    pytest.param((1, 2, 9, 8), (4, 1, 2, 3), (3, 2), ((2, 2), (1, 1)), (2, 1), 2,
                 id="depthwise-strided"),
    pytest.param((3, 1, 5, 5), (2, 1, 1, 1), (2, 2), ((1, 1), (1, 1)), (1, 1), 1, id="1x1"),
]


def reference_conv(np, x, w, stride, padding, dilation, groups):
    """conv as KH * KW strided slices of the padded input, each contracted
    with one kernel tap over the group's channels."""
    batch, channels, height, width = x.shape
    out_channels, cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), mode="constant")
    oh = (height + pt + pb - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (width + pl + pr - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    xg = np.reshape(xp, (batch, groups, cg) + xp.shape[2:])
    wg = np.reshape(w, (groups, out_channels // groups, cg, kh, kw))
    total = 0.0
    for i in range(kh):
        for j in range(kw):
            top, left = i * dilation[0], j * dilation[1]
            window = xg[:, :, :, top:top + stride[0] * (oh - 1) + 1:stride[0],
                        left:left + stride[1] * (ow - 1) + 1:stride[1]]
            total = total + np.einsum("ngchw,goc->ngohw", window, wg[:, :, :, i, j])
    return np.reshape(total, (batch, out_channels, oh, ow))


def random_case(x_shape, w_shape, seed=0):
    rng = onp.random.default_rng(seed)
    return rng.standard_normal(x_shape), rng.standard_normal(w_shape)


def cotangent_for(x, w, params):
    shape = reference_conv(onp, x, w, *params).shape
    return onp.random.default_rng(1).standard_normal(shape)


def loss(np, conv, cotangent):
    """<conv(x, w), cotangent> through a tanh, so the gradient is not linear."""
    return lambda x, w: np.sum(np.tanh(conv(x, w)) * cotangent)


def reference_grads(x, w, params, cotangent):
    f = loss(anp, lambda x, w: reference_conv(anp, x, w, *params), cotangent)
    return autograd.grad(f, (0, 1))(x, w)


def pcgrad_loss(params, cotangent):
    return loss(pnp, lambda x, w: lax.conv(x, w, *params), cotangent)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", CASES)
def test_conv_forward_equals_the_sliced_reference(x_shape, w_shape, stride, padding,
                                                  dilation, groups):
    x, w = random_case(x_shape, w_shape)
    params = (stride, padding, dilation, groups)
    onp.testing.assert_allclose(lax.conv(x, w, *params), reference_conv(onp, x, w, *params),
                                rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("schedule, options, rtol", [
    pytest.param("sweep", {}, 1e-8, id="sweep"),
    pytest.param("jacobi", {}, 1e-8, id="jacobi"),
    pytest.param("euler", {"eta": 0.5, "tol": 1e-13}, 1e-6, id="euler"),
])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups", CASES)
def test_conv_gradient_equals_autograd_on_the_reference(x_shape, w_shape, stride, padding,
                                                        dilation, groups, schedule, options,
                                                        rtol):
    x, w = random_case(x_shape, w_shape)
    params = (stride, padding, dilation, groups)
    cotangent = cotangent_for(x, w, params)
    got = pcgrad.grad(pcgrad_loss(params, cotangent), argnums=(0, 1), schedule=schedule,
                      **options)(x, w)
    for g, r in zip(got, reference_grads(x, w, params, cotangent)):
        onp.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * max(1.0, onp.abs(r).max()))


def test_conv_weight_gradient_equals_central_differences():
    x, w = random_case((2, 4, 7, 6), (6, 2, 3, 2))
    params = ((2, 1), ((1, 0), (2, 1)), (1, 2), 2)
    cotangent = cotangent_for(x, w, params)
    f = loss(onp, lambda x, w: reference_conv(onp, x, w, *params), cotangent)
    _, g = pcgrad.grad(pcgrad_loss(params, cotangent), argnums=(0, 1))(x, w)
    h = 1e-6
    for index in [(0, 0, 0, 0), (3, 1, 2, 1), (5, 0, 1, 0)]:
        step = onp.zeros_like(w)
        step[index] = h
        central = (f(x, w + step) - f(x, w - step)) / (2 * h)
        assert abs(g[index] - central) <= 1e-6 * max(1.0, abs(central))


def test_conv_compiled_replay_equals_the_sweep():
    x, w = random_case((2, 4, 7, 6), (6, 2, 3, 2))
    params = ((2, 1), ((1, 0), (2, 1)), (1, 2), 2)
    cotangent = cotangent_for(x, w, params)
    f = pcgrad_loss(params, cotangent)
    plain = pcgrad.grad(f, argnums=(0, 1))(x, w)
    compiled = pcgrad.jit(pcgrad.grad(f, argnums=(0, 1)))
    compiled(x, w)
    x2, w2 = random_case((2, 4, 7, 6), (6, 2, 3, 2), seed=5)  # replayed, not traced
    for g, r in zip(compiled(x2, w2), pcgrad.grad(f, argnums=(0, 1))(x2, w2)):
        onp.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
    assert not onp.allclose(plain[1], compiled(x2, w2)[1])


def test_conv_strict_estimate_approaches_the_gradient_as_beta_shrinks():
    x, w = random_case((1, 2, 5, 5), (3, 2, 3, 3))
    params = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    cotangent = cotangent_for(x, w, params)
    f = pcgrad_loss(params, cotangent)
    _, exact = pcgrad.grad(f, argnums=(0, 1))(x, w)
    gaps = []
    for beta in (1e-2, 1e-3):
        _, g = pcgrad.grad(f, argnums=(0, 1), schedule="strict", beta=beta, eta=0.2,
                           tol=1e-10, max_iters=5000)(x, w)
        gaps.append(onp.abs(g - exact).max() / onp.abs(exact).max())
    assert gaps[1] < 2e-3
    assert gaps[1] < gaps[0] / 5


@pytest.mark.parametrize("k", [0, 1], ids=["input", "weights"])
def test_conv_vjp_composes_primitives_into_the_error_rule(k):
    x, w = random_case((2, 4, 7, 6), (6, 2, 3, 2))
    params = dict(stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2), groups=2)
    cotangent = cotangent_for(x, w, tuple(params.values()))
    expected = autograd.grad(lambda x, w: anp.sum(reference_conv(
        anp, x, w, *params.values()) * cotangent), k)(x, w)
    vjp = PRIMITIVES["conv"].vjp
    onp.testing.assert_allclose(vjp(k, cotangent, None, x, w, **params), expected,
                                rtol=1e-12, atol=1e-12)


def test_conv_vjp_is_itself_differentiable():
    # d/dw <vjp_x(c; x, w), r>: a derivative of the error rule, traced
    x, w = random_case((1, 2, 6, 6), (4, 1, 3, 3))
    params = dict(stride=(2, 2), padding=((1, 1), (0, 1)), dilation=(1, 1), groups=2)
    cotangent = cotangent_for(x, w, tuple(params.values()))
    r = onp.random.default_rng(2).standard_normal(x.shape)
    vjp = PRIMITIVES["conv"].vjp
    got = pcgrad.grad(lambda w: pnp.sum(vjp(0, cotangent, None, x, w, **params) * r))(w)

    def first(w):
        return autograd.grad(lambda x: anp.sum(reference_conv(
            anp, x, w, *params.values()) * cotangent))(x)
    expected = autograd.grad(lambda w: anp.sum(first(w) * r))(w)
    onp.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_conv_general_dilated_same_padding_follows_jax():
    # jax.lax's SAME: ceil(size / stride) outputs, the padding total split
    # with the odd one at the end. Height 9, stride 2, kernel 3 dilated by 2
    # (extent 5): 5 rows need (5 - 1) * 2 + 5 - 9 = 4 rows of padding, (2, 2).
    # Width 8, stride 3, kernel 2: 3 columns need (3 - 1) * 3 + 2 - 8 = 0.
    x, w = random_case((2, 4, 9, 8), (6, 2, 3, 2))
    for padding, explicit in (("SAME", ((2, 2), (0, 0))), ("VALID", ((0, 0), (0, 0))),
                              (((2, 0), (1, 3)), ((2, 0), (1, 3)))):
        got = lax.conv_general_dilated(x, w, (2, 3), padding, rhs_dilation=(2, 1),
                                       feature_group_count=2)
        expected = reference_conv(onp, x, w, (2, 3), explicit, (2, 1), 2)
        onp.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_conv_same_padding_keeps_the_size_divided_by_the_stride():
    x, w = random_case((1, 1, 9, 10), (1, 1, 4, 3))
    assert lax.conv(x, w, stride=(2, 3), padding="SAME").shape == (1, 1, 5, 4)


# --- pools ----------------------------------------------------------------------------

def reference_pool(np, reduce, x, kernel, stride, padding, fill):
    """A pool as the stack of the window's kernel[0] * kernel[1] strided slices."""
    (pt, pb), (pl, pr) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), mode="constant")
    if fill:
        mask = onp.pad(onp.zeros(x.shape), ((0, 0), (0, 0), (pt, pb), (pl, pr)),
                       constant_values=fill)
        xp = xp + mask
    oh = (xp.shape[2] - kernel[0]) // stride[0] + 1
    ow = (xp.shape[3] - kernel[1]) // stride[1] + 1
    slices = [xp[:, :, i:i + stride[0] * (oh - 1) + 1:stride[0],
                 j:j + stride[1] * (ow - 1) + 1:stride[1]]
              for i in range(kernel[0]) for j in range(kernel[1])]
    return reduce(np.stack(slices), axis=0)


POOLS = [
    pytest.param((2, 2), None, ((0, 0), (0, 0)), id="2x2"),
    pytest.param((3, 2), (2, 1), ((1, 1), (0, 1)), id="strided-padded"),
]


@pytest.mark.parametrize("kernel, stride, padding", POOLS)
@pytest.mark.parametrize("name", ["max", "avg"])
def test_pool_forward_and_gradient_equal_the_stacked_slices(name, kernel, stride, padding):
    x = onp.random.default_rng(0).standard_normal((2, 3, 7, 6))
    pool = lax.max_pool2d if name == "max" else lax.avg_pool2d
    reduce_name, fill = ("max", -onp.inf) if name == "max" else ("mean", 0.0)

    def reference(np):
        return lambda x: reference_pool(np, getattr(np, reduce_name), x, kernel,
                                        stride or kernel, padding, fill)
    y = pool(x, kernel, stride, padding)
    onp.testing.assert_allclose(y, reference(onp)(x), rtol=1e-14)
    cotangent = onp.random.default_rng(1).standard_normal(y.shape)
    got = pcgrad.grad(lambda x: pnp.sum(pool(x, kernel, stride, padding) ** 2 * cotangent))(x)
    expected = autograd.grad(lambda x: anp.sum(reference(anp)(x) ** 2 * cotangent))(x)
    onp.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# --- errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, match", [
    (lambda: lax.conv(onp.ones((3, 5, 5)), onp.ones((1, 3, 2, 2))), ValueError,
     r"expects an input of shape \(batch, channels, height, width\); got shape \(3, 5, 5\)"),
    (lambda: lax.conv(onp.ones((1, 3, 5, 5)), onp.ones((3, 2, 2))), ValueError,
     r"expects weights of shape \(out_channels, channels // groups"),
    (lambda: lax.conv(onp.ones((1, 3, 5, 5)), onp.ones((2, 2, 2, 2))), ValueError,
     r"the input has 3 channels but the weights of shape \(2, 2, 2, 2\) with groups=1 "
     r"expect 2 x 1 = 2"),
    (lambda: lax.conv(onp.ones((1, 4, 5, 5)), onp.ones((3, 2, 2, 2)), groups=2), ValueError,
     r"the 3 output channels .* must divide into groups=2 equal groups"),
    (lambda: lax.conv(onp.ones((1, 1, 4, 4)), onp.ones((1, 1, 3, 3)), dilation=2), ValueError,
     r"the window spans 5 along the height but the padded input has only 4"),
    (lambda: lax.conv(onp.ones((1, 1, 4, 4)), onp.ones((1, 1, 3, 3)), stride=0), ValueError,
     r"stride must be an int or a pair of ints, each at least 1; got 0"),
    (lambda: lax.conv(onp.ones((1, 1, 4, 4)), onp.ones((1, 1, 3, 3)), padding="FULL"),
     ValueError, r"padding must be 'SAME', 'VALID', an int"),
    (lambda: lax.conv(onp.ones((1, 1, 4, 4)), onp.ones((1, 1, 3, 3)), padding=-1),
     ValueError, r"padding must be an int or a pair of ints, each at least 0"),
    (lambda: lax.conv_general_dilated(onp.ones((1, 1, 4, 4)), onp.ones((1, 1, 3, 3)), (1, 1),
                                      "SAME", lhs_dilation=(2, 2)),
     NotImplementedError, r"does not support lhs_dilation"),
    (lambda: lax.conv_general_dilated(onp.ones((1, 1, 4, 4)), onp.ones((1, 1, 3, 3)), (1, 1),
                                      "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")),
     NotImplementedError, r"supports the layouts \('NCHW', 'OIHW', 'NCHW'\) only"),
    (lambda: lax.max_pool2d(onp.ones((1, 1, 4, 4)), 2, padding=2), ValueError,
     r"padding \(\(2, 2\), \(2, 2\)\) is more than half the window"),
    (lambda: lax.avg_pool2d(onp.ones((4, 4)), 2), ValueError,
     r"expects an input of shape \(batch, channels, height, width\); got shape \(4, 4\)"),
])
def test_conv_and_pool_errors_say_what_to_do(call, error, match):
    with pytest.raises(error, match=match):
        call()
