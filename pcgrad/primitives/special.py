"""Scalar functions for the elementwise kernels of pcgrad.scipy.special (float64).

Numba provides math.erf, math.erfc, math.lgamma and math.gamma; the others
are written here: digamma and the polygamma functions (Euler-Maclaurin
summation of the Hurwitz zeta function, Taylor series around the roots of
digamma), the inverse error functions (Halley's method on erf/erfc), the
modified Bessel functions I0 and I1 (power series, and the asymptotic series
for large arguments), log Phi, the beta function (Stirling's series for large
arguments), the regularized incomplete gamma and beta functions (series and
continued fractions), and numpy's remainder and fmod. Each follows
scipy.special at poles and outside the domain (inf, nan); tests/test_scipy.py
measures their agreement with scipy.special.

They are plain functions registered with Numba (not dispatchers), so the
kernels that call them can be cached on disk. The largest are not inlined,
to keep the kernels' compile time down.
"""
import math

import numpy as np

from ..kernels import scalar
from . import vecmath as vm

INF, NAN, PI = math.inf, math.nan, math.pi
TWO_OVER_SQRT_PI = 1.1283791670955126
SQRT_PI_OVER_2 = 0.886226925452758
INV_SQRT_2PI = 0.3989422804014327
SQRT_2 = 1.4142135623730951
SQRT_2PI = 2.5066282746310002


@scalar
def _reduce_half(x):
    """x - round(x), in [-0.5, 0.5], exact: trigonometric functions of pi x
    are computed from it so that they keep their accuracy for large x."""
    return x - np.floor(x + 0.5)


# --- digamma ------------------------------------------------------------------
# psi(x) = sum_n c_n (x - x0)^n around a root x0, c_n = (-1)^(n+1) zeta(n+1, x0):
# near a root, differences of terms of size 1 would lose relative accuracy.
POS_ROOT, POS_ROOT_LO = 1.4616321449683622, 9.549995429965697e-17
NEG_ROOT, NEG_ROOT_LO = -0.5040830082644554, -8.15428206243813e-18
POS_ROOT_SERIES = np.array([
    0.9676722454476212, -0.4427631689835921, 0.258499760955651, -0.16394270544240652,
    0.10782405069126237, -0.07219956125645471, 0.04880428816414311, -0.03316112647484736,
    0.022597648232218104, -0.01542476590494896, 0.010538791616612175, -0.007204534386356869,
    0.004926781395729853, -0.003369801655439328, 0.002305126326734928, -0.0015769367714301972,
    0.0010788252019162967, -0.0007380709389960052, 0.000504953265834602,
    -0.0003454680251063077, 0.00023635601564027053, -0.00016170622091974803])
NEG_ROOT_SERIES = np.array([
    8.939798558792134, -0.8093454625306507, 32.258572064915505, -2.761011648790828,
    128.27342343090902, -14.70672173553036, 513.2704629562862, -75.37700066344631,
    2055.5357119463315, -368.5783503832191, 8234.667099203069, -1743.364608867363,
    32997.785655255044, -8051.818155363498, 132262.95480834588, -36529.94596948565,
    530280.3912420176, -163451.79342700253])
# B_2k / 2k, k = 1..8: psi(x) ~ log x - 1/2x - sum_k B_2k / (2k x^2k)
DIGAMMA_ASYMPTOTIC = np.array([
    1.0 / 12.0, -1.0 / 120.0, 1.0 / 252.0, -1.0 / 240.0, 1.0 / 132.0, -691.0 / 32760.0,
    1.0 / 12.0, -3617.0 / 8160.0])


@scalar
def _root_series(d, coefficients):
    total = 0.0
    for n in range(coefficients.size - 1, -1, -1):
        total = (total + coefficients[n]) * d
    return total


@scalar
def _digamma_positive(x):
    if abs(x - POS_ROOT) < 0.25:
        return _root_series((x - POS_ROOT) - POS_ROOT_LO, POS_ROOT_SERIES)
    shift = 0.0
    while x < 10.0:  # psi(x) = psi(x + 1) - 1/x
        shift -= 1.0 / x
        x += 1.0
    w = 1.0 / (x * x)
    tail = 0.0
    for k in range(DIGAMMA_ASYMPTOTIC.size - 1, -1, -1):
        tail = (tail + DIGAMMA_ASYMPTOTIC[k]) * w
    return shift + math.log(x) - 0.5 / x - tail


