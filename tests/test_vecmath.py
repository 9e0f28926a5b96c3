"""The vectorisable elementwise math (pcgrad/primitives/vecmath.py, issue 12,
part 1): within 2 ulp of numpy over the whole float64 domain, special values
exactly as numpy gives them, and loops over it vectorised by LLVM."""
import fractions
import functools
import re

import numpy
import pytest
from numba import njit

from pcgrad.primitives import vecmath as vm

RNG = numpy.random.default_rng(1212)
N = 1_000_000


def extended(f):
    """``f`` evaluated in numpy's extended precision (80-bit long double on
    x86), then rounded to float64: a reference within about half an ulp."""
    return lambda x: f(x.astype(numpy.longdouble)).astype(numpy.float64)


def logistic_numpy(x):
    e = numpy.exp(-numpy.abs(x))
    return numpy.where(x >= 0, 1 / (1 + e), e / (1 + e))


def logistic_d_numpy(x):
    e = numpy.exp(-numpy.abs(x))
    return e / ((1 + e) * (1 + e))


def any_float(n):
    """Floats with uniformly random bit patterns: every binade, both signs,
    subnormals, inf and nan."""
    return RNG.integers(-2**63, 2**63 - 1, n, dtype=numpy.int64).view(numpy.float64)


FUNCTIONS = {  # name: (numpy oracle, input ranges)
    "exp": (extended(numpy.exp), [(-750.0, 750.0), (-1.0, 1.0)]),
    "expm1": (extended(numpy.expm1), [(-50.0, 710.0), (-1.0, 1.0), (-1e-6, 1e-6)]),
    "log": (extended(numpy.log), [(0.0, 3.0), (0.0, 1e-300)]),
    "log1p": (extended(numpy.log1p), [(-1.0, 1.0), (-1e-9, 1e-9), (-1.0, 1e6)]),
    "tanh": (extended(numpy.tanh), [(-25.0, 25.0), (-1.0, 1.0), (-1e-8, 1e-8)]),
    "logistic": (extended(logistic_numpy), [(-750.0, 750.0), (-5.0, 5.0)]),
    "logistic_d": (extended(logistic_d_numpy), [(-750.0, 750.0), (-5.0, 5.0)]),
}
SPECIAL = numpy.array([0.0, -0.0, numpy.inf, -numpy.inf, numpy.nan, 5e-324, -5e-324,
                       2.2250738585072014e-308, 1e-310, -1e-310, 1.0, -1.0, 2.0 ** -30,
                       -(2.0 ** -30), 709.78, 709.79, 710.0, -745.13, -745.2, -1.0 + 2**-53,
                       22.0, 22.5, 0.625, 0.6251, 0.7, -0.7, 1.7976931348623157e308,
                       -1.7976931348623157e308])


@functools.lru_cache  # each loop compiled once, shared by the tests of its function
def compiled(name):
    f = getattr(vm, name)

    @njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.size):
            out[i] = f(x[i])
    return apply


def ulps(got, want):
    """|got - want| in units of the last place of want; 0 where both are the
    same value (same infinity, both nan, same signed zero)."""
    same = (got == want) & (numpy.signbit(got) == numpy.signbit(want)) | (
        numpy.isnan(got) & numpy.isnan(want))
    with numpy.errstate(invalid="ignore", over="ignore"):
        distance = numpy.abs(got - want) / numpy.abs(numpy.spacing(want))
    return numpy.where(same, 0.0, numpy.where(numpy.isnan(distance), numpy.inf, distance))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_within_two_ulp_of_numpy_over_the_whole_domain_and_its_hard_ranges(name):
    oracle, ranges = FUNCTIONS[name]
    apply = compiled(name)
    inputs = [any_float(N)] + [RNG.uniform(lo, hi, N) for lo, hi in ranges]
    for x in inputs:
        out = numpy.empty_like(x)
        apply(x, out)
        with numpy.errstate(all="ignore"):
            want = oracle(x)
        error = ulps(out, want)
        assert error.max() <= 2.0, f"{error.max()} ulp at x = {x[numpy.argmax(error)]!r}"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_special_values_are_exactly_numpys_including_the_sign_of_zero(name):
    oracle, _ = FUNCTIONS[name]
    out = numpy.empty_like(SPECIAL)
    compiled(name)(SPECIAL, out)
    with numpy.errstate(all="ignore"):
        want = oracle(SPECIAL)
    numpy.testing.assert_array_equal(numpy.isnan(out), numpy.isnan(want))
    exact = numpy.isinf(want) | (want == 0.0)  # the sign of a nan means nothing
    numpy.testing.assert_array_equal(out[exact], want[exact])
    numpy.testing.assert_array_equal(numpy.signbit(out[exact]), numpy.signbit(want[exact]))
    assert ulps(out, want).max() <= 2.0


