"""Elementwise primitives: unary functions and n-ary ops with broadcasting.

Each function is one row of a table: its name, numpy forward and sub-code.
Its prediction and its local derivative are the two branches with that
sub-code in ``unary_value``/``unary_derivative`` (or ``nary_*``) below, so a
reader finds an operation's forward and derivative side by side.
"""
import math

import numpy as np
from numba import njit

from .core import (NARY, UNARY, broadcast_map, error_of, no_ints, parent,
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


@njit(cache=True)
def unary_forward(t, j, value, out):
    x = value_of(t, value, parent(t, j, 0))
    for i in range(out.size):
        out[i] = unary_value(t.code[j], x[i])


# eps_x += f'(x) eps_y
@njit(cache=True)
def unary_vjp(t, j, value, prediction, e, acc):
    p = parent(t, j, 0)
    x = value_of(t, value, p)
    y = value_of(t, prediction, j)
    g = error_of(t, acc, p)
    code = t.code[j]
    for i in range(e.size):
        g[i] += unary_derivative(code, x[i], y[i]) * e[i]


for _code, (_name, _fn) in enumerate(UNARY_TABLE):
    register(_name, UNARY, _fn, no_ints(_code), reads_inputs=True, reads_output=True,
             differentiable=_name not in NONDIFF_UNARY)


# --- n-ary elementwise ops with numpy broadcasting -------------------------
# Each operand k has a broadcast mode in ints[k]: -1 same shape as the output,
# -2 a single element, -(3 + m) a block of m elements repeated along leading
# axes (a bias), otherwise the offset (within the node's ints) of a map from
# output element to operand element. The error rule accumulates through that
# map, which sums each operand's error over its broadcast axes.

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


@njit(inline="always")
def operand_index(ints, k, i):
    mode = ints[k]
    if mode == -1:
        return i
    if mode == -2:
        return 0
    if mode < -2:  # a block of -mode - 3 elements repeated (a bias)
        return i % (-mode - 3)
    return ints[mode + i]


@njit(cache=True)
def _operand(t, value, j, k):
    """Value of operand k of node j, or an empty array when absent or not stored."""
    if k < t.pptr[j + 1] - t.pptr[j]:
        return stored_value(t, value, parent(t, j, k))
    return value[:0]


@njit(cache=True)
def nary_forward(t, j, value, out):
    ints = t.ints[t.iptr[j]:t.iptr[j + 1]]
    nargs = t.pptr[j + 1] - t.pptr[j]
    xa, xb, xc = _operand(t, value, j, 0), _operand(t, value, j, 1), _operand(t, value, j, 2)
    code = t.code[j]
    for i in range(out.size):
        a = xa[operand_index(ints, 0, i)]
        b = xb[operand_index(ints, 1, i)] if nargs > 1 else 0.0
        c = xc[operand_index(ints, 2, i)] if nargs > 2 else 0.0
        out[i] = nary_value(code, a, b, c)


# eps_k[map_k(i)] += d y_i / d x_k * eps_y[i]
@njit(cache=True)
def nary_vjp(t, j, value, prediction, e, acc):
    ints = t.ints[t.iptr[j]:t.iptr[j + 1]]
    nargs = t.pptr[j + 1] - t.pptr[j]
    code = t.code[j]
    xa, xb, xc = _operand(t, value, j, 0), _operand(t, value, j, 1), _operand(t, value, j, 2)
    y = stored_value(t, prediction, j)
    for k in range(nargs):
        if not sends(t, j, k):
            continue
        g = error_of(t, acc, parent(t, j, k))
        if code <= 1:  # add, subtract: constant derivative, no values read
            sign = 1.0 if code == 0 or k == 0 else -1.0
            if ints[k] < -2:  # a repeated block: sum the rows
                m = -ints[k] - 3
                for r in range(0, e.size, m):
                    for c in range(m):
                        g[c] += sign * e[r + c]
                continue
            for i in range(e.size):
                g[operand_index(ints, k, i)] += sign * e[i]
            continue
        for i in range(e.size):
            a = xa[operand_index(ints, 0, i)] if xa.size else 0.0
            b = xb[operand_index(ints, 1, i)] if xb.size else 0.0
            c = xc[operand_index(ints, 2, i)] if xc.size else 0.0
            yi = y[i] if y.size else 0.0
            g[operand_index(ints, k, i)] += nary_derivative(code, k, a, b, c, yi) * e[i]


def _leading_ones(shape):
    count = 0
    while count < len(shape) and shape[count] == 1:
        count += 1
    return count


def _lower_nary(code):
    def lower(params, in_shapes, out_shape):
        modes, maps, offset = [], [], len(in_shapes)
        for shape in in_shapes:
            size = math.prod(shape)
            trailing = tuple(shape)[_leading_ones(shape):]
            if tuple(shape) == tuple(out_shape):
                modes.append(-1)
            elif size == 1:
                modes.append(-2)
            elif trailing == tuple(out_shape)[len(out_shape) - len(trailing):]:
                modes.append(-3 - size)
            else:
                modes.append(offset)
                maps.append(broadcast_map(shape, out_shape))
                offset += maps[-1].size
        return code, np.concatenate([np.array(modes, np.int64)] + maps)
    return lower


_READS = {"add": (False, False), "subtract": (False, False), "multiply": ("others", False),
          "divide": (True, True), "power": (True, True), "hypot": (True, True),
          "logaddexp": (True, True), "maximum": (True, True), "minimum": (True, True)}

for _code, (_name, _fn) in enumerate(NARY_TABLE):
    _in, _out = _READS.get(_name, (True, False))
    register(_name, NARY, _fn, _lower_nary(_code), reads_inputs=_in, reads_output=_out,
             differentiable=_code < FIRST_NONDIFF_NARY)
