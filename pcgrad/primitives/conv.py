"""Two-dimensional convolution (NCHW input, OIHW weights) and pooling windows.

``conv`` computes, for every image n and group g,

    y[n, g] = W_g @ im2col(x[n, g])        W_g: (O/G, C/G * KH * KW)

where im2col lays each receptive field (stride, padding, dilation) out as a
column; the product calls BLAS dgemm (kernels.gemm). Its error rule is the
transposed operation: the input's error is col2im(W_g^T e) (a transposed
convolution) and the weights' error is e @ im2col(x)^T. Padding may be
negative here (a crop), which the transposed convolution of ``vjp`` needs;
pcgrad.lax accepts only the usual non-negative padding.

``windows`` is a gather (see structural.py): each pooling window's elements
side by side on a last axis, so that pooling is a max or mean over it.
"""
import math

import numpy as np

from ..kernels import blas_dgemm, helper, kernel
from .core import CONV, error_of, family, fill, parent, register, sends, value_of
from .linalg import product
from .structural import register_gather

# Positions in a conv node's integer parameters (its op-table row).
N, C, H, W, O, KH, KW, OH, OW, SH, SW, PT, PL, DH, DW, G, DGEMM = range(17)


def output_size(size, kernel_size, stride, pads, dilation):
    """Output length along one axis: the padded length less the dilated
    kernel's extent, in strides, plus one."""
    return (size + pads[0] + pads[1] - dilation * (kernel_size - 1) - 1) // stride + 1


def conv_shape(x_shape, w_shape, stride, padding, dilation):
    """The shape of conv(x, w) for these parameters."""
    return (x_shape[0], w_shape[0]) + tuple(
        output_size(x_shape[2 + a], w_shape[2 + a], stride[a], padding[a], dilation[a])
        for a in range(2))


def _crop_pad(x, padding, fill=0):
    """x padded by ``padding`` ((top, bottom), (left, right)) on its last two
    axes; a negative width crops."""
    crop = tuple(slice(max(-lo, 0), x.shape[2 + a] - max(-hi, 0))
                 for a, (lo, hi) in enumerate(padding))
    x = x[:, :, crop[0], crop[1]]
    width = ((0, 0), (0, 0)) + tuple((max(lo, 0), max(hi, 0)) for lo, hi in padding)
    return np.pad(x, width, constant_values=fill) if any(map(any, width)) else x


def _conv(x, w, stride, padding, dilation, groups):
    """numpy forward: im2col as a strided view, one matrix product per group."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    batch, out_channels = x.shape[0], w.shape[0]
    cg, kh, kw = w.shape[1:]
    oh, ow = conv_shape(x.shape, w.shape, stride, padding, dilation)[2:]
    xp = _crop_pad(x, padding)
    sn, sc, sh, sw = xp.strides
    fields = np.lib.stride_tricks.as_strided(
        xp, (batch, groups, cg, kh, kw, oh, ow),
        (sn, cg * sc, sc, dilation[0] * sh, dilation[1] * sw, stride[0] * sh, stride[1] * sw),
        writeable=False)
    columns = fields.transpose(1, 2, 3, 4, 0, 5, 6).reshape(groups, cg * kh * kw, -1)
    y = w.reshape(groups, out_channels // groups, -1) @ columns
    return np.ascontiguousarray(
        y.reshape(out_channels, batch, oh, ow).transpose(1, 0, 2, 3))


def _lower_conv(params, in_shapes, out_shape):
    (n, c, h, w), (o, _, kh, kw) = in_shapes
    (sh, sw), ((pt, _), (pl, _)), (dh, dw) = (params["stride"], params["padding"],
                                              params["dilation"])
    return 0, np.array([n, c, h, w, o, kh, kw, out_shape[2], out_shape[3], sh, sw, pt, pl, dh,
                        dw, params["groups"], blas_dgemm()], np.int64)


@helper
def _im2col(p, x, col):
    """col (Cg * KH * KW rows of OH * OW) = the receptive fields of one
    image's group of channels ``x`` (zeros where they overhang)."""
    oh_, ow_, h_, w_ = p[OH], p[OW], p[H], p[W]
    cg = p[C] // p[G]
    r = 0
    for c in range(cg):
        for ki in range(p[KH]):
            for kj in range(p[KW]):
                for oh in range(oh_):
                    row = col[(r * oh_ + oh) * ow_:(r * oh_ + oh + 1) * ow_]
                    ih = oh * p[SH] - p[PT] + ki * p[DH]
                    if ih < 0 or ih >= h_:
                        fill(row, 0.0)
                        continue
                    source = x[(c * h_ + ih) * w_:(c * h_ + ih + 1) * w_]
                    iw = kj * p[DW] - p[PL]
                    for ow in range(ow_):
                        row[ow] = source[iw] if 0 <= iw < w_ else 0.0
                        iw += p[SW]
                r += 1


@helper
def _col2im(p, col, gx):
    """gx (one image's group of channels) += the columns ``col`` summed back
    onto the elements they were read from (the transpose of _im2col)."""
    oh_, ow_, h_, w_ = p[OH], p[OW], p[H], p[W]
    cg = p[C] // p[G]
    r = 0
    for c in range(cg):
        for ki in range(p[KH]):
            for kj in range(p[KW]):
                for oh in range(oh_):
                    ih = oh * p[SH] - p[PT] + ki * p[DH]
                    if ih < 0 or ih >= h_:
                        continue
                    row = col[(r * oh_ + oh) * ow_:(r * oh_ + oh + 1) * ow_]
                    target = gx[(c * h_ + ih) * w_:(c * h_ + ih + 1) * w_]
                    iw = kj * p[DW] - p[PL]
                    for ow in range(ow_):
                        if 0 <= iw < w_:
                            target[iw] += row[ow]
                        iw += p[SW]
                r += 1


