"""The numpy tail (pcgrad/numpy/_tail.py): derivatives on every schedule,
and the functions without a derivative that losses use.

The derivative cases use the machinery of tests/test_numpy_functions.py:
one body per case, run on pcgrad.numpy, autograd.numpy (the reference) and
numpy (finite differences).
"""
import autograd
import autograd.numpy as anp
import numpy
import numpy.lib.stride_tricks
import pytest

import pcgrad
import pcgrad.numpy as pnp
from test_numpy_functions import (AUTOGRAD_RTOL, SCHEDULES, At, Case, Draw,
                                  _assert_close, _assert_exact, _schedule_options, distinct,
                                  nonzero, real, assert_matches_autograd,
                                  assert_matches_finite_differences)

CASES = []


def case(name, fn, *specs, **options):
    CASES.append(Case(name, fn, specs, **options))


_AG_ND_SORT = "autograd's sort and partition VJPs take 1-d arrays only"
_AG_NONE = "autograd has no VJP for {}"
_JUMPS = tuple(numpy.arange(-4.2, 4.3, 0.7))  # where mod(x, 0.7) jumps

# --- arithmetic ---------------------------------------------------------------------------------
for _name in ("mod", "remainder"):
    case(_name, lambda np, x, name=_name: getattr(np, name)(x, 0.7),
         Draw((3, 4), -4.0, 4.0, avoid=_JUMPS))
    case(_name, lambda np, x, name=_name: getattr(np, name)(x, -0.7),
         Draw((3, 4), -4.0, 4.0, avoid=_JUMPS), label="negative-divisor")
    case(_name, lambda np, x, y, name=_name: getattr(np, name)(x, y), At(numpy.array(
        [[2.3, -1.1, 5.2], [0.4, -3.3, 1.0]])), At(numpy.array([0.7, 1.3, -2.1])),
        label="both")
case("fmod", lambda np, x: np.fmod(x, 0.7), Draw((3, 4), -4.0, 4.0, avoid=_JUMPS),
     no_autograd=_AG_NONE.format("fmod"))
case("fmod", lambda np, x, y: np.fmod(x, y), At(numpy.array([[2.3, -1.1, 5.2], [0.4, -3.3, 1.0]])),
     At(numpy.array([0.7, 1.3, -2.1])), label="both", no_autograd=_AG_NONE.format("fmod"))
for _name in ("fmax", "fmin"):
    case(_name, lambda np, x, y, name=_name: getattr(np, name)(x, y), distinct(3, 4),
         Draw((4,), -1.3, 1.3, avoid=tuple(0.2 * numpy.arange(-6, 7) + 0.05), margin=0.02))
    case(_name, lambda np, x, name=_name: getattr(np, name)(x, numpy.array([numpy.nan, 0.5, 2.0])),
         distinct(3), label="nan")
case("nan_to_num", lambda np, x: np.nan_to_num(x + numpy.array([0.0, numpy.nan, 0.0, 1.0])),
     real(4), label="nan")
case("nan_to_num", lambda np, x: np.nan_to_num(x + numpy.array([0.0, numpy.inf, numpy.nan,
     -numpy.inf]), nan=-1.0, posinf=9.0, neginf=-9.0), real(4), label="replacements",
     no_autograd="autograd's nan_to_num takes no replacement values")
for _axis in (None, 0, 1):
    case("cumprod", lambda np, x, axis=_axis: np.cumprod(x, axis=axis), nonzero(3, 4),
         label=f"axis{_axis}", no_autograd=_AG_NONE.format("cumprod"))
case("cumprod", lambda np, x: np.cumprod(x, axis=1), At(numpy.array([[1.5, 0.0, -0.7, 2.0],
     [0.0, 1.2, 0.0, -1.1]])), label="zeros", no_autograd=_AG_NONE.format("cumprod"))

# --- sorting ------------------------------------------------------------------------------------
case("sort", lambda np, x: np.sort(x), distinct(7), label="1d")
for _axis in (-1, 0, None):
    case("sort", lambda np, x, axis=_axis: np.sort(x, axis=axis), distinct(3, 4),
         label=f"axis{_axis}", no_autograd=_AG_ND_SORT)
