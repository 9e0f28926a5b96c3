"""pcgrad.numpy.linalg and pcgrad.scipy.linalg: derivatives on every schedule.

The cases use the machinery of tests/test_numpy_functions.py: one body per
case, run on pcgrad.numpy, autograd.numpy (the reference) and numpy
(finite differences). Bodies that use eigenvectors or singular vectors
use functions of them that do not depend on their signs (squares, U @ Vh).
Cholesky's derivative is the symmetric one (as autograd's), so its cases
differentiate through a symmetrized argument.
"""
import autograd
import autograd.numpy as anp
import autograd.scipy.linalg
import numpy
import pytest
import scipy.linalg

import pcgrad
import pcgrad.numpy as pnp
import pcgrad.scipy.linalg
from pcgrad.primitives import PRIMITIVES
from test_numpy_functions import (AUTOGRAD_RTOL, SCHEDULES, Case, Draw, _assert_close, _grad,
                                  assert_matches_finite_differences, real)

CASES = []


def case(name, fn, *specs, **options):
    CASES.append(Case(name, fn, specs, **options))


def sla(np):
    """The scipy.linalg that goes with the numpy-like module ``np``."""
    return {pnp: pcgrad.scipy.linalg, anp: autograd.scipy.linalg}.get(np, scipy.linalg)


class Matrix(Draw):
    """Well-conditioned matrices of ``shape``: "general" ones near 2 I (or
    Gaussian when not square), or symmetric positive definite ones ("spd")
    with eigenvalues near 1, 2, ..., n (apart, so that the eigenvectors'
    derivatives are moderate and finite differences accurate)."""

    def __init__(self, shape, kind="general"):
        super().__init__(tuple(shape))
        object.__setattr__(self, "kind", kind)

    def sample(self, rng):
        x = rng.standard_normal(self.shape)
        m, n = self.shape[-2:]
        if self.kind == "spd":
            q = numpy.linalg.qr(x)[0]
            w = numpy.arange(1.0, n + 1) + 0.2 * rng.uniform(size=self.shape[:-1])
            return (q * w[..., None, :]) @ numpy.swapaxes(q, -1, -2)
        return 0.4 * x + 2.0 * numpy.eye(m, n) if m == n else x


def general(*shape):
    return Matrix(shape)


def spd(*shape):
    return Matrix(shape, "spd")


def sym(np, a):
    return (a + np.swapaxes(a, -1, -2)) / 2.0


_AG_NONE = "autograd has no derivative for {}"
_AG_ORD = "autograd's norm has no derivative for this ord"

# --- inverses, determinants, solves -----------------------------------------------------
for _shape in ((3, 3), (2, 3, 3)):
    case("linalg.inv", lambda np, a: np.linalg.inv(a), general(*_shape))
    case("linalg.det", lambda np, a: np.linalg.det(a), general(*_shape))
    case("linalg.slogdet", lambda np, a: np.linalg.slogdet(a)[1], general(*_shape))
    case("linalg.matrix_power", lambda np, a: np.linalg.matrix_power(a, 3), general(*_shape),
         label="3", no_autograd=_AG_NONE.format("matrix_power"))
case("linalg.slogdet", lambda np, a: np.linalg.slogdet(-a)[1], general(3, 3), label="negative")
case("linalg.matrix_power", lambda np, a: np.linalg.matrix_power(a, -2), general(3, 3),
     label="-2", no_autograd=_AG_NONE.format("matrix_power"))
case("linalg.matrix_power", lambda np, a: np.linalg.matrix_power(a, 1), general(3, 3),
     label="1", no_autograd=_AG_NONE.format("matrix_power"))
for _a, _b in (((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 2)), ((2, 3, 3), (3,))):
    case("linalg.solve", lambda np, a, b: np.linalg.solve(a, b), general(*_a), real(*_b),
         no_autograd="autograd's solve derivative fails for a stack of matrices and one "
         "vector" if len(_a) > len(_b) + 1 else "")

# --- factorizations ---------------------------------------------------------------------
for _shape in ((3, 3), (2, 3, 3)):
    case("linalg.cholesky", lambda np, a: np.linalg.cholesky(sym(np, a)), spd(*_shape))
    case("linalg.eigh", lambda np, a: [np.linalg.eigh(a)[0], np.linalg.eigh(a)[1] ** 2],
         spd(*_shape))
case("linalg.cholesky", lambda np, a: np.linalg.cholesky(sym(np, a), upper=True), spd(3, 3),
     label="upper", no_autograd="autograd's cholesky ignores upper=True in its derivative")
case("linalg.eigh", lambda np, a: [np.linalg.eigh(a, "U")[0], np.linalg.eigh(a, "U")[1] ** 2],
     spd(4, 4), label="U")
case("linalg.eigh", lambda np, a: np.linalg.eigh(a)[1] @ np.diag(numpy.arange(4.0))
     @ np.swapaxes(np.linalg.eigh(a)[1], 0, 1), spd(4, 4), label="projector")
case("linalg.eigvalsh", lambda np, a: np.linalg.eigvalsh(a), spd(2, 3, 3),
     no_autograd=_AG_NONE.format("eigvalsh"))


def _svd_pieces(np, a):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    return [s, u @ vt, u ** 2, vt ** 2]


for _shape in ((4, 3), (3, 4), (3, 3), (2, 4, 3)):
    case("linalg.svd", _svd_pieces, general(*_shape))
case("linalg.svd", lambda np, a: np.linalg.svd(a, compute_uv=False), general(3, 5),
     label="values")
