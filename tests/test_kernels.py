"""Every primitive's Numba forward kernel reproduces its numpy forward.

Strict relaxation and compiled replay compute predictions with these
kernels, so each must agree with the numpy forward used while tracing.
"""
import ast
import pathlib

import numpy
import pytest

import pcgrad
import pcgrad.lax as lax
import pcgrad.numpy as np
import pcgrad.scipy.linalg as psl
import pcgrad.scipy.special as sp
from pcgrad.api import _Linearized
from pcgrad.plan import Plan
from pcgrad.primitives import PRIMITIVES
from pcgrad.relax import forward_pass, kernel_addresses

rng = numpy.random.default_rng(0)
A = rng.uniform(0.2, 0.9, (3, 4))
V = rng.uniform(0.2, 0.9, 4)
SQUARE = rng.uniform(0.2, 0.9, (3, 3)) + 2.0 * numpy.eye(3)

_softplus = pcgrad.custom_vjp(lambda x: np.log1p(np.exp(x)))
_softplus.defvjp(lambda x: (np.log1p(np.exp(x)), x), lambda x, g: (g / (1 + np.exp(-x)),))

PROGRAMS = {
    "custom_vjp": lambda x: [_softplus(x), _softplus(x * V)],
    "unary": lambda x: [f(x) for f in (
        np.negative, np.exp, np.exp2, np.expm1, np.log, np.log2, np.log10, np.log1p, np.sin,
        np.cos, np.tan, np.arcsin, np.arccos, np.arctan, np.sinh, np.cosh, np.tanh,
        np.arcsinh, np.arctanh, np.sqrt, np.cbrt, np.reciprocal, np.square, np.abs,
        np.sign, np.floor, np.ceil, np.rint, np.stop_gradient)] + [np.arccosh(x + 1.0),
                                                                   np.sign(x - 0.5)],
    "nary": lambda x: [x + V, x - V, x * V, x / V, x ** V, np.maximum(x, V), np.minimum(x, V),
                       np.arctan2(x, V), np.hypot(x, V), np.logaddexp(x, V),
                       np.where(x > 0.5, x, V), x < V, x <= V, x > V, x >= V, x == V, x != V,
                       np.logical_and(x > 0.5, V > 0.5), np.logical_or(x > 0.5, V > 0.5),
                       np.logical_xor(x > 0.5, V > 0.5), np.logical_not(x > 0.5)],
    # rows longer than the broadcasting kernels' chunk (256) with an operand
    # constant along them (a column, a scalar), and three operands
    "nary_long_rows": lambda x: [np.tile(x, (1, 150)) * x[:, :1], 2.0 ** np.tile(x, (1, 150)),
                                 np.hypot(x[:, 1:2], np.tile(x, 150)[None] - 0.5),
                                 np.where(np.tile(x, 150) > 0.5, x[:, 2:3], np.tile(x, 150)),
                                 x[:, 3:] - np.tile(x, (1, 150))],
    "gather": lambda x: [x.T, np.broadcast_to(x[0], (2, 3, 4)), x[::-1, 1:3], x[[0, 2, 2]],
                         x[x > 0.5], np.flip(x, 1), np.roll(x, 2, 1), np.tile(x, (2, 1)),
                         np.repeat(x, 2, 0), np.take(x, [3, 0], 1), np.diagonal(x, 1),
                         np.concatenate([x, x * 2.0], 1), np.pad(x, ((1, 0), (0, 2))),
                         np.diag(x[1], 1), np.triu(x, 1), np.tril(x)],
    "copy": lambda x: [x.reshape(4, 3), pcgrad.pc_node(x, name="h")],
    "reduce": lambda x: [np.sum(x, 0), np.sum(x, (0, 1), keepdims=True), np.max(x, 1),
                         np.min(x, 0), np.prod(x, 1), np.cumsum(x, 1), np.cumsum(x, 0),
                         # a gather's traced error rule: scatter_add
                         pcgrad.grad(lambda y: np.sum(y[[0, 2, 2]] * y[::-1]))(x)],
    "matmul": lambda x: [x @ V, x @ x.T, V @ x.T, np.einsum("ij,kj->ik", x, x),
                         np.reshape(x, (3, 2, 2)) @ np.reshape(x, (3, 2, 2))],
    "linalg": lambda x: [np.linalg.inv(SQUARE + x[:, :3]), np.linalg.slogdet(SQUARE * x[0, 0])[1],
                         np.linalg.cholesky(SQUARE @ SQUARE.T + x[:, :3] @ x[:, :3].T),
                         np.linalg.eigh(SQUARE + x[:, 1:]), np.linalg.eigh(x[:, 1:], "U"),
                         np.linalg.svd(x, full_matrices=False), np.linalg.svd(x.T[None], compute_uv=False),
                         np.linalg.qr(x.T), np.linalg.qr(np.reshape(x, (2, 3, 2))),
                         psl.solve_triangular(SQUARE + x[:, :3], x, trans=1),
                         psl.solve_triangular(SQUARE * x[0, 0], V[:3], lower=True,
                                              unit_diagonal=True)],
    "conv": lambda x: [lax.conv(np.reshape(x, (1, 2, 2, 3)), np.reshape(x[:2], (2, 1, 2, 2)),
                                stride=(1, 2), padding=1, groups=2),
                       lax.conv(np.reshape(x, (2, 1, 2, 3)), np.reshape(x[0], (2, 1, 1, 2)),
                                dilation=(1, 2)),
                       lax.max_pool2d(np.reshape(x, (1, 1, 3, 4)), 2, 1, padding=1),
                       lax.avg_pool2d(np.reshape(x, (1, 1, 3, 4)), (2, 3))],
    "special": lambda x: [f(x) for f in (
        sp.erf, sp.erfc, sp.erfinv, sp.erfcinv, sp.gammaln, sp.gamma, sp.digamma, sp.expit,
        sp.log_expit, sp.logit, sp.entr, sp.i0, sp.i1, sp.i0e, sp.i1e, sp.ndtr, sp.log_ndtr,
        sp.ndtri)] + [sp.polygamma(1, x), sp.polygamma(3, x + V), sp.xlogy(x, V),
                      sp.xlog1py(x, V), sp.beta(x, V), sp.betaln(x, V), np.remainder(x, V),
                      np.fmod(-x, V), sp.gammainc(2.5, x + V), sp.gammaincc(V, x),
                      sp.betainc(V, 2.0, x)],
}