case("partition", lambda np, x: np.partition(x, 3), distinct(7), label="1d")
case("partition", lambda np, x: np.partition(x, (1, 2), axis=0), distinct(4, 3), label="axis0",
     no_autograd=_AG_ND_SORT)

# --- differences, products, rearranging -----------------------------------------------------------
case("diff", lambda np, x: np.diff(x), real(7))
case("diff", lambda np, x: np.diff(x, 2, axis=0), real(4, 3), label="n2-axis0")
case("diff", lambda np, x, y: np.diff(x, axis=1, prepend=0.5, append=y), real(3, 4), real(3, 1),
     label="prepend-append", no_autograd="autograd's diff takes no prepend or append")
case("kron", lambda np, a, b: np.kron(a, b), real(2, 3), real(3, 2))
case("kron", lambda np, a, b: np.kron(a, b), real(3), real(2, 2), label="1d-2d")
case("cross", lambda np, a, b: np.cross(a, b), real(4, 3), real(4, 3))
case("cross", lambda np, a, b: np.cross(a, b, axisa=0, axisb=0), real(3, 4), real(3, 4),
     label="axis0")
case("cross", lambda np, a, b: np.cross(a, b), real(4, 2), real(4, 3), label="2-and-3",
     no_autograd="autograd's cross VJP fails for mixed 2- and 3-vectors")
case("rot90", lambda np, x: np.rot90(x), real(3, 4))
for _k in (2, 3, -1):
    case("rot90", lambda np, x, k=_k: np.rot90(x, k, axes=(1, 2)), real(2, 3, 4), label=f"k{_k}",
         no_autograd="autograd's rot90 takes no axes")
case("append", lambda np, x, y: np.append(x, y), real(2, 3), real(4))
case("append", lambda np, x, y: np.append(x, y, axis=0), real(2, 3), real(1, 3), label="axis0")
_CONDS = [numpy.array([True, False, False, True]), numpy.array([False, True, False, True])]
case("select", lambda np, x, y: np.select(_CONDS, [x, y], default=-1.0), real(3, 4), real(4))
case("select", lambda np, x: np.select([x > 0.5, x < -0.5], [x, 2.0 * x], default=x * x),
     Draw((3, 4), avoid=(-0.5, 0.5)), label="traced-conditions")
case("atleast_3d", lambda np, x: np.atleast_3d(x), real(4))
case("atleast_3d", lambda np, x: np.atleast_3d(x), real(3, 4), label="2d")
case("atleast_3d", lambda np, x, y: np.atleast_3d(x, y), real(), real(2, 3, 4), label="several",
     no_autograd="autograd's atleast_3d takes one array")
case("rollaxis", lambda np, x: np.rollaxis(x, 2), real(2, 3, 4))
case("rollaxis", lambda np, x: np.rollaxis(x, 0, 2), real(2, 3, 4), label="start2")
case("dsplit", lambda np, x: np.dsplit(x, 2), real(2, 3, 4))
case("dsplit", lambda np, x: np.dsplit(x, [1, 3]), real(2, 3, 4), label="indices")


def _make_diagonal(np):
    """np.make_diagonal; numpy has none: the reference writes the diagonal in place."""
    if np is not numpy:
        return np.make_diagonal

    def make_diagonal(d, offset, axis1, axis2):
        n = d.shape[-1] + abs(offset)
        out = numpy.zeros(d.shape[:-1] + (n, n))
        i = numpy.arange(d.shape[-1])
        # numpy.diagonal's element i: index i (+ offset if positive) along axis1,
        # i + offset (+ |offset| if negative) along axis2
        along1, along2 = (i, i + offset) if offset >= 0 else (i - offset, i)
        rows, cols = (along1, along2) if axis1 == -2 else (along2, along1)
        out[..., rows, cols] = d
        return out
    return make_diagonal


case("make_diagonal", lambda np, x: _make_diagonal(np)(x, 0, -1, -2), real(2, 3))
case("make_diagonal", lambda np, x: _make_diagonal(np)(x, 1, -2, -1), real(2, 3),
     label="offset1", no_autograd="autograd's make_diagonal takes offset 0 only")
