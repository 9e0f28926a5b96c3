"""Elementwise primitives: unary functions and n-ary ops with broadcasting.

Each function is one row of a table: its name, numpy forward and sub-code.
Its prediction and its local derivative are the two branches with that
sub-code in ``unary_value``/``unary_derivative`` (or ``nary_*``) below, so a
reader finds an operation's forward and derivative side by side.
"""
import math

import numpy as np
from numba import literal_unroll, njit

from .core import (NARY, UNARY, error_of, no_ints, parent,
                   register, sends, stored_value, value_of)

# name, numpy forward; the sub-code is the row number.
UNARY_TABLE = [
    ("negative", np.negative), ("exp", np.exp), ("exp2", np.exp2),
    ("expm1", np.expm1), ("log", np.log), ("log2", np.log2),
    ("log10", np.log10), ("log1p", np.log1p), ("sin", np.sin),
    ("cos", np.cos), ("tan", np.tan), ("arcsin", np.arcsin),
    ("arccos", np.arccos), ("arctan", np.arctan), ("sinh", np.sinh),
    ("cosh", np.cosh), ("tanh", np.tanh), ("arcsinh", np.arcsinh),
    ("arccosh", np.arccosh), ("arctanh", np.arctanh), ("sqrt", np.sqrt),
    ("cbrt", np.cbrt), ("reciprocal", lambda x: 1.0 / x), ("square", np.square),
    ("abs", np.abs),
    # zero derivative: outputs are constants for the relaxation
    ("sign", np.sign), ("floor", np.floor), ("ceil", np.ceil), ("round", np.rint),
    ("stop_gradient", lambda x: x),
]
NONDIFF_UNARY = {"sign", "floor", "ceil", "round", "stop_gradient"}
FIRST_NONDIFF_UNARY = [name for name, _ in UNARY_TABLE].index("sign")  # zero from here on

LN2, LN10 = math.log(2.0), math.log(10.0)


@njit(inline="always")
def _sign(x):
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x  # 0.0, -0.0 or NaN, as numpy.sign


@njit(inline="always")
def unary_value(code, x):
    if code == 0: return -x
    if code == 1: return math.exp(x)
    if code == 2: return 2.0 ** x
    if code == 3: return math.expm1(x)
    if code == 4: return math.log(x) if x >= 0 else math.nan
    if code == 5: return math.log(x) / LN2 if x >= 0 else math.nan
    if code == 6: return math.log10(x) if x >= 0 else math.nan
    if code == 7: return math.log1p(x) if x >= -1 else math.nan
    if code == 8: return math.sin(x)
    if code == 9: return math.cos(x)
    if code == 10: return math.tan(x)
    if code == 11: return math.asin(x) if abs(x) <= 1 else math.nan
    if code == 12: return math.acos(x) if abs(x) <= 1 else math.nan
    if code == 13: return math.atan(x)
    if code == 14: return math.sinh(x)
    if code == 15: return math.cosh(x)
    if code == 16: return math.tanh(x)
    if code == 17: return math.asinh(x)
    if code == 18: return math.acosh(x) if x >= 1 else math.nan
    if code == 19: return math.atanh(x) if abs(x) <= 1 else math.nan
    if code == 20: return math.sqrt(x) if x >= 0 else math.nan
    if code == 21: return math.copysign(abs(x) ** (1.0 / 3.0), x)
    if code == 22: return 1.0 / x if x != 0 else math.copysign(math.inf, x)
    if code == 23: return x * x
    if code == 24: return abs(x)
    if code == 25: return _sign(x)
    if code == 26: return math.floor(x)
    if code == 27: return math.ceil(x)
    if code == 28: return float(round(x))
    return x