@pytest.mark.parametrize("name", sorted(FUNCTIONS) + ["sin", "cos"])
def test_a_loop_over_it_is_vectorised(name):
    apply = compiled(name)
    apply(numpy.ones(4), numpy.ones(4))
    llvm = apply.inspect_llvm(apply.signatures[0])
    assert re.search(r"<[248] x double>", llvm), "the loop was not vectorised"
    called = re.findall(r"call [^@]*@([\w.]+)", llvm)
    assert not [c for c in called if "primitives7vecmath" in c], "a vecmath function was called"


@pytest.mark.parametrize("kind", ["forward", "rule"])
@pytest.mark.parametrize("name", ["exp", "tanh", "expit", "sin", "cos"])
def test_pcgrads_unary_kernels_of_these_functions_are_vectorised(name, kind):
    from pcgrad import kernels
    from pcgrad.primitives.core import UNARY
    from pcgrad.primitives.elementwise import UNARY_TABLE
    code = [row[0] for row in UNARY_TABLE].index(name)
    kernel = kernels.get(kind, UNARY, code).dispatcher
    fresh = njit(error_model="numpy")(kernel.py_func)  # not from the disk cache: has its IR
    fresh.compile(kernels.SIGNATURES[kind])
    assert re.search(r"<[248] x double>", fresh.inspect_llvm(fresh.signatures[0]))


# sin and cos: vecmath's reduce modulo pi/2 for |x| <= TRIG_BOUND; pcgrad's
# kernels call the C library beyond it, as numpy does. Their whole-domain
# tests compare with numpy's float64 values: the C library is 8 ulp from the
# true value at the hardest argument (huge_multiples_of_half_pi).
TRIG = {"sin": numpy.sin, "cos": numpy.cos}


def multiples_of_half_pi(n, largest):
    """The doubles nearest to k pi/2 for random integers |k| < ``largest`` <=
    2**40 (in extended precision, pi/2 k is good to 2**-64 relative) and their
    neighbours: where the reduction cancels most."""
    k = RNG.integers(-largest, largest, n).astype(numpy.longdouble)
    x = (k * (numpy.arccos(numpy.longdouble(-1.0)) / 2)).astype(numpy.float64)
    return numpy.concatenate([x, numpy.nextafter(x, numpy.inf), numpy.nextafter(x, -numpy.inf)])


