"""pcgrad.scipy: the derivative of every function, and the accuracy of the
scalar implementations behind them.

The derivative cases follow tests/test_numpy_functions.py (whose Case,
draws and helpers they use): each case is written once against a numpy-like
module ``np`` and reaches scipy through ``sp(np)`` / ``st(np)``, which give
pcgrad.scipy for pcgrad.numpy, autograd.scipy for autograd.numpy (the
reference) and scipy itself for numpy (finite differences). Where autograd
lacks a function, ``sp(anp)`` composes it from autograd's (an independent
formula, differentiated by autograd).

The scalar implementations (pcgrad/primitives/special.py) are compared with
scipy.special on more than 100,000 points each, edge cases included.
"""
import doctest
import functools
import importlib
import types
import zlib

import autograd
import autograd.numpy as anp
import autograd.scipy.special as asp
import autograd.scipy.stats as ast
import numpy
import pytest
import scipy.special
import scipy.stats
from numba import njit

import pcgrad
import pcgrad.numpy as pnp
import pcgrad.scipy.special as psp
import pcgrad.scipy.stats as pst
from pcgrad.primitives import special as scalars
from test_numpy_functions import (AUTOGRAD_RTOL, SCHEDULES, At, Case, Draw, _assert_close,
                                  assert_matches_autograd, assert_matches_finite_differences,
                                  positive, real, unit)

# --- the three implementations of scipy ----------------------------------------------------
_AG_INV_SQRT2 = 1.0 / numpy.sqrt(2.0)
AUTOGRAD_SPECIAL = types.SimpleNamespace(**{
    **{n: getattr(asp, n) for n in dir(asp) if not n.startswith("_")},
    # what autograd.scipy.special lacks, composed from autograd's functions
    "softmax": lambda x, axis=None: anp.exp(x - asp.logsumexp(x, axis=axis, keepdims=True)),
    "log_softmax": lambda x, axis=None: x - asp.logsumexp(x, axis=axis, keepdims=True),
    "xlogy": lambda x, y: x * anp.log(y), "xlog1py": lambda x, y: x * anp.log1p(y),
    "entr": lambda x: -x * anp.log(x), "log_expit": lambda x: -anp.logaddexp(0.0, -x),
    "i0e": lambda x: anp.exp(-anp.abs(x)) * asp.i0(x),
    "i1e": lambda x: anp.exp(-anp.abs(x)) * asp.i1(x),
    "ndtr": lambda x: 0.5 * asp.erfc(-x * _AG_INV_SQRT2),
    "log_ndtr": lambda x: anp.log(0.5 * asp.erfc(-x * _AG_INV_SQRT2)),
    "ndtri": lambda p: -numpy.sqrt(2.0) * asp.erfcinv(2.0 * p)})
SPECIAL = {pnp: psp, anp: AUTOGRAD_SPECIAL, numpy: scipy.special}
STATS = {pnp: pst, anp: ast, numpy: scipy.stats}


def sp(np):
    return SPECIAL[np]


def st(np):
    return STATS[np]


# --- cases ---------------------------------------------------------------------------------
CASES = []


def case(name, fn, *specs, **options):
    CASES.append(Case(name, fn, specs, **options))


def special(name, *draws, label="", **options):
    """sp(np).name(*args) on each shape of the draws."""
    for shape in ((), (7,), (3, 4)):
        case(name, lambda np, *args, name=name: getattr(sp(np), name)(*args),
             *[d(*shape) for d in draws], label=label, **options)


def interval(lo, hi, avoid=()):
    return lambda *shape: Draw(shape, lo, hi, avoid=avoid)


_NO_AG = "autograd.scipy.special has no VJP for {}"
special("erf", real)
special("erfc", real)
special("erfinv", unit)
special("erfcinv", interval(0.1, 1.9))
special("gammaln", interval(0.1, 6.0))
special("gammaln", interval(-3.9, -0.1, avoid=(-3.0, -2.0, -1.0)), label="negative")
special("gamma", interval(0.1, 5.0))
special("gamma", interval(-2.9, -0.1, avoid=(-2.0, -1.0)), label="negative")
special("digamma", interval(0.1, 6.0))
special("digamma", interval(-2.9, -0.1, avoid=(-2.0, -1.0)), label="negative")
special("psi", interval(0.2, 6.0))
special("expit", interval(-6.0, 6.0))
special("log_expit", interval(-6.0, 6.0))
special("logit", interval(0.05, 0.95))
special("entr", interval(0.05, 3.0))
special("i0", interval(-4.0, 4.0))
special("i1", interval(-4.0, 4.0))
special("i0e", interval(-4.0, 4.0, avoid=(0.0,)))
special("i1e", interval(-4.0, 4.0, avoid=(0.0,)))
special("ndtr", interval(-4.0, 4.0))
special("log_ndtr", interval(-6.0, 4.0))
special("ndtri", interval(0.05, 0.95))
special("xlogy", real, positive)
special("xlog1py", real, interval(-0.5, 2.0))
special("beta", interval(0.3, 4.0), interval(0.3, 4.0))
special("betaln", interval(0.3, 4.0), interval(0.3, 4.0))
for _n in (0, 1, 2, 3):
    case("polygamma", lambda np, x, n=_n: sp(np).polygamma(n, x), Draw((3, 4), 0.3, 5.0),
         label=f"n{_n}")