@kernel
def conv_forward(t, j, value, out):
    p = t.ints[t.iptr[j]:t.iptr[j + 1]]
    x = value_of(t, value, parent(t, j, 0))
    w = value_of(t, value, parent(t, j, 1))
    cg, og = p[C] // p[G], p[O] // p[G]
    k, area, image = cg * p[KH] * p[KW], p[OH] * p[OW], p[H] * p[W]
    col = np.empty(k * area)
    for n in range(p[N]):
        for g in range(p[G]):
            _im2col(p, x[(n * p[C] + g * cg) * image:], col)
            product(p[DGEMM], False, False, og, area, k, w[g * og * k:], col,
                    out[(n * p[O] + g * og) * area:], 0.0)


# eps_x += col2im(W_g^T e),  eps_W_g += e im2col(x)^T,  per image and group.
@kernel
def conv_vjp(t, j, value, prediction, e, acc):
    p = t.ints[t.iptr[j]:t.iptr[j + 1]]
    to_x, to_w = sends(t, j, 0), sends(t, j, 1)
    cg, og = p[C] // p[G], p[O] // p[G]
    k, area, image = cg * p[KH] * p[KW], p[OH] * p[OW], p[H] * p[W]
    col = np.empty(k * area)
    for n in range(p[N]):
        for g in range(p[G]):
            eg = e[(n * p[O] + g * og) * area:]
            if to_w:
                x = value_of(t, value, parent(t, j, 0))
                _im2col(p, x[(n * p[C] + g * cg) * image:], col)
                product(p[DGEMM], False, True, og, k, area, eg, col,
                        error_of(t, acc, parent(t, j, 1))[g * og * k:], 1.0)
            if to_x:
                w = value_of(t, value, parent(t, j, 1))
                product(p[DGEMM], True, False, k, area, og, w[g * og * k:], eg, col, 0.0)
                _col2im(p, col, error_of(t, acc, parent(t, j, 0))[(n * p[C] + g * cg) * image:])


def _conv_vjp(k, g, y, x, w, stride, padding, dilation, groups):
    """The error rule with pcgrad primitives: the transposed convolutions."""
    from .. import numpy as pnp  # pcgrad.numpy is built on these primitives
    batch, channels, height, width = x.shape
    out_channels, cg, kh, kw = w.shape
    og = out_channels // groups
    if k == 0:
        # eps_x = e, spread by the stride, correlated with the flipped,
        # transposed kernels (a full convolution cropped back to x's size)
        spread = g
        if stride != (1, 1):
            oh, ow = g.shape[2:]
            spread = pnp.reshape(g, (batch, out_channels, oh, 1, ow, 1))
            spread = pnp.pad(spread, ((0, 0),) * 3 + ((0, stride[0] - 1), (0, 0),
                                                      (0, stride[1] - 1)))
            spread = pnp.reshape(spread, (batch, out_channels, oh * stride[0], ow * stride[1]))
            spread = spread[:, :, :(oh - 1) * stride[0] + 1, :(ow - 1) * stride[1] + 1]
        kernels = pnp.reshape(w, (groups, og, cg, kh, kw))
        kernels = pnp.reshape(pnp.transpose(kernels, (0, 2, 1, 3, 4)),
                              (channels, og, kh, kw))
        kernels = pnp.flip(kernels, (2, 3))
        size = (height, width)
        pads = tuple(((kernel - 1) * dilation[a] - padding[a][0],
                      size[a] - 1 + padding[a][0] - (spread.shape[2 + a] - 1))
                     for a, kernel in enumerate((kh, kw)))
        return CONV_PRIMITIVE(spread, kernels, stride=(1, 1), padding=pads,
                              dilation=dilation, groups=groups)
    # eps_W[o, c] = sum_n e[n, o] (x) x[n, c]: a convolution over the batch,
    # with the roles of stride and dilation swapped, cropped to the kernel
    images = pnp.reshape(x, (batch, groups, cg, height, width))
    images = pnp.reshape(pnp.transpose(images, (2, 1, 0, 3, 4)),
                         (cg, groups * batch, height, width))
    errors = pnp.transpose(g, (1, 0, 2, 3))
    full = CONV_PRIMITIVE(images, errors, stride=dilation, padding=padding, dilation=stride,
                          groups=groups)
    return pnp.transpose(full, (1, 0, 2, 3))[:, :, :kh, :kw]


family(CONV, lambda code: conv_vjp, lambda code: conv_forward, names={0: "conv"})
CONV_PRIMITIVE = register("conv", CONV, _conv, _lower_conv, reads_inputs="others",
                          vjp=_conv_vjp)


def _windows(x, kernel, stride, padding, fill=0):
    """(N, C, OH, OW, KH * KW): each pooling window of x's last two axes
    (padded with ``fill``) laid out along a new last axis."""
    x = _crop_pad(np.asarray(x), padding, fill)
    fields = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(2, 3))
    fields = fields[:, :, ::stride[0], ::stride[1]]
    return np.ascontiguousarray(fields).reshape(fields.shape[:4] + (math.prod(kernel),))


register_gather("windows", _windows,
                lambda x, kernel, stride, padding: _windows(x, kernel, stride, padding, -1))
