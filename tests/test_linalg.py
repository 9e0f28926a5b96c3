"""pcgrad.numpy.linalg and pcgrad.scipy.linalg: derivatives on every schedule.

The cases use the machinery of tests/test_numpy_functions.py: one body per
case, run on pcgrad.numpy, autograd.numpy (the reference) and numpy
(finite differences). Bodies that use eigenvectors or singular vectors
use functions of them that do not depend on their signs (squares, U @ Vh).
Cholesky's derivative is the symmetric one (as autograd's), so its cases
differentiate through a symmetrized argument.
"""
from dataclasses import dataclass

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
from test_numpy_functions import (SCHEDULES, Case, Draw, _assert_close, assert_matches_autograd,
                                  assert_matches_finite_differences, real)

CASES = []


def case(name, fn, *specs, **options):
    CASES.append(Case(name, fn, specs, **options))


def sla(np):
    """The scipy.linalg that goes with the numpy-like module ``np``."""
    return {pnp: pcgrad.scipy.linalg, anp: autograd.scipy.linalg}.get(np, scipy.linalg)


@dataclass(frozen=True)
class Matrix:
    """Well-conditioned matrices of ``shape``: "general" ones near 2 I (or
    Gaussian when not square), or symmetric positive definite ones ("spd")
    with eigenvalues near 1, 2, ..., n (apart, so that the eigenvectors'
    derivatives are moderate and finite differences accurate)."""
    shape: tuple
    kind: str = "general"

    def sample(self, rng):
        x = rng.standard_normal(self.shape)
        m, n = self.shape[-2:]
        if self.kind == "spd":
            q = numpy.linalg.qr(x)[0]
            w = numpy.arange(1.0, n + 1) + 0.2 * rng.uniform(size=self.shape[:-1])
            return (q * w[..., None, :]) @ numpy.swapaxes(q, -1, -2)
        return 0.4 * x + 2.0 * numpy.eye(m, n) if m == n else x

    __str__ = Draw.__str__


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
for _shape in ((4, 3), (3, 4), (3, 3), (2, 4, 3)):
    case("linalg.pinv", lambda np, a: np.linalg.pinv(a), general(*_shape))
for _b in ((5,), (5, 2)):
    case("linalg.lstsq", lambda np, a, b: [np.linalg.lstsq(a, b)[0], np.linalg.lstsq(a, b)[1],
                                           np.linalg.lstsq(a, b)[3]],
         general(5, 3), real(*_b), no_autograd=_AG_NONE.format("lstsq"))
case("linalg.multi_dot", lambda np, a, b, c: np.linalg.multi_dot([a, b, c]), real(2, 3),
     real(3, 4), real(4))
case("linalg.trace", lambda np, a: np.linalg.trace(a, offset=1), real(2, 3, 4),
     no_autograd=_AG_NONE.format("linalg.trace"))
case("linalg.matrix_transpose", lambda np, a: np.linalg.matrix_transpose(a), real(2, 3, 4),
     no_autograd=_AG_NONE.format("matrix_transpose"))

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
    # scipy leaves arbitrary values in the other triangle of the factor: compare the factor's
    case("scipy.linalg.cho_factor", lambda np, a, lo=_lower: (np.tril if lo else np.triu)(
        sla(np).cho_factor(sym(np, a), lo)[0]), spd(3, 3), label=f"lower{_lower}",
        no_autograd=_AG_NONE.format("cho_factor"))
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
    assert_matches_autograd(case, schedule)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("case", [c.param() for c in CASES if not c.no_fd])
def test_gradient_matches_finite_differences(case, schedule):
    assert_matches_finite_differences(case, schedule)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_traced_value_matches_numpy(case):
    value, _ = pcgrad.value_and_grad(lambda *a: case.functional(pnp, *a),
                                     argnums=case.diff)(*case.args)
    numpy.testing.assert_allclose(value, case.functional(numpy, *case.args), rtol=1e-12)


