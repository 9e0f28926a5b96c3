"""The rest of numpy that differentiable code uses, composed from pcgrad.numpy.

Sorting and partitioning gather the elements at indices computed from the
values (as autograd does): their derivative is exact wherever the order does
not change, which is almost everywhere. Functions of indices and of truth
(argmax, argsort, all, allclose, ...) have no derivative: argmax, argmin,
argsort and allclose return plain numpy results; the predicates (isfinite,
isinf, isclose, all, any) are traced with a zero derivative, like the
comparisons, so that compiled replay recomputes them.

Complex numbers are not supported: real, imag and conj accept real input
only (complex input raises a TypeError that says so).
"""
import builtins
import math

import numpy as _np

from .. import numpy as _pnp
from ..primitives import PRIMITIVES as _P
from ..tracing import Tracer as _Tracer
from . import _constant, _no_out, _normalize_axis, _shape, _value

__all__ = [
    "mod", "remainder", "fmod", "sort", "partition", "argsort", "argmax", "argmin", "diff",
    "kron", "cross", "rot90", "append", "select", "fmax", "fmin", "atleast_3d", "rollaxis",
    "dsplit", "make_diagonal", "gradient", "nan_to_num", "real", "imag", "conj", "conjugate",
    "iscomplexobj", "isrealobj", "cumprod", "meshgrid", "isfinite", "isinf", "isclose",
    "allclose", "all", "any", "r_", "c_", "linspace", "seterr", "geterr", "errstate"]

seterr, geterr, errstate = _np.seterr, _np.geterr, _np.errstate


def _indices(a, what):
    """The value of ``a`` from which indices are computed (not compilable)."""
    return _np.asarray(_constant(a, what))


# --- arithmetic --------------------------------------------------------------------
def remainder(x1, x2):
    """numpy.remainder (also numpy.mod): the sign of the divisor. Derivative 1
    in x1 and -floor(x1 / x2) in x2 (away from the jumps)."""
    return _P["remainder"](x1, x2)


mod = remainder


def fmod(x1, x2):
    """numpy.fmod: the sign of the dividend. Derivative 1 in x1 and
    -trunc(x1 / x2) in x2 (away from the jumps)."""
    return _P["fmod"](x1, x2)


def fmax(x1, x2):
    """numpy.fmax: the maximum, ignoring NaN; ties share the derivative."""
    return _pnp.where(_pnp.isnan(x2), x1, _pnp.where(_pnp.isnan(x1), x2, _pnp.maximum(x1, x2)))


def fmin(x1, x2):
    """numpy.fmin: the minimum, ignoring NaN; ties share the derivative."""
    return _pnp.where(_pnp.isnan(x2), x1, _pnp.where(_pnp.isnan(x1), x2, _pnp.minimum(x1, x2)))


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """numpy.nan_to_num: NaN and infinities replaced by constants (derivative 0 there)."""
    info = _np.finfo(_np.result_type(_value(x), float))
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    x = _pnp.where(_pnp.isnan(x), nan, x)
    x = _pnp.where(_pnp.equal(x, _np.inf), posinf, x)
    return _pnp.where(_pnp.equal(x, -_np.inf), neginf, x)


def cumprod(a, axis=None, dtype=None, out=None):
    """numpy.cumprod, as a chain of products (exact also where elements are zero)."""
    _no_out(out, "cumprod")
    if axis is None:
        a, axis = _pnp.ravel(a), 0
    axis = _normalize_axis(axis, len(_shape(a)))[0]
    rows = _pnp.moveaxis(a, axis, 0)
    running, out = None, []
    for i in range(_shape(rows)[0]):
        running = rows[i] if running is None else running * rows[i]
        out.append(running)
    if not out:
        return a
    return _pnp.moveaxis(_pnp.stack(out), 0, axis)


# --- complex numbers: not supported --------------------------------------------------
def _real_only(x, name):
    if _np.iscomplexobj(_value(x)):
        raise TypeError(f"{name}: pcgrad does not support complex numbers; its arrays are "
                        "real (float) arrays.")
    return x


