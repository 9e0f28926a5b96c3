"""Primitives that move elements without arithmetic: gather and reshape.

Every gather primitive (transpose, broadcast, indexing, flip, pad, concatenate,
...) is defined by a numpy function that only rearranges elements. Its op-table
row is that same function applied to the operands' flat indices: a map from
each output element to the element it copies (-1: a zero, as in padding). One
pair of kernels serves them all: the prediction copies through the map, and
the error rule adds each output error back to its source (a scatter-add).
"""
import math
import numpy as np

from ..kernels import helper, kernel
from ..tracing import bind_with_arrays
from .core import (COPY, GATHER, accumulate, copy, error_of, family, no_ints, parent, prim,
                   register, sends, tnp, value_of)


def _gather_lowering(index_forward):
    def lower(params, in_shapes, out_shape):
        operands, base = [], 0
        for shape in in_shapes:
            size = math.prod(shape)
            operands.append(np.arange(base, base + size, dtype=np.int64).reshape(shape))
            base += size
        index = np.asarray(index_forward(*operands, **params), dtype=np.int64)
        return 0, np.ascontiguousarray(index.ravel())
    return lower


# A map of one operand made of runs of consecutive elements (a basic slice,
# x[:, a:b] or x[a:b]: a run per row) is lowered as the runs, sub-code RUNS
# with ints [start, length] per run: its kernels copy and add whole runs,
# loops that vectorize, where the map's kernels move an element at a time
# through its index (a scatter-add does not vectorize). Worth it where runs
# are MIN_RUN elements long on average.
RUNS = 1
MIN_RUN = 4


def as_runs(index):
    """[start, length] of each run of consecutive sources in the flat map
    ``index``, or None if it has zeros (-1) or runs shorter than MIN_RUN.
    (A -1 always starts a run: no source precedes it.) Lean: a plan-cache
    miss lowers every gather again."""
    n = index.size
    if n < MIN_RUN:
        return None
    ends = np.flatnonzero(index[1:] - index[:-1] != 1)  # the last element of each run but one
    if ends.size == 0:  # one run (x[a:b], a row)
        return np.array([index[0], n]) if index[0] >= 0 else None
    if (ends.size + 1) * MIN_RUN > n:
        return None
    bounds = np.empty(ends.size + 2, np.int64)
    bounds[0], bounds[1:-1], bounds[-1] = 0, ends + 1, n
    starts = index[bounds[:-1]]
    if starts.min() < 0:
        return None
    runs = np.empty(2 * starts.size, np.int64)
    runs[0::2], runs[1::2] = starts, bounds[1:] - bounds[:-1]
    return runs


def _runs_lowering(lower):
    def lower_runs(params, in_shapes, out_shape):
        code, index = lower(params, in_shapes, out_shape)
        runs = as_runs(index) if len(in_shapes) == 1 else None
        return (code, index) if runs is None else (RUNS, runs)
    return lower_runs


def register_gather(name, forward, index_forward=None):
    """Register a rearranging primitive; ``index_forward`` marks zeros with -1."""
    lower = _gather_lowering(index_forward or forward)
    return register(name, GATHER, forward, _runs_lowering(lower), vjp=_gather_vjp(lower))


def _gather_vjp(lower):
    """The traced error rule of a gather: each output error added back to the
    element of operand k it copies (a scatter_add through the same map)."""
    def vjp(k, g, y, /, *xs, **params):  # (params may hold a "k")
        shapes = [np.shape(x) for x in xs]
        index = lower(params, shapes, np.shape(y))[1]
        base = sum(math.prod(shape) for shape in shapes[:k])
        hit = (index >= base) & (index < base + math.prod(shapes[k]))
        flat = tnp.ravel(g)
        if not hit.all():
            flat = tnp.take(flat, np.flatnonzero(hit))
        return bind_with_arrays(prim.scatter_add, (flat,),
                                {"targets": index[hit] - base, "shape": tuple(shapes[k])})
    return vjp


@helper
def _source(t, j, m):
    """Operand number and element offset of flat source index m of node j."""
    k, base = 0, 0
    while m >= base + t.size[parent(t, j, k)]:
        base += t.size[parent(t, j, k)]
        k += 1
    return k, m - base


@kernel
def gather_forward(t, j, value, out):
    index = t.ints[t.iptr[j]:t.iptr[j + 1]]
    if t.pptr[j + 1] - t.pptr[j] == 1:
        x = value_of(t, value, parent(t, j, 0))
        for i in range(out.size):
            out[i] = x[index[i]] if index[i] >= 0 else 0.0
        return
    for i in range(out.size):
        m = index[i]
        if m < 0:
            out[i] = 0.0
        else:
            k, offset = _source(t, j, m)
            out[i] = value[t.voff[parent(t, j, k)] + offset]