@scalar
def digamma(x):
    if x > 0:
        return _digamma_positive(x) if x < INF else INF
    if x != x or x == -INF:
        return NAN
    if x == 0:
        return -math.copysign(INF, x)  # psi(+0) = -inf, psi(-0) = +inf, as scipy
    if x == np.floor(x):
        return NAN
    if abs(x - NEG_ROOT) < 0.05:
        return _root_series((x - NEG_ROOT) - NEG_ROOT_LO, NEG_ROOT_SERIES)
    # reflection: psi(x) = psi(1 - x) - pi / tan(pi x)
    return _digamma_positive(1.0 - x) - PI / math.tan(PI * _reduce_half(x))


# --- trigamma and the polygamma functions ------------------------------------
# B_2k, k = 1..8: psi'(x) ~ 1/x + 1/2x^2 + sum_k B_2k / x^(2k+1)
TRIGAMMA_ASYMPTOTIC = np.array([
    1.0 / 6.0, -1.0 / 30.0, 1.0 / 42.0, -1.0 / 30.0, 5.0 / 66.0, -691.0 / 2730.0, 7.0 / 6.0,
    -3617.0 / 510.0])


@scalar
def _trigamma_positive(x):
    shift = 0.0
    while x < 10.0:  # psi'(x) = psi'(x + 1) + 1/x^2
        shift += 1.0 / (x * x)
        x += 1.0
    w = 1.0 / (x * x)
    tail = 0.0
    for k in range(TRIGAMMA_ASYMPTOTIC.size - 1, -1, -1):
        tail = (tail + TRIGAMMA_ASYMPTOTIC[k]) * w
    return shift + (1.0 + 0.5 / x + tail) / x


@scalar
def trigamma(x):
    if x > 0:
        return _trigamma_positive(x) if x < INF else 0.0
    if x != x:
        return NAN
    if x == np.floor(x):  # the poles, and -inf (as scipy)
        return INF
    # reflection: psi'(1 - x) + psi'(x) = pi^2 / sin^2(pi x)
    s = math.sin(PI * _reduce_half(x))
    return PI * PI / (s * s) - _trigamma_positive(1.0 - x)


# (2k)! / B_2k, k = 1..12: the Euler-Maclaurin corrections of the Hurwitz zeta
ZETA_EM = np.array([
    12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9, 7.47242496e10,
    -2.950130727918164224e12, 1.1646782814350067249e14, -4.5979787224074726105e15,
    1.8152105401943546773e17, -7.1661652561756670113e18])


@scalar
def hurwitz_zeta(s, q):
    """zeta(s, q) = sum_k (q + k)^-s for s > 1 (q < 0 only for integer s)."""
    if s == 1.0:
        return INF
    if s < 1.0 or s != s or q != q:
        return NAN
    if q <= 0:
        if q == np.floor(q):
            return INF
        if s != np.floor(s):
            return NAN
    if q == INF:
        return 0.0
    total = (q ** -s) if q > 0 else (1.0 / q ** s)
    a, k, term = q, 0, 0.0
    while k < 9 or a <= 9.0:  # sum the first terms directly
        k += 1
        a += 1.0
        term = a ** -s
        total += term
        if abs(term / total) < 1e-17:
            return total
    w = a
    total += term * w / (s - 1.0) - 0.5 * term
    rising, j = 1.0, 0.0
    for i in range(ZETA_EM.size):  # Euler-Maclaurin: B_2k terms
        rising *= s + j
        term /= w
        t = rising * term / ZETA_EM[i]
        total += t
        if abs(t / total) < 1e-17:
            break
        j += 1.0
        rising *= s + j
        term /= w
        j += 1.0
    return total


@scalar
def polygamma(n, x):
    """psi^(n)(x) for integer n >= 0 (nan for other n, as scipy)."""
    if n != n or n < 0 or n != np.floor(n):
        return NAN
    if n == 0:
        return digamma(x)
    if n == 1:
        return trigamma(x)
    if x == INF:
        return 0.0
    factorial = math.gamma(n + 1.0)
    sign = 1.0 if n % 2 == 1 else -1.0
    return sign * factorial * hurwitz_zeta(n + 1.0, x)


