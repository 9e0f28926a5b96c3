"""pcgrad.numpy: the traced numpy namespace, composed from pcgrad's primitives.

Use it as ``import pcgrad.numpy as np`` inside functions you differentiate.
Every function also works on plain arrays (it then returns plain numpy
results). Functions with a zero derivative (comparisons, floor, ...) are
traced too, so that compiled replay can recompute them. Constructors
(zeros, ones, arange, ...) return plain numpy constants.
"""
import math
import builtins
import string

import numpy as _np

from ..primitives import PRIMITIVES as _P
from ..primitives.linalg import batched_matmul_dims as _matmul_dims
from ..tracing import Tracer as _Tracer
from ..tracing import bind as _bind
from ..tracing import bind_with_arrays as _bind_with_arrays
from . import linalg  # noqa: F401

# --- constants and pass-through names (no derivative involved) ---------------
pi, e, inf, nan, newaxis, euler_gamma = _np.pi, _np.e, _np.inf, _np.nan, None, _np.euler_gamma
float16, float32, float64, int8, int16, int32, int64 = (
    _np.float16, _np.float32, _np.float64, _np.int8, _np.int16, _np.int32, _np.int64)
bool_, dtype, ndarray, finfo, iinfo, random = (
    _np.bool_, _np.dtype, _np.ndarray, _np.finfo, _np.iinfo, _np.random)


def _value(x):
    return x.value if isinstance(x, _Tracer) else x


def _constant(x, what):
    """The value of x used as a constant parameter (an index): not compilable."""
    if isinstance(x, _Tracer) and x._trace.compiling:
        raise TypeError(f"{what} by a traced value depends on the values, which pcgrad.jit "
                        "cannot compile. Call pcgrad.grad without jit, or use "
                        "pcgrad.numpy.where.")
    return _value(x)


# --- elementwise: one primitive each ---------------------------------------------
_NO_PARAMS = {}  # shared by the parameterless primitives' nodes; never mutated


def _unary(name):
    primitive = _P[name]

    def fn(x):
        return _bind(primitive, (x,), _NO_PARAMS)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise numpy.{name} (traced)."
    return fn


def _nary(name):
    primitive = _P[name]

    def fn(x1, x2):
        return _bind(primitive, (x1, x2), _NO_PARAMS)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise numpy.{name} with broadcasting (traced)."
    return fn


(negative, exp, exp2, expm1, log, log2, log10, log1p, sin, cos, tan, arcsin, arccos,
 arctan, sinh, cosh, tanh, arcsinh, arccosh, arctanh, sqrt, cbrt, reciprocal, square,
 abs, sign, floor, ceil, rint, stop_gradient) = [_unary(n) for n in (
    "negative", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos",
    "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
    "arctanh", "sqrt", "cbrt", "reciprocal", "square", "abs", "sign", "floor", "ceil",
    "round", "stop_gradient")]
rint.__name__, rint.__doc__ = "rint", "Elementwise numpy.rint (traced, zero derivative)."
stop_gradient.__doc__ = "The identity with a zero derivative: x as a constant."
absolute, fabs = abs, abs

(add, subtract, multiply, divide, power, maximum, minimum, arctan2, hypot, logaddexp,
 less, less_equal, greater, greater_equal, equal, not_equal, logical_and, logical_or,
 logical_xor) = [_nary(n) for n in (
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2",
    "hypot", "logaddexp", "less", "less_equal", "greater", "greater_equal", "equal",
    "not_equal", "logical_and", "logical_or", "logical_xor")]
true_divide = divide
_power = power


def power(x1, x2):
    """Elementwise numpy.power with broadcasting (traced); x ** 2 is recorded as square."""
    if isinstance(x2, (int, float)) and x2 == 2 and isinstance(x1, _Tracer):
        return square(x1)
    return _power(x1, x2)


def logical_not(x):
    """Elementwise numpy.logical_not (traced, zero derivative)."""
    return _P["logical_not"](x)


def positive(x):
    """numpy.positive: the identity."""
    return x


def round(a, decimals=0):
    """numpy.round (zero derivative)."""
    if decimals == 0:
        return rint(a)
    scale = 10.0 ** decimals
    return rint(stop_gradient(a) * scale) / scale


around = round


