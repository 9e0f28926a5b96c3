"""Elementwise math that LLVM vectorises: exp, expm1, log, log1p, tanh, the
logistic function, sin and cos in float64.

Numba lowers ``math.exp`` and friends to calls into the C library, which
this llvmlite cannot vectorise (it has no vector math library), so a kernel
looping over ``math.tanh`` runs one element at a time. These functions are
written with arithmetic, integer bit operations and selects only: range
reduction to a small interval, a polynomial there, and the scale put back
through the exponent bits. Every branch is a select, so a loop calling them
vectorises. Special values come out as numpy gives them: nan, signed zero,
inf, overflow to inf and underflow to (signed) zero. Each stays within
2 ulp over the whole domain (sin and cos: up to a bound, see below;
tests/test_vecmath.py). There are no float32
versions: pcgrad's kernels compute in float64 only.

sin and cos reduce their argument modulo pi/2 with pi/2 split in four parts
(Cody and Waite), which is exact enough for |x| <= TRIG_BOUND = 2**20 pi/2
only; larger arguments need a Payne-Hanek reduction. Selecting the C
library's value there would cost a library call in every lane of a
vectorised loop (slower than a plain loop over ``math.sin``), so pcgrad's
kernels instead check first whether any element lies beyond the bound and
only then choose per element, calling the C library there (``IN_RANGE`` in
elementwise.py). Within the bound both measure within 1 ulp.

They are module-level ``@scalar`` functions (kernels.py): the kernels'
code inlines them, and the kernels stay cacheable.
"""
import math

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..kernels import scalar


@intrinsic
def _bits(typingctx, x):
    """The IEEE 754 bits of a float64, as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _float(typingctx, bits):
    """The float64 with IEEE 754 bits ``bits`` (an int64)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _mad(typingctx, a, b, c):
    """a b + c, one fused multiply-add where the CPU has one (llvm.fmuladd):
    polynomials evaluated with it take half the instructions, and round less."""
    def codegen(context, builder, signature, args):
        f64 = ir.DoubleType()
        fmuladd = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(f64, [f64, f64, f64]), "llvm.fmuladd.f64")
        return builder.call(fmuladd, args)
    return types.float64(types.float64, types.float64, types.float64), codegen


INV_LN2 = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts; k * LN2_HI is exact
LN2_LO = 1.90821492927058770002e-10
SHIFTER = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer
EXP_MAX, EXP_MIN = 709.79, -745.2  # beyond: inf, 0 (exp(EXP_MIN) < 2**-1075)

# 1/n! for n = 2 .. 17: expm1(r) = r + r^2 (1/2 + r/6 + ...); to r^13 on
# |r| <= ln2 / 2 and to r^17 on |r| <= 0.7 the remainder is below 2**-56 relative
C2, C3, C4, C5 = 1 / 2, 1 / 6, 1 / 24, 1 / 120
C6, C7, C8, C9 = 1 / 720, 1 / 5040, 1 / 40320, 1 / 362880
C10, C11, C12, C13 = 1 / 3628800, 1 / 39916800, 1 / 479001600, 1 / 6227020800
C14, C15, C16, C17 = (1 / 87178291200, 1 / 1307674368000, 1 / 20922789888000,
                      1 / 355687428096000)
EXPM1_DIRECT = 0.7  # below, expm1 is its series: no reduction, no cancellation


@scalar
def _pow2(k):
    """2**k as a float64 for integer k in [-1022, 1023]."""
    return _float((k + 1023) << 52)


@scalar
def _reduce(x):
    """(k, r) with x = k ln2 + r, |r| <= ln2 / 2 (about), k an integer float."""
    k = (x * INV_LN2 + SHIFTER) - SHIFTER
    return k, (x - k * LN2_HI) - k * LN2_LO


@scalar
def _expm1_small(r):
    """expm1(r) for |r| <= ln2 / 2 (about)."""
    return _expm1_series(r, _mad(r, C13, C12))


@scalar
def _expm1_wide(r):
    """expm1(r) for |r| <= EXPM1_DIRECT."""
    q = _mad(r, C17, C16)
    q = _mad(r, q, C15)
    q = _mad(r, q, C14)
    q = _mad(r, q, C13)
    return _expm1_series(r, _mad(r, q, C12))


@scalar
def _expm1_series(r, q):
    """r + r^2 (1/2 + r/6 + ... + r^10 q), q the series' tail from 1/12!."""
    q = _mad(r, q, C11)
    q = _mad(r, q, C10)
    q = _mad(r, q, C9)
    q = _mad(r, q, C8)
    q = _mad(r, q, C7)
    q = _mad(r, q, C6)
    q = _mad(r, q, C5)
    q = _mad(r, q, C4)
    q = _mad(r, q, C3)
    q = _mad(r, q, C2)
    return _mad(r * r, q, r)