case("make_diagonal", lambda np, x: _make_diagonal(np)(x, -2, -2, -1), real(3),
     label="offset-2", no_autograd="autograd's make_diagonal takes offset 0 only")
_AG_GRADIENT = "autograd's gradient takes only axis"
case("gradient", lambda np, x: np.gradient(x, axis=1), real(3, 5))
case("gradient", lambda np, x: np.gradient(x), real(6), label="1d")
case("gradient", lambda np, x: np.gradient(x), real(3, 4), label="all-axes",
     no_autograd="autograd's gradient VJP fails over several axes")
case("gradient", lambda np, x: np.gradient(x, 0.5, edge_order=2), real(6), label="edge-order2",
     no_autograd=_AG_GRADIENT)
case("gradient", lambda np, x: np.gradient(x, numpy.array([0.0, 0.5, 1.5, 1.7, 3.0]), axis=0),
     real(5, 2), label="coordinates", no_autograd=_AG_GRADIENT)
case("gradient", lambda np, x: np.gradient(x, 0.3, numpy.array([0.0, 0.5, 1.5, 1.7]),
     edge_order=2), real(3, 4), label="coordinates-edge-order2", no_autograd=_AG_GRADIENT)
for _name in ("real", "conj", "conjugate"):
    case(_name, lambda np, x, name=_name: getattr(np, name)(x), real(3, 4))
case("imag", lambda np, x: np.imag(x) + x, real(3, 4))
case("full", lambda np, x: np.full((2, 3), x) * x, real(), label="traced-fill")
_AG_LIB = "autograd has no sliding_window_view"
case("lib.stride_tricks.sliding_window_view", lambda np, x:
     np.lib.stride_tricks.sliding_window_view(x, 3), real(7), no_autograd=_AG_LIB)
case("lib.stride_tricks.sliding_window_view", lambda np, x:
     np.lib.stride_tricks.sliding_window_view(x, (2, 2)), real(3, 4), label="2d",
     no_autograd=_AG_LIB)
case("lib.stride_tricks.sliding_window_view", lambda np, x:
     np.lib.stride_tricks.sliding_window_view(x, 2, axis=0), real(3, 4), label="axis0",
     no_autograd=_AG_LIB)
case("meshgrid", lambda np, x, y: np.meshgrid(x, y), real(3), real(4),
     no_autograd=_AG_NONE.format("meshgrid"))
case("meshgrid", lambda np, x, y: np.meshgrid(x, y, indexing="ij", sparse=True), real(3),
     real(4), label="ij-sparse", no_autograd=_AG_NONE.format("meshgrid"))
case("linspace", lambda np, a, b: np.linspace(a, b, 5), real(), real())
case("linspace", lambda np, a, b: np.linspace(a, b, 4, endpoint=False), real(3), real(3),
     label="vectors-no-endpoint", no_autograd="autograd's linspace takes no endpoint")
case("linspace", lambda np, a: np.linspace(a, 2.0, 3), real(), label="one-traced")
case("r_", lambda np, x, y: np.r_[x, 1.5, y, 0:2], real(3), real(2),
     no_autograd="autograd's r_ takes no slices")
case("r_", lambda np, x, y: np.r_[x, y], real(3), real(2), label="arrays")
case("c_", lambda np, x, y: np.c_[x, y], real(3), real(3))
case("c_", lambda np, x, y: np.c_[x, y], real(3, 2), real(3), label="2d-1d")
case("array", lambda np, x: np.array([x[0], 1.0, x[1] * 2.0]), real(3), label="mixed-scalars")
case("array", lambda np, x: np.array([x, numpy.ones(3), [0.5, 1.0, 1.5]]), real(3),
     label="mixed-rows")
case("stack", lambda np, x: np.stack([numpy.ones(3), x, x * x], axis=1), real(3),
     label="mixed")