def where(condition, x, y):
    """numpy.where(condition, x, y) with broadcasting; condition has no derivative."""
    return _P["where"](condition, x, y)


_select = where  # reductions take a where= argument that hides the function


def clip(a, a_min, a_max):
    """numpy.clip: derivative 1 inside [a_min, a_max], 0 outside (to the bound if traced)."""
    if a_min is not None:
        a = where(less(a, a_min), a_min, a)
    if a_max is not None:
        a = where(greater(a, a_max), a_max, a)
    return a


def sinc(x):
    """numpy.sinc: sin(pi x) / (pi x), 1 at x = 0."""
    px = pi * x
    safe = where(equal(x, 0.0), 1.0, px)
    return where(equal(x, 0.0), 1.0, sin(safe) / safe)


def deg2rad(x):
    """numpy.deg2rad (also numpy.radians)."""
    return x * (pi / 180.0)


def rad2deg(x):
    """numpy.rad2deg (also numpy.degrees)."""
    return x * (180.0 / pi)


radians, degrees = deg2rad, rad2deg


def logaddexp2(x1, x2):
    """numpy.logaddexp2: log2(2**x1 + 2**x2)."""
    return logaddexp(x1 * _np.log(2.0), x2 * _np.log(2.0)) / _np.log(2.0)


def isnan(x):
    """numpy.isnan (zero derivative)."""
    return not_equal(x, x)


# --- shapes -----------------------------------------------------------------------
def _shape(x):
    if isinstance(x, _Tracer):
        return x.value.shape
    shape = getattr(x, "shape", None)
    return shape if shape is not None else _np.shape(x)


def _normalize_axis(axis, ndim):
    if axis is None:
        return None
    if type(axis) is int and 0 <= axis < ndim:  # the common case, already normal
        return (axis,)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < builtins.max(ndim, 1):
            raise _np.exceptions.AxisError(a, ndim)
        out.append(a % builtins.max(ndim, 1))
    return tuple(out)


def reshape(a, newshape=None, order="C", *, shape=None):
    """numpy.reshape (C order)."""
    newshape = shape if newshape is None else newshape
    if order != "C":
        raise NotImplementedError("pcgrad.numpy.reshape supports order='C' only.")
    target = _np.empty(_shape(a), dtype=bool).reshape(newshape).shape
    if target == _shape(a):
        return a
    return _P["reshape"](a, shape=target)


def ravel(a, order="C"):
    """numpy.ravel (C order)."""
    return reshape(a, (-1,), order)


def squeeze(a, axis=None):
    """numpy.squeeze."""
    return reshape(a, _np.squeeze(_np.empty(_shape(a), dtype=bool), axis).shape)


def expand_dims(a, axis):
    """numpy.expand_dims."""
    return reshape(a, _np.expand_dims(_np.empty(_shape(a), dtype=bool), axis).shape)


def atleast_1d(a):
    """numpy.atleast_1d for one array."""
    return reshape(a, (1,)) if _np.ndim(_value(a)) == 0 else a


def atleast_2d(a):
    """numpy.atleast_2d for one array."""
    return reshape(a, _np.atleast_2d(_np.empty(_shape(a), dtype=bool)).shape)


def transpose(a, axes=None):
    """numpy.transpose."""
    ndim = len(_shape(a))
    axes = tuple(range(ndim))[::-1] if axes is None else _normalize_axis(axes, ndim)
    if axes == tuple(range(ndim)):
        return a
    if sorted(axes) != list(range(ndim)):
        raise ValueError(f"axes {axes} are not a permutation of the {ndim} dimensions.")
    return _P["transpose"](a, axes=axes)


def swapaxes(a, axis1, axis2):
    """numpy.swapaxes."""
    ndim = len(_shape(a))
    axes = list(range(ndim))
    i, j = _normalize_axis((axis1, axis2), ndim)
    axes[i], axes[j] = axes[j], axes[i]
    return transpose(a, tuple(axes))


