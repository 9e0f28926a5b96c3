"""Elementwise primitives: unary functions and n-ary ops with broadcasting.

Each function is one row of a table: its name, its numpy forward, and two
scalar functions side by side, its prediction and its local derivative.
Every function gets kernels of its own, made from those two when a plan
first uses it, so that LLVM vectorizes its loops and no kernel pays for the
others' code (see kernels.py).
"""
import dis
import functools
import math

import numpy as np
from numba import types

from ..kernels import (address_of, caller, distinct, helper, kernel, scalar, shared_table, span,
                      stack_buffer)
from . import special as sp
from . import vecmath as vm
from .core import (NARY, UNARY, error_of, family, fill, no_ints, parent, prim, register,
                   sends, tnp, value_of, view)

LN2, LN10 = math.log(2.0), math.log(10.0)


def _scipy(name, *first):
    """The numpy forward ``scipy.special.<name>(*first, *args)``, importing
    scipy.special at its first call: the import takes a few tenths of a
    second that ``import pcgrad`` need not pay."""
    def forward(*args):
        import scipy.special
        return getattr(scipy.special, name)(*first, *args)
    forward.__name__ = name
    return forward


# Scalar functions the kernels call (and LLVM inlines): see kernels.scalar.
@scalar
def _sign(x):
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x  # 0.0, -0.0 or NaN, as numpy.sign


# --- unary: y = f(x); f'(x) given x and y ------------------------------------
@scalar
def negative(x): return -x
@scalar
def negative_d(x, y): return -1.0
@scalar
def exp(x): return vm.exp(x)
@scalar
def exp_d(x, y): return y
@scalar
def exp2(x): return 2.0 ** x
@scalar
def exp2_d(x, y): return y * LN2
@scalar
def expm1(x): return vm.expm1(x)
@scalar
def expm1_d(x, y): return y + 1.0
@scalar
def log(x): return vm.log(x)
@scalar
def log_d(x, y): return 1.0 / x
@scalar
def log2(x): return math.log(x) / LN2 if x >= 0 else math.nan
@scalar
def log2_d(x, y): return 1.0 / (x * LN2)
@scalar
def log10(x): return math.log10(x) if x >= 0 else math.nan
@scalar
def log10_d(x, y): return 1.0 / (x * LN10)
@scalar
def log1p(x): return vm.log1p(x)
@scalar
def log1p_d(x, y): return 1.0 / (1.0 + x)
@scalar
def sin(x): return vm.sin(x) if abs(x) <= vm.TRIG_BOUND else math.sin(x)
@scalar
def sin_d(x, y): return cos(x)
@scalar
def cos(x): return vm.cos(x) if abs(x) <= vm.TRIG_BOUND else math.cos(x)
@scalar
def cos_d(x, y): return -sin(x)
@scalar
def tan(x): return math.tan(x)
@scalar
def tan_d(x, y): return 1.0 + y * y
@scalar
def arcsin(x): return math.asin(x) if abs(x) <= 1 else math.nan
@scalar
def arcsin_d(x, y): return 1.0 / math.sqrt(1.0 - x * x)
@scalar
def arccos(x): return math.acos(x) if abs(x) <= 1 else math.nan
@scalar
def arccos_d(x, y): return -1.0 / math.sqrt(1.0 - x * x)
@scalar
def arctan(x): return math.atan(x)
@scalar
def arctan_d(x, y): return 1.0 / (1.0 + x * x)
@scalar
def sinh(x): return math.sinh(x)
@scalar
def sinh_d(x, y): return math.cosh(x)
@scalar
def cosh(x): return math.cosh(x)
@scalar
def cosh_d(x, y): return math.sinh(x)
@scalar
def tanh(x): return vm.tanh(x)
@scalar
def tanh_d(x, y): return 1.0 - y * y
@scalar
def arcsinh(x): return math.asinh(x)
@scalar
def arcsinh_d(x, y): return 1.0 / math.sqrt(x * x + 1.0)
@scalar
def arccosh(x): return math.acosh(x) if x >= 1 else math.nan
@scalar
def arccosh_d(x, y): return 1.0 / math.sqrt(x * x - 1.0)
@scalar
def arctanh(x): return math.atanh(x) if abs(x) <= 1 else math.nan
@scalar
def arctanh_d(x, y): return 1.0 / (1.0 - x * x)
@scalar
def sqrt(x): return math.sqrt(x) if x >= 0 else math.nan
@scalar
def sqrt_d(x, y): return 0.5 / y
@scalar
def cbrt(x): return math.copysign(abs(x) ** (1.0 / 3.0), x)
@scalar
def cbrt_d(x, y): return 1.0 / (3.0 * y * y)
@scalar
def reciprocal(x): return 1.0 / x if x != 0 else math.copysign(math.inf, x)
@scalar
def reciprocal_d(x, y): return -y * y
@scalar
def square(x): return x * x
@scalar
def square_d(x, y): return 2.0 * x
@scalar
def absolute(x): return abs(x)
@scalar
def absolute_d(x, y): return _sign(x)
# zero derivative: their outputs are constants for the relaxation
@scalar
def sign(x): return _sign(x)
@scalar
def floor(x): return np.floor(x)
@scalar
def ceil(x): return np.ceil(x)
@scalar
def rint(x): return np.rint(x)
@scalar
def identity(x): return x
@scalar
def zero_d(x, y): return 0.0
# sin and cos within vecmath's range reduction (see IN_RANGE)
@scalar
def sin_in_range(x): return vm.sin(x)
@scalar
def cos_in_range(x): return vm.cos(x)
@scalar
def sin_d_in_range(x, y): return vm.cos(x)
@scalar
def cos_d_in_range(x, y): return -vm.sin(x)


# Scalar functions with a faster body that holds for |x| <= bound only: the
# function -> (bound, that body). The functions themselves hold everywhere,
# choosing per element, which stops a loop from vectorising; so their
# kernels check the whole input first (one vectorised pass) and loop over
# the fast body unless some element lies beyond the bound.
IN_RANGE = {sin: (vm.TRIG_BOUND, sin_in_range), sin_d: (vm.TRIG_BOUND, sin_d_in_range),
            cos: (vm.TRIG_BOUND, cos_in_range), cos_d: (vm.TRIG_BOUND, cos_d_in_range)}