# --- numpy's positional arguments -----------------------------------------------------------------
def _positional(name, *args, **keywords):
    """np.name(x, *args), numpy's positional order; autograd's VJPs take the
    same call only with keywords."""
    return lambda np, x: getattr(np, name)(x, **keywords) if np is anp else \
        getattr(np, name)(x, *args)


case("sum", _positional("sum", 1, None, None, True, axis=1, keepdims=True), real(3, 4),
     label="positional")
case("max", _positional("max", 0, None, True, axis=0, keepdims=True), distinct(3, 4),
     label="positional")
case("min", _positional("min", 0, None, True, axis=0, keepdims=True), distinct(3, 4),
     label="positional")
case("prod", _positional("prod", 1, None, None, True, axis=1, keepdims=True), nonzero(3, 4),
     label="positional")
case("mean", _positional("mean", 1, None, None, True, axis=1, keepdims=True), real(3, 4),
     label="positional")
case("var", _positional("var", 1, None, None, 1, True, axis=1, ddof=1, keepdims=True),
     real(3, 4), label="positional")
case("std", _positional("std", 0, None, None, 1, True, axis=0, ddof=1, keepdims=True),
     real(3, 4), label="positional")
case("cumsum", _positional("cumsum", 1, None, None, axis=1), real(3, 4), label="positional")
case("cumprod", lambda np, x: np.cumprod(x, 1, None, None), nonzero(3, 4), label="positional",
     no_autograd=_AG_NONE.format("cumprod"))

# --- Tracer methods -------------------------------------------------------------------------------
case("Tracer", lambda np, x: x.copy() * x, real(3, 4), label="copy",
     no_autograd="autograd's boxes have no copy method")
case("Tracer", lambda np, x: x.real + x.conj(), real(3, 4), label="real-conj",
     no_autograd="autograd's boxes have no real attribute")
case("Tracer", lambda np, x: x[x.argmax()] * x, real(5), label="argmax")
case("Tracer", lambda np, x: x[x.argsort()] * x[x.argmin()], distinct(5), label="argsort-argmin")
case("Tracer", lambda np, x: x[np.floor(x).astype(int) + 2], Draw((5,), -1.9, 2.9,
     avoid=(-1.0, 0.0, 1.0, 2.0)), label="astype-int-index")


# --- the derivative tests ---------------------------------------------------------------------
@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name, quotient", [("fmod", numpy.trunc), ("remainder", numpy.floor)])
def test_divisor_derivative_is_minus_the_quotient_beyond_int64(name, quotient, schedule):
    # fmod(a, b) = a - b trunc(a / b), remainder(a, b) = a - b floor(a / b),
    # the quotient constant between its jumps: d/db = -quotient, which a rule
    # rounding through an int64 would get wrong beyond 2**63 (finite
    # differences cannot see it there: the jumps are b**2 / a apart)
    a = numpy.array([1e30, -1e25, 1e20, -3e19, 7.5, 1e300])
    b = numpy.array([3.0, 7.0, -3.0, 0.7, 2.0, 1e-5])
    g = pcgrad.grad(lambda b: pnp.sum(getattr(pnp, name)(a, b)), **_schedule_options(schedule))(b)
    _assert_exact(g, -quotient(a / b), schedule)


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []


def _param(c, s):
    return pytest.param(c, s, id=f"{c.id}-{s}", marks=c.marks)


@pytest.mark.parametrize("case, schedule", [_param(c, s) for c in CASES if not c.no_autograd
                                            for s in SCHEDULES])
def test_gradient_matches_autograd(case, schedule):
    assert_matches_autograd(case, schedule)


@pytest.mark.parametrize("case, schedule", [_param(c, s) for c in CASES if not c.no_fd
                                            for s in SCHEDULES])
def test_gradient_matches_finite_differences(case, schedule):
    assert_matches_finite_differences(case, schedule)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_traced_value_matches_numpy(case):
    with numpy.errstate(all="ignore"):
        value, _ = pcgrad.value_and_grad(lambda *a: case.functional(pnp, *a),
                                         argnums=case.diff)(*case.args)
        numpy.testing.assert_allclose(value, case.functional(numpy, *case.args), rtol=1e-12)