def _arrays(results):
    """The arrays of a program's results (factorizations return tuples of them)."""
    for y in results:
        yield from (y if isinstance(y, tuple) else (y,))


def _program(name):
    def f(x):
        return np.sum(np.concatenate([np.ravel(y) * 1.0 for y in _arrays(PROGRAMS[name](x))]))
    return f


def _recomputed(f, x):
    """(the values the forward kernels compute for f's graph at x, the traced ones)."""
    lin = _Linearized(f, (x,), 0, False, keep_values=True)
    plan = Plan(lin.graph, store_all=True)
    traced = plan.values_from(lin.graph)
    recomputed = traced.copy()
    leaves = plan.table.op == 0
    for i in range(len(plan)):
        if not leaves[i]:
            o, n = plan.table.voff[i], plan.table.size[i]
            recomputed[o:o + n] = numpy.nan
    forward_pass(plan.table, recomputed, kernel_addresses(plan, "forward"))
    return recomputed, traced


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_forward_kernels_reproduce_numpy(name):
    numpy.testing.assert_allclose(*_recomputed(_program(name), A), rtol=1e-13, atol=1e-13)


# values no int64 holds, infinities, nan, zeros and halves: a kernel
# rounding through an integer (Numba's math.floor and round return int64)
# would return -2**63 for the first ones
BEYOND_INT64 = numpy.array([[1e20, -1e20, 2.0 ** 63, -2.0 ** 64, 1e300, -1e300],
                            [numpy.inf, -numpy.inf, numpy.nan, 0.0, -0.0, -0.3],
                            [2.5, -2.5, 3.5, 0.5, -0.5, 2.0 ** 52 + 1.0]])