# --- strict: predictions recomputed by the LAPACK forward kernels -----------------------
# Strict predictive coding estimates the gradient within O(beta) (tests/test_strict.py); at
# beta = 1e-5 these cases are within 3e-4 of it (measured: 2e-4 for the SVD, whose signs
# the forward keeps continuous, less for the others). Each primitive appears once.
STRICT_CASES = {"linalg.inv-3x3": 0.1, "linalg.slogdet-2x3x3": 0.1,
                "linalg.cholesky-2x3x3": 0.1, "linalg.eigh-3x3": 0.1, "linalg.svd-4x3": 0.1,
                "linalg.svd-3x5-values": 0.1, "linalg.qr-2x4x3": 0.05,
                "scipy.linalg.solve_triangular-3x3_3x2-lowerTrue-trans1": 0.1}


@pytest.mark.parametrize("case", [c.param() for c in CASES if c.id in STRICT_CASES])
def test_strict_estimate_is_within_beta_scale_of_the_gradient(case):
    def f(*a):
        return case.functional(pnp, *a)
    exact = pcgrad.grad(f, argnums=case.diff)(*case.args)
    got, info = pcgrad.grad(f, argnums=case.diff, schedule="strict", beta=1e-5,
                            eta=STRICT_CASES[case.id], tol=1e-5, max_iters=100_000,
                            return_info=True)(*case.args)
    assert info.converged
    for g, want in zip(got, exact):
        _assert_close(g, want, 1e-3)


def test_strict_cases_exist():
    assert len({c.id for c in CASES} & set(STRICT_CASES)) == len(STRICT_CASES)


# --- compiled replay: the forward kernels recompute every value ---------------------------
@pytest.mark.parametrize("name", ["linalg.eigh-3x3", "linalg.svd-4x3", "linalg.qr-4x3",
                                  "linalg.cholesky-3x3", "linalg.slogdet-3x3",
                                  "scipy.linalg.solve_triangular-3x3_3-vector"])
def test_compiled_replay_at_new_inputs_matches_the_gradient_there(name):
    (case,) = [c for c in CASES if c.id == name]

    def f(*a):
        return case.functional(pnp, *a)
    compiled = pcgrad.jit(pcgrad.value_and_grad(f, argnums=case.diff))
    compiled(*case.args)
    moved = [a + 0.05 * numpy.cos(numpy.arange(a.size)).reshape(a.shape) for a in case.args]
    value, got = compiled(*moved)
    want_value, want = pcgrad.value_and_grad(f, argnums=case.diff)(*moved)
    assert value == pytest.approx(want_value, rel=1e-12)
    for g, w in zip(got, want):
        numpy.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


# --- Primitive.vjp: the error rules written with pcgrad.numpy ---------------------------
def _draw(spec, seed):
    return spec.sample(numpy.random.default_rng(seed))


VJP_CASES = [
    ("inv", (general(3, 3),), {}), ("inv", (general(2, 3, 3),), {}),
    ("slogdet", (general(2, 3, 3),), {}), ("cholesky", (spd(2, 3, 3),), {}),
    ("eigh", (spd(3, 3),), {"lower": True}), ("eigh", (spd(2, 3, 3),), {"lower": False}),
    ("svd", (general(4, 3),), {}), ("svd", (general(3, 4),), {}),
    ("svd", (general(2, 3, 3),), {}), ("qr", (general(4, 3),), {}),
    ("qr", (general(2, 3, 3),), {}),
    ("solve_triangular", (general(3, 3), real(3, 2)),
     {"lower": True, "trans": 0, "unit_diagonal": False}),
    ("solve_triangular", (general(2, 3, 3), real(2, 3, 2)),
     {"lower": False, "trans": 1, "unit_diagonal": True})]


def _vjp_id(c):
    name, specs, params = c
    return "-".join([name, "_".join(str(s) for s in specs)] + [f"{k}{v}" for k, v in
                                                              params.items()])


@pytest.mark.parametrize("name, specs, params", VJP_CASES, ids=map(_vjp_id, VJP_CASES))
def test_vjp_composition_equals_the_numba_error_rule(name, specs, params):
    primitive = PRIMITIVES[name]
    xs = [_draw(s, k) for k, s in enumerate(specs)]
    y, pullback = pcgrad.vjp(lambda *a: primitive(*a, **params), *xs)
    g = numpy.random.default_rng(7).standard_normal(numpy.shape(y))
    for k, want in enumerate(pullback(g)):
        got = primitive.vjp(k, g, y, *xs, **params)
        numpy.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name, specs, params", VJP_CASES, ids=map(_vjp_id, VJP_CASES))