def moveaxis(a, source, destination):
    """numpy.moveaxis."""
    ndim = len(_shape(a))
    source = _normalize_axis(source, ndim)
    destination = _normalize_axis(destination, ndim)
    order = [n for n in range(ndim) if n not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(a, tuple(order))


def broadcast_to(array, shape):
    """numpy.broadcast_to (a copy: traced arrays are never views)."""
    shape = tuple(shape) if _np.ndim(shape) else (int(shape),)
    if _shape(array) == shape:
        return array
    return _P["broadcast_to"](array, shape=shape)


def broadcast_arrays(*args):
    """numpy.broadcast_arrays (copies)."""
    shape = _np.broadcast_shapes(*(_shape(a) for a in args))
    return [broadcast_to(a, shape) for a in args]


# --- reductions -----------------------------------------------------------------------
def _reduce(name, a, axis, keepdims):
    ndim = len(_shape(a))
    axis = _normalize_axis(axis, ndim)
    if ndim == 0 and not keepdims:
        return a if isinstance(a, _Tracer) else _np.asarray(a)
    return _bind(_P[name], (a,), {"axis": axis, "keepdims": bool(keepdims)})


def _no_out(out, name):
    """Reductions take numpy's positional arguments, out included, but cannot write into it."""
    if out is not None:
        raise TypeError(f"pcgrad.numpy.{name} cannot write into out=: traced arrays are "
                        "never modified in place. Use the returned array instead.")


def _kept(a, where, fill):
    """a where ``where`` holds, else the constant ``fill``: the elements a
    reduction with numpy's ``where=`` reads."""
    shape = _shape(a)
    if _np.broadcast_shapes(_shape(where), shape) != shape:
        raise ValueError(f"where= of shape {_shape(where)} does not broadcast to the "
                         f"reduced array's shape {shape}.")
    return _select(where, a, fill)


def sum(a, axis=None, dtype=None, out=None, keepdims=False, where=True):
    """numpy.sum over ``axis`` (int, tuple or None); ``where`` (a boolean array
    broadcasting to a's shape) leaves elements out."""
    _no_out(out, "sum")
    if where is not True:
        a = _kept(a, where, 0.0)
    return _reduce("sum", a, axis, keepdims)


def _extremum(name, pairwise, a, axis, out, keepdims, initial, where):
    _no_out(out, name)
    if where is not True:
        if initial is None:
            raise ValueError(f"numpy.{name} with where= needs initial= (the result where "
                             "every element is left out).")
        a = _kept(a, where, initial)
    result = _reduce(name, a, axis, keepdims)
    return result if initial is None else pairwise(result, initial)


def max(a, axis=None, out=None, keepdims=False, initial=None, where=True):
    """numpy.max; tied maxima share the derivative equally. ``initial`` is
    compared too; ``where`` leaves elements out (it needs ``initial``)."""
    return _extremum("max", maximum, a, axis, out, keepdims, initial, where)


def min(a, axis=None, out=None, keepdims=False, initial=None, where=True):
    """numpy.min; tied minima share the derivative equally. ``initial`` is
    compared too; ``where`` leaves elements out (it needs ``initial``)."""
    return _extremum("min", minimum, a, axis, out, keepdims, initial, where)


amax, amin = max, min


def prod(a, axis=None, dtype=None, out=None, keepdims=False):
    """numpy.prod (exact derivative also where elements are zero)."""
    _no_out(out, "prod")
    return _reduce("prod", a, axis, keepdims)


def _count(a, axis):
    shape = _shape(a)
    axis = _normalize_axis(axis, len(shape))
    if axis is None:
        return math.prod(shape)
    return math.prod([shape[i] for i in axis])


def _kept_count(a, axis, keepdims, where):
    """How many elements a reduction with ``where=`` reads (a traced mask's
    count is traced, so that compiled replay recomputes it)."""
    if where is True:
        return float(_count(a, axis))
    return sum(_kept(_np.ones(_shape(a)), where, 0.0), axis, keepdims=keepdims)


def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    """numpy.mean; ``where`` leaves elements out."""
    _no_out(out, "mean")
    return sum(a, axis, keepdims=keepdims, where=where) / _kept_count(a, axis, keepdims, where)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True):
    """numpy.var; ``where`` leaves elements out."""
    _no_out(out, "var")
    centered = a - mean(a, axis, keepdims=True, where=where)
    return sum(square(centered), axis, keepdims=keepdims, where=where) / (
        _kept_count(a, axis, keepdims, where) - ddof)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True):
    """numpy.std; ``where`` leaves elements out."""
    _no_out(out, "std")
    shape = _shape(a)
    axes = _normalize_axis(axis, len(shape))
    if where is True and ddof == 0 and \
            math.prod(shape if axes is None else [shape[d] for d in axes]) == 1:
        # the std of one element is identically 0, so is its derivative (the
        # chain rule through sqrt at 0 would give 0 * inf = nan)
        return 0.0 * mean(a, axis, keepdims=keepdims)
    return sqrt(var(a, axis, ddof=ddof, keepdims=keepdims, where=where))