ROUNDING = {"floor": lambda np, x: np.floor(x), "ceil": lambda np, x: np.ceil(x),
            "rint": lambda np, x: np.rint(x), "round": lambda np, x: np.round(x),
            "remainder": lambda np, x: np.remainder(x, 0.7),
            "fmod": lambda np, x: np.fmod(x, -3.0)}


@pytest.mark.parametrize("fuse", [False, True])
def test_compiled_replay_rounds_as_numpy_beyond_int64(fuse):
    # the gradient in w is each f(x) of an input not differentiated, which the
    # compiled replay computes with the forward kernels (or the fused loop)
    def f(np, w, x):
        return np.sum(w * np.stack([g(np, x) for g in ROUNDING.values()]))
    w = numpy.ones((len(ROUNDING),) + BEYOND_INT64.shape)
    replay = pcgrad.jit(pcgrad.grad(lambda w, x: f(np, w, x)), fuse=fuse)
    with numpy.errstate(invalid="ignore"):
        want = numpy.stack([g(numpy, BEYOND_INT64) for g in ROUNDING.values()])
        for _ in range(2):  # the first call traces, the second replays
            got = replay(w, BEYOND_INT64)
    numpy.testing.assert_array_equal(got, want)  # (a gradient's zeros are +0 or -0)


def test_every_primitive_has_a_forward_kernel_test():
    seen = set()
    for name in PROGRAMS:
        trace = _Linearized(_program(name), (A,), 0, False).graph.trace
        seen.update(trace.name(i) for i in range(len(trace)))
    assert set(PRIMITIVES) - seen == set()


@pytest.mark.parametrize("name", sorted(__import__("pcgrad.primitives.elementwise",
                                                   fromlist=["OUTPUT_ONLY"]).OUTPUT_ONLY))
def test_a_derivative_marked_output_only_ignores_its_input(name):
    # such nodes do not store their input, and their error kernel passes 0 for it
    from numba import njit
    from pcgrad.primitives.elementwise import UNARY_TABLE
    row = next(row for row in UNARY_TABLE if row[0] == name)
    fn, d = row[1], row[3]

    @njit
    def derivative(x, y):
        return numpy.array([d(x[i], y[i]) for i in range(x.size)])

    x = numpy.random.default_rng(3).uniform(0.1, 0.9, 1000)
    y = fn(x)
    for other in (numpy.zeros_like(x), numpy.full_like(x, numpy.nan), x[::-1].copy()):
        numpy.testing.assert_array_equal(derivative(other, y), derivative(x, y))


def test_a_plan_does_not_store_the_input_of_an_output_only_function():
    def loss(v):
        return np.sum(np.exp(-v * v))

    v = numpy.linspace(-1.0, 1.0, 7)
    graph = _Linearized(loss, (v,), (0,), False).graph
    plan = Plan(graph, store_all=False)
    t = plan.table
    names = [getattr(graph.trace.primitives[node], "name", None) for node in plan.nodes]
    j = names.index("exp")
    assert t.voff[t.par[t.pptr[j]]] == -1  # -v * v is not kept
    assert t.voff[j] >= 0  # exp's output is: its derivative
    numpy.testing.assert_allclose(pcgrad.grad(loss)(v), -2 * v * numpy.exp(-v * v),
                                  rtol=1e-15)


def _slice_assignments(sources):
    """Every ``x[a:b] = ...`` and ``x[a:b] op= ...`` in a compiled function
    (decorated kernel, helper, entry, njit or scalar) of ``sources``, a dict
    name -> Python source: [(name:line, statement)]."""
    found = []
    for name, source in sources.items():
        for fn in ast.walk(ast.parse(source)):
            decorators = {ast.unparse(d).split("(")[0].split(".")[-1]
                          for d in getattr(fn, "decorator_list", [])}
            if not isinstance(fn, ast.FunctionDef) or not decorators & COMPILED:
                continue
            for node in ast.walk(fn):
                targets = (node.targets if isinstance(node, ast.Assign) else
                           [node.target] if isinstance(node, ast.AugAssign) else [])
                found += [(f"{name}:{node.lineno}", ast.unparse(node)) for t in targets
                          if isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Slice)]
    return found