# eps_x[map(i)] += eps_y[i]
@kernel
def gather_vjp(t, j, value, prediction, e, acc):
    index = t.ints[t.iptr[j]:t.iptr[j + 1]]
    if t.pptr[j + 1] - t.pptr[j] == 1:
        if sends(t, j, 0):
            g = error_of(t, acc, parent(t, j, 0))
            for i in range(e.size):
                if index[i] >= 0:
                    g[index[i]] += e[i]
        return
    for i in range(e.size):
        if index[i] >= 0:
            k, offset = _source(t, j, index[i])
            if sends(t, j, k):
                acc[t.eoff[parent(t, j, k)] + offset] += e[i]


# The same for a map of runs (RUNS): out = the runs of x, one after another.
@kernel
def gather_forward_runs(t, j, value, out):
    runs = t.ints[t.iptr[j]:t.iptr[j + 1]]
    x = value_of(t, value, parent(t, j, 0))
    i = 0
    for r in range(runs.size // 2):
        start, n = runs[2 * r], runs[2 * r + 1]
        copy(out[i:i + n], x[start:start + n])
        i += n


@kernel
def gather_vjp_runs(t, j, value, prediction, e, acc):
    if not sends(t, j, 0):
        return
    runs = t.ints[t.iptr[j]:t.iptr[j + 1]]
    g = error_of(t, acc, parent(t, j, 0))
    i = 0
    for r in range(runs.size // 2):
        start, n = runs[2 * r], runs[2 * r + 1]
        accumulate(g[start:start + n], e[i:i + n])
        i += n


def _getitem(x, index):
    return x[index]


def _where_index(mask_fn):
    return lambda x, **params: np.where(mask_fn(np.ones(x.shape, bool), **params), x, -1)


family(GATHER, lambda code: gather_vjp_runs if code == RUNS else gather_vjp,
       lambda code: gather_forward_runs if code == RUNS else gather_forward, codes=(0, RUNS),
       names=["gather", "gather (runs)"])


register_gather("transpose", lambda x, axes: np.transpose(x, axes))
register_gather("broadcast_to", lambda x, shape: np.broadcast_to(x, shape).copy())
register_gather("getitem", _getitem)
register_gather("flip", lambda x, axis: np.flip(x, axis).copy())
register_gather("roll", lambda x, shift, axis: np.roll(x, shift, axis))
register_gather("tile", lambda x, reps: np.tile(x, reps))
register_gather("repeat", lambda x, repeats, axis: np.repeat(x, repeats, axis))
register_gather("take", lambda x, indices, axis: np.take(x, indices, axis))
register_gather("diagonal", lambda x, offset, axis1, axis2:
                np.diagonal(x, offset, axis1, axis2).copy())
register_gather("concatenate", lambda *xs, axis: np.concatenate(xs, axis))
register_gather("pad", lambda x, width: np.pad(x, width),
                lambda x, width: np.pad(x, width, constant_values=-1))
register_gather("diag_embed", lambda x, k: np.diag(x, k),
                lambda x, k: np.where(np.diag(np.ones(x.shape, bool), k), np.diag(x, k), -1))
register_gather("triu", lambda x, k: np.triu(x, k),
                _where_index(lambda ones, k: np.triu(ones, k)))
register_gather("tril", lambda x, k: np.tril(x, k),
                _where_index(lambda ones, k: np.tril(ones, k)))


# --- reshape: same elements, same order -------------------------------------
@kernel
def copy_forward(t, j, value, out):
    copy(out, value_of(t, value, parent(t, j, 0)))


# eps_x += eps_y
@kernel
def copy_vjp(t, j, value, prediction, e, acc):
    if sends(t, j, 0):
        accumulate(error_of(t, acc, parent(t, j, 0)), e)


register("reshape", COPY, lambda x, shape: np.reshape(x, shape), no_ints(),
         vjp=lambda k, g, y, x, shape: tnp.reshape(g, np.shape(x)))
# A precision does not change the settled errors under the fixed prediction
# assumption, so the traced rule is the identity too.
register("pc_node", COPY, lambda x, name, precision: np.array(x, copy=True), no_ints(),
         keeps_value=True, vjp=lambda k, g, y, x, name, precision: g)
family(COPY, lambda code: copy_vjp, lambda code: copy_forward)