# libm's functions, for the loops that do not vectorize (fused regions, see
# fusion.py): there each call waits on the last, and libm's return in a third
# to two thirds of the time of vecmath's polynomials, which are made for
# vector registers (20 chained calls per element on one core: sin 9.5
# against 25.8 ns, exp 8.9 against 22.6, tanh 20.1 against 33.8). Both are
# accurate to an ulp or two and follow numpy at inf, nan and signed zeros.
@scalar
def _libm_exp(x): return math.exp(x)
@scalar
def _libm_expm1(x): return math.expm1(x)
@scalar
def _libm_log(x): return math.log(x)
@scalar
def _libm_log1p(x): return math.log1p(x)
@scalar
def _libm_sin(x): return math.sin(x)
@scalar
def _libm_sin_d(x, y): return math.cos(x)
@scalar
def _libm_cos(x): return math.cos(x)
@scalar
def _libm_cos_d(x, y): return -math.sin(x)
@scalar
def _libm_tanh(x): return math.tanh(x)


SCALAR_FORMS = {exp: _libm_exp, expm1: _libm_expm1, log: _libm_log, log1p: _libm_log1p,
                sin: _libm_sin, sin_d: _libm_sin_d, cos: _libm_cos, cos_d: _libm_cos_d,
                tanh: _libm_tanh}


def scalar_form(f):
    """The function to call for ``f`` in a loop that does not vectorize."""
    return SCALAR_FORMS.get(f, f)


# name, numpy forward, prediction, derivative, and the derivative written with
# pcgrad primitives (Tracers or arrays x and y = f(x)), which the traced error
# rule multiplies the error by; the sub-code is the row number.
UNARY_TABLE = [
    ("negative", np.negative, negative, negative_d, lambda x, y: -1.0),
    ("exp", np.exp, exp, exp_d, lambda x, y: y),
    ("exp2", np.exp2, exp2, exp2_d, lambda x, y: y * LN2),
    ("expm1", np.expm1, expm1, expm1_d, lambda x, y: y + 1.0),
    ("log", np.log, log, log_d, lambda x, y: 1.0 / x),
    ("log2", np.log2, log2, log2_d, lambda x, y: 1.0 / (x * LN2)),
    ("log10", np.log10, log10, log10_d, lambda x, y: 1.0 / (x * LN10)),
    ("log1p", np.log1p, log1p, log1p_d, lambda x, y: 1.0 / (1.0 + x)),
    ("sin", np.sin, sin, sin_d, lambda x, y: tnp.cos(x)),
    ("cos", np.cos, cos, cos_d, lambda x, y: -tnp.sin(x)),
    ("tan", np.tan, tan, tan_d, lambda x, y: 1.0 + y * y),
    ("arcsin", np.arcsin, arcsin, arcsin_d, lambda x, y: 1.0 / tnp.sqrt(1.0 - x * x)),
    ("arccos", np.arccos, arccos, arccos_d, lambda x, y: -1.0 / tnp.sqrt(1.0 - x * x)),
    ("arctan", np.arctan, arctan, arctan_d, lambda x, y: 1.0 / (1.0 + x * x)),
    ("sinh", np.sinh, sinh, sinh_d, lambda x, y: tnp.cosh(x)),
    ("cosh", np.cosh, cosh, cosh_d, lambda x, y: tnp.sinh(x)),
    ("tanh", np.tanh, tanh, tanh_d, lambda x, y: 1.0 - y * y),
    ("arcsinh", np.arcsinh, arcsinh, arcsinh_d, lambda x, y: 1.0 / tnp.sqrt(x * x + 1.0)),
    ("arccosh", np.arccosh, arccosh, arccosh_d, lambda x, y: 1.0 / tnp.sqrt(x * x - 1.0)),
    ("arctanh", np.arctanh, arctanh, arctanh_d, lambda x, y: 1.0 / (1.0 - x * x)),
    ("sqrt", np.sqrt, sqrt, sqrt_d, lambda x, y: 0.5 / y),
    ("cbrt", np.cbrt, cbrt, cbrt_d, lambda x, y: 1.0 / (3.0 * y * y)),
    ("reciprocal", lambda x: 1.0 / x, reciprocal, reciprocal_d, lambda x, y: -y * y),
    ("square", np.square, square, square_d, lambda x, y: 2.0 * x),
    ("abs", np.abs, absolute, absolute_d, lambda x, y: tnp.sign(x)),
    ("sign", np.sign, sign, None, None), ("floor", np.floor, floor, None, None),
    ("ceil", np.ceil, ceil, None, None), ("round", np.rint, rint, None, None),
    ("stop_gradient", lambda x: x, identity, None, None),
    # special functions (pcgrad.scipy.special); their scalars are in special.py
    ("erf", _scipy("erf"), sp.erf, sp.erf_d, lambda x, y: sp.TWO_OVER_SQRT_PI * tnp.exp(-x * x)),
    ("erfc", _scipy("erfc"), sp.erfc, sp.erfc_d,
     lambda x, y: -sp.TWO_OVER_SQRT_PI * tnp.exp(-x * x)),
    ("erfinv", _scipy("erfinv"), sp.erfinv, sp.erfinv_d,
     lambda x, y: sp.SQRT_PI_OVER_2 * tnp.exp(y * y)),
    ("erfcinv", _scipy("erfcinv"), sp.erfcinv, sp.erfcinv_d,
     lambda x, y: -sp.SQRT_PI_OVER_2 * tnp.exp(y * y)),
    ("gammaln", _scipy("gammaln"), sp.gammaln, sp.gammaln_d, lambda x, y: prim.digamma(x)),
    ("gamma", _scipy("gamma"), sp.gamma, sp.gamma_d, lambda x, y: y * prim.digamma(x)),
    ("digamma", _scipy("digamma"), sp.digamma, sp.digamma_d, lambda x, y: prim.trigamma(x)),
    ("trigamma", _scipy("polygamma", 1), sp.trigamma, sp.trigamma_d,
     lambda x, y: prim.polygamma(2.0, x)),
    ("expit", _scipy("expit"), sp.expit, sp.expit_d, lambda x, y: y * prim.expit(-x)),
    ("log_expit", _scipy("log_expit"), sp.log_expit, sp.log_expit_d, lambda x, y: prim.expit(-x)),
    ("logit", _scipy("logit"), sp.logit, sp.logit_d, lambda x, y: 1.0 / (x * (1.0 - x))),
    ("entr", _scipy("entr"), sp.entr, sp.entr_d, lambda x, y: -(tnp.log(x) + 1.0)),
    ("i0", _scipy("i0"), sp.i0, sp.i0_d, lambda x, y: prim.i1(x)),
    ("i1", _scipy("i1"), sp.i1, sp.i1_d,
     lambda x, y: tnp.where(x != 0, prim.i0(x) - y / _nonzero(x), 0.5)),
    ("i0e", _scipy("i0e"), sp.i0e, sp.i0e_d, lambda x, y: prim.i1e(x) - tnp.sign(x) * y),
    ("i1e", _scipy("i1e"), sp.i1e, sp.i1e_d, lambda x, y: tnp.where(
        x != 0, prim.i0e(x) - y / _nonzero(x) - tnp.sign(x) * y, 0.5)),
    ("ndtr", _scipy("ndtr"), sp.ndtr, sp.ndtr_d,
     lambda x, y: sp.INV_SQRT_2PI * tnp.exp(-0.5 * x * x)),
    ("log_ndtr", _scipy("log_ndtr"), sp.log_ndtr, sp.log_ndtr_d,
     lambda x, y: sp.INV_SQRT_2PI * tnp.exp(-0.5 * x * x - y)),
    ("ndtri", _scipy("ndtri"), sp.ndtri, sp.ndtri_d,
     lambda x, y: sp.SQRT_2PI * tnp.exp(0.5 * y * y)),
]