def real(val):
    """numpy.real of a real array: the array itself."""
    return _real_only(val, "real")


def imag(val):
    """numpy.imag of a real array: zeros (a constant)."""
    return _np.zeros(_shape(_real_only(val, "imag")))


def conj(x):
    """numpy.conj of a real array: the array itself."""
    return _real_only(x, "conj")


conjugate = conj


def iscomplexobj(x):
    """numpy.iscomplexobj: False for traced arrays (they are real)."""
    return _np.iscomplexobj(_value(x))


def isrealobj(x):
    """numpy.isrealobj."""
    return not iscomplexobj(x)


# --- sorting --------------------------------------------------------------------------
def _along(a, indices, axis):
    """a[indices] along ``axis`` (None: over the flattened a)."""
    if axis is None:
        return _pnp.take_along_axis(_pnp.ravel(a), indices, 0)
    return _pnp.take_along_axis(a, indices, axis)


def sort(a, axis=-1, kind=None, order=None):
    """numpy.sort: the elements gathered in sorted order (a stable sort)."""
    values = _indices(a, "sort")
    return _along(a, _np.argsort(values, axis=axis, kind="stable"), axis)


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """numpy.partition: the elements gathered in numpy.argpartition's order."""
    values = _indices(a, "partition")
    return _along(a, _np.argpartition(values, kth, axis=axis), axis)


def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """numpy.argsort: plain integer indices (no derivative)."""
    return _np.argsort(_indices(a, "argsort"), axis=axis, kind=kind, order=order, stable=stable)


def argmax(a, axis=None, out=None, *, keepdims=False):
    """numpy.argmax: plain integer indices (no derivative)."""
    return _np.argmax(_indices(a, "argmax"), axis=axis, out=out, keepdims=keepdims)


def argmin(a, axis=None, out=None, *, keepdims=False):
    """numpy.argmin: plain integer indices (no derivative)."""
    return _np.argmin(_indices(a, "argmin"), axis=axis, out=out, keepdims=keepdims)


# --- predicates: traced, zero derivative ------------------------------------------------
def isfinite(x):
    """numpy.isfinite (zero derivative): x - x is 0 exactly where x is finite."""
    return _pnp.equal(x - x, 0.0)


def isinf(x):
    """numpy.isinf (zero derivative)."""
    return _pnp.equal(_pnp.abs(x), _np.inf)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """numpy.isclose (zero derivative)."""
    close = _pnp.less_equal(_pnp.abs(a - b), atol + rtol * _pnp.abs(b))
    close = _pnp.logical_or(close, _pnp.equal(a, b))  # equal infinities
    if equal_nan:
        close = _pnp.logical_or(close, _pnp.logical_and(_pnp.isnan(a), _pnp.isnan(b)))
    return close


def all(a, axis=None, out=None, keepdims=False):
    """numpy.all (zero derivative)."""
    _no_out(out, "all")
    return _pnp.min(_pnp.not_equal(a, 0), axis=axis, keepdims=keepdims)


def any(a, axis=None, out=None, keepdims=False):
    """numpy.any (zero derivative)."""
    _no_out(out, "any")
    return _pnp.max(_pnp.not_equal(a, 0), axis=axis, keepdims=keepdims)



def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """numpy.allclose: a plain bool (no derivative)."""
    return _np.allclose(_indices(a, "allclose"), _indices(b, "allclose"), rtol, atol,
                        equal_nan)


# --- shapes and rearranging ------------------------------------------------------------
def atleast_3d(*arys):
    """numpy.atleast_3d: (N,) -> (1, N, 1), (M, N) -> (M, N, 1)."""
    out = []
    for a in arys:
        shape = _shape(a)
        if len(shape) == 0:
            a = _pnp.reshape(a, (1, 1, 1))
        elif len(shape) == 1:
            a = _pnp.reshape(a, (1, shape[0], 1))
        elif len(shape) == 2:
            a = _pnp.reshape(a, shape + (1,))
        out.append(a)
    return out[0] if len(out) == 1 else out