def cumsum(a, axis=None, dtype=None, out=None):
    """numpy.cumsum (over the flattened array when axis is None)."""
    _no_out(out, "cumsum")
    if axis is None:
        a, axis = ravel(a), 0
    return _P["cumsum"](a, axis=_normalize_axis(axis, len(_shape(a)))[0])


def average(a, axis=None, weights=None):
    """numpy.average; 1-D weights lie along ``axis``."""
    if weights is None:
        return mean(a, axis)
    shape = _shape(a)
    if _shape(weights) != shape:
        axis = _normalize_axis(axis, len(shape))[0]
        weights = reshape(weights, tuple(-1 if i == axis else 1 for i in range(len(shape))))
    return sum(a * weights, axis) / sum(broadcast_to(weights, shape), axis)


# --- products ------------------------------------------------------------------------
_MATMUL = _P["matmul"]


def matmul(x1, x2):
    """numpy.matmul (the ``@`` operator), batch dimensions broadcast."""
    s1, s2 = _shape(x1), _shape(x2)
    if len(s1) == 0 or len(s2) == 0:
        raise ValueError("matmul: input operand does not have enough dimensions; use "
                         "multiply for scalars.")
    if len(s1) > 2 and len(s2) > 2 and _matmul_dims(s1, s2) is None:  # (None needs both)
        batch = _np.broadcast_shapes(s1[:-2], s2[:-2])
        x1 = broadcast_to(x1, batch + s1[-2:])
        x2 = broadcast_to(x2, batch + s2[-2:])
    return _bind(_MATMUL, (x1, x2), _NO_PARAMS)


def dot(a, b):
    """numpy.dot."""
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return multiply(a, b)
    if len(sb) <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=([len(sa) - 1], [len(sb) - 2]))


def vdot(a, b):
    """numpy.vdot for real arrays: the dot product of the flattened arrays."""
    return sum(ravel(a) * ravel(b))


def inner(a, b):
    """numpy.inner: contracts the last axes."""
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return multiply(a, b)
    return tensordot(a, b, axes=([len(sa) - 1], [len(sb) - 1]))


def outer(a, b):
    """numpy.outer (inputs are flattened)."""
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def tensordot(a, b, axes=2):
    """numpy.tensordot, as a transpose, a reshape and one matrix product."""
    sa, sb = _shape(a), _shape(b)
    if isinstance(axes, int):
        axes_a, axes_b = list(range(len(sa) - axes, len(sa))), list(range(axes))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, int) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, int) else list(axes_b)
    axes_a = list(_normalize_axis(axes_a, len(sa)) or ())
    axes_b = list(_normalize_axis(axes_b, len(sb)) or ())
    if [sa[i] for i in axes_a] != [sb[i] for i in axes_b]:
        raise ValueError("tensordot: shape mismatch for the summed axes.")
    free_a = [i for i in range(len(sa)) if i not in axes_a]
    free_b = [i for i in range(len(sb)) if i not in axes_b]
    k = math.prod([sa[i] for i in axes_a])
    a2 = reshape(transpose(a, free_a + axes_a), (-1, k))
    b2 = reshape(transpose(b, axes_b + free_b), (k, -1))
    return reshape(matmul(a2, b2), tuple(sa[i] for i in free_a) + tuple(sb[i] for i in free_b))