case("polygamma", lambda np, x: sp(np).polygamma(numpy.array([[1], [2], [4]]), x),
     Draw((3, 4), 0.3, 5.0), label="n-array")
case("polygamma", lambda np, x: sp(np).polygamma(2, x), Draw((7,), -2.9, -0.1,
     avoid=(-2.0, -1.0)), label="n2-negative")
case("multigammaln", lambda np, a: sp(np).multigammaln(a, 3), Draw((4,), 1.2, 4.0))
for _name in ("gammainc", "gammaincc"):
    case(_name, lambda np, x, name=_name: getattr(sp(np), name)(2.5, x), Draw((7,), 0.1, 6.0))
    case(_name, lambda np, x, name=_name: getattr(sp(np), name)(numpy.array([0.5, 3.0, 12.0]),
         x), Draw((4, 3), 0.1, 15.0), label="a-array")
case("betainc", lambda np, x: sp(np).betainc(2.5, 1.5, x), Draw((7,), 0.05, 0.95))
case("betainc", lambda np, x: sp(np).betainc(numpy.array([0.5, 3.0, 40.0]), 0.7, x),
     Draw((4, 3), 0.05, 0.95), label="a-array")
case("betainc", lambda np, x: sp(np).betainc(0.5, 12.0, x), Draw((7,), 0.02, 0.3),
     label="large-b")
# logsumexp and the softmaxes
for _axis, _keepdims in ((None, False), (0, False), (1, True), (-1, False), ((0, 2), True)):
    case("logsumexp", lambda np, x, axis=_axis, keepdims=_keepdims:
         sp(np).logsumexp(x, axis=axis, keepdims=keepdims), real(2, 3, 4),
         label=f"axis{_axis}".replace(" ", "") + ("-keepdims" if _keepdims else ""))
case("logsumexp", lambda np, x: sp(np).logsumexp(x), Draw((5,), 500.0, 800.0), label="large")
case("logsumexp", lambda np, x: sp(np).logsumexp(x), real(), label="0d")
case("logsumexp", lambda np, x, b: sp(np).logsumexp(x, axis=1, b=b), real(3, 4), positive(4),
     label="b", no_autograd="autograd's logsumexp has no VJP for b")
case("logsumexp", lambda np, x: sp(np).logsumexp(x, axis=1, b=numpy.array([0.5, 2.0, 1.0,
     3.0])), real(3, 4), label="b-constant")
for _name in ("softmax", "log_softmax"):
    for _axis in (None, 0, -1):
        case(_name, lambda np, x, name=_name, axis=_axis: getattr(sp(np), name)(x, axis=axis),
             real(3, 4), label=f"axis{_axis}")
    case(_name, lambda np, x, name=_name: getattr(sp(np), name)(x, axis=1),
         Draw((2, 5), 800.0, 803.0), label="large")

# --- scipy.stats ------------------------------------------------------------------------------
_X, _LOC, _SCALE = real(7), Draw((), -1.0, 1.0), Draw((), 0.5, 2.0)
for _fn in ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"):
    case(f"stats.norm.{_fn}", lambda np, x, m, s, fn=_fn: getattr(st(np).norm, fn)(x, m, s),
         _X, _LOC, _SCALE)
case("stats.norm.logcdf", lambda np, x: st(np).norm.logcdf(x), Draw((5,), -30.0, -20.0),
     label="lower-tail")
case("stats.norm.ppf", lambda np, q, m, s: st(np).norm.ppf(q, m, s), Draw((7,), 0.05, 0.95),
     _LOC, _SCALE, no_autograd="autograd.scipy.stats.norm has no ppf")
case("stats.norm.isf", lambda np, q, m, s: st(np).norm.isf(q, m, s), Draw((7,), 0.05, 0.95),
     _LOC, _SCALE, no_autograd="autograd.scipy.stats.norm has no isf")
_DF = Draw((), 1.5, 8.0)
for _fn in ("logpdf", "pdf"):
    case(f"stats.t.{_fn}", lambda np, x, df, m, s, fn=_fn: getattr(st(np).t, fn)(x, df, m, s),
         _X, _DF, _LOC, _SCALE)
_T_CDF = "autograd's t.cdf and logcdf differentiate x and loc only"
for _fn in ("cdf", "logcdf"):
    case(f"stats.t.{_fn}", lambda np, x, m, fn=_fn: getattr(st(np).t, fn)(x, 3.5, m, 1.5),
         Draw((7,), -6.0, 6.0, avoid=(0.0,)), _LOC)
    case(f"stats.t.{_fn}", lambda np, x, s, fn=_fn: getattr(st(np).t, fn)(x, 3.5, 0.2, s),
         Draw((7,), -6.0, 6.0, avoid=(0.2,)), _SCALE, label="scale", no_autograd=_T_CDF)
case("stats.t.cdf", lambda np, x: st(np).t.cdf(x, 2.5), At(numpy.array([0.0, 1.0, -30.0])),
     label="at-zero")
case("stats.t.sf", lambda np, x: st(np).t.sf(x, 2.5), Draw((7,), -5.0, 5.0, avoid=(0.0,)),
     no_autograd="autograd.scipy.stats.t has no sf")