@scalar
def exp(x):
    c = min(max(x, EXP_MIN), EXP_MAX)  # nan becomes a bound; restored below
    k, r = _reduce(c)
    p = 1.0 + _expm1_small(r)
    # 2**k in two factors, each a normal number, so that subnormal results
    # and the last binade before overflow scale exactly
    half = int(k) >> 1
    y = p * _pow2(half) * _pow2(int(k) - half)
    return y if x == x else x


@scalar
def expm1(x):
    c = min(max(x, -40.0), EXP_MAX)  # expm1(-40) is -1 in float64
    k, r = _reduce(c)
    direct = abs(x) < EXPM1_DIRECT
    k = 0.0 if direct else k
    p = _expm1_wide(x if direct else r)
    # 2**k (1 + p) - 1 = 2 (s - 1/2 + s p) with s = 2**(k - 1): s p and,
    # while k is small, s - 1/2 are exact, so one sum rounds
    ki = int(k) - 1
    half = ki >> 1
    s = _pow2(half) * _pow2(ki - half)
    y = 2.0 * ((s - 0.5) + s * p)
    y = y if x != 0.0 else x  # keeps the sign of zero
    return y if x == x else x


# log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f) (fdlibm's e_log.c)
LG1, LG2, LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
LG4, LG5, LG6 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01
LG7 = 1.479819860511658591e-01
SQRT_HALF_BITS = 0x3FE6A09E00000000  # high word of sqrt(2)/2: m lies in [sqrt(2)/2, sqrt(2))
ONE_BITS = 0x3FF0000000000000
MANTISSA = 0x000FFFFFFFFFFFFF
TWO54 = 18014398509481984.0


@scalar
def _log1p_of(f, k, c):
    """log(2**k (1 + f)) + c for f in [sqrt(2)/2 - 1, sqrt(2) - 1)."""
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * _mad(w, _mad(w, LG6, LG4), LG2)
    t2 = z * _mad(w, _mad(w, _mad(w, LG7, LG5), LG3), LG1)
    return s * (hfsq + t1 + t2) + (k * LN2_LO + c) - hfsq + f + k * LN2_HI


@scalar
def _split(u):
    """(f, k) with u = 2**k (1 + f), f in [sqrt(2)/2 - 1, sqrt(2) - 1), for a
    positive normal u."""
    bits = _bits(u) + (ONE_BITS - SQRT_HALF_BITS)
    k = float((bits >> 52) - 1023)
    m = _float((bits & MANTISSA) + SQRT_HALF_BITS)
    return m - 1.0, k


@scalar
def log(x):
    tiny = x < 2.2250738585072014e-308  # subnormal (or not positive): scaled by 2**54
    u = x * TWO54 if tiny else x
    f, k = _split(u)
    y = _log1p_of(f, k - 54.0 if tiny else k, 0.0)
    y = -math.inf if x == 0.0 else y
    y = math.nan if x < 0.0 else y
    return y if x < math.inf else x  # inf and nan


@scalar
def log1p(x):
    u = 1.0 + x
    f, k = _split(u)
    # the rounding error of u = 1 + x, divided by u (fdlibm's s_log1p.c)
    c = (1.0 - (u - x) if k >= 2.0 else x - (u - 1.0)) / u
    c = c if k < 54.0 else 0.0
    near = -0.2928932188134524 < x < 0.41421356237309503  # 1 + x in [sqrt(2)/2, sqrt(2))
    y = _log1p_of(x if near else f, 0.0 if near else k, 0.0 if near else c)
    y = x if abs(x) < 1e-300 else y  # tiny x (and signed zero): log1p(x) = x
    y = -math.inf if x == -1.0 else y
    y = math.nan if x < -1.0 else y
    return y if x < math.inf else x  # inf and nan


# Cephes' tanh on |x| <= 0.625: x + x^3 P(x^2) / Q(x^2), Q monic
TP0, TP1, TP2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
TQ1, TQ2, TQ3 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3


@scalar
def tanh(x):
    a = abs(x)
    z = a * a
    small = a + a * z * _mad(_mad(TP0, z, TP1), z, TP2) / _mad(_mad(z + TQ1, z, TQ2), z, TQ3)
    large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0)
    y = small if a <= 0.625 else large
    y = 1.0 if a > 22.0 else y  # tanh is 1 in float64 there
    y = math.copysign(y, x)  # tanh is odd: this also keeps the sign of zero
    return y if x == x else x