def einsum(subscripts, *operands):
    """numpy.einsum: explicit or implicit output, repeated indices (diagonals,
    e.g. "ii"), "..." and size-1 broadcasting; more than two operands are
    contracted pairwise from the left."""
    if not operands:
        raise ValueError("einsum needs at least one operand.")
    inputs, output = _parse_einsum(subscripts, [_shape(x) for x in operands])
    if len(operands) > 2:  # keep the labels that a later operand or the output needs
        later = output + "".join(inputs[2:])
        middle = "".join(dict.fromkeys(l for l in inputs[0] + inputs[1] if l in later))
        first = einsum(f"{inputs[0]},{inputs[1]}->{middle}", *operands[:2])
        return einsum(",".join([middle] + inputs[2:]) + "->" + output, first, *operands[2:])
    terms = []
    for n, (x, labels) in enumerate(zip(operands, inputs)):
        x, labels = _einsum_diagonals(x, labels)
        elsewhere = output + "".join(other for m, other in enumerate(inputs) if m != n)
        drop = tuple(i for i, l in enumerate(labels) if l not in elsewhere)
        if drop:  # a label only this operand has: sum it out first
            x = sum(x, axis=drop)
            labels = "".join(l for i, l in enumerate(labels) if i not in drop)
        terms.append((x, labels))
    if len(terms) == 1:
        x, labels = terms[0]
        return transpose(x, tuple(labels.index(l) for l in output))
    (a, la), (b, lb) = terms
    size = {}
    for x, labels in ((a, la), (b, lb)):
        for l, n in zip(labels, _shape(x)):
            if size.get(l, 1) == 1:  # a label of size 1 broadcasts against the other
                size[l] = n
    a, b = (broadcast_to(x, tuple(size[l] for l in ls)) for x, ls in ((a, la), (b, lb)))
    count = lambda ls: math.prod([size[l] for l in ls])
    if count([l for l in la if l in lb and l not in output]) == 1:
        # nothing to sum over (an outer product): a broadcast multiply, which
        # costs less than a matrix product with an inner dimension of 1
        return multiply(_einsum_in_output_order(a, la, output, size),
                        _einsum_in_output_order(b, lb, output, size))
    x, y, lx, ly, px, py, m, k, n = _einsum_layout(a, b, la, lb, output, count)
    x = reshape(transpose(x, tuple(lx.index(l) for l in px + m + k)),
                (count(px), count(m), count(k)))
    y = reshape(transpose(y, tuple(ly.index(l) for l in py + k + n)),
                (count(py), count(k), count(n)))
    labels = (px if len(px) >= len(py) else py) + m + n
    result = reshape(matmul(x, y), tuple(size[l] for l in labels))
    return transpose(result, tuple(labels.index(l) for l in output))


def _einsum_in_output_order(x, labels, output, size):
    """x's axes in output order (its labels missing from the output have size
    1 and are dropped), with an axis of size 1 for each output label it lacks."""
    kept = [l for l in labels if l in output]
    x = reshape(x, tuple(size[l] for l in kept))
    x = transpose(x, tuple(sorted(range(len(kept)), key=lambda i: output.index(kept[i]))))
    return reshape(x, tuple(size[l] if l in labels else 1 for l in output))


def _einsum_layout(a, b, la, lb, output, count):
    """How to contract two operands as one batched matrix product.

    Returns (x, y, lx, ly, px, py, m, k, n): the product is
    x[px + m + k] @ y[py + k + n] -> [batch + m + n], where the batch labels
    are shared (px = py) or belong to one operand (the other broadcasts).
    Among the layouts whose result is already in output order, the one that
    transposes the fewest elements wins; otherwise the result is transposed.
    """
    shared = [l for l in la if l in lb]
    k = [l for l in shared if l not in output]
    batch = [l for l in output if l in shared]
    best = (count(la) * (list(la) != batch + [l for l in la if l not in lb] + k)
            + count(lb) * (list(lb) != batch + k + [l for l in lb if l not in la])
            + count(output),
            (a, b, la, lb, batch, batch, [l for l in la if l not in lb], k,
             [l for l in lb if l not in la]))
    for x, y, lx, ly in ((a, b, la, lb), (b, a, lb, la)):
        for split in range(len(output) + 1):
            p, rest = list(output[:split]), list(output[split:])
            if all(l in shared for l in p):
                px, py = p, p
            elif all(l in lx and l not in ly for l in p):
                px, py = p, []
            elif all(l in ly and l not in lx for l in p):
                px, py = [], p
            else:
                continue
            cut = 0
            while cut < len(rest) and rest[cut] in lx and rest[cut] not in ly:
                cut += 1
            m, n = rest[:cut], rest[cut:]
            if any(l not in ly or l in lx for l in n) or (px != py and batch):
                continue
            cost = (count(lx) * (list(lx) != px + m + k)
                    + count(ly) * (list(ly) != py + k + n))
            if cost < best[0]:
                best = (cost, (x, y, lx, ly, px, py, m, k, n))
    return best[1]