def _nonzero(x):
    """x with its zeros replaced by ones: the operand of a division in a branch
    of ``where`` that is not taken at zero, kept finite there so that the
    untaken branch's derivatives are finite too."""
    return tnp.where(x != 0, x, 1.0)


@helper
def _any_beyond(x, bound):
    """Whether some |x[i]| > bound (nan is not), in one vectorised pass."""
    n = 0
    for i in range(x.size):
        n += abs(x[i]) > bound
    return n > 0


def _unary_forward(code):
    f = UNARY_TABLE[code][2]
    if f in IN_RANGE:
        return _unary_forward_in_range(f, *IN_RANGE[f])

    @kernel
    def forward(t, j, value, out):
        p = t.par[t.pptr[j]]
        x = view(value, t.voff[p], t.size[p])
        for i in range(out.size):
            out[i] = f(x[i])
    return forward


def _unary_forward_in_range(f, bound, fast):
    @kernel
    def forward(t, j, value, out):
        p = t.par[t.pptr[j]]
        x = view(value, t.voff[p], t.size[p])
        if _any_beyond(x, bound):
            for i in range(out.size):
                out[i] = f(x[i])
        else:
            for i in range(out.size):
                out[i] = fast(x[i])
    return forward


def _reads_input(d):
    """Whether the scalar derivative d(x, y) reads its x (from its bytecode)."""
    x = d.__code__.co_varnames[0]
    return any(i.opname.startswith("LOAD_FAST") and i.argval == x
               for i in dis.get_instructions(d))


# The unary functions whose derivative reads only the output y = f(x) (exp,
# tanh, sqrt, ...): their nodes do not keep the input's value for the error
# rule, so a plan holds one buffer less (exp(-v * v) on a large v).
OUTPUT_ONLY = frozenset(row[0] for row in UNARY_TABLE
                        if row[3] is not None and not _reads_input(row[3]))


# eps_x += f'(x) eps_y
def _unary_rule(code):
    d = UNARY_TABLE[code][3] or zero_d
    if d in IN_RANGE:
        return _unary_rule_in_range(d, *IN_RANGE[d])
    if UNARY_TABLE[code][0] in OUTPUT_ONLY:
        return _unary_rule_of_output(d)

    @kernel
    def rule(t, j, value, prediction, e, acc):
        if not sends(t, j, 0):
            return
        p = parent(t, j, 0)
        x = value_of(t, value, p)
        y = value_of(t, prediction, j)
        g = error_of(t, acc, p)
        for i in range(e.size):
            g[i] += d(x[i], y[i]) * e[i]
    return rule


def _unary_rule_of_output(d):
    @kernel
    def rule(t, j, value, prediction, e, acc):
        if not sends(t, j, 0):
            return
        y = value_of(t, prediction, j)
        g = error_of(t, acc, parent(t, j, 0))
        for i in range(e.size):
            g[i] += d(0.0, y[i]) * e[i]  # x is not stored (OUTPUT_ONLY)
    return rule


def _unary_rule_in_range(d, bound, fast):
    @kernel
    def rule(t, j, value, prediction, e, acc):
        if not sends(t, j, 0):
            return
        p = parent(t, j, 0)
        x = value_of(t, value, p)
        y = value_of(t, prediction, j)
        g = error_of(t, acc, p)
        if _any_beyond(x, bound):
            for i in range(e.size):
                g[i] += d(x[i], y[i]) * e[i]
        else:
            for i in range(e.size):
                g[i] += fast(x[i], y[i]) * e[i]
    return rule


family(UNARY, _unary_rule, _unary_forward, range(len(UNARY_TABLE)),
       [row[0] for row in UNARY_TABLE])
def _unary_vjp(derivative):
    def vjp(k, g, y, x):
        return _times(g, derivative(x, y))
    return vjp


def _times(g, d):
    """The error g times the local derivative d (g itself for d = 1)."""
    if type(d) is float and d == 1.0:
        return g
    return g * d