_A = Draw((), 0.7, 4.0)
for _fn in ("logpdf", "pdf"):
    case(f"stats.gamma.{_fn}", lambda np, x, a, fn=_fn: getattr(st(np).gamma, fn)(x, a),
         Draw((7,), 0.1, 6.0), _A)
    case(f"stats.gamma.{_fn}", lambda np, x, a, m, s, fn=_fn:
         getattr(st(np).gamma, fn)(x, a, m, s), Draw((7,), 2.1, 6.0), _A, _LOC, _SCALE,
         label="loc-scale", no_autograd="autograd's gamma takes no loc and scale")
    case(f"stats.beta.{_fn}", lambda np, x, a, b, fn=_fn: getattr(st(np).beta, fn)(x, a, b),
         Draw((7,), 0.05, 0.95), _A, _A)
    # (autograd's chi2 gives a zero derivative for non-integer df)
    case(f"stats.chi2.{_fn}", lambda np, x, fn=_fn: getattr(st(np).chi2, fn)(x, 3.0),
         Draw((7,), 0.1, 8.0))
    case(f"stats.chi2.{_fn}", lambda np, x, df, fn=_fn: getattr(st(np).chi2, fn)(x, df),
         Draw((7,), 0.1, 8.0), Draw((), 1.5, 6.0), label="df",
         no_autograd="autograd's chi2 differentiates x only")
case("stats.gamma.cdf", lambda np, x: st(np).gamma.cdf(x, 2.5), Draw((7,), 0.1, 6.0))
case("stats.gamma.cdf", lambda np, x, m, s: st(np).gamma.cdf(x, 2.5, m, s),
     Draw((7,), 2.1, 6.0), _LOC, _SCALE, label="loc-scale",
     no_autograd="autograd's gamma takes no loc and scale")
case("stats.beta.cdf", lambda np, x: st(np).beta.cdf(x, 2.5, 0.7), Draw((7,), 0.05, 0.95))
case("stats.chi2.cdf", lambda np, x: st(np).chi2.cdf(x, 3.5), Draw((7,), 0.1, 8.0))
for _fn in ("logcdf", "sf"):
    for _dist, _args in (("gamma", (2.5,)), ("beta", (2.5, 0.7)), ("chi2", (3.5,))):
        case(f"stats.{_dist}.{_fn}", lambda np, x, d=_dist, a=_args, fn=_fn:
             getattr(getattr(st(np), d), fn)(x, *a), Draw((7,), 0.05, 0.95),
             no_autograd=f"autograd.scipy.stats.{_dist} has no {_fn}")
_K = numpy.array([0.0, 1.0, 2.0, 5.0, 9.0])
for _fn in ("logpmf", "pmf", "cdf", "logcdf", "sf"):
    case(f"stats.poisson.{_fn}", lambda np, mu, fn=_fn: getattr(st(np).poisson, fn)(_K, mu),
         Draw((5,), 0.5, 6.0), no_autograd="" if _fn in ("logpmf", "pmf", "cdf") else
         f"autograd.scipy.stats.poisson has no {_fn}")
case("stats.poisson.cdf", lambda np, mu: st(np).poisson.cdf(_K + 0.5, mu), Draw((5,), 0.5, 6.0),
     label="between-integers")
for _fn in ("logpdf", "pdf"):
    case(f"stats.dirichlet.{_fn}", lambda np, a, fn=_fn: getattr(st(np).dirichlet, fn)(
         numpy.array([0.2, 0.5, 0.3]), a), Draw((3,), 0.5, 3.0), label="alpha")
    case(f"stats.dirichlet.{_fn}", lambda np, x, fn=_fn: getattr(st(np).dirichlet, fn)(
         x / np.sum(x), numpy.array([1.5, 0.8, 2.0, 3.0])), Draw((4,), 0.5, 2.0), label="x")
_COV = numpy.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
for _fn in ("logpdf", "pdf"):
    case(f"stats.multivariate_normal.{_fn}", lambda np, x, m, fn=_fn:
         getattr(st(np).multivariate_normal, fn)(x, m, _COV), real(4, 3), real(3))
    case(f"stats.multivariate_normal.{_fn}", lambda np, x, fn=_fn:
         getattr(st(np).multivariate_normal, fn)(x, numpy.zeros(3), _COV), real(3),
         label="one-point")
case("stats.multivariate_normal.logpdf", lambda np, x: st(np).multivariate_normal.logpdf(
     x, 0.5, 2.0), real(5), label="1d-scalar-cov",
     no_autograd="autograd's multivariate_normal VJP needs a matrix covariance")


# --- the derivative tests -------------------------------------------------------------------
def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []


# euler, the slowest, on every third case: its tolerance is what is tested
EULER_CASES = {c.id for c in CASES[::3]}


def _schedules(cases):
    return [pytest.param(c, s, id=f"{c.id}-{s}", marks=c.marks) for c in cases
            for s in SCHEDULES if s != "euler" or c.id in EULER_CASES]


@pytest.mark.parametrize("case, schedule", _schedules([c for c in CASES if not c.no_autograd]))
def test_gradient_matches_autograd(case, schedule):
    assert_matches_autograd(case, schedule)


@pytest.mark.parametrize("case, schedule", _schedules([c for c in CASES if not c.no_fd]))
def test_gradient_matches_finite_differences(case, schedule):
    assert_matches_finite_differences(case, schedule)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_traced_value_matches_scipy(case):
    value, _ = pcgrad.value_and_grad(lambda *a: case.functional(pnp, *a),
                                     argnums=case.diff)(*case.args)
    numpy.testing.assert_allclose(value, case.functional(numpy, *case.args), rtol=1e-12)


