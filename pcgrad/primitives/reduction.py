"""Reductions over axes: sum, max/min, prod, and the cumulative sum.

sum, max, min and prod share one op-table row layout: a map from each input
element to the output element it reduces into (computed by broadcasting the
output's flat indices back over the input's shape). A sum of every element
has an empty row instead: its map would be all zeros, as large as the input.
"""
import math

import numpy as np

from ..kernels import kernel
from .core import (CUMSUM, EXTREMUM, PROD, SCATTER, broadcast_map, error_of, family, fill,
                   parent, register, sends, tnp, value_of, view)


def _reduction_lowering(code, whole=False):
    """The lowering of a reduction: the map of each input element to its
    output element; with ``whole``, an empty row for a reduction to one element."""
    def lower(params, in_shapes, out_shape):
        shape, axis = in_shapes[0], params["axis"]
        if whole and math.prod(out_shape) == 1:
            return code, np.zeros(0, np.int64)
        axes = range(len(shape)) if axis is None else \
            [a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))]
        kept = tuple(1 if d in axes else n for d, n in enumerate(shape))
        return code, broadcast_map(kept, shape)
    return lower


def _kept_shape(shape, axis):
    """The shape of a reduction over ``axis`` with keepdims."""
    return tuple(1 if axis is None or d in axis else n for d, n in enumerate(shape))


def _spread(g, x, axis):
    """The reduced error g back over the elements of x it reduces."""
    return tnp.broadcast_to(tnp.reshape(g, _kept_shape(np.shape(x), axis)), np.shape(x))


def _index(t, j):
    return t.ints[t.iptr[j]:t.iptr[j + 1]]


# --- sum ---------------------------------------------------------------------
@kernel
def scatter_forward(t, j, value, out):
    p, i0 = t.par[t.pptr[j]], t.iptr[j]
    x = view(value, t.voff[p], t.size[p])
    index = view(t.ints, i0, t.iptr[j + 1] - i0)
    for i in range(out.size):
        out[i] = 0.0
    if index.size != x.size:  # the empty row: a sum of every element
        total = 0.0
        for i in range(x.size):
            total += x[i]
        out[0] = total
        return
    for i in range(x.size):
        out[index[i]] += x[i]


# eps_x[i] += eps_y[map(i)]
@kernel
def scatter_vjp(t, j, value, prediction, e, acc):
    if not sends(t, j, 0):
        return
    index = t.ints[t.iptr[j]:t.iptr[j + 1]]
    g = error_of(t, acc, parent(t, j, 0))
    if index.size != g.size:  # the empty row: every element reduces into one
        for i in range(g.size):
            g[i] += e[0]
        return
    for i in range(g.size):
        g[i] += e[index[i]]


def _sum(x, axis, keepdims):
    """numpy.sum. numpy sums a short last axis slowly (one pairwise sum per
    row; 2x2 mean-pooling spends most of its time there), so when the last
    axis is reduced and some other axis is kept, einsum adds the array up in
    a single pass instead."""
    x = np.asarray(x)
    if (x.size < 4096 or axis is None or x.ndim - 1 not in axis or len(set(axis)) == x.ndim
            or x.dtype.kind != "f" or x.ndim > 26):
        return np.add.reduce(x, axis=axis, keepdims=keepdims)  # np.sum without its wrapper
    labels = "abcdefghijklmnopqrstuvwxyz"[:x.ndim]
    kept = "".join(l for d, l in enumerate(labels) if d not in axis)
    out = np.einsum(f"{labels}->{kept}", x)
    if keepdims:
        out = out.reshape([1 if d in axis else n for d, n in enumerate(x.shape)])
    return out


family(SCATTER, lambda code: scatter_vjp, lambda code: scatter_forward)
register("sum", SCATTER, _sum, _reduction_lowering(0, whole=True),
         vjp=lambda k, g, y, x, axis, keepdims: _spread(g, x, axis))


# scatter_add: element i of x added into flat element targets[i] of a zero
# array of ``shape``: the error rule of a gather, recorded as a primitive
def _scatter_add(x, targets, shape):
    out = np.zeros(math.prod(shape), np.asarray(x).dtype)
    np.add.at(out, targets, np.ravel(x))
    return out.reshape(shape)


SCATTER_ADD = register("scatter_add", SCATTER, _scatter_add,
         lambda params, in_shapes, out_shape: (0, np.asarray(params["targets"], np.int64)),
         vjp=lambda k, g, y, x, targets, shape: tnp.reshape(
             tnp.take(tnp.ravel(g), targets), np.shape(x)))


# --- max and min (code 0, 1) ---------------------------------------------------
@kernel
def extremum_forward(t, j, value, out):
    x = value_of(t, value, parent(t, j, 0))
    index = t.ints[t.iptr[j]:t.iptr[j + 1]]
    sign = 1.0 if t.code[j] == 0 else -1.0
    fill(out, -sign * math.inf)
    for i in range(x.size):
        m = index[i]
        if x[i] != x[i] or sign * x[i] > sign * out[m]:
            out[m] = x[i]
        if out[m] != out[m]:
            out[m] = math.nan


# ties share the error equally: eps_x[i] += [x_i == y_m] eps_y[m] / #ties(m)
@kernel
def extremum_vjp(t, j, value, prediction, e, acc):
    if not sends(t, j, 0):
        return
    x = value_of(t, value, parent(t, j, 0))
    y = value_of(t, prediction, j)
    index = t.ints[t.iptr[j]:t.iptr[j + 1]]
    ties = np.zeros(y.size)
    for i in range(x.size):
        if x[i] == y[index[i]]:
            ties[index[i]] += 1.0
    g = error_of(t, acc, parent(t, j, 0))
    for i in range(x.size):
        m = index[i]
        if x[i] == y[m]:
            g[i] += e[m] / ties[m]