for _code, (_name, _fn, _f, _d, _traced) in enumerate(UNARY_TABLE):
    register(_name, UNARY, _fn, no_ints(_code), reads_inputs=_name not in OUTPUT_ONLY,
             reads_output=True, differentiable=_d is not None,
             vjp=_traced and _unary_vjp(_traced))


# --- n-ary: y = f(a, b[, c]); d y / d operand_k given a, b, c and y -----------
@scalar
def add(a, b, c): return a + b
@scalar
def add_d(k, a, b, c, y): return 1.0
@scalar
def subtract(a, b, c): return a - b
@scalar
def subtract_d(k, a, b, c, y): return 1.0 if k == 0 else -1.0
@scalar
def multiply(a, b, c): return a * b
@scalar
def multiply_d(k, a, b, c, y): return b if k == 0 else a
@scalar
def divide(a, b, c): return a / b
@scalar
def divide_d(k, a, b, c, y): return 1.0 / b if k == 0 else -y / b
@scalar
def power(a, b, c): return a ** b
@scalar
def power_d(k, a, b, c, y):
    if k == 0:
        return 0.0 if b == 0 else b * a ** (b - 1.0)
    return y * math.log(a) if a != 0 else 0.0
@scalar
def maximum(a, b, c): return a if a >= b or a != a else b
@scalar
def minimum(a, b, c): return a if a <= b or a != a else b
@scalar
def extremum_d(k, a, b, c, y):  # ties share the error equally, as in autograd
    tie = 2.0 if a == b else 1.0
    own = a if k == 0 else b
    return (1.0 if own == y else 0.0) / tie
@scalar
def arctan2(a, b, c): return math.atan2(a, b)
@scalar
def arctan2_d(k, a, b, c, y): return (b if k == 0 else -a) / (a * a + b * b)
@scalar
def hypot(a, b, c): return math.hypot(a, b)
@scalar
def hypot_d(k, a, b, c, y): return (a if k == 0 else b) / y
@scalar
def logaddexp(a, b, c): return max(a, b) + math.log1p(math.exp(-abs(a - b)))
@scalar
def logaddexp_d(k, a, b, c, y): return math.exp((a if k == 0 else b) - y)
@scalar
def where(a, b, c): return b if a != 0 else c
@scalar
def where_d(k, a, b, c, y):
    if k == 1:
        return 1.0 if a != 0 else 0.0
    if k == 2:
        return 0.0 if a != 0 else 1.0
    return 0.0
# zero derivative
@scalar
def less(a, b, c): return 1.0 if a < b else 0.0
@scalar
def less_equal(a, b, c): return 1.0 if a <= b else 0.0
@scalar
def greater(a, b, c): return 1.0 if a > b else 0.0
@scalar
def greater_equal(a, b, c): return 1.0 if a >= b else 0.0
@scalar
def equal(a, b, c): return 1.0 if a == b else 0.0
@scalar
def not_equal(a, b, c): return 1.0 if a != b else 0.0
@scalar
def logical_and(a, b, c): return 1.0 if a != 0 and b != 0 else 0.0
@scalar
def logical_or(a, b, c): return 1.0 if a != 0 or b != 0 else 0.0
@scalar
def logical_xor(a, b, c): return 1.0 if (a != 0) != (b != 0) else 0.0
@scalar
def logical_not(a, b, c): return 1.0 if a == 0 else 0.0
@scalar
def zero_nary_d(k, a, b, c, y): return 0.0


def _np_where(cond, a, b):
    return np.where(cond, a, b)