def test_every_public_name_has_a_case():
    names = {f"special.{n}" for n in psp.__all__} | {
        f"stats.{d}.{f}" for d in ("norm", "t", "gamma", "beta", "chi2", "poisson", "dirichlet",
                                   "multivariate_normal")
        for f in getattr(pst, d).__all__}
    tested = {c.name if c.name.startswith("stats.") else f"special.{c.name}" for c in CASES}
    assert sorted(names - tested) == []


# --- behaviours -------------------------------------------------------------------------------
def test_scipy_special_ufunc_on_a_traced_array_routes_to_pcgrad_scipy_special():
    x = numpy.array([-1.0, 0.5, 2.0])
    g = pcgrad.grad(lambda x: pnp.sum(scipy.special.expit(x)))(x)
    e = scipy.special.expit(x)
    numpy.testing.assert_allclose(g, e * (1.0 - e), rtol=1e-14)


def test_scipy_special_ufunc_without_a_pcgrad_counterpart_raises_type_error_naming_it():
    with pytest.raises(TypeError, match=r"scipy\.special\.struve was called on a traced "
                                        r"array; pcgrad\.scipy\.special\.struve does not exist"):
        pcgrad.grad(lambda x: pnp.sum(scipy.special.struve(1.0, x)))(numpy.ones(2))


def test_scipy_special_ufunc_with_keywords_on_a_traced_array_raises_type_error():
    with pytest.raises(TypeError, match=r"call pcgrad\.scipy\.special\.erf without them"):
        pcgrad.grad(lambda x: pnp.sum(scipy.special.erf(x, dtype=float)))(numpy.ones(2))


@pytest.mark.parametrize("fn, name", [
    (lambda x: psp.gammainc(x, 1.0), "gammainc"), (lambda x: psp.gammaincc(x, 1.0), "gammaincc"),
    (lambda x: psp.betainc(x, 2.0, 0.5), "betainc"),
    (lambda x: psp.betainc(2.0, x, 0.5), "betainc"),
    (lambda x: pst.t.cdf(1.0, x), "betainc"), (lambda x: pst.gamma.cdf(1.0, x), "gammainc")])
def test_a_shape_parameter_without_a_derivative_raises_type_error(fn, name):
    with pytest.raises(TypeError, match=rf"{name}\(.*is differentiable in x only.*"
                                        r"stop_gradient"):
        pcgrad.grad(lambda x: pnp.sum(fn(x)))(numpy.array([1.5, 2.5]))


def test_a_stop_gradient_shape_parameter_is_a_constant():
    x = numpy.array([0.5, 2.0])
    g = pcgrad.grad(lambda x: pnp.sum(psp.gammainc(pnp.stop_gradient(x + 1.0), x)))(x)
    numpy.testing.assert_allclose(g, x ** x * numpy.exp(-x) / scipy.special.gamma(x + 1.0),
                                  rtol=1e-13)


def test_polygamma_of_a_traced_order_raises_type_error():
    with pytest.raises(TypeError, match="no derivative in n"):
        pcgrad.grad(lambda n: pnp.sum(psp.polygamma(n, 2.0)))(numpy.array([1.0]))


def test_polygamma_of_a_fractional_order_raises_value_error():
    with pytest.raises(ValueError, match="integer orders"):
        psp.polygamma(1.5, 2.0)


@pytest.mark.parametrize("schedule", ["sweep", "jacobi"])
@pytest.mark.parametrize("points", [(3,), (4, 3)])
def test_multivariate_normal_gradient_in_the_covariance_matches_autograd(schedule, points):
    rng = numpy.random.default_rng(7)
    a = rng.standard_normal((3, 3))
    cov, x, mean = a @ a.T + 3 * numpy.eye(3), rng.standard_normal(points), rng.standard_normal(3)
    ours = pcgrad.grad(lambda c: pnp.sum(pst.multivariate_normal.logpdf(x, mean, c)),
                       schedule=schedule)(cov)
    theirs = autograd.grad(lambda c: anp.sum(ast.multivariate_normal.logpdf(x, mean, c)))(cov)
    numpy.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-12)


def test_multivariate_normal_value_at_a_traced_covariance_is_scipys():
    cov, x = numpy.array([[2.0, 0.5], [0.5, 1.0]]), numpy.array([[0.3, -0.2], [1.0, 2.0]])
    value, _ = pcgrad.value_and_grad(
        lambda c: pnp.sum(pst.multivariate_normal.logpdf(x, None, c)))(cov)
    assert value == pytest.approx(scipy.stats.multivariate_normal.logpdf(x, None, cov).sum(),
                                  rel=1e-12)


def test_multivariate_normal_of_a_traced_non_matrix_covariance_raises_value_error():
    with pytest.raises(ValueError, match=r"covariance given as a \(d, d\) matrix"):
        pcgrad.grad(lambda c: pst.multivariate_normal.logpdf(numpy.zeros(2), None, c))(
            numpy.ones(2))


def test_multivariate_normal_of_a_singular_covariance_follows_scipy():
    cov = numpy.array([[1.0, 1.0], [1.0, 1.0]])
    x = numpy.array([[0.3, 0.3], [-1.0, -1.0]])
    with pytest.raises(numpy.linalg.LinAlgError, match="allow_singular"):
        pst.multivariate_normal.logpdf(x, None, cov)
    numpy.testing.assert_allclose(
        pst.multivariate_normal.logpdf(x, None, cov, allow_singular=True),
        scipy.stats.multivariate_normal.logpdf(x, None, cov, allow_singular=True), rtol=1e-13)