COMPILED = {"kernel", "helper", "entry", "njit", "scalar"}


def test_compiled_code_writes_arrays_with_loops_not_slice_assignments():
    # the first out[:] = x or g[:] += e in a process costs Numba about 2 s to
    # compile (a first gradient through reshape paid it); core.fill, copy and
    # accumulate are loops that compile in a tenth of a second
    example = "@kernel\ndef k(t, out, x):\n    out[:] = x\n    out[1:] += x[1:]\n" \
              "    y = x[:2]\n    y[0] = 1.0\n\ndef python(out):\n    out[:] = 0.0\n"
    assert _slice_assignments({"example": example}) == [
        ("example:3", "out[:] = x"), ("example:4", "out[1:] += x[1:]")]
    root = pathlib.Path(pcgrad.__file__).parent
    package = {str(p.relative_to(root)): p.read_text()
               for p in [*root.glob("*.py"), *root.glob("primitives/*.py")]}
    assert len(package) > 20
    assert _slice_assignments(package) == []


def test_a_gather_map_of_runs_is_lowered_as_its_runs():
    from pcgrad.primitives.structural import as_runs
    # x[:, 1:5] of a 4 x 6 matrix: four rows of four, starting at 1, 7, 13, 19
    assert as_runs(numpy.arange(24).reshape(4, 6)[:, 1:5].ravel()).tolist() == [
        1, 4, 7, 4, 13, 4, 19, 4]
    assert as_runs(numpy.arange(8)).tolist() == [0, 8]
    assert as_runs(numpy.array([4, 5, 6, 7, 4, 5, 6, 7])).tolist() == [4, 4, 4, 4]  # repeated
    assert as_runs(numpy.array([0, 1, 2, -1, 4, 5, 6, 7])) is None  # a zero (padding)
    assert as_runs(numpy.arange(16)[::2]) is None  # runs of one element
    assert as_runs(numpy.arange(0)) is None


def test_slices_of_long_rows_move_whole_runs_and_match_autograd_on_every_schedule():
    import autograd
    import autograd.numpy as anp

    def f(x, np):  # slices of rows (runs of 16 and 24), a tiled row, runs of one
        return (np.sum(np.tanh(x[:, 8:24]) * x[:, 0:16]) + np.sum(x[1:3, 16:] ** 3)
                + np.sum(np.tile(x[2:3], (3, 1)) * x[:3]) + np.sum(x[:, ::3] ** 2))

    x = numpy.random.default_rng(7).uniform(-1.0, 1.0, (8, 40))
    expected = autograd.grad(lambda x: f(x, anp))(x)
    for schedule, rtol in (("sweep", 1e-12), ("jacobi", 1e-12), ("euler", 1e-7)):
        got = pcgrad.grad(lambda x: f(x, np), schedule=schedule)(x)
        numpy.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)
    got = pcgrad.jit(pcgrad.grad(lambda x: f(x, np)))(x)
    numpy.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    used = pcgrad.kernels.compiled()
    assert ("rule", "gather (runs)") in used and ("forward", "gather (runs)") in used


def test_span_is_a_view_of_the_elements_it_names():
    from numba import njit
    from pcgrad.kernels import span

    @njit
    def double(x, o, k):
        v = span(x, o, k)
        for i in range(v.size):
            v[i] *= 2.0
        return v.size

    x = numpy.arange(10.0)
    assert double(x, 3, 4) == 4
    assert x.tolist() == [0.0, 1.0, 2.0, 6.0, 8.0, 10.0, 12.0, 7.0, 8.0, 9.0]
    with pytest.raises(Exception, match="1-d C-contiguous"):
        double(numpy.ones((2, 2)), 0, 1)