@njit(inline="always")
def unary_derivative(code, x, y):
    """dy/dx of unary function ``code`` at input x with output y."""
    if code == 0: return -1.0
    if code == 1: return y
    if code == 2: return y * LN2
    if code == 3: return y + 1.0
    if code == 4: return 1.0 / x
    if code == 5: return 1.0 / (x * LN2)
    if code == 6: return 1.0 / (x * LN10)
    if code == 7: return 1.0 / (1.0 + x)
    if code == 8: return math.cos(x)
    if code == 9: return -math.sin(x)
    if code == 10: return 1.0 + y * y
    if code == 11: return 1.0 / math.sqrt(1.0 - x * x)
    if code == 12: return -1.0 / math.sqrt(1.0 - x * x)
    if code == 13: return 1.0 / (1.0 + x * x)
    if code == 14: return math.cosh(x)
    if code == 15: return math.sinh(x)
    if code == 16: return 1.0 - y * y
    if code == 17: return 1.0 / math.sqrt(x * x + 1.0)
    if code == 18: return 1.0 / math.sqrt(x * x - 1.0)
    if code == 19: return 1.0 / (1.0 - x * x)
    if code == 20: return 0.5 / y
    if code == 21: return 1.0 / (3.0 * y * y)
    if code == 22: return -y * y
    if code == 23: return 2.0 * x
    if code == 24: return _sign(x)
    return 0.0


# LLVM does not hoist a switch of thirty math functions out of a loop, so an
# error rule branches on the sub-code once and runs a loop specialised to it
# (literal_unroll makes the code a constant in each inlined copy; a copy's
# variables must each be assigned once, hence the small helpers of the n-ary
# loop). The forward kernels keep one loop: their math functions cost more
# than the switch, and a copy per code would double the compile time.
DIFF_UNARY_CODES = tuple(range(FIRST_NONDIFF_UNARY))


@njit(cache=True)
def unary_forward(t, j, value, out):
    x = value_of(t, value, parent(t, j, 0))
    code = t.code[j]
    for i in range(out.size):
        out[i] = unary_value(code, x[i])


@njit(inline="always")
def _unary_vjp_loop(code, x, y, e, g):
    for i in range(e.size):
        g[i] += unary_derivative(code, x[i], y[i]) * e[i]


# eps_x += f'(x) eps_y
@njit(cache=True)
def unary_vjp(t, j, value, prediction, e, acc):
    p = parent(t, j, 0)
    x = value_of(t, value, p)
    y = value_of(t, prediction, j)
    g = error_of(t, acc, p)
    code = t.code[j]
    for c in literal_unroll(DIFF_UNARY_CODES):
        if c == code:
            _unary_vjp_loop(c, x, y, e, g)


for _code, (_name, _fn) in enumerate(UNARY_TABLE):
    register(_name, UNARY, _fn, no_ints(_code), reads_inputs=True, reads_output=True,
             differentiable=_name not in NONDIFF_UNARY)


# --- n-ary elementwise ops with numpy broadcasting -------------------------
# The output is walked as rows: its shape, with size-1 axes dropped and
# neighbouring axes merged where every operand either has both or broadcasts
# along both, is ``dims``; the last merged axis is a row. Operand k steps
# through its own contiguous elements with ``strides[k]`` over those axes (0
# where it broadcasts). ints = [nd, dims (nd), strides of operands 0, 1 and 2
# (nd each)]. The error rule walks the same rows, so accumulating through a
# zero stride sums an operand's error over its broadcast axes.


def _np_where(cond, a, b):
    return np.where(cond, a, b)