def test_dirichlet_outside_the_simplex_raises_value_error():
    with pytest.raises(ValueError, match="normal simplex"):
        pst.dirichlet.logpdf(numpy.array([0.5, 0.6]), numpy.array([1.0, 1.0]))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_logsumexp_of_huge_values_neither_overflows_nor_loses_the_gradient(schedule):
    x = numpy.array([1000.0, 1000.0 + numpy.log(3.0)])
    v, g = pcgrad.value_and_grad(psp.logsumexp, schedule=schedule, **SCHEDULES[schedule])(x)
    numpy.testing.assert_allclose(v, 1000.0 + numpy.log(4.0), rtol=1e-15)
    # exp(x - result): the result is rounded to ulp(1000) = 1e-13
    _assert_close(g, [0.25, 0.75], 1e-12 if schedule != "euler" else AUTOGRAD_RTOL["euler"])


def test_logsumexp_of_minus_infinity_is_minus_infinity():
    assert psp.logsumexp(numpy.array([-numpy.inf, -numpy.inf])) == -numpy.inf


def test_logsumexp_return_sign_matches_scipy():
    x, b = numpy.array([0.5, 1.5, -0.2]), numpy.array([1.0, -2.0, 0.5])
    got = psp.logsumexp(x, b=b, return_sign=True)
    want = scipy.special.logsumexp(x, b=b, return_sign=True)
    numpy.testing.assert_allclose(got, want, rtol=1e-14)


@pytest.mark.parametrize("dist, args", [
    (pst.gamma, (2.5,)), (pst.chi2, (3.0,)), (pst.beta, (2.5, 2.0))])
def test_logpdf_outside_the_support_is_minus_infinity_with_zero_gradient(dist, args):
    x = numpy.array([-0.5, 0.5])
    v, g = pcgrad.value_and_grad(lambda x: pnp.sum(dist.logpdf(x, *args) * numpy.array(
        [0.0, 1.0])))(x)
    assert dist.logpdf(-0.5, *args) == -numpy.inf
    assert g[0] == 0.0 and numpy.isfinite(g[1])


def test_derivative_at_an_infinite_slope_is_infinite():
    with numpy.errstate(divide="ignore"):
        g = pcgrad.grad(lambda x: pnp.sum(psp.erfinv(x) + psp.entr(x)))(numpy.array([1.0, 0.0]))
    assert g[0] == numpy.inf and g[1] == numpy.inf


@pytest.mark.parametrize("name, derivative", [
    ("digamma", lambda x: scipy.special.polygamma(1, x)), ("gammaln", scipy.special.digamma)])
def test_derivative_at_a_pole_is_scipys(name, derivative):
    x = numpy.array([-1.0, 0.0, 2.0])
    with numpy.errstate(all="ignore"):
        g = pcgrad.grad(lambda x: pnp.sum(getattr(psp, name)(x)))(x)
        numpy.testing.assert_allclose(g, derivative(x), rtol=1e-14)