# --- what has no derivative -------------------------------------------------------------------
X = numpy.array([[0.3, -1.2, 2.5], [1.7, 0.0, -0.4]])


@pytest.mark.parametrize("name, args", [
    ("argmax", ()), ("argmax", (1,)), ("argmin", (0,)), ("argsort", ()), ("argsort", (0,))])
def test_index_functions_return_plain_numpy_integers(name, args):
    seen = []

    def f(x):
        seen.append(getattr(pnp, name)(x, *args))
        return pnp.sum(x)
    pcgrad.grad(f)(X)
    numpy.testing.assert_array_equal(seen[0], getattr(numpy, name)(X, *args))
    assert type(seen[0]) in (numpy.ndarray, numpy.intp, numpy.int64)


@pytest.mark.parametrize("name", ["argmax", "argmin", "argsort", "sort"])
def test_value_dependent_indices_under_jit_raise_type_error(name):
    f = pcgrad.jit(pcgrad.grad(lambda x: pnp.sum(x * getattr(pnp, name)(x))))
    with pytest.raises(TypeError, match=rf"{name} by a traced value.*pcgrad\.jit cannot compile"):
        f(X)


PREDICATES = {
    "isfinite": lambda np, x: np.isfinite(np.log(x)),
    "isinf": lambda np, x: np.isinf(np.log(np.abs(x))),
    "isclose": lambda np, x: np.isclose(x, np.round(x), atol=0.35),
    "isclose-equal-nan": lambda np, x: np.isclose(np.log(x), np.log(x), equal_nan=True),
    "all": lambda np, x: np.all(x > 0, axis=0),
    "any": lambda np, x: np.any(x > 0, 1, None, True),
}


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name", PREDICATES)
def test_predicate_is_a_constant_with_zero_derivative(name, schedule):
    with numpy.errstate(all="ignore"):
        want = PREDICATES[name](numpy, X)
        v, g = pcgrad.value_and_grad(lambda x: pnp.sum(x * PREDICATES[name](pnp, x)),
                                     **_schedule_options(schedule))(X)
    numpy.testing.assert_allclose(g, numpy.broadcast_to(want, X.shape), rtol=1e-12)
    numpy.testing.assert_allclose(v, numpy.sum(X * want), rtol=1e-12)


def test_all_and_any_of_traced_values_steer_python_control_flow():
    g = pcgrad.grad(lambda x: pnp.sum(x ** 2) if pnp.all(x > -5.0) and not pnp.any(x > 5.0)
                    else pnp.sum(x))(X)
    numpy.testing.assert_allclose(g, 2.0 * X, rtol=1e-15)


def test_allclose_of_traced_values_is_a_plain_bool():
    seen = []

    def f(x):
        seen.append(pnp.allclose(x, x + 1e-9))
        return pnp.sum(x)
    pcgrad.grad(f)(X)
    assert seen == [True] and type(seen[0]) is bool


def test_tracer_all_any_methods_match_numpy():
    seen = []

    def f(x):
        seen.extend([(x > 0).all(), (x > 0).any(), (x > 0).all(axis=1)])
        return pnp.sum(x)
    pcgrad.grad(f)(X)
    assert not seen[0] and seen[1]
    numpy.testing.assert_array_equal(seen[2].value, numpy.all(X > 0, axis=1))


def test_astype_int_returns_plain_integers():
    seen = []

    def f(x):
        seen.append(pnp.floor(x).astype(int))
        return pnp.sum(x)
    pcgrad.grad(f)(X)
    numpy.testing.assert_array_equal(seen[0], numpy.floor(X).astype(int))
    assert type(seen[0]) is numpy.ndarray and seen[0].dtype.kind == "i"


def test_astype_int_under_jit_raises_type_error():
    f = pcgrad.jit(pcgrad.grad(lambda x: pnp.sum(x * x.astype(int))))
    with pytest.raises(TypeError, match=r"astype\(int64\).*pcgrad\.jit would freeze"):
        f(X)