def rollaxis(a, axis, start=0):
    """numpy.rollaxis: ``axis`` moved to before ``start``."""
    n = len(_shape(a))
    axis = _normalize_axis(axis, n)[0]
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        raise _np.exceptions.AxisError(f"'start' arg requires {-n} <= start < {n + 1}, "
                                       f"but {start} was passed in")
    if axis < start:
        start -= 1
    if axis == start:
        return a
    axes = [i for i in range(n) if i != axis]
    axes.insert(start, axis)
    return _pnp.transpose(a, tuple(axes))


def rot90(m, k=1, axes=(0, 1)):
    """numpy.rot90: flips and a transpose, as numpy composes it."""
    ndim = len(_shape(m))
    axes = _normalize_axis(tuple(axes), ndim)
    if len(axes) != 2 or axes[0] == axes[1]:
        raise ValueError("rot90 needs two different axes.")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return _pnp.flip(_pnp.flip(m, axes[0]), axes[1])
    order = list(range(ndim))
    order[axes[0]], order[axes[1]] = order[axes[1]], order[axes[0]]
    if k == 1:
        return _pnp.transpose(_pnp.flip(m, axes[1]), tuple(order))
    return _pnp.flip(_pnp.transpose(m, tuple(order)), axes[1])


def dsplit(ary, indices_or_sections):
    """numpy.dsplit: split along the third axis."""
    if len(_shape(ary)) < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return _pnp.split(ary, indices_or_sections, 2)


def append(arr, values, axis=None):
    """numpy.append (axis None flattens both)."""
    if axis is None:
        return _pnp.concatenate([_pnp.ravel(arr), _pnp.ravel(values)])
    return _pnp.concatenate([arr, values], axis)


def diff(a, n=1, axis=-1, prepend=_np._NoValue, append=_np._NoValue):
    """numpy.diff: n-th differences along ``axis``."""
    ndim = len(_shape(a))
    axis = _normalize_axis(axis, ndim)[0]
    pieces = []
    for extra in (prepend, a, append):
        if extra is a:
            pieces.append(a)
        elif extra is not _np._NoValue:
            if len(_shape(extra)) == 0:
                shape = list(_shape(a))
                shape[axis] = 1
                extra = _pnp.broadcast_to(extra, tuple(shape))
            pieces.append(extra)
    a = _pnp.concatenate(pieces, axis) if len(pieces) > 1 else a
    head = [slice(None)] * ndim
    tail = [slice(None)] * ndim
    head[axis], tail[axis] = slice(1, None), slice(None, -1)
    for _ in range(n):
        a = a[tuple(head)] - a[tuple(tail)]
    return a