NARY_TABLE = [
    ("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply),
    ("divide", np.divide), ("power", np.power), ("maximum", np.maximum),
    ("minimum", np.minimum), ("arctan2", np.arctan2), ("hypot", np.hypot),
    ("logaddexp", np.logaddexp), ("where", _np_where),
    # zero derivative
    ("less", np.less), ("less_equal", np.less_equal), ("greater", np.greater),
    ("greater_equal", np.greater_equal), ("equal", np.equal),
    ("not_equal", np.not_equal), ("logical_and", np.logical_and),
    ("logical_or", np.logical_or), ("logical_xor", np.logical_xor),
    ("logical_not", np.logical_not),
]
FIRST_NONDIFF_NARY = 11


@njit(inline="always")
def nary_value(code, a, b, c):
    if code == 0: return a + b
    if code == 1: return a - b
    if code == 2: return a * b
    if code == 3: return a / b
    if code == 4: return a ** b
    if code == 5: return a if a >= b or a != a else b
    if code == 6: return a if a <= b or a != a else b
    if code == 7: return math.atan2(a, b)
    if code == 8: return math.hypot(a, b)
    if code == 9: return max(a, b) + math.log1p(math.exp(-abs(a - b)))
    if code == 10: return b if a != 0 else c
    if code == 11: return 1.0 if a < b else 0.0
    if code == 12: return 1.0 if a <= b else 0.0
    if code == 13: return 1.0 if a > b else 0.0
    if code == 14: return 1.0 if a >= b else 0.0
    if code == 15: return 1.0 if a == b else 0.0
    if code == 16: return 1.0 if a != b else 0.0
    if code == 17: return 1.0 if a != 0 and b != 0 else 0.0
    if code == 18: return 1.0 if a != 0 or b != 0 else 0.0
    if code == 19: return 1.0 if (a != 0) != (b != 0) else 0.0
    return 1.0 if a == 0 else 0.0


@njit(inline="always")
def nary_derivative(code, k, a, b, c, y):
    """d y / d operand_k of n-ary op ``code`` at operands (a, b, c), output y."""
    if code == 0: return 1.0
    if code == 1: return 1.0 if k == 0 else -1.0
    if code == 2: return b if k == 0 else a
    if code == 3: return 1.0 / b if k == 0 else -y / b
    if code == 4:
        if k == 0:
            return 0.0 if b == 0 else b * a ** (b - 1.0)
        return y * math.log(a) if a != 0 else 0.0
    if code == 5 or code == 6:  # ties share the error equally, as in autograd
        tie = 2.0 if a == b else 1.0
        own = a if k == 0 else b
        return (1.0 if own == y else 0.0) / tie
    if code == 7:
        return b / (a * a + b * b) if k == 0 else -a / (a * a + b * b)
    if code == 8: return (a if k == 0 else b) / y
    if code == 9: return math.exp((a if k == 0 else b) - y)
    if code == 10:
        if k == 1: return 1.0 if a != 0 else 0.0
        if k == 2: return 0.0 if a != 0 else 1.0
    return 0.0

DIFF_NARY_CODES = tuple(range(FIRST_NONDIFF_NARY))


@njit(cache=True)
def _row_offsets(ints, r):
    """Offsets of row r in operands 0, 1 and 2."""
    nd = ints[0]
    o0 = o1 = o2 = 0
    for d in range(nd - 2, -1, -1):
        size = ints[1 + d]
        i = r % size
        r //= size
        o0 += i * ints[1 + nd + d]
        o1 += i * ints[1 + 2 * nd + d]
        o2 += i * ints[1 + 3 * nd + d]
    return o0, o1, o2


@njit(cache=True)
def _pick(k, v0, v1, v2):
    return v0 if k == 0 else (v1 if k == 1 else v2)


@njit(inline="always")
def _unit_rows(code, k, a, b, c, y, e, g):
    for i in range(e.size):
        g[i] += nary_derivative(code, k, a[i], b[i], c[i], y[i]) * e[i]


@njit(inline="always")
def _unit_reduced_row(code, k, a, b, c, y, e):
    total = 0.0
    for i in range(e.size):
        total += nary_derivative(code, k, a[i], b[i], c[i], y[i]) * e[i]
    return total


@njit(cache=True)
def _strides(ints, xa, xb, xc):
    """Steps along a row of operands 0, 1, 2 as read (an absent operand is
    read from e, step 1) and as written (``ints``'s own)."""
    nd = ints[0]
    r0, r1, r2 = ints[2 * nd], ints[3 * nd], ints[4 * nd]
    p0, p1, p2 = xa[1], xb[1], xc[1]
    return (r0 * p0 + 1 - p0, r1 * p1 + 1 - p1, r2 * p2 + 1 - p2), (r0, r1, r2)


@njit(cache=True)
def _row_start(ints, r, xa, xb, xc):
    """Row r's first element in each operand as read (absent: e's own row)."""
    o0, o1, o2 = _row_offsets(ints, r)
    base = r * ints[ints[0]]
    p0, p1, p2 = xa[1], xb[1], xc[1]
    return (o0 * p0 + base * (1 - p0), o1 * p1 + base * (1 - p1),
            o2 * p2 + base * (1 - p2)), (o0, o1, o2), base


@njit(inline="always")
def _unit_vjp(code, k, ints, xa, xb, xc, y, e, g):
    """The error rule when every operand read steps by 1 along a row: loops
    over contiguous rows, which LLVM vectorizes (a stride in the index would
    prevent that). The target either steps by 1 too, or broadcasts along the
    row (its error is the row's sum)."""
    row = ints[ints[0]]
    rows = e.size // max(row, 1)
    rk = _pick(k, ints[2 * ints[0]], ints[3 * ints[0]], ints[4 * ints[0]])
    fa, fb, fc = xa[0], xb[0], xc[0]
    if rk == 1 and rows == 1:  # all of one shape (or absent): no views needed
        _unit_rows(code, k, fa, fb, fc, y, e, g)
        return
    for r in range(rows):
        (q0, q1, q2), (o0, o1, o2), base = _row_start(ints, r, xa, xb, xc)
        ok = _pick(k, o0, o1, o2)
        if rk == 1:
            _unit_rows(code, k, fa[q0:q0 + row], fb[q1:q1 + row], fc[q2:q2 + row],
                       y[base:base + row], e[base:base + row], g[ok:ok + row])
        else:
            g[ok] += _unit_reduced_row(code, k, fa[q0:q0 + row], fb[q1:q1 + row],
                                       fc[q2:q2 + row], y[base:base + row], e[base:base + row])


@njit(inline="always")
def _nary_loop(code, k, forward, ints, xa, xb, xc, y, e, g):
    """forward: y = op(a, b, c); else g[operand k] += d op / d operand_k * e,
    for any strides. An operand that is absent (no rule reads it) is read
    from e instead, at e's own positions, so the loop needs no test per
    element."""
    row = ints[ints[0]]
    (s0, s1, s2), (r0, r1, r2) = _strides(ints, xa, xb, xc)
    rk = _pick(k, r0, r1, r2)
    fa, fb, fc = xa[0], xb[0], xc[0]
    rows = _pick(int(forward), e.size, y.size, 0) // max(row, 1)
    for r in range(rows):
        (q0, q1, q2), (o0, o1, o2), base = _row_start(ints, r, xa, xb, xc)
        ok = _pick(k, o0, o1, o2)
        if forward:
            for i in range(row):
                y[base + i] = nary_value(code, fa[q0 + i * s0], fb[q1 + i * s1], fc[q2 + i * s2])
        else:
            for i in range(row):
                g[ok + i * rk] += nary_derivative(code, k, fa[q0 + i * s0], fb[q1 + i * s1],
                                                  fc[q2 + i * s2], y[base + i]) * e[base + i]


@njit(cache=True)
def _operand(t, value, j, k, absent):
    """(value of operand k of node j, 1), or (``absent``, 0) when node j has
    no operand k or its value is not stored (no rule reads it). Operand -1 is
    node j itself."""
    i = j if k < 0 else (parent(t, j, k) if k < t.pptr[j + 1] - t.pptr[j] else -1)
    if i >= 0 and t.voff[i] >= 0:
        return value_of(t, value, i), 1
    return absent, 0


@njit(cache=True)
def nary_forward(t, j, value, out):
    ints = t.ints[t.iptr[j]:t.iptr[j + 1]]
    xa, xb, xc = (_operand(t, value, j, 0, out), _operand(t, value, j, 1, out),
                  _operand(t, value, j, 2, out))
    _nary_loop(t.code[j], 0, True, ints, xa, xb, xc, out, out, out)


@njit(cache=True)
def _read_for(x, code, k, m, e):
    """Operand m as the error rule for operand k reads it (READS_OPERANDS),
    so that a broadcast operand the rule does not read does not cost it the
    contiguous loop."""
    reads = READS_OPERANDS[code]
    if reads == 0 or (reads == 1 and m == k):
        return e, 0
    return x


# eps_k[operand element of i] += d y_i / d x_k * eps_y[i]. Sums may be
# reassociated so that a sum over a row vectorizes (it rounds differently).
@njit(cache=True, fastmath={"reassoc"})
def nary_vjp(t, j, value, prediction, e, acc):
    ints = t.ints[t.iptr[j]:t.iptr[j + 1]]
    nargs = t.pptr[j + 1] - t.pptr[j]
    code = t.code[j]
    xa, xb, xc = (_operand(t, value, j, 0, e), _operand(t, value, j, 1, e),
                  _operand(t, value, j, 2, e))
    y = _operand(t, prediction, j, -1, e)[0]  # its own prediction, or e when not stored
    for k in range(nargs):
        if not sends(t, j, k):
            continue
        g = error_of(t, acc, parent(t, j, k))
        ra, rb, rc = (_read_for(xa, code, k, 0, e), _read_for(xb, code, k, 1, e),
                      _read_for(xc, code, k, 2, e))
        if _strides(ints, ra, rb, rc)[0] == (1, 1, 1):
            for op in literal_unroll(DIFF_NARY_CODES):
                if op == code:
                    _unit_vjp(op, k, ints, ra, rb, rc, y, e, g)
        else:  # a broadcast operand: one loop for all codes
            _nary_loop(code, k, False, ints, ra, rb, rc, y, e, g)


def broadcast_rows(in_shapes, out_shape):
    """The row walk of ``out_shape`` for operands of ``in_shapes`` (at most
    three): [nd, dims, strides of each of three operands] (see above)."""
    shapes = [(1,) * (len(out_shape) - len(s)) + tuple(s) for s in in_shapes]
    dims, kept = [], []  # merged axes and, per axis, which operands have it
    for d, n in enumerate(out_shape):
        if n == 1:
            continue
        has = tuple(s[d] == n for s in shapes)
        if kept and kept[-1] == has:
            dims[-1] *= n
        else:
            dims.append(n)
            kept.append(has)
    if not dims:
        dims, kept = [1], [tuple(False for _ in shapes)]
    strides = np.zeros((3, len(dims)), np.int64)
    for k in range(len(shapes)):
        step = 1
        for d in range(len(dims) - 1, -1, -1):
            if kept[d][k]:
                strides[k, d] = step
                step *= dims[d]
    return np.concatenate([[len(dims)], dims, strides.ravel()]).astype(np.int64)


def _lower_nary(code):
    def lower(params, in_shapes, out_shape):
        return code, broadcast_rows(in_shapes, out_shape)
    return lower


_READS = {"add": (False, False), "subtract": (False, False), "multiply": ("others", False),
          "divide": (True, True), "power": (True, True), "hypot": (True, True),
          "logaddexp": (True, True), "maximum": (True, True), "minimum": (True, True)}

# by sub-code, which operands an error rule reads: 0 none, 1 the others, 2 all
READS_OPERANDS = tuple({False: 0, "others": 1, True: 2}[_READS.get(name, (True, False))[0]]
                       for name, _ in NARY_TABLE)

for _code, (_name, _fn) in enumerate(NARY_TABLE):
    _in, _out = _READS.get(_name, (True, False))
    register(_name, NARY, _fn, _lower_nary(_code), reads_inputs=_in, reads_output=_out,
             differentiable=_code < FIRST_NONDIFF_NARY)