# --- log-gamma, gamma, beta ---------------------------------------------------
@scalar
def gamma_sign(x):
    """The sign of Gamma(x) (+1 at poles and for x > 0)."""
    if x > 0 or x == np.floor(x):
        return 1.0
    return -1.0 if np.floor(x) % 2 != 0 else 1.0


@scalar
def gammaln(x):
    if x == -INF:  # as scipy
        return -INF
    return math.lgamma(x)


@scalar
def gamma(x):
    if x == 0:
        return math.copysign(INF, x)
    if x == -INF or (x < 0 and x == np.floor(x)):  # as scipy
        return NAN
    return math.gamma(x)


# lgamma(x) - [(x - 1/2) log x - x + log(2 pi) / 2] ~ sum_k B_2k / (2k (2k - 1) x^(2k - 1))
STIRLING = np.array([
    1.0 / 12.0, -1.0 / 360.0, 1.0 / 1260.0, -1.0 / 1680.0, 1.0 / 1188.0, -691.0 / 360360.0,
    1.0 / 156.0, -3617.0 / 122400.0])
HALF_LOG_2PI = 0.9189385332046728
MAXGAM = 171.62434145445798  # Gamma overflows above


@scalar
def _stirling_correction(x):
    """lgamma(x) minus its Stirling approximation, for x >= 10."""
    w = 1.0 / (x * x)
    total = 0.0
    for k in range(STIRLING.size - 1, -1, -1):
        total = total * w + STIRLING[k]
    return total / x


@scalar
def _lbeta_large(a, b):
    """log |B(a, b)| for a >= |b|, a >= 10 and a + b >= 10 (b may be negative),
    from Stirling's series: the large logarithms of lgamma(a) + lgamma(b) -
    lgamma(a + b) cancel exactly."""
    s = a + b
    shrink = math.log1p(-b / s)  # log(a / s)
    if b >= 10.0:
        return (-0.5 * math.log(b) + HALF_LOG_2PI + (a - 0.5) * shrink + b * math.log(b / s)
                + (_stirling_correction(a) + _stirling_correction(b) - _stirling_correction(s)))
    return (math.lgamma(b) + (a - 0.5) * shrink - b * math.log(s) + b
            + (_stirling_correction(a) - _stirling_correction(s)))


@scalar
def _beta_poles(a, b):
    """(sign, a, b, infinite) at the poles of Gamma: B(a, b) with a a
    non-positive integer is the limit (-1)^b B(1 - a - b, b) for integer b
    with a + b < 1, else infinite; scipy's rules, in its order (a first)."""
    sign = 1.0
    for _ in range(4):
        if a <= 0 and a == np.floor(a):
            if b == np.floor(b) and 1.0 - a - b > 0:
                sign *= 1.0 if b % 2 == 0 else -1.0
                a = 1.0 - a - b
                continue
            return sign, a, b, True
        if b <= 0 and b == np.floor(b):
            if a == np.floor(a) and 1.0 - a - b > 0:
                sign *= 1.0 if a % 2 == 0 else -1.0
                a, b = 1.0 - a - b, a
                continue
            return sign, a, b, True
        break
    return sign, a, b, False


@scalar
def betaln(a, b):
    """log |B(a, b)|, B = Gamma(a) Gamma(b) / Gamma(a + b)."""
    if a != a or b != b:
        return NAN
    if a == -INF or b == -INF:  # as scipy
        return INF
    _, a, b, infinite = _beta_poles(a, b)
    if infinite:
        return INF
    if abs(a) < abs(b):
        a, b = b, a
    if a == INF:  # B(inf, b) = 0, or infinite for b < 0 (as scipy)
        return NAN if abs(b) == INF else (-INF if b > 0 else INF)
    if b > 0 and a >= 10.0 or a > MAXGAM and a + b >= 10.0:
        # (for b < 0 too: lgamma(a) - lgamma(a + b) below would cancel)
        return _lbeta_large(a, b)
    y = a + b
    if y <= 0 and y == np.floor(y):  # Gamma(a + b) has a pole: B = 0
        return -INF
    if abs(y) > MAXGAM or abs(a) > MAXGAM or abs(b) > MAXGAM:
        return math.lgamma(a) + (math.lgamma(b) - math.lgamma(y))
    gy, ga, gb = math.gamma(y), math.gamma(a), math.gamma(b)
    if abs(ga - gy) > abs(gb - gy):
        return math.log(abs(gb / gy * ga))
    return math.log(abs(ga / gy * gb))


