"""The residual a jacobi/euler relaxation tests its units with (relax._residual)
against its definition written with numpy: the largest gap over elements that
still differ from their target (beyond rounding), the max-norm of the finite
elements, and whether an element is NaN on one side only."""
import importlib

import numpy
from numba import njit

relax = importlib.import_module("pcgrad.relax")


@njit
def residual(a, e, first):
    """relax._residual over all of ``a`` and ``e`` (it has no Python entry point)."""
    return relax._residual(a, e, 0, a.size, first)


SPECIAL = numpy.array([0.0, -0.0, 1.0, -1.0, 3.0, 1e-300, 5e-324, 1e300, numpy.inf, -numpy.inf,
                       numpy.nan, 1.0 + 2.0 ** -52, 1.0 + 2.0 ** -50, 2.0, -2.0, 1e-16])


def defined_residual(a, e):
    with numpy.errstate(invalid="ignore", over="ignore"):
        gap = numpy.abs(a - e)
        within = (gap <= relax.ROUNDING * numpy.maximum(numpy.abs(a), numpy.abs(e))) & (
            gap < numpy.inf)
        moves = ~((a == e) | within | (numpy.isnan(a) & numpy.isnan(e)))
        nan = numpy.isnan(gap)
        finite = numpy.concatenate([numpy.abs(a[numpy.isfinite(a)]),
                                    numpy.abs(e[numpy.isfinite(e)])])
        return (gap[moves & ~nan].max(initial=0.0), finite.max(initial=0.0),
                bool(numpy.any(moves & nan)))


def cases():
    rng = numpy.random.default_rng(3)
    for _ in range(3000):
        n = int(rng.integers(1, 7))
        a = rng.choice(SPECIAL, n) * rng.choice([1.0, 3.0, 1.0 + 2.0 ** -52], n)
        kind = rng.integers(4)
        if kind == 0:
            e = rng.choice(SPECIAL, n)
        elif kind == 1:
            e = a.copy()
        elif kind == 2:  # gaps around rounding size
            e = a * (1.0 + rng.choice([0.0, 2.0 ** -52, 2.0 ** -51, 2.0 ** -50, 4e-16], n))
        else:  # an error close to its target, as near convergence
            a = rng.standard_normal(n * 50)
            e = a + 1e-10 * rng.standard_normal(a.size) * (rng.random(a.size) < 0.5)
        yield a, e


def test_residual_matches_its_definition_on_special_and_near_values():
    for a, e in cases():
        assert residual(a, e, False) == defined_residual(a, e), (a, e)


def test_stopping_at_the_first_difference_tells_settled_units_under_tol_zero():
    for a, e in cases():
        gap, _, lopsided = residual(a, e, True)
        full_gap, _, full_lopsided = defined_residual(a, e)
        assert (lopsided or gap > 0.0) == (full_lopsided or full_gap > 0.0), (a, e)