def kron(a, b):
    """numpy.kron: every product a[i] b[j], laid out block by block."""
    sa, sb = _shape(a), _shape(b)
    nd = builtins.max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + tuple(sa), (1,) * (nd - len(sb)) + tuple(sb)
    a = _pnp.reshape(a, tuple(x for n in sa for x in (n, 1)))
    b = _pnp.reshape(b, tuple(x for n in sb for x in (1, n)))
    return _pnp.reshape(a * b, tuple(x * y for x, y in zip(sa, sb)))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """numpy.cross of 2- and 3-vectors along the given axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a = _pnp.moveaxis(a, axisa, -1)
    b = _pnp.moveaxis(b, axisb, -1)
    na, nb = _shape(a)[-1], _shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n"
                         "(dimension must be 2 or 3)")
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    z = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return z
    a2 = a[..., 2] if na == 3 else 0.0
    b2 = b[..., 2] if nb == 3 else 0.0
    x = a1 * b2 - a2 * b1
    y = a2 * b0 - a0 * b2
    out = _pnp.stack(_pnp.broadcast_arrays(x, y, z), axis=-1)
    return _pnp.moveaxis(out, -1, axisc)


def make_diagonal(D, offset=0, axis1=-1, axis2=-2):
    """autograd's make_diagonal: a batch of diagonal matrices, the last axis
    of D on the diagonal of the two new last axes (at ``offset``).

    >>> import numpy
    >>> make_diagonal(numpy.array([[1.0, 2.0], [3.0, 4.0]]))[1]
    array([[3., 0.],
           [0., 4.]])
    """
    if sorted((axis1, axis2)) != [-2, -1]:
        raise NotImplementedError("make_diagonal puts the diagonal on the last two axes "
                                  "(axis1, axis2 = -1, -2).")
    shape = _shape(D)
    n = shape[-1]
    batch = shape[:-1]
    # D[..., i] at flat position i (n + 1) of each n x n matrix: pad each
    # element with n zeros, flatten, and keep the first n * n elements
    padded = _pnp.pad(_pnp.reshape(D, batch + (n, 1)), [(0, 0)] * len(batch) + [(0, 0), (0, n)])
    flat = _pnp.reshape(padded, batch + (n * (n + 1),))[..., :n * n]
    square = _pnp.reshape(flat, batch + (n, n))
    if offset:
        k = builtins.abs(int(offset))
        rows, cols = ((0, k), (k, 0)) if (offset > 0) == (axis1 == -2) else ((k, 0), (0, k))
        square = _pnp.pad(square, [(0, 0)] * len(batch) + [rows, cols])
    return square


def select(condlist, choicelist, default=0):
    """numpy.select: the first choice whose condition holds (conditions have no derivative)."""
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    result = default
    for condition, choice in zip(reversed(condlist), reversed(choicelist)):
        result = _pnp.where(condition, choice, result)
    shape = _np.broadcast_shapes(*(_shape(x) for x in list(condlist) + list(choicelist)),
                                 _shape(default))
    return _pnp.broadcast_to(result, shape)


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """numpy.meshgrid (coordinate arrays, broadcast copies unless sparse)."""
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    ndim = len(xi)
    sizes = [math.prod(_shape(x)) for x in xi]
    if indexing == "xy" and ndim > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, x in enumerate(xi):
        place = i if not (indexing == "xy" and ndim > 1 and i < 2) else 1 - i
        shape = [1] * ndim
        shape[place] = -1
        out.append(_pnp.reshape(x, tuple(shape)))
    if not sparse:
        out = [_pnp.broadcast_to(x, tuple(sizes)) for x in out]
    return tuple(out)


def gradient(f, *varargs, axis=None, edge_order=1):
    """numpy.gradient: second-order central differences inside, one-sided
    differences of order ``edge_order`` at the edges; spacings are scalars or
    coordinate arrays, as numpy takes them."""
    ndim = len(_shape(f))
    axes = tuple(range(ndim)) if axis is None else _normalize_axis(axis, ndim)
    if len(varargs) == 0:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1 and _np.ndim(_value(varargs[0])) == 0:
        spacing = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacing = list(varargs)
    else:
        raise TypeError("invalid number of arguments")
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    out = [_gradient_along(f, ax, h, edge_order) for ax, h in zip(axes, spacing)]
    return out[0] if len(out) == 1 else tuple(out)


def _gradient_along(f, axis, h, edge_order):
    n = _shape(f)[axis]
    if n < edge_order + 1:
        raise ValueError("Shape of array too small to calculate a numerical gradient, at "
                         "least (edge_order + 1) elements are required.")
    ndim = len(_shape(f))

    def at(index):
        full = [slice(None)] * ndim
        full[axis] = index
        return f[tuple(full)]

    def along(c):  # a coefficient per position along the axis, broadcast over the rest
        return _pnp.reshape(c, (-1,) + (1,) * (ndim - axis - 1)) if _np.ndim(_value(c)) else c

    if not isinstance(h, _Tracer):
        h = _np.asarray(h, dtype=float)
    if _np.ndim(_value(h)) == 0:
        inner = (at(slice(2, None)) - at(slice(None, -2))) / (2.0 * h)
        if edge_order == 1:
            first = (at(slice(1, 2)) - at(slice(0, 1))) / h
            last = (at(slice(-1, None)) - at(slice(-2, -1))) / h
        else:
            first = (-1.5 / h) * at(slice(0, 1)) + (2.0 / h) * at(slice(1, 2)) + \
                (-0.5 / h) * at(slice(2, 3))
            last = (0.5 / h) * at(slice(-3, -2)) + (-2.0 / h) * at(slice(-2, -1)) + \
                (1.5 / h) * at(slice(-1, None))
    else:
        dx = _pnp.diff(h)
        dx1, dx2 = dx[:-1], dx[1:]
        a = -dx2 / (dx1 * (dx1 + dx2))
        b = (dx2 - dx1) / (dx1 * dx2)
        c = dx1 / (dx2 * (dx1 + dx2))
        inner = along(a) * at(slice(None, -2)) + along(b) * at(slice(1, -1)) + \
            along(c) * at(slice(2, None))
        if edge_order == 1:
            first = (at(slice(1, 2)) - at(slice(0, 1))) / dx[0]
            last = (at(slice(-1, None)) - at(slice(-2, -1))) / dx[-1]
        else:
            d1, d2 = dx[0], dx[1]
            first = (-(2.0 * d1 + d2) / (d1 * (d1 + d2))) * at(slice(0, 1)) + \
                ((d1 + d2) / (d1 * d2)) * at(slice(1, 2)) + \
                (-d1 / (d2 * (d1 + d2))) * at(slice(2, 3))
            d1, d2 = dx[-2], dx[-1]
            last = (d2 / (d1 * (d1 + d2))) * at(slice(-3, -2)) + \
                (-(d2 + d1) / (d1 * d2)) * at(slice(-2, -1)) + \
                ((2.0 * d2 + d1) / (d2 * (d1 + d2))) * at(slice(-1, None))
    return _pnp.concatenate([first, inner, last], axis)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """numpy.linspace; traced endpoints give a traced result (as numpy computes
    it: start + arange(num) * (stop - start) / div, the last element stop)."""
    if not isinstance(start, _Tracer) and not isinstance(stop, _Tracer):
        return _np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    num = int(num)
    div = (num - 1) if endpoint else num
    shape = _np.broadcast_shapes(_shape(start), _shape(stop))
    steps = _np.arange(num, dtype=float).reshape((-1,) + (1,) * len(shape))
    step = (stop - start) / div if div > 0 else _np.nan
    y = steps * step + start if div > 0 else steps * (stop - start) + start
    if endpoint and num > 1:
        y = _pnp.concatenate([y[:-1], _pnp.reshape(_pnp.broadcast_to(stop, shape),
                                                     (1,) + shape)])
    if axis != 0:
        y = _pnp.moveaxis(y, 0, axis)
    return (y, step) if retstep else y


# --- index tricks: r_ and c_ -----------------------------------------------------------
class _Concatenator:
    """numpy.r_ and numpy.c_ for items that may be traced: arrays, scalars and
    slices (numpy's arange/linspace shorthand); numpy's own when none is traced."""

    def __init__(self, numpy_version, columns):
        self._numpy, self._columns = numpy_version, columns

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        if not builtins.any(isinstance(x, _Tracer) for x in items):
            return self._numpy[key]
        if builtins.any(isinstance(x, str) for x in items):
            raise NotImplementedError("pcgrad.numpy.r_ and c_ take no string directives "
                                      "with traced arrays; use concatenate or stack.")
        pieces = []
        for x in items:
            if isinstance(x, slice):
                x = _np.r_[x]
            pieces.append(self._column(x) if self._columns else _pnp.atleast_1d(x))
        return _pnp.concatenate(pieces, axis=-1 if self._columns else 0)

    @staticmethod
    def _column(x):
        shape = _shape(x)
        if len(shape) == 0:
            return _pnp.reshape(x, (1, 1))
        if len(shape) == 1:
            return _pnp.reshape(x, (-1, 1))
        return x


r_ = _Concatenator(_np.r_, columns=False)
c_ = _Concatenator(_np.c_, columns=True)