@scalar
def beta(a, b):
    """B(a, b) = Gamma(a) Gamma(b) / Gamma(a + b)."""
    if a != a or b != b:
        return NAN
    if a == -INF or b == -INF:  # as scipy
        return INF
    sign, a, b, infinite = _beta_poles(a, b)
    if infinite:
        return sign * INF
    if abs(a) < abs(b):
        a, b = b, a
    if a == INF:  # as scipy
        return NAN if abs(b) == INF else (0.0 if b > 0 else sign * gamma_sign(b) * INF)
    y = a + b
    if y <= 0 and y == np.floor(y):  # Gamma(a + b) has a pole
        return 0.0
    if abs(y) > MAXGAM or abs(a) > MAXGAM or abs(b) > MAXGAM:
        sign *= gamma_sign(a) * gamma_sign(b) * gamma_sign(y)
        return sign * math.exp(betaln(a, b))
    gy, ga, gb = math.gamma(y), math.gamma(a), math.gamma(b)
    if abs(ga - gy) > abs(gb - gy):
        return sign * (gb / gy * ga)
    return sign * (ga / gy * gb)


# --- error functions ----------------------------------------------------------
@scalar
def _erfinv_guess(x, w):
    """Giles' approximation of erfinv(x) (single precision), w = -log((1-x)(1+x))."""
    if w < 5.0:
        w -= 2.5
        p = 2.81022636e-08
        p = 3.43273939e-07 + p * w
        p = -3.5233877e-06 + p * w
        p = -4.39150654e-06 + p * w
        p = 0.00021858087 + p * w
        p = -0.00125372503 + p * w
        p = -0.00417768164 + p * w
        p = 0.246640727 + p * w
        p = 1.50140941 + p * w
        return p * x
    if w < 36.0:
        w = math.sqrt(w) - 3.0
        p = -0.000200214257
        p = 0.000100950558 + p * w
        p = 0.00134934322 + p * w
        p = -0.00367342844 + p * w
        p = 0.00573950773 + p * w
        p = -0.0076224613 + p * w
        p = 0.00943887047 + p * w
        p = 1.00167406 + p * w
        p = 2.83297682 + p * w
        return p * x
    # far tail: erfc(t) ~ exp(-t^2) / (t sqrt(pi)), solved by fixed point
    t = math.sqrt(w)
    for _ in range(4):
        t = math.sqrt(w - math.log(t * 1.772453850905516 * 0.5))
    return math.copysign(t, x)


@scalar
def _halley(x, y, z):
    """Refine x by Halley's method on erf(x) = y (z < 0) or erfc(x) = z: the
    residual is computed where it has no cancellation."""
    for _ in range(8):
        slope = TWO_OVER_SQRT_PI * math.exp(-x * x)
        r = ((math.erf(x) - y) if z < 0 else (z - math.erfc(x))) / slope
        dx = r / (1.0 + x * r)
        x -= dx
        if abs(dx) <= 1e-16 * abs(x):
            break
    return x


@scalar
def _erfinv_central(y):
    """erfinv(y) for |y| <= 1/2."""
    if abs(y) < 1e-8:  # erfinv(y) = sqrt(pi)/2 y (1 + pi y^2 / 12 + ...)
        return SQRT_PI_OVER_2 * y
    return _halley(_erfinv_guess(y, -math.log((1.0 - y) * (1.0 + y))), y, -1.0)


@scalar
def _erfcinv_tail(z):
    """erfcinv(z) for 0 < z <= 1/2."""
    return _halley(_erfinv_guess(1.0 - z, -math.log(z * (2.0 - z))), 0.0, z)


@scalar
def erfcinv(z):
    if z != z or z < 0 or z > 2:
        return NAN
    if z == 0:
        return INF
    if z == 2:
        return -INF
    if z <= 0.5:
        return _erfcinv_tail(z)
    if z < 1.5:
        return _erfinv_central(1.0 - z)  # 1 - z is exact
    return -_erfcinv_tail(2.0 - z)  # 2 - z is exact


@scalar
def erfinv(y):
    if y != y or abs(y) > 1:
        return NAN
    if abs(y) == 1:
        return math.copysign(INF, y)
    if abs(y) <= 0.5:
        return _erfinv_central(y)
    return math.copysign(_erfcinv_tail(1.0 - abs(y)), y)  # 1 - |y| is exact