case("linalg.svdvals", lambda np, a: np.linalg.svdvals(a), general(2, 4, 3),
     no_autograd=_AG_NONE.format("svdvals"))
for _shape in ((4, 3), (3, 3), (3, 5), (2, 4, 3)):
    case("linalg.qr", lambda np, a: list(np.linalg.qr(a)), general(*_shape),
         no_autograd=_AG_NONE.format("qr"))
case("linalg.qr", lambda np, a: np.linalg.qr(a, mode="r"), general(4, 3), label="r",
     no_autograd=_AG_NONE.format("qr"))

# --- least squares ----------------------------------------------------------------------
for _shape in ((4, 3), (3, 4), (3, 3)):
    case("linalg.pinv", lambda np, a: np.linalg.pinv(a), general(*_shape))
for _b in ((5,), (5, 2)):
    case("linalg.lstsq", lambda np, a, b: [np.linalg.lstsq(a, b)[0], np.linalg.lstsq(a, b)[1],
                                           np.linalg.lstsq(a, b)[3]],
         general(5, 3), real(*_b), no_autograd=_AG_NONE.format("lstsq"))
case("linalg.multi_dot", lambda np, a, b, c: np.linalg.multi_dot([a, b, c]), real(2, 3),
     real(3, 4), real(4))
case("linalg.trace", lambda np, a: np.linalg.trace(a, offset=1), real(2, 3, 4),
     no_autograd=_AG_NONE.format("linalg.trace"))

# --- norms ------------------------------------------------------------------------------
for _ord, _ag in ((None, ""), ("fro", ""), ("nuc", ""), (2, _AG_ORD), (-2, _AG_ORD),
                  (1, _AG_ORD), (-1, _AG_ORD), (numpy.inf, _AG_ORD), (-numpy.inf, _AG_ORD)):
    case("linalg.norm", lambda np, a, o=_ord: np.linalg.norm(a, o), general(4, 3),
         label=f"matrix-{_ord}", no_autograd=_ag)
for _ord in ("nuc", 2, 1, -numpy.inf):
    case("linalg.norm", lambda np, a, o=_ord: np.linalg.norm(a, o, axis=(2, 0), keepdims=True),
         general(3, 2, 4), label=f"axes-{_ord}",
         no_autograd="autograd's norm gradient has the wrong shape for keepdims over two axes"
         if _ord == "nuc" else _AG_ORD)
case("linalg.norm", lambda np, a: np.linalg.norm(a, "nuc", axis=(2, 0)), general(3, 2, 4),
     label="axes-nuc-dropped")
for _ord in (-1, -2, 0.5):
    case("linalg.norm", lambda np, x, o=_ord: np.linalg.norm(x, o), Draw((5,), 0.5, 2.0),
         label=f"vector-{_ord}", no_autograd=_AG_ORD)

# --- scipy.linalg -----------------------------------------------------------------------
for _lower in (True, False):
    for _trans in (0, 1, "C"):
        case("scipy.linalg.solve_triangular",
             lambda np, a, b, lo=_lower, tr=_trans: sla(np).solve_triangular(a, b, trans=tr,
                                                                             lower=lo),
             general(3, 3), real(3, 2), label=f"lower{_lower}-trans{_trans}",
             no_autograd="" if _trans != "C" else "autograd's solve_triangular takes no 'C'")
case("scipy.linalg.solve_triangular", lambda np, a, b: sla(np).solve_triangular(a, b),
     general(3, 3), real(3), label="vector")
case("scipy.linalg.solve_triangular",
     lambda np, a, b: sla(np).solve_triangular(a, b, lower=True, unit_diagonal=True),
     general(3, 3), real(3, 2), label="unit",
     no_autograd="autograd's derivative ignores unit_diagonal (it sends error to the diagonal)")
case("scipy.linalg.solve_triangular", lambda np, a, b: sla(np).solve_triangular(a, b, trans=1),
     general(2, 3, 3), real(2, 3, 2), label="stacked",
     no_autograd="autograd's solve_triangular takes 2-D matrices only")
for _lower in (True, False):
    case("scipy.linalg.cholesky", lambda np, a, lo=_lower: sla(np).cholesky(sym(np, a), lo),
         spd(3, 3), label=f"lower{_lower}", no_autograd=_AG_NONE.format("scipy's cholesky"))
    case("scipy.linalg.cho_solve",
         lambda np, a, b, lo=_lower: sla(np).cho_solve(sla(np).cho_factor(sym(np, a), lo), b),
         spd(3, 3), real(3, 2), label=f"lower{_lower}",
         no_autograd=_AG_NONE.format("cho_factor"))


# --- the tests --------------------------------------------------------------------------
def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("case", [c.param() for c in CASES if not c.no_autograd])
def test_gradient_matches_autograd(case, schedule):
    got = _grad(case, schedule)
    for i, g in zip(case.diff, got):
        want = autograd.grad(lambda *a: case.functional(anp, *a), i)(*case.args)
        _assert_close(g, want, AUTOGRAD_RTOL[schedule])


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("case", [c.param() for c in CASES if not c.no_fd])
def test_gradient_matches_finite_differences(case, schedule):
    assert_matches_finite_differences(case, schedule)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_traced_value_matches_numpy(case):
    value, _ = pcgrad.value_and_grad(lambda *a: case.functional(pnp, *a),
                                     argnums=case.diff)(*case.args)
    numpy.testing.assert_allclose(value, case.functional(numpy, *case.args), rtol=1e-12)