# name, numpy forward, prediction, derivative, which operands the error rule
# reads (values nobody reads are not kept): "all", "others" (products: d(ab)/da
# = b) or "none", whether it reads its own output, and the derivative with
# respect to operand k written with pcgrad primitives (operands a, b, c, c None
# for two; None: no error reaches operand k).
NARY_TABLE = [
    ("add", np.add, add, add_d, "none", False, lambda k, a, b, c, y: 1.0),
    ("subtract", np.subtract, subtract, subtract_d, "none", False,
     lambda k, a, b, c, y: 1.0 if k == 0 else -1.0),
    ("multiply", np.multiply, multiply, multiply_d, "others", False,
     lambda k, a, b, c, y: b if k == 0 else a),
    ("divide", np.divide, divide, divide_d, "all", True,
     lambda k, a, b, c, y: 1.0 / b if k == 0 else -y / b),
    ("power", np.power, power, power_d, "all", True, lambda k, a, b, c, y: tnp.where(
        b == 0, 0.0, b * a ** (b - 1.0)) if k == 0 else tnp.where(
        a != 0, y * tnp.log(_nonzero(a)), 0.0)),
    ("maximum", np.maximum, maximum, extremum_d, "all", True, lambda k, a, b, c, y: _extremum(
        k, a, b, y)),
    ("minimum", np.minimum, minimum, extremum_d, "all", True, lambda k, a, b, c, y: _extremum(
        k, a, b, y)),
    ("arctan2", np.arctan2, arctan2, arctan2_d, "all", False,
     lambda k, a, b, c, y: (b if k == 0 else -a) / (a * a + b * b)),
    ("hypot", np.hypot, hypot, hypot_d, "all", True,
     lambda k, a, b, c, y: (a if k == 0 else b) / y),
    ("logaddexp", np.logaddexp, logaddexp, logaddexp_d, "all", True,
     lambda k, a, b, c, y: tnp.exp((a if k == 0 else b) - y)),
    ("where", _np_where, where, where_d, "all", False, lambda k, a, b, c, y: None if k == 0
     else tnp.where(a != 0, 1.0 if k == 1 else 0.0, 0.0 if k == 1 else 1.0)),
    ("less", np.less, less, None, "all", False, None),
    ("less_equal", np.less_equal, less_equal, None, "all", False, None),
    ("greater", np.greater, greater, None, "all", False, None),
    ("greater_equal", np.greater_equal, greater_equal, None, "all", False, None),
    ("equal", np.equal, equal, None, "all", False, None),
    ("not_equal", np.not_equal, not_equal, None, "all", False, None),
    ("logical_and", np.logical_and, logical_and, None, "all", False, None),
    ("logical_or", np.logical_or, logical_or, None, "all", False, None),
    ("logical_xor", np.logical_xor, logical_xor, None, "all", False, None),
    ("logical_not", np.logical_not, logical_not, None, "all", False, None),
    # special functions (pcgrad.scipy.special); their scalars are in special.py
    ("polygamma", _scipy("polygamma"), sp.polygamma_ab, sp.polygamma_d, "all", False,
     lambda k, a, b, c, y: None if k == 0 else prim.polygamma(a + 1.0, b)),
    ("xlogy", _scipy("xlogy"), sp.xlogy, sp.xlogy_d, "all", False, lambda k, a, b, c, y: tnp.log(
        b) if k == 0 else tnp.where(a == 0, 0.0, a / b)),
    ("xlog1py", _scipy("xlog1py"), sp.xlog1py, sp.xlog1py_d, "all", False,
     lambda k, a, b, c, y: tnp.log1p(b) if k == 0 else tnp.where(a == 0, 0.0, a / (1.0 + b))),
    ("beta", _scipy("beta"), sp.beta_ab, sp.beta_d, "all", True, lambda k, a, b, c, y: y * (
        prim.digamma(a if k == 0 else b) - prim.digamma(a + b))),
    ("betaln", _scipy("betaln"), sp.betaln_ab, sp.betaln_d, "all", False, lambda k, a, b, c, y: (
        prim.digamma(a if k == 0 else b) - prim.digamma(a + b))),
    # no derivative in the shape parameters (NaN, as the Numba rule)
    ("gammainc", _scipy("gammainc"), sp.gammainc_ab, sp.gammainc_d, "all", False,
     lambda k, a, b, c, y: math.nan if k == 0 else _gammainc_dx(a, b)),
    ("gammaincc", _scipy("gammaincc"), sp.gammaincc_ab, sp.gammaincc_d, "all", False,
     lambda k, a, b, c, y: math.nan if k == 0 else -_gammainc_dx(a, b)),
    ("betainc", _scipy("betainc"), sp.betainc, sp.betainc_d, "all", False,
     lambda k, a, b, c, y: math.nan if k < 2 else tnp.exp(
         (a - 1.0) * tnp.log(c) + (b - 1.0) * tnp.log1p(-c) - prim.betaln(a, b))),
    # numpy's remainder (mod) and fmod; their scalars are in special.py too
    ("remainder", np.remainder, sp.remainder, sp.remainder_d, "all", False,
     lambda k, a, b, c, y: 1.0 if k == 0 else -tnp.rint((a - y) / b)),
    ("fmod", np.fmod, sp.fmod, sp.fmod_d, "all", False,
     lambda k, a, b, c, y: 1.0 if k == 0 else -tnp.rint((a - y) / b)),
]


def _extremum(k, a, b, y):
    """d max(a, b) / d operand k (and min's): 1 where the operand is the
    result, shared equally at ties."""
    return tnp.where((a if k == 0 else b) == y, tnp.where(a == b, 0.5, 1.0), 0.0)


def _gammainc_dx(a, x):
    """d P(a, x) / dx = x^(a-1) exp(-x) / Gamma(a)."""
    return tnp.exp((a - 1.0) * tnp.log(x) - x - prim.gammaln(a))


# The output is walked as rows: its shape, with size-1 axes dropped and
# neighbouring axes merged where every operand either has both or broadcasts
# along both, is ``dims``; the last merged axis is a row. Operand k steps
# through its own contiguous elements with ``strides[k]`` over those axes (0
# where it broadcasts). ints = [nd, dims (nd), strides of operands 0, 1 and 2
# (nd each)]. The error rule walks the same rows, so accumulating through a
# zero stride sums an operand's error over its broadcast axes.
@helper
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


@helper
def _stored(t, j, k):
    """Whether node j has an operand k whose value is stored (a rule reads it)."""
    if k < t.pptr[j + 1] - t.pptr[j]:
        return t.voff[t.par[t.pptr[j] + k]] >= 0
    return False


# The broadcasting kernels loop over rows of the output along which every
# operand steps by 1 or by 0 (see broadcast_rows). An operand constant along
# a row (a scalar, a column) is spread over a chunk of it, in a buffer of
# CHUNK elements per operand on the kernel's stack, so that each loop reads
# contiguous operands and vectorizes.
CHUNK = 256
_spread_buffer = stack_buffer(3 * CHUNK)
_rule_buffer = stack_buffer(4 * CHUNK)


# Each n-ary function has two kernels of each kind: one for operands of the
# output's own shape, and one that walks broadcast rows (sub-code 2 * row
# number + 1); a plan uses the second only where operands broadcast. Those
# kernels are four walks shared by every function (``_same_forward`` ...
# ``_broadcast_rule``), each compiled once: what is the function's own is
# its "pieces", a loop per kind compiled per function (where LLVM inlines
# and vectorizes its scalar function), which the walks call on contiguous
# pieces of at most CHUNK elements: a piece of the forward sets out = f(v0,
# v1, v2), one of the rule adds the terms d y / d operand k * e to out (with
# ``into``) or returns their sum (for an operand constant along a row; sums
# may be reassociated so that they vectorize, which rounds differently). A
# walk finds its node's pieces, and which operands its rule reads (0 none, 1
# the others, 2 all), in PIECES, which a function's kernel fills when first
# used (``_ready``). A function so compiles in a fifth of the time of
# kernels holding the walks themselves, or less (the walks compile once,
# and are cached on disk as the kernels are).
BUFFER = types.Array(types.float64, 1, "C")
PIECE_FORWARD = types.none(*[BUFFER] * 4)  # (v0, v1, v2, out)
PIECE_RULE = types.float64(types.int64, *[BUFFER] * 6, types.boolean)  # (k, v0, v1, v2, y, e,
#                                                                         out, into)
_forward_piece, _rule_piece = caller(PIECE_FORWARD), caller(PIECE_RULE)
# per function: its forward piece's address, its rule piece's, what its rule reads
PIECES, _pieces = shared_table("pcgrad_nary_pieces", 3 * len(NARY_TABLE))
PIECES[2::3] = [("none", "others", "all").index(row[4]) for row in NARY_TABLE]