@scalar
def ndtr(x):
    """Phi(x), the standard normal distribution function."""
    t = x / SQRT_2
    if abs(t) < 1.0 / SQRT_2:
        return 0.5 + 0.5 * math.erf(t)
    y = 0.5 * math.erfc(abs(t))
    return 1.0 - y if t > 0 else y


@scalar
def _log_ndtr_tail(x):
    """log Phi(x) - log(phi(x) / -x) for x <= -20: log(1 - 1/x^2 + 3/x^4 - ...)."""
    w = 1.0 / (x * x)
    total, term = 1.0, 1.0
    for k in range(1, 12):
        term *= -(2.0 * k - 1.0) * w
        total += term
    return math.log(total)


@scalar
def log_ndtr(x):
    if x <= -20:
        if x == -INF:
            return -INF
        return -0.5 * x * x - math.log(-x) - 0.9189385332046728 + _log_ndtr_tail(x)
    if x < -1:
        return math.log(0.5 * math.erfc(-x / SQRT_2))
    return math.log1p(-0.5 * math.erfc(x / SQRT_2))


@scalar
def log_ndtr_d(x, y):
    """d log Phi / dx = phi(x) / Phi(x)."""
    if x <= -20:
        if x == -INF:
            return INF
        w = 1.0 / (x * x)
        total, term = 1.0, 1.0
        for k in range(1, 12):
            term *= -(2.0 * k - 1.0) * w
            total += term
        return -x / total
    return INV_SQRT_2PI * math.exp(-0.5 * x * x - y)


# --- modified Bessel functions of the first kind ------------------------------
BESSEL_SWITCH = 25.0  # power series below, asymptotic series above


@scalar
def _bessel_series(x, order):
    """I_order(x) for |x| <= BESSEL_SWITCH (order 0 or 1): all terms positive."""
    q = 0.25 * x * x
    term = 1.0 if order == 0 else 0.5 * x
    total = term
    for k in range(1, 200):
        term *= q / (k * (k + order))
        total += term
        if abs(term) <= 1e-17 * abs(total):
            break
    return total


@scalar
def _bessel_asymptotic(x, order):
    """exp(-x) I_order(x) for x > BESSEL_SWITCH (order 0 or 1)."""
    mu = 4.0 * order * order
    w = 1.0 / (8.0 * x)
    term, total = 1.0, 1.0
    for k in range(1, 120):
        odd = 2.0 * k - 1.0
        term *= -(mu - odd * odd) * w / k
        total += term
        if abs(term) <= 1e-17 * abs(total):
            break
    return total / math.sqrt(2.0 * PI * x)


@scalar
def i0e(x):
    a = abs(x)
    if a != a:
        return NAN
    if a == INF:
        return 0.0
    if a <= BESSEL_SWITCH:
        return math.exp(-a) * _bessel_series(a, 0)
    return _bessel_asymptotic(a, 0)


@scalar
def i1e(x):
    a = abs(x)
    if a != a:
        return NAN
    if a == INF:
        return math.copysign(0.0, x)
    if a <= BESSEL_SWITCH:
        return math.copysign(math.exp(-a) * _bessel_series(a, 1), x)
    return math.copysign(_bessel_asymptotic(a, 1), x)


@scalar
def i0(x):
    a = abs(x)
    if a <= BESSEL_SWITCH:
        return _bessel_series(a, 0)
    if a == INF:
        return INF
    half = math.exp(0.5 * a)  # exp(a) overflows before I0(a) does
    return _bessel_asymptotic(a, 0) * half * half


@scalar
def i1(x):
    a = abs(x)
    if a <= BESSEL_SWITCH:
        return _bessel_series(x, 1)
    if a == INF:
        return math.copysign(INF, x)
    half = math.exp(0.5 * a)
    return math.copysign(_bessel_asymptotic(a, 1) * half * half, x)


# --- logistic functions -------------------------------------------------------
@scalar
def expit(x): return vm.logistic(x)


@scalar
def expit_d(x, y):
    """expit(x) expit(-x), without the cancellation of y (1 - y)."""
    return vm.logistic_d(x)


@scalar
def log_expit(x):
    if x >= 0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