def _parse_einsum(subscripts, shapes):
    subscripts = subscripts.replace(" ", "")
    lhs, arrow, rhs = subscripts.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum subscripts {subscripts!r} name {len(inputs)} operands; "
                         f"got {len(shapes)}.")
    unused = [c for c in string.ascii_letters if c not in subscripts]
    ellipsis_ndim = builtins.max([len(s) - len(i.replace("...", "")) for i, s in
                                  zip(inputs, shapes) if "..." in i] or [0])
    ell = "".join(unused[:ellipsis_ndim])
    expanded = []
    for labels, shape in zip(inputs, shapes):
        if "..." in labels:
            n = len(shape) - len(labels.replace("...", ""))
            labels = labels.replace("...", ell[ellipsis_ndim - n:])
        if len(labels) != len(shape):
            raise ValueError(f"einsum operand with subscripts {labels!r} has shape {shape}.")
        expanded.append(labels)
    if arrow:
        output = rhs.replace("...", ell)
    else:
        counts = {}
        for l in "".join(expanded):
            counts[l] = counts.get(l, 0) + 1
        output = ell + "".join(sorted(l for l, c in counts.items() if c == 1 and l not in ell))
    for l in output:
        if l not in "".join(expanded):
            raise ValueError(f"einsum output subscript {l!r} is not in any operand.")
    return expanded, output


def _einsum_diagonals(x, labels):
    """Take diagonals until every label occurs once: "ii" -> "i"."""
    while len(set(labels)) < len(labels):
        l = next(l for l in labels if labels.count(l) > 1)
        i = labels.index(l)
        j = labels.index(l, i + 1)
        x = diagonal(x, 0, i, j)
        labels = "".join(c for n, c in enumerate(labels) if n not in (i, j)) + l
    return x, labels


def diagonal(a, offset=0, axis1=0, axis2=1):
    """numpy.diagonal (a copy)."""
    ndim = len(_shape(a))
    axis1, axis2 = _normalize_axis((axis1, axis2), ndim)
    return _P["diagonal"](a, offset=int(offset), axis1=axis1, axis2=axis2)


def trace(a, offset=0, axis1=0, axis2=1):
    """numpy.trace."""
    return sum(diagonal(a, offset, axis1, axis2), axis=-1)


def diag(v, k=0):
    """numpy.diag: a diagonal of a 2-D array, or a 2-D array with v on its diagonal."""
    ndim = len(_shape(v))
    if ndim == 1:
        return _P["diag_embed"](v, k=int(k))
    if ndim == 2:
        return diagonal(v, k)
    raise ValueError("diag requires a 1-D or 2-D input.")


def triu(m, k=0):
    """numpy.triu."""
    return _P["triu"](m, k=int(k))


def tril(m, k=0):
    """numpy.tril."""
    return _P["tril"](m, k=int(k))


# --- joining, splitting, rearranging ------------------------------------------------
def concatenate(arrays, axis=0):
    """numpy.concatenate (axis=None flattens first)."""
    arrays = list(arrays)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    if len(arrays) == 1:
        return arrays[0]
    axis = _normalize_axis(axis, len(_shape(arrays[0])))[0]
    return _P["concatenate"](*arrays, axis=axis)


def stack(arrays, axis=0):
    """numpy.stack."""
    arrays = list(arrays)
    ndim = len(_shape(arrays[0])) + 1
    axis = _normalize_axis(axis, ndim)[0]
    return concatenate([expand_dims(a, axis) for a in arrays], axis)


def hstack(tup):
    """numpy.hstack."""
    tup = [atleast_1d(a) for a in tup]
    return concatenate(tup, 0 if len(_shape(tup[0])) == 1 else 1)


def vstack(tup):
    """numpy.vstack (also numpy.row_stack)."""
    return concatenate([atleast_2d(a) for a in tup], 0)


row_stack = vstack