@pytest.mark.parametrize("module", ["pcgrad.scipy", "pcgrad.scipy.special", "pcgrad.scipy.stats",
                                    "pcgrad.scipy.stats.norm", "pcgrad.scipy.stats.t",
                                    "pcgrad.scipy.stats.gamma", "pcgrad.scipy.stats.chi2",
                                    "pcgrad.scipy.stats.beta", "pcgrad.scipy.stats.poisson",
                                    "pcgrad.scipy.stats.dirichlet",
                                    "pcgrad.scipy.stats.multivariate_normal"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module),
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_compiled_replay_of_special_functions_matches_the_traced_gradient():
    # pcgrad.jit recomputes the forward pass with the Numba scalars
    def f(x, y):
        return pnp.sum(psp.expit(x) * psp.gammaln(y) + psp.digamma(y) * psp.erfinv(x / 3.0)
                       + psp.i1(x) * psp.log_ndtr(x) + psp.polygamma(2, y) + psp.betaln(y, x * x)
                       + psp.xlogy(x, y) + psp.gammainc(2.5, y) + psp.betainc(1.5, 2.0, y / 4.0)
                       + pnp.remainder(x, y) + pst.t.logpdf(x, y))
    rng = numpy.random.default_rng(9)
    x, y = rng.uniform(-1.5, 1.5, 5), rng.uniform(0.5, 3.0, 5)
    fast = pcgrad.jit(pcgrad.grad(f, argnums=(0, 1)))
    fast(x, y)
    x2, y2 = rng.uniform(-1.5, 1.5, 5), rng.uniform(0.5, 3.0, 5)
    for got, want in zip(fast(x2, y2), pcgrad.grad(f, argnums=(0, 1))(x2, y2)):
        numpy.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_missing_special_function_raises_attribute_error_naming_the_docs():
    with pytest.raises(AttributeError, match=r"pcgrad\.scipy\.special has no 'struve'.*"
                                             r"docs/numpy-support\.md"):
        psp.struve


# --- the scalar implementations against scipy.special -----------------------------------------
@functools.lru_cache  # each loop compiled once, shared by the tests of its function
def _vectorize(f, arity):
    """f applied elementwise to float64 arrays, compiled as the kernels call it."""
    if arity == 1:
        def loop(a):
            out = numpy.empty_like(a)
            for i in range(a.size):
                out[i] = f(a[i])
            return out
    elif arity == 2:
        def loop(a, b):
            out = numpy.empty_like(a)
            for i in range(a.size):
                out[i] = f(a[i], b[i])
            return out
    else:
        def loop(a, b, c):
            out = numpy.empty_like(a)
            for i in range(a.size):
                out[i] = f(a[i], b[i], c[i])
            return out
    return njit(error_model="numpy")(loop)


# the special values, and values beyond int64 (where rounding through an int64,
# as Numba's math.floor does, gives garbage)
EDGES = numpy.array([0.0, -0.0, numpy.inf, -numpy.inf, numpy.nan, 1.0, -1.0, 2.0, -2.0, 0.5,
                     -0.5, 1e-300, -1e-300, 1e-8, -1e-8, 30.0, -30.0, 1e20, -1e20, 1e300,
                     -1e300])


def _draw(seed, *parts):
    """Points from (lo, hi, n, log-spaced) parts, and the edge cases."""
    rng = numpy.random.default_rng(seed)
    out = []
    for lo, hi, n, logspaced in parts:
        if logspaced:
            small, large = sorted((abs(lo), abs(hi)))
            out.append(numpy.sign(lo) * numpy.exp(rng.uniform(numpy.log(small), numpy.log(large),
                                                              n)))
        else:
            out.append(rng.uniform(lo, hi, n))
    return numpy.concatenate(out)


def _assert_agrees(got, want, rtol, atol=0.0):
    """Equal where scipy is inf or nan; within rtol |want| + atol elsewhere
    (rtol and atol may be arrays, one tolerance per point)."""
    special_points = ~numpy.isfinite(want)
    numpy.testing.assert_array_equal(got[special_points], want[special_points])
    finite = ~special_points
    rtol, atol = (numpy.broadcast_to(t, want.shape)[finite] for t in (rtol, atol))
    error = numpy.abs(got[finite] - want[finite])
    bound = rtol * numpy.abs(want[finite]) + atol
    worst = numpy.argmax(error - bound)
    assert numpy.all(error <= bound), (
        f"{numpy.sum(error > bound)} points off; worst: got {got[finite][worst]!r}, scipy "
        f"{want[finite][worst]!r}")


ACCURACY_N = 100_000


def test_digamma_matches_scipy_for_positive_arguments():
    x = numpy.concatenate([_draw(1, (1e-8, 1e8, ACCURACY_N, True), (0.5, 2.5, 20_000, False)),
                           EDGES[EDGES >= 0]])
    _assert_agrees(_vectorize(scalars.digamma, 1)(x), scipy.special.digamma(x), 1e-14)


def test_digamma_matches_scipy_for_negative_arguments_and_at_poles():
    # psi(x) = psi(1 - x) - pi cot(pi x): near its roots (one between each two
    # negative integers) the terms cancel, so the error is relative to them.
    # Within 1e-2 of a pole scipy loses accuracy (8e-14 at 1e-3; pcgrad's
    # values there are within 2e-16 of 40-digit ones): see the next test
    x = numpy.concatenate([_draw(2, (-1e4, -1e-8, ACCURACY_N, True), (-10.0, 0.0, 20_000, False)),
                           -numpy.arange(0.0, 50.0), EDGES[EDGES < 0]])
    x = x[(numpy.abs(x - numpy.round(x)) > 1e-2) | (x == numpy.round(x)) | ~numpy.isfinite(x)]
    terms = (numpy.abs(scipy.special.digamma(1.0 - x))
             + numpy.abs(numpy.pi / numpy.tan(numpy.pi * x)))
    with numpy.errstate(all="ignore"):
        _assert_agrees(_vectorize(scalars.digamma, 1)(x), scipy.special.digamma(x), 5e-14,
                       4e-15 * terms)


def test_digamma_near_its_negative_poles_is_its_laurent_series():
    # psi(-k + r) = -1/r + psi(1 + k) + O(r): for |r| < 1e-8 the two terms are
    # exact to a relative 1e-16 (r > 1e-12 is not lost in rounding -k + r)
    rng = numpy.random.default_rng(5)
    k = rng.integers(1, 1000, ACCURACY_N).astype(float)
    r = rng.choice([-1.0, 1.0], ACCURACY_N) * numpy.exp(rng.uniform(numpy.log(1e-12),
                                                                    numpy.log(1e-8), ACCURACY_N))
    x = -k + r
    r = x + k  # the offset x actually has
    _assert_agrees(_vectorize(scalars.digamma, 1)(x), -1.0 / r + scipy.special.digamma(1.0 + k),
                   1e-14)


def test_digamma_near_its_first_negative_root_has_full_relative_accuracy():
    x = scalars.NEG_ROOT + _draw(3, (-0.05, 0.05, ACCURACY_N, False))
    _assert_agrees(_vectorize(scalars.digamma, 1)(x), scipy.special.digamma(x), 1e-14)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10])
def test_polygamma_matches_scipy(n):
    x = numpy.concatenate([_draw(4 + n, (1e-8, 1e8, ACCURACY_N, True), (-10.0, 10.0, 30_000,
                                                                        False)), EDGES])
    got = _vectorize(scalars.polygamma, 2)(numpy.full(x.size, float(n)), x)
    with numpy.errstate(all="ignore"):
        want = scipy.special.polygamma(n, x)
    # for x < 0 and n >= 2 the Hurwitz zeta sum alternates in sign (in scipy too)
    _assert_agrees(got, want, 1e-14 if n == 1 else 3e-14)