@scalar
def logit(x):
    if not 0 <= x <= 1:
        return NAN
    if 0.3 < x < 0.65:  # log(1 + (2x - 1) / (1 - x)): no cancellation near 1/2
        return math.log1p((2.0 * x - 1.0) / (1.0 - x))
    return math.log(x / (1.0 - x))


# --- regularized incomplete gamma and beta functions --------------------------
TINY = 1e-300


@scalar
def _log1pmx(u):
    """log(1 + u) - u for |u| < 1/2, without cancellation."""
    total, power = 0.0, u
    for n in range(2, 200):  # sum_n (-1)^(n+1) u^n / n for n >= 2
        power *= -u
        term = power / n
        total += term
        if abs(term) <= 1e-17 * abs(total):
            break
    return total


# zeta(k), k = 2..26: lgamma(1 + a) = -euler_gamma a + sum_k (-1)^k zeta(k) a^k / k
ZETA_INTEGERS = np.array([
    1.6449340668482264, 1.2020569031595942, 1.0823232337111381, 1.03692775514337,
    1.0173430619844492, 1.008349277381923, 1.0040773561979444, 1.0020083928260821,
    1.000994575127818, 1.0004941886041194, 1.000246086553308, 1.0001227133475785,
    1.0000612481350588, 1.000030588236307, 1.0000152822594086, 1.0000076371976379,
    1.000003817293265, 1.0000019082127165, 1.0000009539620338, 1.0000004769329869,
    1.0000002384505027, 1.000000119219926, 1.000000059608189, 1.0000000298035034,
    1.0000000149015549])
EULER_GAMMA = 0.5772156649015329


@scalar
def _lgamma1p(a):
    """lgamma(1 + a), accurate also for small a (where 1 + a would round)."""
    if abs(a) >= 0.2:
        return math.lgamma(1.0 + a)
    total = 0.0
    for k in range(ZETA_INTEGERS.size - 1, -1, -1):  # k + 2 = 26, ..., 2
        total = total * -a + ZETA_INTEGERS[k] / (k + 2)
    return a * (a * total - EULER_GAMMA)


@scalar
def _gammaincc_small_x(a, x):
    """Q(a, x) for x <= 1.1 and small a, from the series of Gamma(a, x) (no
    subtraction from 1 where Q is small)."""
    fac, total = 1.0, 0.0
    for n in range(1, 2000):
        fac *= -x / n
        term = fac / (a + n)
        total += term
        if abs(term) <= 1e-17 * abs(total):
            break
    log_x = math.log(x)
    return -math.expm1(a * log_x - _lgamma1p(a)) - math.exp(a * log_x - math.lgamma(a)) * total


@scalar
def _gamma_prefix(a, x):
    """x^a exp(-x) / Gamma(a), for a > 0 and x > 0; for large a from Stirling's
    series, where a log x - x - lgamma(a) would cancel."""
    if a < 10.0:
        return math.exp(a * math.log(x) - x - math.lgamma(a))
    u = (x - a) / a
    # a (log(x/a) - (x/a - 1)): from u near a (u rounds, but log1p(u) - u does
    # not cancel), directly far from it (where log1p(u) would magnify u's rounding)
    power = a * _log1pmx(u) if abs(u) < 0.5 else a * math.log(x / a) + (a - x)
    return math.sqrt(a / (2.0 * PI)) * math.exp(power - _stirling_correction(a))


@scalar
def _gamma_series(a, x):
    """P(a, x) by its power series (x < a + 1): all terms positive."""
    term = 1.0
    total = 1.0
    n = a
    for _ in range(100000):
        n += 1.0
        term *= x / n
        total += term
        if term <= 1e-17 * total:
            break
    return _gamma_prefix(a, x) / a * total


@scalar
def _gamma_fraction(a, x):
    """Q(a, x) by its continued fraction (x >= a + 1), Lentz's method."""
    b = x + 1.0 - a
    c = 1.0 / TINY
    d = 1.0 / b
    h = d
    for i in range(1, 100000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < TINY:
            d = TINY
        c = b + an / c
        if abs(c) < TINY:
            c = TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) <= 1e-16:
            break
    return _gamma_prefix(a, x) * h