def column_stack(tup):
    """numpy.column_stack."""
    return concatenate([reshape(a, (-1, 1)) if len(_shape(a)) == 1 else a for a in tup], 1)


def split(ary, indices_or_sections, axis=0):
    """numpy.split: a list of slices."""
    shape = _shape(ary)
    axis = _normalize_axis(axis, len(shape))[0]
    n = shape[axis]
    if _np.ndim(indices_or_sections) == 0:
        indices_or_sections = int(indices_or_sections)
        if n % indices_or_sections:
            raise ValueError("array split does not result in an equal division")
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step))
    else:
        bounds = [0] + list(indices_or_sections) + [n]
    index = [slice(None)] * len(shape)
    pieces = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        index[axis] = slice(lo, hi)
        pieces.append(ary[tuple(index)])
    return pieces


def array_split(ary, indices_or_sections, axis=0):
    """numpy.array_split: like split, but sections may differ in size by one."""
    n = _shape(ary)[axis]
    if _np.ndim(indices_or_sections) == 0:
        indices_or_sections = int(indices_or_sections)
        sizes = [n // indices_or_sections + (1 if i < n % indices_or_sections else 0)
                 for i in range(indices_or_sections)]
        indices_or_sections = list(_np.cumsum(sizes)[:-1])
    return split(ary, indices_or_sections, axis)


def hsplit(ary, indices_or_sections):
    """numpy.hsplit."""
    return split(ary, indices_or_sections, 1 if len(_shape(ary)) > 1 else 0)


def vsplit(ary, indices_or_sections):
    """numpy.vsplit."""
    return split(ary, indices_or_sections, 0)


def flip(m, axis=None):
    """numpy.flip (axis None flips every axis)."""
    axis = _normalize_axis(axis, len(_shape(m)))
    return _P["flip"](m, axis=axis)


def fliplr(m):
    """numpy.fliplr."""
    return flip(m, 1)


def flipud(m):
    """numpy.flipud."""
    return flip(m, 0)


def roll(a, shift, axis=None):
    """numpy.roll (axis None rolls the flattened array)."""
    shift = int(shift) if _np.ndim(shift) == 0 else tuple(int(s) for s in shift)
    axis = axis if _np.ndim(axis) == 0 else tuple(int(a) for a in axis)
    if axis is None:
        return reshape(_P["roll"](ravel(a), shift=shift, axis=0), _shape(a))
    return _P["roll"](a, shift=shift, axis=axis)


def tile(A, reps):
    """numpy.tile."""
    reps = tuple(reps) if _np.ndim(reps) else (int(reps),)
    return _P["tile"](A, reps=reps)


def repeat(a, repeats, axis=None):
    """numpy.repeat (an int or one count per element; axis None flattens first)."""
    if axis is None:
        a, axis = ravel(a), 0
    repeats = int(repeats) if _np.ndim(repeats) == 0 else tuple(_np.asarray(repeats).tolist())
    return _P["repeat"](a, repeats=repeats, axis=_normalize_axis(axis, len(_shape(a)))[0])


def pad(array, pad_width, mode="constant", constant_values=0):
    """numpy.pad with mode="constant"."""
    if mode != "constant":
        raise NotImplementedError("pcgrad.numpy.pad supports mode='constant' only.")
    shape = _shape(array)
    width = tuple(tuple(int(w) for w in pair) for pair in
                  _np.broadcast_to(_np.asarray(pad_width, dtype=_np.int64), (len(shape), 2)))
    padded = _P["pad"](array, width=width)
    if _np.any(_np.asarray(constant_values) != 0):
        padded = padded + _np.pad(_np.zeros(shape), width, constant_values=constant_values)
    return padded


def take(a, indices, axis=None):
    """numpy.take (indices are constants)."""
    indices = _np.asarray(_constant(indices, "take"))
    if axis is None:
        a, axis = ravel(a), 0
    axis = _normalize_axis(axis, len(_shape(a)))[0]
    indices = _np.where(indices < 0, indices + _shape(a)[axis], indices)
    return _bind_with_arrays(_P["take"], (a,), {"indices": indices, "axis": axis})


def take_along_axis(arr, indices, axis):
    """numpy.take_along_axis (indices are constants)."""
    indices = _np.asarray(_constant(indices, "take_along_axis"))
    axis = _normalize_axis(axis, len(_shape(arr)))[0]
    grids = list(_np.indices(indices.shape, sparse=True))
    grids[axis] = indices
    return getitem(arr, tuple(grids))