@pytest.mark.parametrize("name, parts, edges", [
    ("erfinv", [(-1.0, 1.0, ACCURACY_N, False), (1e-300, 1e-3, 10_000, True)],
     [1.0 - 2.0 ** -53, -(1.0 - 2.0 ** -53), 1.0 - 1e-10, 1.1, -1.1]),
    ("erfcinv", [(0.0, 2.0, ACCURACY_N, False), (1e-300, 1.0, 20_000, True)],
     [2.0 - 2.0 ** -52, 2.0, 2.5, 1e-300]),
    ("gammaln", [(1e-300, 1e300, ACCURACY_N, True), (-180.0, 180.0, 30_000, False)],
     -numpy.arange(0.0, 20.0)),
    ("gamma", [(1e-300, 171.0, ACCURACY_N, True), (-170.0, 171.0, 30_000, False)],
     -numpy.arange(0.0, 20.0)),
    ("expit", [(-700.0, 700.0, ACCURACY_N, False), (-40.0, 40.0, 20_000, False)], []),
    ("log_expit", [(-800.0, 800.0, ACCURACY_N, False), (-40.0, 40.0, 20_000, False)], []),
    ("logit", [(0.0, 1.0, ACCURACY_N, False), (1e-300, 1.0, 20_000, True)], [1.0 - 1e-16]),
    ("i0", [(-700.0, 700.0, ACCURACY_N, False), (-30.0, 30.0, 20_000, False)], [25.0, -25.0]),
    ("i1", [(-700.0, 700.0, ACCURACY_N, False), (-30.0, 30.0, 20_000, False)], [25.0, -25.0]),
    ("i0", [(1e-10, 1e10, ACCURACY_N, True)], []),
    ("i0e", [(1e-10, 1e10, ACCURACY_N, True), (-30.0, 30.0, 20_000, False)], [25.0, -25.0]),
    ("i1e", [(1e-10, 1e10, ACCURACY_N, True), (-30.0, 30.0, 20_000, False)], [25.0, -25.0]),
])
def test_unary_scalar_matches_scipy(name, parts, edges):
    x = numpy.concatenate([_draw(zlib.crc32(name.encode()), *parts), EDGES, edges])
    if name in ("i0", "i1"):  # scipy's I0(inf) and I1(inf) are nan: see below
        x = x[numpy.abs(x) < numpy.inf]
    with numpy.errstate(all="ignore"):
        want = getattr(scipy.special, name)(x)
    got = _vectorize(getattr(scalars, name), 1)(x)
    # scipy flushes results below the normal range to 0, and overflows a
    # little early (I0(711.5) = 1.5e307 is inf): those points are left out
    tiny = ((want == 0) & (numpy.abs(got) < 1e-300)) | ((numpy.abs(want) == numpy.inf)
                                                        & (numpy.abs(got) > 1e306))
    # log |Gamma| has zeros (at 1, 2 and between the poles): an absolute error there
    atol = 1e-15 * (1.0 + numpy.abs(x[~tiny])) if name == "gammaln" else 0.0
    _assert_agrees(got[~tiny], want[~tiny], 1e-14, atol)


def test_bessel_functions_are_infinite_at_infinity():
    # scipy.special.i0(inf) and i1(inf) are nan; I0 and I1 grow without bound
    x = numpy.array([numpy.inf, -numpy.inf])
    numpy.testing.assert_array_equal(_vectorize(scalars.i0, 1)(x), [numpy.inf, numpy.inf])
    numpy.testing.assert_array_equal(_vectorize(scalars.i1, 1)(x), [numpy.inf, -numpy.inf])


def test_ndtr_and_log_ndtr_match_scipy():
    # Phi(x) for x << 0 (and log Phi(x) for x >> 0) is exp(-x^2/2)-small: both
    # round x^2/2, so the relative error grows like x^2 eps (in scipy too)
    x = numpy.concatenate([_draw(20, (-37.0, 37.0, ACCURACY_N, False),
                                 (-1e10, -1.0, 20_000, True)), EDGES])
    with numpy.errstate(all="ignore"):
        for name in ("ndtr", "log_ndtr"):
            want = getattr(scipy.special, name)(x)
            got = _vectorize(getattr(scalars, name), 1)(x)
            keep = (numpy.abs(want) > 1e-300) | ~numpy.isfinite(want) | (got == want)
            _assert_agrees(got[keep], want[keep],
                           1e-14 + 4e-16 * numpy.minimum(numpy.abs(x[keep]), 40.0) ** 2)


def test_ndtri_matches_scipy():
    p = numpy.concatenate([_draw(21, (0.0, 1.0, ACCURACY_N, False), (1e-300, 0.5, 20_000, True)),
                           EDGES])
    with numpy.errstate(all="ignore"):
        _assert_agrees(_vectorize(scalars.ndtri, 1)(p), scipy.special.ndtri(p), 1e-14)