@functools.lru_cache
def scaled_pi(bits=1300):
    """pi 2**bits as an int, from Machin's formula pi = 16 atan(1/5) - 4 atan(1/239)."""
    def atan_of_inverse(n):
        total, power, i = 0, (1 << bits) // n, 0
        while power:
            total += (-1) ** i * (power // (2 * i + 1))
            power //= n * n
            i += 1
        return total
    return 16 * atan_of_inverse(5) - 4 * atan_of_inverse(239)


def half_pi_times(k, bits=1300):
    """pi/2 k rounded to the nearest double, for an int k below 2**1100."""
    return float(fractions.Fraction(k * scaled_pi(bits), 2 << bits))


def huge_multiples_of_half_pi(n):
    """The doubles nearest to k pi/2 for n random huge k (up to 2**1000), and
    the double closest to a multiple of pi/2 of all (Muller's
    6381956970095103 * 2**797)."""
    k = [int(RNG.integers(2**52, 2**53)) << int(RNG.integers(0, 948)) for _ in range(n)]
    worst = 6381956970095103 * 2.0**797
    return numpy.array([half_pi_times(i) for i in k] + [worst, -worst])


def within_bound():
    bound = vm.TRIG_BOUND
    return [RNG.uniform(-bound, bound, N), RNG.uniform(-10.0, 10.0, N),
            RNG.uniform(-1e-300, 1e-300, N // 10), multiples_of_half_pi(N // 3, 2**20 - 1),
            numpy.array([bound, -bound, numpy.nextafter(bound, 0.0), 1e5, -1e5])]


def whole_domain():
    """Every binade (random bits), large arguments, multiples of pi/2 up to
    huge ones, subnormals and the special values."""
    return numpy.concatenate([
        any_float(N), RNG.uniform(-1e10, 1e10, N // 10), RNG.uniform(-1e300, 1e300, N // 10),
        RNG.uniform(-2e6, 2e6, N // 10), multiples_of_half_pi(N // 30, 2**40),
        huge_multiples_of_half_pi(300), RNG.uniform(-1e-300, 1e-300, N // 10), SPECIAL,
        [1e5, 1e10, 1e300, vm.TRIG_BOUND, numpy.nextafter(vm.TRIG_BOUND, 2e6)]])


@pytest.mark.parametrize("name", sorted(TRIG))
def test_sin_and_cos_are_within_two_ulp_of_numpy_up_to_the_reduction_bound(name):
    apply = compiled(name)
    oracle = extended(TRIG[name])
    for x in within_bound():
        out = numpy.empty_like(x)
        apply(x, out)
        error = ulps(out, oracle(x))
        assert error.max() <= 2.0, f"{error.max()} ulp at x = {x[numpy.argmax(error)]!r}"


@pytest.mark.parametrize("name", sorted(TRIG))
def test_sin_and_cos_special_values_are_numpys(name):
    x = numpy.array([0.0, -0.0, 5e-324, -5e-324, 1e-310, numpy.inf, -numpy.inf, numpy.nan])
    out = numpy.empty_like(x)
    compiled(name)(x, out)
    with numpy.errstate(invalid="ignore"):
        want = TRIG[name](x)
    numpy.testing.assert_array_equal(out, want)  # nan where numpy has nan
    numpy.testing.assert_array_equal(numpy.signbit(out[:5]), numpy.signbit(want[:5]))


def assert_within_two_ulp(got, want, x):
    """(The sign of a zero does not survive a gradient, which adds to 0.0:
    the tests of vecmath's own sin and cos check it.)"""
    numpy.testing.assert_array_equal(numpy.isnan(got), numpy.isnan(want))
    error = ulps(got, want + 0.0)
    assert error.max() <= 2.0, f"{error.max()} ulp at x = {x[numpy.argmax(error)]!r}"


@pytest.mark.parametrize("name", sorted(TRIG))
def test_pcgrads_sin_and_cos_forward_kernels_are_within_two_ulp_over_the_whole_domain(name):
    import pcgrad
    import pcgrad.numpy as pnp
    f = getattr(pnp, name)
    # d/dw sum(f(x) w) = f(x), read from the value the forward kernel replays
    replayed = pcgrad.jit(pcgrad.grad(lambda x, w: pnp.sum(f(x) * w), argnums=1))
    x = whole_domain()
    replayed(numpy.zeros_like(x), numpy.ones_like(x))  # traces; later calls replay
    with numpy.errstate(all="ignore"):
        assert_within_two_ulp(replayed(x, numpy.ones_like(x)), TRIG[name](x), x)


@pytest.mark.parametrize("name", sorted(TRIG))
def test_pcgrads_sin_and_cos_error_kernels_are_within_two_ulp_over_the_whole_domain(name):
    import pcgrad
    import pcgrad.numpy as pnp
    x = whole_domain()
    derivative = numpy.cos if name == "sin" else lambda v: -numpy.sin(v)
    with numpy.errstate(all="ignore"):
        gradient = pcgrad.grad(lambda x: pnp.sum(getattr(pnp, name)(x)))(x)
        assert_within_two_ulp(gradient, derivative(x), x)


@pytest.mark.parametrize("name", ["sin", "cos", "sin_d", "cos_d"])
def test_pcgrads_scalar_sin_and_cos_hold_over_the_whole_domain_on_their_own(name):
    # the scalars that fused loops and other kernels call choose per element;
    # only the unary kernels use the in-range body after checking the bound
    from pcgrad.primitives import elementwise
    scalar = getattr(elementwise, name)
    arity = 2 if name.endswith("_d") else 1

    @njit
    def apply(x, out):
        for i in range(x.size):
            out[i] = scalar(x[i], 0.0) if arity == 2 else scalar(x[i])

    x = whole_domain()
    out = numpy.empty_like(x)
    apply(x, out)
    want = {"sin": numpy.sin, "cos": numpy.cos, "sin_d": numpy.cos,
            "cos_d": lambda v: -numpy.sin(v)}[name]
    with numpy.errstate(all="ignore"):
        assert_within_two_ulp(out, want(x), x)