def test_vjp_composition_traces_and_its_derivative_matches_finite_differences(name, specs,
                                                                              params):
    primitive = PRIMITIVES[name]
    xs = [_draw(s, k) for k, s in enumerate(specs)]
    g = numpy.random.default_rng(7).standard_normal(numpy.shape(primitive.forward(*xs,
                                                                                  **params)))
    x0, others = xs[0], xs[1:]
    c = numpy.random.default_rng(8).standard_normal(numpy.shape(x0))

    def h(np, x):  # the error sent to the first operand, as a function of it
        return np.sum(c * primitive.vjp(0, g, primitive(x, *others, **params), x, *others,
                                        **params))
    got = pcgrad.grad(lambda x: h(pnp, x))(x0)
    v = numpy.random.default_rng(9).standard_normal(numpy.shape(x0))
    if name == "cholesky":  # its derivative is the symmetric one: along symmetric directions
        v = v + numpy.swapaxes(v, -1, -2)
    step = 1e-4
    numeric = (8 * (h(pnp, x0 + step * v) - h(pnp, x0 - step * v))
               - (h(pnp, x0 + 2 * step * v) - h(pnp, x0 - 2 * step * v))) / (12 * step)
    assert numpy.sum(got * v) == pytest.approx(numeric, rel=1e-6, abs=1e-8)


# --- results and plain values ---------------------------------------------------------
def test_results_are_named_as_numpy_names_them():
    a = _draw(spd(3, 3), 0)
    assert pnp.linalg.eigh(a)._fields == numpy.linalg.eigh(a)._fields
    assert pnp.linalg.svd(a)._fields == numpy.linalg.svd(a)._fields
    assert pnp.linalg.qr(a)._fields == numpy.linalg.qr(a)._fields
    assert pnp.linalg.slogdet(a)._fields == numpy.linalg.slogdet(a)._fields


def test_linalg_trace_sums_the_last_two_axes_as_numpy():
    x = _draw(real(2, 3, 4), 0)
    numpy.testing.assert_allclose(pnp.linalg.trace(x, offset=1),
                                  numpy.linalg.trace(x, offset=1))


def test_norm_ord_zero_counts_nonzeros_and_is_a_constant():
    x = numpy.array([0.0, 1.5, -2.0])
    with pytest.warns(UserWarning, match="does not depend on the differentiated inputs"):
        g = pcgrad.grad(lambda x: pnp.linalg.norm(x, 0))(x)
    numpy.testing.assert_array_equal(g, numpy.zeros(3))
    assert pnp.linalg.norm(x, 0) == numpy.linalg.norm(x, 0)


def test_matrix_power_zero_is_the_identity_with_zero_derivative():
    a = _draw(general(2, 3, 3), 0)
    numpy.testing.assert_array_equal(pnp.linalg.matrix_power(a, 0),
                                     numpy.linalg.matrix_power(a, 0))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_eigenvalues_at_a_repeated_eigenvalue_have_the_trace_as_derivative(schedule):
    # sum of the eigenvalues = trace: the terms coupling equal eigenvalues are left out
    g = pcgrad.grad(lambda a: pnp.sum(pnp.linalg.eigvalsh(a)), schedule=schedule,
                    **SCHEDULES[schedule])(numpy.eye(3))
    numpy.testing.assert_allclose(g, numpy.eye(3), atol=1e-12)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_nuclear_norm_at_repeated_singular_values_has_u_vh_as_derivative(schedule):
    q = numpy.linalg.qr(_draw(real(3, 3), 0))[0]  # orthogonal: every singular value is 1
    g = pcgrad.grad(lambda a: pnp.linalg.norm(a, "nuc"), schedule=schedule,
                    **SCHEDULES[schedule])(q)
    numpy.testing.assert_allclose(g, q, atol=1e-12)