@scalar
def gammainc(a, x):
    """The regularized lower incomplete gamma function P(a, x)."""
    if a != a or x != x or a < 0 or x < 0 or (a == 0 and x == 0):
        return NAN
    if a == 0:
        return 1.0
    if a == INF:
        return NAN if x == INF else 0.0
    if x == 0:
        return 0.0
    if x == INF:
        return 1.0
    if x <= 1.1 and (x * 1.1 >= a if x > 0.5 else -0.4 / math.log(x) >= a):
        return 1.0 - _gammaincc_small_x(a, x)
    if x < a + 1.0:
        return _gamma_series(a, x)
    return 1.0 - _gamma_fraction(a, x)


@scalar
def gammaincc(a, x):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    if a != a or x != x or a < 0 or x < 0 or (a == 0 and x == 0):
        return NAN
    if a == 0:
        return 0.0
    if a == INF:
        return NAN if x == INF else 1.0
    if x == 0:
        return 1.0
    if x == INF:
        return 0.0
    if x <= 1.1 and (x * 1.1 >= a if x > 0.5 else -0.4 / math.log(x) >= a):
        return _gammaincc_small_x(a, x)  # Q is small: 1 - P would cancel
    if x < a + 1.0:
        return 1.0 - _gamma_series(a, x)
    return _gamma_fraction(a, x)


@scalar
def gammainc_dx(a, x):
    """d P(a, x) / dx = x^(a-1) exp(-x) / Gamma(a)."""
    if a != a or x != x or a < 0 or x < 0:
        return NAN
    if a == 0 or x == INF:
        return 0.0
    if x == 0:
        return INF if a < 1 else (1.0 if a == 1 else 0.0)
    return math.exp((a - 1.0) * math.log(x) - x - math.lgamma(a))


@scalar
def _beta_fraction(a, b, x):
    """The continued fraction of I_x(a, b) (Lentz's method), for x < (a+1)/(a+b+2)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < TINY:
        d = TINY
    d = 1.0 / d
    h = d
    for m in range(1, 100000):
        m2 = 2.0 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < TINY:
            d = TINY
        c = 1.0 + aa / c
        if abs(c) < TINY:
            c = TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < TINY:
            d = TINY
        c = 1.0 + aa / c
        if abs(c) < TINY:
            c = TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) <= 1e-16:
            break
    return h


@scalar
def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b)."""
    if a != a or b != b or x != x or a < 0 or b < 0 or x < 0 or x > 1:
        return NAN
    if a == b and (a == 0 or a == INF):
        return NAN
    if x == 0 or x == 1:
        return x
    if a == 0 or b == 0:
        return 1.0 if a == 0 else 0.0
    if a == INF or b == INF:
        return 0.0 if a == INF else 1.0
    front = math.exp(a * math.log(x) + b * math.log1p(-x) - betaln(a, b))
    # below the mean I_x(a, b) is computed directly, above it as 1 - I_(1-x)(b, a)
    if x < max((a + 1.0) / (a + b + 2.0), a / (a + b)):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


@scalar
def betainc_dx(a, b, x):
    """d I_x(a, b) / dx = x^(a-1) (1 - x)^(b-1) / B(a, b)."""
    if a != a or b != b or x != x or a < 0 or b < 0 or x < 0 or x > 1:
        return NAN
    if a == 0 or b == 0 or a == INF or b == INF:
        return 0.0
    if x == 0:
        return INF if a < 1 else (b if a == 1 else 0.0)
    if x == 1:
        return INF if b < 1 else (a if b == 1 else 0.0)
    return math.exp((a - 1.0) * math.log(x) + (b - 1.0) * math.log1p(-x) - betaln(a, b))


# --- numpy's remainder and fmod -------------------------------------------------
@scalar
def _divmod(a, b):
    """(floor(a / b), a mod b) as numpy computes them (the sign of b)."""
    m = np.fmod(a, b) if b != 0 else NAN
    if b == 0:
        return a / b, m
    div = (a - m) / b
    if m != 0:
        if (b < 0) != (m < 0):
            m += b
            div -= 1.0
    else:
        m = math.copysign(0.0, b)
    if div != 0:
        floordiv = np.floor(div)
        if div - floordiv > 0.5:
            floordiv += 1.0
    else:
        floordiv = math.copysign(0.0, a / b)
    return floordiv, m