@functools.cache
def _pieces_of(code):
    """Function ``code``'s pieces (dispatchers) of the forward and the rule."""
    f = NARY_TABLE[code][2]
    d = NARY_TABLE[code][3] or zero_nary_d

    def forward(v0, v1, v2, out):
        for i in range(out.size):
            out[i] = f(v0[i], v1[i], v2[i])

    def rule(k, v0, v1, v2, y, e, out, into):
        if into:
            for i in range(out.size):
                out[i] += d(k, v0[i], v1[i], v2[i], y[i]) * e[i]
            return 0.0
        total = 0.0
        for i in range(e.size):
            total += d(k, v0[i], v1[i], v2[i], y[i]) * e[i]
        return total
    name = NARY_TABLE[code][0]
    return (kernel(distinct(forward, name)),
            kernel(distinct(rule, name), fastmath={"reassoc"}))


def _ready(code, kind):
    """Compile function ``code``'s piece of ``kind`` (0 forward, 1 rule), and
    enter it in PIECES."""
    def prepare():
        piece = _pieces_of(code)[kind]
        PIECES[3 * code + kind] = address_of(piece, (PIECE_FORWARD, PIECE_RULE)[kind])
    return prepare


def _nary_forward(subcode):
    code = subcode // 2
    if NARY_TABLE[code][4] == "none":
        return _LINEAR[subcode % 2][0]
    return (_broadcast_forward_walk if subcode % 2 else _same_forward), _ready(code, 0)


# eps_k[operand element of i] += d y_i / d x_k * eps_y[i]. An operand the
# rule does not read is read from e instead, at e's own positions, so that a
# broadcast operand nobody reads does not cost the contiguous loop.
def _nary_rule(subcode):
    code = subcode // 2
    if NARY_TABLE[code][4] == "none":
        return _LINEAR[subcode % 2][1]
    return (_broadcast_rule if subcode % 2 else _same_rule), _ready(code, 1)