def test_pinv_of_a_rank_deficient_matrix_matches_numpy_and_its_constant_rank_derivative():
    u, v = numpy.array([1.0, 2.0, -1.0]), numpy.array([0.5, -1.0, 2.0, 1.0])
    a = numpy.outer(u, v) + numpy.outer(v[:3], u[::-1].tolist() + [0.3])
    numpy.testing.assert_allclose(pnp.linalg.pinv(a), numpy.linalg.pinv(a), atol=1e-12)
    # along a direction that keeps the rank (2), pinv is smooth
    d = numpy.outer(u, v[::-1])
    c = numpy.random.default_rng(0).standard_normal((4, 3))

    def f(np, t):
        return np.sum(c * np.linalg.pinv(a + t * d))
    got = pcgrad.grad(lambda t: f(pnp, t))(0.0)
    h = 1e-4
    numeric = (8 * (f(numpy, h) - f(numpy, -h)) - (f(numpy, 2 * h) - f(numpy, -2 * h))) / (12 * h)
    assert got == pytest.approx(numeric, rel=1e-6)


def test_lstsq_returns_numpys_rank_and_empty_residuals_when_underdetermined():
    a, b = _draw(general(3, 4), 0), _draw(real(3), 1)
    x, residuals, rank, s = pnp.linalg.lstsq(a, b)
    want = numpy.linalg.lstsq(a, b)
    numpy.testing.assert_allclose(x, want[0], rtol=1e-10)
    assert residuals.shape == want[1].shape == (0,)
    assert rank == want[2] == 3
    numpy.testing.assert_allclose(s, want[3], rtol=1e-12)


def test_numpy_linalg_called_on_a_traced_array_runs_as_pcgrad_numpy_linalg():
    a = _draw(general(3, 3), 0)
    got = pcgrad.grad(lambda a: pnp.sum(numpy.linalg.inv(a)))(a)
    numpy.testing.assert_allclose(got, pcgrad.grad(lambda a: pnp.sum(pnp.linalg.inv(a)))(a))


def test_slogdet_sign_is_recomputed_by_compiled_replay():
    compiled = pcgrad.jit(pcgrad.value_and_grad(lambda a: pnp.linalg.det(a)))
    a = _draw(general(3, 3), 0)
    compiled(a)
    flipped = a[::-1].copy()  # one row swap: the determinant changes sign
    value, g = compiled(flipped)
    assert value == pytest.approx(numpy.linalg.det(flipped), rel=1e-12)
    numpy.testing.assert_allclose(g, numpy.linalg.det(flipped) * numpy.linalg.inv(flipped).T,
                                  rtol=1e-10)


def test_pinv_of_full_rank_matrices_compiles():
    a = _draw(general(4, 3), 0)
    compiled = pcgrad.jit(pcgrad.grad(lambda a: pnp.sum(pnp.linalg.pinv(a) ** 2)))
    compiled(a)
    numpy.testing.assert_allclose(compiled(2.0 * a),
                                  pcgrad.grad(lambda a: pnp.sum(pnp.linalg.pinv(a) ** 2))(2.0 * a),
                                  rtol=1e-10)


def test_lstsq_under_jit_is_refused_since_its_rank_would_be_frozen():
    compiled = pcgrad.jit(pcgrad.grad(lambda a: pnp.sum(pnp.linalg.lstsq(a, numpy.ones(4))[0])))
    with pytest.raises(TypeError, match="lstsq decides the rank of a from its values"):
        compiled(_draw(general(4, 3), 0))


# --- errors -------------------------------------------------------------------------------
SINGULAR = numpy.array([[1.0, 2.0], [2.0, 4.0]])


@pytest.mark.parametrize("name", ["inv", "det", "slogdet", "cholesky", "eigh", "matrix_power"])
def test_non_square_input_is_refused_with_its_shape(name):
    args = (numpy.ones((2, 3)), 2) if name == "matrix_power" else (numpy.ones((2, 3)),)
    with pytest.raises(numpy.linalg.LinAlgError,
                       match=rf"{name} needs square matrices .* got shape \(2, 3\)"):
        pcgrad.grad(lambda a: pnp.sum(getattr(pnp.linalg, name)(a, *args[1:])))(args[0])


def test_vector_input_to_a_matrix_function_is_refused():
    with pytest.raises(numpy.linalg.LinAlgError, match="at least two dimensions"):
        pnp.linalg.svd(numpy.ones(3))