def getitem(a, index):
    """a[index]: ints, slices (any step), None, ..., integer arrays and boolean masks."""
    if type(index) is slice:
        index = (index,)
    elif not (type(index) is tuple and _all_slices(index)):
        index, holds_arrays = _normalize_index(index)
        if holds_arrays:
            return _bind_with_arrays(_GETITEM, (a,), {"index": index})
    return _bind(_GETITEM, (a,), {"index": index})


def _all_slices(index):
    for item in index:
        if type(item) is not slice:
            return False
    return True


_GETITEM = _P["getitem"]


def _normalize_index(index):
    """(index as a tuple of ints, slices, None, ... and arrays, whether it holds arrays)."""
    if not isinstance(index, tuple):
        index = (index,)
    out, holds_arrays = [], False
    for item in index:
        item = _constant(item, "Indexing")
        if isinstance(item, (list, _np.ndarray)) and not isinstance(item, slice):
            item = _np.asarray(item)
            if item.dtype != bool and not _np.issubdtype(item.dtype, _np.integer):
                raise IndexError("arrays used as indices must be of integer or boolean type")
            holds_arrays = True
        elif isinstance(item, _np.generic):
            item = item.item()
        out.append(item)
    return tuple(out), holds_arrays


# --- constructors: plain numpy constants ---------------------------------------------
zeros, ones, empty, eye, identity, arange, linspace, logspace = (
    _np.zeros, _np.ones, _np.empty, _np.eye, _np.identity, _np.arange,
    _np.linspace, _np.logspace)


def zeros_like(a, dtype=None):
    """numpy.zeros_like: a constant."""
    return _np.zeros(_shape(a), dtype or _np.result_type(_value(a)))


def ones_like(a, dtype=None):
    """numpy.ones_like: a constant."""
    return _np.ones(_shape(a), dtype or _np.result_type(_value(a)))


def full(shape, fill_value, dtype=None):
    """numpy.full; a traced fill value is broadcast to ``shape``."""
    if isinstance(fill_value, _Tracer):
        return broadcast_to(fill_value, shape)
    return _np.full(shape, fill_value, dtype)


def full_like(a, fill_value, dtype=None):
    """numpy.full_like: a constant."""
    return _np.full(_shape(a), fill_value, dtype or _np.result_type(_value(a)))


def array(object, dtype=None):
    """numpy.array; a (nested) list containing traced values is stacked."""
    if isinstance(object, _Tracer):
        return object
    if isinstance(object, (list, tuple)) and _contains_tracer(object):
        return stack([array(x) for x in object])
    return _np.array(object, dtype=dtype)


def asarray(a, dtype=None):
    """numpy.asarray; traced arrays pass through."""
    return a if isinstance(a, _Tracer) else array(a, dtype)


def _contains_tracer(obj):
    if isinstance(obj, _Tracer):
        return True
    if isinstance(obj, (list, tuple)):
        return builtins.any(_contains_tracer(x) for x in obj)
    return False


def shape(a):
    """numpy.shape."""
    return _shape(a)


def ndim(a):
    """numpy.ndim."""
    return len(_shape(a))


def size(a):
    """numpy.size."""
    return math.prod(_shape(a))


# --- the numpy tail (sorting, differences, predicates, ...; see _tail.py) -----------------
from ._tail import *  # noqa: E402,F401,F403
from . import lib  # noqa: E402,F401


# --- what is not here ------------------------------------------------------------------
def __getattr__(name):
    raise _missing("pcgrad.numpy", name)


def _missing(namespace, name):
    """The AttributeError for a name a pcgrad namespace does not provide."""
    return AttributeError(
        f"{namespace} has no {name!r}. The supported functions are listed in "
        f"docs/numpy-support.md (and {namespace}.__all__); compose others from them, "
        "or open an issue.")


__all__ = sorted(n for n, v in dict(globals()).items()
                 if not n.startswith("_") and n not in ("builtins", "string")
                 and (callable(v) or n in ("linalg", "lib", "r_", "c_")))

from . import _tracer_methods  # noqa: E402,F401  (operators on Tracer)