@scalar
def logistic(x):
    """1 / (1 + exp(-x)), without overflow: e = exp(-|x|) <= 1."""
    e = exp(-abs(x))
    y = 1.0 / (1.0 + e) if x >= 0.0 else e / (1.0 + e)
    return y if x == x else x


@scalar
def logistic_d(x):
    """logistic(x) logistic(-x) = e / (1 + e)^2 with e = exp(-|x|); the square
    as 1 + e (2 + e), which rounds once where the 1 dominates."""
    e = exp(-abs(x))
    return e / (1.0 + e * (2.0 + e))


# pi/2 in four parts (fdlibm's e_rem_pio2.c): the first three have 33
# significant bits, so k PIO2_n is exact for integers |k| <= 2**20, and the
# four hold pi/2 to about 150 bits. For |x| <= TRIG_BOUND = 2**20 pi/2, k =
# round(x 2/pi) <= 2**20: x - k PIO2_1 is exact (Sterbenz), the next two
# parts are taken off with exact two-sums, and r + rr is x - k pi/2 but for
# roundings of about 2**-135 absolute plus 2**-106 relative. The closest a
# double comes to a multiple of pi/2 is about 2**-61 (Muller, "Elementary
# Functions"), so even there r + rr is good to a millionth of an ulp. Beyond
# the bound the kernels call the C library (``IN_RANGE`` in elementwise.py).
INV_PIO2 = 6.36619772367581382433e-01
PIO2_1 = 1.57079632673412561417e+00   # 0x3FF921FB54400000
PIO2_2 = 6.07710050630396597660e-11   # 0x3DD0B4611A600000
PIO2_3 = 2.02226624871116645580e-21   # 0x3BA3198A2E000000
PIO2_3T = 8.47842766036889956997e-32  # 0x397B839A252049C1
TRIG_BOUND = 1647099.3291652855  # 2**20 pi/2

# fdlibm's k_sin.c and (branch-free, as musl's __cos.c) k_cos.c: on |r| <= pi/4
S1, S2, S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
S4, S5, S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
K1, K2, K3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
K4, K5, K6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11


@scalar
def _two_sum(a, b):
    """(s, e) with s = fl(a + b) and a + b = s + e exactly (Knuth)."""
    s = a + b
    v = s - a
    return s, (a - (s - v)) + (b - v)


@scalar
def _reduce_pio2(x):
    """(r, rr, n) with x = n pi/2 + r + rr, |r| <= pi/4 (about), |rr| <= ulp(r)
    and n an int64 whose two low bits are n mod 4; for |x| <= TRIG_BOUND."""
    shifted = x * INV_PIO2 + SHIFTER
    k = shifted - SHIFTER
    a = x - k * PIO2_1  # exact: k PIO2_1 is exact and within a factor 2 of x
    s, e1 = _two_sum(a, -(k * PIO2_2))
    s, e2 = _two_sum(s, -(k * PIO2_3))
    tail = (e1 + e2) - k * PIO2_3T
    r = s + tail
    return r, (s - r) + tail, _bits(shifted)


@scalar
def _sin_kernel(r, rr):
    """sin(r + rr) for |r| <= pi/4, rr a correction below ulp(r)."""
    z = r * r
    w = z * z
    q = _mad(z, _mad(z, S4, S3), S2) + z * w * _mad(z, S6, S5)
    v = z * r
    return r - ((z * (0.5 * rr - v * q) - rr) - v * S1)


@scalar
def _cos_kernel(r, rr):
    """cos(r + rr) for |r| <= pi/4, rr a correction below ulp(r)."""
    z = r * r
    w = z * z
    q = z * _mad(z, _mad(z, K3, K2), K1) + w * w * _mad(z, _mad(z, K6, K5), K4)
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + (z * q - r * rr))


@scalar
def sin(x):
    """sin(x) for |x| <= TRIG_BOUND, and nan for x nan or infinite."""
    r, rr, n = _reduce_pio2(x)
    s, c = _sin_kernel(r, rr), _cos_kernel(r, rr)
    y = s if n & 1 == 0 else c
    y = -y if n & 2 else y
    return y if x != 0.0 else x  # keeps the sign of zero


@scalar
def cos(x):
    """cos(x) for |x| <= TRIG_BOUND, and nan for x nan or infinite."""
    r, rr, n = _reduce_pio2(x)
    s, c = _sin_kernel(r, rr), _cos_kernel(r, rr)
    y = c if n & 1 == 0 else s
    return -y if (n + 1) & 2 else y