def test_inverse_of_a_singular_matrix_says_so():
    with pytest.raises(numpy.linalg.LinAlgError, match="inv: the matrix is singular.*pinv"):
        pcgrad.grad(lambda a: pnp.sum(pnp.linalg.inv(a)))(SINGULAR)


def test_solve_with_a_singular_matrix_points_to_lstsq():
    with pytest.raises(numpy.linalg.LinAlgError, match="solve: the matrix a is singular.*lstsq"):
        pcgrad.grad(lambda b: pnp.sum(pnp.linalg.solve(SINGULAR, b)))(numpy.ones(2))


def test_solve_with_mismatched_rows_names_both_shapes():
    with pytest.raises(ValueError, match=r"solve: b must have 2 rows .* \(2, 2\).* \(3,\)"):
        pnp.linalg.solve(numpy.eye(2), numpy.ones(3))


def test_cholesky_of_an_indefinite_matrix_says_it_is_not_positive_definite():
    with pytest.raises(numpy.linalg.LinAlgError, match="cholesky: the matrix is not positive "
                                                       "definite"):
        pcgrad.grad(lambda a: pnp.sum(pnp.linalg.cholesky(a)))(numpy.diag([1.0, -1.0]))


def test_eigh_refuses_an_unknown_uplo():
    with pytest.raises(ValueError, match="UPLO must be 'L' or 'U'; got 'X'"):
        pnp.linalg.eigh(numpy.eye(2), "X")


def test_full_svd_of_a_rectangular_matrix_asks_for_the_reduced_one():
    with pytest.raises(NotImplementedError, match="Pass full_matrices=False"):
        pnp.linalg.svd(numpy.ones((3, 2)))


def test_qr_complete_mode_is_refused():
    with pytest.raises(NotImplementedError, match="mode='reduced' and mode='r'"):
        pnp.linalg.qr(numpy.eye(2), mode="complete")


@pytest.mark.parametrize("ord, shape, message", [
    ("fro", (3,), "Invalid norm order 'fro' for vectors"),
    (3, (2, 2), "Invalid norm order 3 for matrices"),
    (2, (2, 2, 2), "Improper number of dimensions to norm")])
def test_norm_refuses_what_numpy_refuses(ord, shape, message):
    with pytest.raises(ValueError, match=message):
        pnp.linalg.norm(numpy.ones(shape), ord)
    with pytest.raises(ValueError):
        numpy.linalg.norm(numpy.ones(shape), ord)


def test_matrix_power_refuses_a_fractional_exponent():
    with pytest.raises(TypeError, match="exponent must be an integer; got 0.5"):
        pnp.linalg.matrix_power(numpy.eye(2), 0.5)


def test_lstsq_with_mismatched_rows_says_how_many_it_needs():
    with pytest.raises(numpy.linalg.LinAlgError, match="lstsq: b must have 3 rows"):
        pnp.linalg.lstsq(numpy.ones((3, 2)), numpy.ones(2))


def test_solve_triangular_refuses_an_unknown_trans_and_mismatched_rows():
    with pytest.raises(ValueError, match="trans must be 0, 1, 2, 'N', 'T' or 'C'; got 'X'"):
        pcgrad.scipy.linalg.solve_triangular(numpy.eye(2), numpy.ones(2), trans="X")
    with pytest.raises(ValueError, match="b must have 2 rows"):
        pcgrad.scipy.linalg.solve_triangular(numpy.eye(2), numpy.ones(3))


def test_solve_triangular_with_a_zero_on_the_diagonal_says_the_matrix_is_singular():
    with pytest.raises(numpy.linalg.LinAlgError, match="solve_triangular: the matrix is "
                                                       "singular"):
        pcgrad.grad(lambda b: pnp.sum(pcgrad.scipy.linalg.solve_triangular(
            numpy.diag([1.0, 0.0]), b)))(numpy.ones(2))


def test_a_missing_linalg_function_names_the_support_table():
    with pytest.raises(AttributeError, match="pcgrad.numpy.linalg has no 'eig'.*numpy-support"):
        pnp.linalg.eig