@pytest.mark.parametrize("name", ["beta", "betaln"])
def test_beta_and_betaln_match_scipy_where_scipy_is_exact(name):
    # scipy computes lgamma(a) + lgamma(b) - lgamma(a + b) for a + b > 171,
    # losing up to 1e-6 relative; here B(a, b) comes from Stirling's series
    # there, so the comparison is where scipy uses Gamma itself or its own
    # asymptotic form (a > 1e6 b)
    rng = numpy.random.default_rng(22)
    # scipy's B(0, nan) is inf: nan is tested below; at the edges beyond 1e20
    # scipy is not exact (B(inf, 1e300) is nan, log B(1e300, 1e300) off by
    # 2e-13): the test after this one covers them
    edges = EDGES[~numpy.isnan(EDGES) & (numpy.abs(EDGES) < 1e20)]
    a = numpy.concatenate([rng.uniform(-80.0, 80.0, ACCURACY_N), rng.uniform(1e7, 1e9, 10_000),
                           numpy.repeat(edges, edges.size), -numpy.arange(6.0)])
    b = numpy.concatenate([rng.uniform(-80.0, 80.0, ACCURACY_N), rng.uniform(0.01, 1.0, 10_000),
                           numpy.tile(edges, edges.size), [2.0, 2.0, 3.0, 4.0, 0.5, -1.5]])
    with numpy.errstate(all="ignore"):
        want = getattr(scipy.special, name)(a, b)
    got = _vectorize(getattr(scalars, name), 2)(a, b)
    if name == "beta":
        _assert_agrees(got, want, 1e-14)
    else:  # log B near 0 (B near 1) has an absolute error
        _assert_agrees(got, want, 1e-14, 1e-15)
    assert numpy.isnan(_vectorize(getattr(scalars, name), 2)(numpy.array([numpy.nan, 1.0]),
                                                               numpy.array([1.0, numpy.nan]))).all()


def test_beta_and_betaln_of_a_huge_and_a_small_negative_argument_follow_b_to_the_minus_a():
    # Gamma(b) / Gamma(a + b) = b^-a (1 + O(a^2 / b)): B(a, b) -> Gamma(a) b^-a
    # for b >> a^2 (lgamma(b) - lgamma(a + b) cancelled here once)
    a = numpy.array([-0.5, -1e-8, -2.5, -1e-300, -0.5, -1.5, 0.5, 3.0])
    b = numpy.array([1e15, 1e20, 1e17, 1e300, 2.0 ** 70, 1e300, 1e18, 1e20])
    with numpy.errstate(all="ignore"):
        want = scipy.special.gamma(a) * b ** -a
    # B is exp(log B) there: the rounding of log B, relative to B, is |log B| ulps
    conditioning = numpy.finfo(float).eps * numpy.abs(numpy.log(numpy.abs(want)))
    for x, y in ((a, b), (b, a)):
        _assert_agrees(_vectorize(scalars.beta, 2)(x, y), want, 1e-14 + 2.0 * conditioning)
        _assert_agrees(_vectorize(scalars.betaln, 2)(x, y),
                       scipy.special.gammaln(a) - a * numpy.log(b), 1e-14)


@pytest.mark.parametrize("name", ["gammainc", "gammaincc"])
def test_incomplete_gamma_matches_scipy(name):
    rng = numpy.random.default_rng(23)
    a = numpy.exp(rng.uniform(numpy.log(1e-3), numpy.log(100.0), ACCURACY_N))
    x = a * numpy.exp(rng.uniform(numpy.log(0.01), numpy.log(3.0), ACCURACY_N))
    edges = numpy.array([0.0, 1.0, numpy.inf, numpy.nan, -1.0])
    a, x = numpy.concatenate([a, numpy.repeat(edges, 5)]), numpy.concatenate([x, numpy.tile(
        edges, 5)])
    with numpy.errstate(all="ignore"):
        want = getattr(scipy.special, name)(a, x)
    got = _vectorize(getattr(scalars, name), 2)(a, x)
    keep = (numpy.abs(want) > 1e-300) | ~numpy.isfinite(want) | (got == want)
    _assert_agrees(got[keep], want[keep], 2e-13)


def test_incomplete_beta_matches_scipy():
    rng = numpy.random.default_rng(24)
    a = numpy.exp(rng.uniform(numpy.log(1e-2), numpy.log(100.0), ACCURACY_N))
    b = numpy.exp(rng.uniform(numpy.log(1e-2), numpy.log(100.0), ACCURACY_N))
    x = rng.uniform(0.0, 1.0, ACCURACY_N)
    edges = numpy.array([0.0, 1.0, numpy.inf, numpy.nan, 0.5])
    a = numpy.concatenate([a, numpy.repeat(edges, 25)])
    b = numpy.concatenate([b, numpy.tile(numpy.repeat(edges, 5), 5)])
    x = numpy.concatenate([x, numpy.tile(edges, 25)])
    with numpy.errstate(all="ignore"):
        want = scipy.special.betainc(a, b, x)
    got = _vectorize(scalars.betainc, 3)(a, b, x)
    keep = (numpy.abs(want) > 1e-300) | ~numpy.isfinite(want) | (got == want)
    _assert_agrees(got[keep], want[keep], 5e-13)


@pytest.mark.parametrize("name", ["remainder", "fmod"])
def test_remainder_and_fmod_equal_numpy_exactly(name):
    rng = numpy.random.default_rng(25)
    a = numpy.concatenate([rng.uniform(-100, 100, ACCURACY_N), EDGES, EDGES])
    b = numpy.concatenate([rng.uniform(-10, 10, ACCURACY_N), EDGES[::-1], EDGES])
    with numpy.errstate(all="ignore"):
        want = getattr(numpy, name)(a, b)
    got = _vectorize(getattr(scalars, name), 3)(a, b, b)
    numpy.testing.assert_array_equal(got, want)