family(EXTREMUM, lambda code: extremum_vjp, lambda code: extremum_forward, (0, 1))
def _extremum_vjp(k, g, y, x, axis, keepdims):
    winner = tnp.where(x == _spread(y, x, axis), 1.0, 0.0)
    ties = tnp.sum(winner, axis=axis, keepdims=True)
    return _spread(g, x, axis) * winner / ties


register("max", EXTREMUM, lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
         _reduction_lowering(0), reads_inputs=True, reads_output=True, vjp=_extremum_vjp)
register("min", EXTREMUM, lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
         _reduction_lowering(1), reads_inputs=True, reads_output=True, vjp=_extremum_vjp)


# --- prod ----------------------------------------------------------------------
@kernel
def prod_forward(t, j, value, out):
    x = value_of(t, value, parent(t, j, 0))
    index = t.ints[t.iptr[j]:t.iptr[j + 1]]
    fill(out, 1.0)
    for i in range(x.size):
        out[index[i]] *= x[i]


# eps_x[i] += (product of the other elements of i's group) eps_y[m],
# computed from zero counts so that zeros in x are exact.
@kernel
def prod_vjp(t, j, value, prediction, e, acc):
    if not sends(t, j, 0):
        return
    x = value_of(t, value, parent(t, j, 0))
    index = t.ints[t.iptr[j]:t.iptr[j + 1]]
    zeros = np.zeros(e.size)
    nonzero_product = np.ones(e.size)
    for i in range(x.size):
        if x[i] == 0.0:
            zeros[index[i]] += 1.0
        else:
            nonzero_product[index[i]] *= x[i]
    g = error_of(t, acc, parent(t, j, 0))
    for i in range(x.size):
        m = index[i]
        if zeros[m] == 0.0:
            g[i] += e[m] * nonzero_product[m] / x[i]
        elif zeros[m] == 1.0 and x[i] == 0.0:
            g[i] += e[m] * nonzero_product[m]


def _prod_vjp(k, g, y, x, axis, keepdims):
    return _spread(g, x, axis) * _others_product(x, axis)


def _others_product(x, axis):
    """The product of the other elements of each element's group: prefix
    times suffix products, each a scan of multiplications, so that it is
    exact where elements are zero, at every order of derivative."""
    nd = np.ndim(x)
    reduced = tuple(range(nd)) if axis is None else tuple(axis)
    order = [d for d in range(nd) if d not in reduced] + list(reduced)
    moved = tnp.transpose(x, order)
    n = math.prod(np.shape(moved)[nd - len(reduced):])
    if n <= 1:
        return np.ones(np.shape(x))
    rows = tnp.reshape(moved, np.shape(moved)[:nd - len(reduced)] + (n,))

    def before(r):  # the product of the elements before each (Hillis-Steele scan)
        ones = np.ones(np.shape(r)[:-1] + (1,))
        scan, shift = tnp.concatenate([ones, r[..., :-1]], axis=-1), 1
        while shift < n:
            ones = np.ones(np.shape(r)[:-1] + (shift,))
            scan = scan * tnp.concatenate([ones, scan[..., :-shift]], axis=-1)
            shift *= 2
        return scan
    others = before(rows) * tnp.flip(before(tnp.flip(rows, -1)), -1)
    return tnp.transpose(tnp.reshape(others, np.shape(moved)), tuple(np.argsort(order).tolist()))


family(PROD, lambda code: prod_vjp, lambda code: prod_forward)
register("prod", PROD, lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
         _reduction_lowering(0), reads_inputs=True, vjp=_prod_vjp)


# --- cumulative sum along one axis: ints = (outer, n, inner) -------------------
def _lower_cumsum(params, in_shapes, out_shape):
    shape, axis = in_shapes[0], params["axis"]
    outer = math.prod(shape[:axis])
    inner = math.prod(shape[axis + 1:])
    return 0, np.array([outer, shape[axis], inner], np.int64)


@kernel
def cumsum_forward(t, j, value, out):
    x = value_of(t, value, parent(t, j, 0))
    outer, n, inner = t.ints[t.iptr[j]], t.ints[t.iptr[j] + 1], t.ints[t.iptr[j] + 2]
    for a in range(outer):
        for c in range(inner):
            total = 0.0
            for b in range(n):
                i = (a * n + b) * inner + c
                total += x[i]
                out[i] = total


# eps_x[b] += sum_{b' >= b} eps_y[b']  (a reversed cumulative sum)
@kernel
def cumsum_vjp(t, j, value, prediction, e, acc):
    if not sends(t, j, 0):
        return
    g = error_of(t, acc, parent(t, j, 0))
    outer, n, inner = t.ints[t.iptr[j]], t.ints[t.iptr[j] + 1], t.ints[t.iptr[j] + 2]
    for a in range(outer):
        for c in range(inner):
            total = 0.0
            for b in range(n - 1, -1, -1):
                i = (a * n + b) * inner + c
                total += e[i]
                g[i] += total


family(CUMSUM, lambda code: cumsum_vjp, lambda code: cumsum_forward)
register("cumsum", CUMSUM, lambda x, axis: np.cumsum(x, axis=axis), _lower_cumsum,
         vjp=lambda k, g, y, x, axis: tnp.flip(tnp.cumsum(tnp.flip(g, axis), axis), axis))