@pytest.mark.parametrize("name", ["sum", "max", "mean", "std", "cumsum", "cumprod", "all"])
def test_reductions_reject_out(name):
    with pytest.raises(TypeError, match=rf"pcgrad\.numpy\.{name} cannot write into out="):
        pcgrad.grad(lambda x: pnp.sum(getattr(pnp, name)(x, 0, out=numpy.empty(3))))(X)


def test_seterr_and_errstate_are_numpys():
    assert pnp.seterr is numpy.seterr and pnp.errstate is numpy.errstate
    assert pnp.geterr is numpy.geterr


@pytest.mark.parametrize("name", ["real", "imag", "conj"])
def test_complex_input_raises_type_error_saying_complex_numbers_are_unsupported(name):
    with pytest.raises(TypeError, match="does not support complex numbers"):
        getattr(pnp, name)(numpy.array([1.0 + 2.0j]))


def test_iscomplexobj_of_a_traced_array_is_false():
    seen = []
    pcgrad.grad(lambda x: seen.append((pnp.iscomplexobj(x), pnp.isrealobj(x))) or pnp.sum(x))(X)
    assert seen == [(False, True)]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_numpy_sort_of_a_traced_array_routes_to_pcgrad(schedule):
    x = numpy.array([0.3, -1.2, 2.5])
    g = pcgrad.grad(lambda x: pnp.sum(numpy.sort(x) * numpy.array([1.0, 2.0, 3.0])),
                    **_schedule_options(schedule))(x)
    _assert_close(g, [2.0, 1.0, 3.0], 1e-15 if schedule != "euler" else AUTOGRAD_RTOL["euler"])


def test_numpy_sliding_window_view_of_a_traced_array_routes_to_pcgrad():
    x = numpy.arange(5.0)
    g = pcgrad.grad(lambda x: pnp.sum(numpy.lib.stride_tricks.sliding_window_view(x, 3)))(x)
    numpy.testing.assert_array_equal(g, [1.0, 2.0, 3.0, 2.0, 1.0])


def test_sliding_window_view_of_a_traced_array_is_not_writeable():
    with pytest.raises(ValueError, match="cannot be written to"):
        pcgrad.grad(lambda x: pnp.sum(pnp.lib.stride_tricks.sliding_window_view(
            x, 2, writeable=True)))(numpy.arange(3.0))


def test_r_with_a_string_directive_and_traced_arrays_raises():
    with pytest.raises(NotImplementedError, match="no string directives"):
        pcgrad.grad(lambda x: pnp.sum(pnp.r_["0,2", x, x]))(numpy.arange(3.0))


def test_linspace_and_r_of_constants_are_numpys():
    numpy.testing.assert_array_equal(pnp.linspace(0.0, 1.0, 7), numpy.linspace(0.0, 1.0, 7))
    numpy.testing.assert_array_equal(pnp.r_[1:4, 7.0], numpy.r_[1:4, 7.0])
    numpy.testing.assert_array_equal(pnp.c_[numpy.ones(2), numpy.zeros(2)],
                                     numpy.c_[numpy.ones(2), numpy.zeros(2)])


def test_make_diagonal_puts_d_on_the_diagonal_of_the_last_two_axes():
    d = numpy.arange(6.0).reshape(2, 3)
    for offset, axes in ((0, (-1, -2)), (1, (-2, -1)), (-1, (-2, -1)), (2, (-1, -2))):
        m = pnp.make_diagonal(d, offset, *axes)
        numpy.testing.assert_array_equal(numpy.diagonal(m, offset, *axes), d)
        assert numpy.count_nonzero(m) == numpy.count_nonzero(d)


def test_the_modulo_operator_on_traced_arrays_matches_autograd():
    x, y = numpy.array([5.3, -2.2, 0.4]), numpy.array([2.0, 0.7, -1.5])
    ours = pcgrad.grad(lambda a, b: pnp.sum(a % b * a + 3.0 % b), argnums=(0, 1))(x, y)
    theirs = autograd.grad(lambda a, b: anp.sum(a % b * a + 3.0 % b), argnum=(0, 1))(x, y)
    for o, t in zip(ours, theirs):
        numpy.testing.assert_allclose(o, t, rtol=1e-12)