@scalar
def remainder(a, b, c): return _divmod(a, b)[1]
@scalar
def remainder_d(k, a, b, c, y): return 1.0 if k == 0 else -_divmod(a, b)[0]
@scalar
def fmod(a, b, c): return np.fmod(a, b) if b != 0 else NAN
@scalar
def fmod_d(k, a, b, c, y):
    if k == 0:
        return 1.0
    if b == 0 or a != a or b != b:
        return NAN
    return -np.rint((a - np.fmod(a, b)) / b)  # the truncated quotient, snapped


# --- the elementwise rows: predictions f(x) and derivatives f'(x) given x and
# y = f(x) (unary), or f(a, b, c) and d f / d operand k (n-ary) --------------
@scalar
def erf(x): return math.erf(x)
@scalar
def erf_d(x, y): return TWO_OVER_SQRT_PI * math.exp(-x * x)
@scalar
def erfc(x): return math.erfc(x)
@scalar
def erfc_d(x, y): return -TWO_OVER_SQRT_PI * math.exp(-x * x)
@scalar
def erfinv_d(x, y): return SQRT_PI_OVER_2 * math.exp(y * y)
@scalar
def erfcinv_d(x, y): return -SQRT_PI_OVER_2 * math.exp(y * y)
@scalar
def gammaln_d(x, y): return digamma(x)
@scalar
def gamma_d(x, y): return y * digamma(x)
@scalar
def digamma_d(x, y): return trigamma(x)
@scalar
def trigamma_d(x, y): return polygamma(2.0, x)
@scalar
def log_expit_d(x, y): return expit(-x)
@scalar
def logit_d(x, y): return 1.0 / (x * (1.0 - x)) if 0 <= x <= 1 else NAN
@scalar
def entr(x):
    if x > 0:
        return -x * math.log(x)
    if x == 0:
        return 0.0
    return -INF if x < 0 else NAN
@scalar
def entr_d(x, y):
    if x > 0:
        return -(math.log(x) + 1.0)
    return INF if x == 0 else NAN  # the slope is infinite at 0; no slope below
@scalar
def i0_d(x, y): return i1(x)
@scalar
def i1_d(x, y): return i0(x) - y / x if x != 0 else 0.5
@scalar
def i0e_d(x, y): return i1e(x) - math.copysign(y, x) if x != 0 else 0.0  # the kink: 0, as abs
@scalar
def i1e_d(x, y): return i0e(x) - y / x - (y if x > 0 else -y) if x != 0 else 0.5
@scalar
def ndtr_d(x, y): return INV_SQRT_2PI * math.exp(-0.5 * x * x)
@scalar
def ndtri(x): return -SQRT_2 * erfcinv(2.0 * x)
@scalar
def ndtri_d(x, y): return SQRT_2PI * math.exp(0.5 * y * y)


@scalar
def polygamma_ab(a, b, c): return polygamma(a, b)
@scalar
def polygamma_d(k, a, b, c, y): return 0.0 if k == 0 else polygamma(a + 1.0, b)
@scalar
def xlogy(a, b, c):
    if a == 0 and b == b:
        return 0.0
    return a * math.log(b) if b >= 0 else NAN
@scalar
def xlogy_d(k, a, b, c, y):
    if k == 0:
        return math.log(b) if b >= 0 else NAN
    return 0.0 if a == 0 else a / b
@scalar
def xlog1py(a, b, c):
    if a == 0 and b == b:
        return 0.0
    return a * math.log1p(b) if b >= -1 else NAN
@scalar
def xlog1py_d(k, a, b, c, y):
    if k == 0:
        return math.log1p(b) if b >= -1 else NAN
    return 0.0 if a == 0 else a / (1.0 + b)
@scalar
def beta_ab(a, b, c): return beta(a, b)
@scalar
def beta_d(k, a, b, c, y): return y * (digamma(a if k == 0 else b) - digamma(a + b))
@scalar
def betaln_ab(a, b, c): return betaln(a, b)
@scalar
def betaln_d(k, a, b, c, y): return digamma(a if k == 0 else b) - digamma(a + b)
@scalar
def gammainc_ab(a, b, c): return gammainc(a, b)
@scalar
def gammaincc_ab(a, b, c): return gammaincc(a, b)
@scalar
def gammainc_d(k, a, b, c, y): return NAN if k == 0 else gammainc_dx(a, b)
@scalar
def gammaincc_d(k, a, b, c, y): return NAN if k == 0 else -gammainc_dx(a, b)
@scalar
def betainc_d(k, a, b, c, y): return NAN if k < 2 else betainc_dx(a, b, c)