@helper(inline="always")
def _piece(t, j, kind):
    """The address of node j's piece of ``kind`` (0 forward, 1 rule; see PIECES)."""
    piece = _pieces(3 * (t.code[j] // 2) + kind)
    if piece == 0:
        raise RuntimeError("pcgrad: an n-ary kernel ran before its function was ready (a bug)")
    return piece


@kernel
def _same_forward(t, j, value, out):
    piece = _piece(t, j, 0)
    n = t.pptr[j + 1] - t.pptr[j]
    a = value_of(t, value, parent(t, j, 0))
    b = value_of(t, value, parent(t, j, 1)) if n > 1 else out
    c = value_of(t, value, parent(t, j, 2)) if n > 2 else out
    _forward_piece(piece, a, b, c, out)


@kernel
def _same_rule(t, j, value, prediction, e, acc):
    piece, reads = _piece(t, j, 1), _pieces(3 * (t.code[j] // 2) + 2)
    ha, hb, hc = _stored(t, j, 0), _stored(t, j, 1), _stored(t, j, 2)
    a = value_of(t, value, parent(t, j, 0)) if ha else e
    b = value_of(t, value, parent(t, j, 1)) if hb else e
    c = value_of(t, value, parent(t, j, 2)) if hc else e
    y = value_of(t, prediction, j) if t.voff[j] >= 0 else e
    for k in range(t.pptr[j + 1] - t.pptr[j]):
        if sends(t, j, k):
            x0 = a if ha and (reads == 2 or (reads == 1 and k != 0)) else e
            x1 = b if hb and (reads == 2 or (reads == 1 and k != 1)) else e
            x2 = c if hc and (reads == 2 or (reads == 1 and k != 2)) else e
            _rule_piece(piece, k, x0, x1, x2, y, e, error_of(t, acc, parent(t, j, k)), True)


# Rows of at least LONG_ROW elements are walked a piece of a row at a time,
# reading the operands that step along it in place and spreading those
# constant along it (a scalar, a column) over a buffer; shorter rows are
# gathered, whole rows at a time, into buffers of up to CHUNK elements per
# operand, so that no piece is short.
LONG_ROW = 64


@helper(inline="always")
def _gather(buffer, at, x, o, step, row):
    """buffer[at:at + row] = x[o:o + row] if step, else x[o]."""
    if step:
        for i in range(row):
            buffer[at + i] = x[o + i]
    else:
        v = x[o]
        for i in range(row):
            buffer[at + i] = v


@kernel
def _broadcast_forward_walk(t, j, value, out):
    piece = _piece(t, j, 0)
    n = t.pptr[j + 1] - t.pptr[j]
    a = value_of(t, value, parent(t, j, 0))
    b = value_of(t, value, parent(t, j, 1)) if n > 1 else out
    c = value_of(t, value, parent(t, j, 2)) if n > 2 else out
    ints = t.ints[t.iptr[j]:t.iptr[j + 1]]
    nd = ints[0]
    row = ints[nd]
    s0 = ints[2 * nd]
    s1 = ints[3 * nd] if n > 1 else 1
    s2 = ints[4 * nd] if n > 2 else 1
    rows = out.size // max(row, 1)
    buffer = _spread_buffer()
    if row >= LONG_ROW or rows == 1:
        width = row if s0 & s1 & s2 else min(row, CHUNK)
        for r in range(rows):
            o0, o1, o2 = _row_offsets(ints, r)
            base = r * row
            o1 = o1 if n > 1 else base
            o2 = o2 if n > 2 else base
            if not s0:
                fill(span(buffer, 0, width), a[o0])
            if not s1:
                fill(span(buffer, CHUNK, width), b[o1])
            if not s2:
                fill(span(buffer, 2 * CHUNK, width), c[o2])
            for lo in range(0, row, width):
                w = min(width, row - lo)
                _forward_piece(piece, span(a, o0 + lo, w) if s0 else span(buffer, 0, w),
                               span(b, o1 + lo, w) if s1 else span(buffer, CHUNK, w),
                               span(c, o2 + lo, w) if s2 else span(buffer, 2 * CHUNK, w),
                               span(out, base + lo, w))
        return
    group = CHUNK // max(row, 1)  # rows per piece
    for r0 in range(0, rows, group):
        m = min(group, rows - r0)
        for r in range(r0, r0 + m):
            o0, o1, o2 = _row_offsets(ints, r)
            at = (r - r0) * row
            _gather(buffer, at, a, o0, s0, row)
            if n > 1:
                _gather(buffer, CHUNK + at, b, o1, s1, row)
            if n > 2:
                _gather(buffer, 2 * CHUNK + at, c, o2, s2, row)
        w = m * row
        _forward_piece(piece, span(buffer, 0, w), span(buffer, CHUNK, w) if n > 1 else
                       span(out, r0 * row, w), span(buffer, 2 * CHUNK, w) if n > 2 else
                       span(out, r0 * row, w), span(out, r0 * row, w))


@kernel(fastmath={"reassoc"})
def _broadcast_rule(t, j, value, prediction, e, acc):
    piece, reads = _piece(t, j, 1), _pieces(3 * (t.code[j] // 2) + 2)
    ints = t.ints[t.iptr[j]:t.iptr[j + 1]]
    nd = ints[0]
    row = ints[nd]
    rows = e.size // max(row, 1)
    ha, hb, hc = _stored(t, j, 0), _stored(t, j, 1), _stored(t, j, 2)
    a = value_of(t, value, parent(t, j, 0)) if ha else e
    b = value_of(t, value, parent(t, j, 1)) if hb else e
    c = value_of(t, value, parent(t, j, 2)) if hc else e
    y = value_of(t, prediction, j) if t.voff[j] >= 0 else e
    buffer = _rule_buffer()  # three operands' spread or gathered values, then the terms
    terms = span(buffer, 3 * CHUNK, CHUNK)
    for k in range(t.pptr[j + 1] - t.pptr[j]):
        if not sends(t, j, k):
            continue
        g = error_of(t, acc, parent(t, j, k))
        # the operands this rule reads (the others are read from e)
        ra = ha and (reads == 2 or (reads == 1 and k != 0))
        rb = hb and (reads == 2 or (reads == 1 and k != 1))
        rc = hc and (reads == 2 or (reads == 1 and k != 2))
        x0, x1, x2 = (a if ra else e), (b if rb else e), (c if rc else e)
        s0 = ints[2 * nd] if ra else 1
        s1 = ints[3 * nd] if rb else 1
        s2 = ints[4 * nd] if rc else 1
        sk = ints[(2 + k) * nd]  # 0: the target is constant along the row, its error the row's sum
        if row >= LONG_ROW or rows == 1:
            width = row if s0 & s1 & s2 else min(row, CHUNK)
            for r in range(rows):
                o0, o1, o2 = _row_offsets(ints, r)
                base = r * row
                q0, q1, q2 = (o0 if ra else base), (o1 if rb else base), (o2 if rc else base)
                ok = o0 if k == 0 else (o1 if k == 1 else o2)
                if not s0:
                    fill(span(buffer, 0, width), x0[q0])
                if not s1:
                    fill(span(buffer, CHUNK, width), x1[q1])
                if not s2:
                    fill(span(buffer, 2 * CHUNK, width), x2[q2])
                total = 0.0
                for lo in range(0, row, width):
                    w = min(width, row - lo)
                    v0 = span(x0, q0 + lo, w) if s0 else span(buffer, 0, w)
                    v1 = span(x1, q1 + lo, w) if s1 else span(buffer, CHUNK, w)
                    v2 = span(x2, q2 + lo, w) if s2 else span(buffer, 2 * CHUNK, w)
                    vy, ve = span(y, base + lo, w), span(e, base + lo, w)
                    if sk:
                        _rule_piece(piece, k, v0, v1, v2, vy, ve, span(g, ok + lo, w), True)
                    else:
                        total += _rule_piece(piece, k, v0, v1, v2, vy, ve, ve, False)
                if not sk:
                    g[ok] += total
            continue
        group = CHUNK // max(row, 1)
        for r0 in range(0, rows, group):
            m = min(group, rows - r0)
            for r in range(r0, r0 + m):
                o0, o1, o2 = _row_offsets(ints, r)
                base, at = r * row, (r - r0) * row
                _gather(buffer, at, x0, o0 if ra else base, s0, row)
                _gather(buffer, CHUNK + at, x1, o1 if rb else base, s1, row)
                _gather(buffer, 2 * CHUNK + at, x2, o2 if rc else base, s2, row)
            w = m * row
            for i in range(w):
                terms[i] = 0.0
            _rule_piece(piece, k, span(buffer, 0, w), span(buffer, CHUNK, w),
                        span(buffer, 2 * CHUNK, w), span(y, r0 * row, w), span(e, r0 * row, w),
                        span(terms, 0, w), True)
            for r in range(r0, r0 + m):
                o0, o1, o2 = _row_offsets(ints, r)
                ok = o0 if k == 0 else (o1 if k == 1 else o2)
                at = (r - r0) * row
                if sk:
                    for i in range(row):
                        g[ok + i] += terms[at + i]
                else:
                    total = 0.0
                    for i in range(row):
                        total += terms[at + i]
                    g[ok] += total


def _broadcast_forward(f, linear):
    """The forward kernel that walks broadcast rows computing f(a, b, c), or
    with ``linear`` c0 a + c1 b from the coefficients in the node's ints."""
    @kernel
    def forward(t, j, value, out):
        n = t.pptr[j + 1] - t.pptr[j]
        a = value_of(t, value, parent(t, j, 0))
        b = value_of(t, value, parent(t, j, 1)) if n > 1 else out
        c = value_of(t, value, parent(t, j, 2)) if n > 2 else out
        ints = t.ints[t.iptr[j]:t.iptr[j + 1]]
        c0 = _coefficient(ints, 0) if linear else 0.0
        c1 = _coefficient(ints, 1) if linear else 0.0
        nd = ints[0]
        row = ints[nd]
        s0 = ints[2 * nd]
        s1 = ints[3 * nd] if n > 1 else 1
        s2 = ints[4 * nd] if n > 2 else 1
        width = row if s0 & s1 & s2 else min(row, CHUNK)
        spread = _spread_buffer()
        for r in range(out.size // max(row, 1)):
            o0, o1, o2 = _row_offsets(ints, r)
            base = r * row
            if n < 2:
                o1 = base
            if n < 3:
                o2 = base
            if not s0:
                fill(spread[:width], a[o0])
            if not s1:
                fill(spread[width:2 * width], b[o1])
            if not s2:
                fill(spread[2 * width:3 * width], c[o2])
            for lo in range(0, row, width):
                w = min(width, row - lo)
                v0 = a[o0 + lo:o0 + lo + w] if s0 else spread[:w]
                v1 = b[o1 + lo:o1 + lo + w] if s1 else spread[width:width + w]
                v2 = c[o2 + lo:o2 + lo + w] if s2 else spread[2 * width:2 * width + w]
                vout = out[base + lo:base + lo + w]
                for i in range(w):
                    vout[i] = c0 * v0[i] + c1 * v1[i] if linear else f(v0[i], v1[i], v2[i])
    return forward


# Functions whose rule reads no operand (add, subtract) are linear,
# y = c0 a + c1 b with integer coefficients (exact: a - b is a + (-1) b),
# and share one pair of kernels per layout: a plan using several compiles
# them once.
@helper
def _coefficient(ints, k):
    return float(ints[1 + 4 * ints[0] + k])


@kernel
def _linear_forward(t, j, value, out):
    a = value_of(t, value, parent(t, j, 0))
    b = value_of(t, value, parent(t, j, 1))
    ints = t.ints[t.iptr[j]:t.iptr[j + 1]]
    c0, c1 = _coefficient(ints, 0), _coefficient(ints, 1)
    for i in range(out.size):
        out[i] = c0 * a[i] + c1 * b[i]


@kernel
def _linear_rule(t, j, value, prediction, e, acc):
    ints = t.ints[t.iptr[j]:t.iptr[j + 1]]
    for k in range(2):
        if sends(t, j, k):
            g = error_of(t, acc, parent(t, j, k))
            c = _coefficient(ints, k)
            for i in range(e.size):
                g[i] += c * e[i]


@kernel(fastmath={"reassoc"})
def _linear_rule_broadcast(t, j, value, prediction, e, acc):
    ints = t.ints[t.iptr[j]:t.iptr[j + 1]]
    nd = ints[0]
    row = ints[nd]
    for k in range(2):
        if not sends(t, j, k):
            continue
        g = error_of(t, acc, parent(t, j, k))
        c = _coefficient(ints, k)
        sk = ints[(2 + k) * nd]  # 1, or 0 where operand k broadcasts along rows
        for r in range(e.size // max(row, 1)):
            o0, o1, _ = _row_offsets(ints, r)
            ok = o0 if k == 0 else o1
            ve = e[r * row:(r + 1) * row]
            if sk == 1:
                vg = g[ok:ok + row]
                for i in range(row):
                    vg[i] += c * ve[i]
            else:  # the operand broadcasts along the row: its error is the row's sum
                total = 0.0
                for i in range(row):
                    total += ve[i]
                g[ok] += c * total


_LINEAR = ((_linear_forward, _linear_rule),
           (_broadcast_forward(add, True), _linear_rule_broadcast))


def broadcast_rows(in_shapes, out_shape):
    """The row walk of ``out_shape`` for operands of ``in_shapes`` (at most
    three): the list [nd, dims, strides of each of three operands] (see
    above). Plain lists: a plan-cache miss lowers every node again."""
    out_shape = tuple(out_shape)
    if all(tuple(s) == out_shape for s in in_shapes):  # no broadcasting: one row
        size = math.prod(out_shape)
        step = 0 if size == 1 else 1  # (as the walk below: a size-1 axis is dropped)
        return [1, size] + [step if k < len(in_shapes) else 0 for k in range(3)]
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
    row = [len(dims)] + dims + [0] * (3 * len(dims))
    for k in range(len(shapes)):
        step = 1
        for d in range(len(dims) - 1, -1, -1):
            if kept[d][k]:
                row[1 + len(dims) * (k + 1) + d] = step
                step *= dims[d]
    return row


def _lower_nary(code):
    d, reads = NARY_TABLE[code][3:5]
    # a rule that reads no operand has constant derivatives: the coefficients
    # of the linear kernels, after the row walk
    linear = [int(d(k, 0.0, 0.0, 0.0, 0.0)) for k in range(2)] if reads == "none" else []

    def lower(params, in_shapes, out_shape):
        rows = broadcast_rows(in_shapes, out_shape)
        broadcasts = any(tuple(shape) != tuple(out_shape) for shape in in_shapes)
        return 2 * code + broadcasts, np.array(rows + linear, np.int64)
    return lower


family(NARY, _nary_rule, _nary_forward, range(2 * len(NARY_TABLE)),
       [NARY_TABLE[code // 2][0] + (" (broadcast)" if code % 2 else "")
        for code in range(2 * len(NARY_TABLE))])
_READS_INPUTS = {"all": True, "others": "others", "none": False}
def _nary_vjp(derivative):
    def vjp(k, g, y, a, b, c=None):
        d = derivative(k, a, b, c, y)
        return None if d is None else _times(g, d)
    return vjp


for _code, (_name, _fn, _f, _d, _reads, _reads_output, _traced) in enumerate(NARY_TABLE):
    register(_name, NARY, _fn, _lower_nary(_code), reads_inputs=_READS_INPUTS[_reads],
             reads_output=_reads_output, differentiable=_d is not None,
             vjp=_traced and _nary_vjp(_traced))
