"""Higher-order derivatives: transformations nested in each other.

A transformation called inside a function being traced records its
relaxation's equilibrium as primitives (each primitive's traced error rule,
``Primitive.vjp``); the outer transformation relaxes the result. Checked
against autograd at random float64 points on the exact schedules (sweep,
jacobi, and strict as an inner schedule, whose equilibrium is recorded
exactly) to 1e-8, on euler at its tolerance, and each traced error rule
against its Numba kernel.
"""
import dataclasses

import autograd
import autograd.numpy as anp
import autograd.scipy.special as asp
import numpy
import pytest

import pcgrad
import pcgrad.numpy as pnp
import pcgrad.scipy.special as psp
from pcgrad.api import _Linearized
from pcgrad.primitives import PRIMITIVES
from pcgrad.settle import unbroadcast
from pcgrad.tracing import bind_with_arrays
from test_kernels import A, PROGRAMS, _program

# Relative to the result's largest element, as in test_numpy_functions.
RTOL = {"sweep": 1e-8, "jacobi": 1e-8, "strict": 1e-8, "euler": 1e-6}
EULER = {"eta": 0.5, "tol": 1e-13}


def options(schedule):
    return dict(schedule=schedule, **(EULER if schedule == "euler" else {}))


def close(actual, expected, rtol):
    actual, expected = numpy.asarray(actual, float), numpy.asarray(expected, float)
    assert actual.shape == expected.shape
    scale = max(numpy.max(numpy.abs(expected), initial=0.0), 1e-300)
    assert numpy.max(numpy.abs(actual - expected), initial=0.0) <= rtol * scale, (
        actual, expected)


rng = numpy.random.default_rng(11)
W = rng.uniform(-1.0, 1.0, (4, 4))
X = rng.uniform(0.3, 0.9, 4)
C = rng.standard_normal(4)

# Scalar functions of a vector, written once against a numpy-like module.
FUNCTIONS = {
    "fan_out": lambda np, sp, x: np.sum(x * np.sin(x) + np.exp(x) * x ** 2),
    "broadcasting": lambda np, sp, x: np.sum(np.tanh(x[:, None] - 2.0 * x[None, :]) * W),
    "reductions": lambda np, sp, x: (np.max(x * W) + np.min(x) * np.prod(x)
                                     + np.sum(np.cumsum(x ** 2)) + np.mean(np.sqrt(x))),
    "matmul": lambda np, sp, x: np.sum(np.tanh(W @ x) ** 2) + x @ W @ x,
    "indexing": lambda np, sp, x: np.sum(x[::2] * x[[1, 3]]) + np.sum(x[[0, 0, 2]] ** 3)
    + np.sum(np.concatenate([x, x[::-1] ** 2]) * np.exp(np.reshape(x, (2, 2)).T.ravel()[
        [0, 1, 2, 3, 0, 1, 2, 3]])),
    "special": lambda np, sp, x: np.sum(sp.erf(x) * sp.gammaln(x + 1.0) + sp.expit(x)
                                        + np.log(sp.logsumexp(x) * np.arctan2(x, 1.5))),
}
NAMES = sorted(FUNCTIONS)


def pc(name):
    return lambda x: FUNCTIONS[name](pnp, psp, x)


def ag(name):
    return lambda x: FUNCTIONS[name](anp, asp, x)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("schedule", ["sweep", "jacobi", "euler"])
def test_hessian_matches_autograd(name, schedule):
    close(pcgrad.hessian(pc(name), **options(schedule))(X), autograd.hessian(ag(name))(X),
          RTOL[schedule])


@pytest.mark.parametrize("name", NAMES)
def test_grad_of_grad_matches_autograd(name):
    def second(grad, np, f):
        return lambda x: np.sum(grad(f)(x) * C)
    close(pcgrad.grad(second(pcgrad.grad, pnp, pc(name)))(X),
          autograd.grad(second(autograd.grad, anp, ag(name)))(X), RTOL["sweep"])


@pytest.mark.parametrize("inner", ["sweep", "jacobi", "euler", "strict"])
@pytest.mark.parametrize("outer", ["sweep", "jacobi", "euler"])
def test_inner_and_outer_schedules_may_differ(inner, outer):
    f, fa = pc("matmul"), ag("matmul")
    got = pcgrad.grad(lambda x: pnp.sum(pcgrad.grad(f, **options(inner))(x) ** 2),
                      **options(outer))(X)
    close(got, autograd.grad(lambda x: anp.sum(autograd.grad(fa)(x) ** 2))(X),
          max(RTOL[inner], RTOL[outer]))


def test_an_outer_strict_relaxation_is_within_its_beta():
    # strict nudges the output by beta: its result is within O(beta) of the derivative
    beta = 1e-5
    got = pcgrad.grad(pcgrad.grad(lambda x: pnp.sin(x) * x), schedule="strict", beta=beta,
                      tol=1e-6, eta=0.3)(0.7)
    close(got, autograd.grad(autograd.grad(lambda x: anp.sin(x) * x))(0.7), 10 * beta)


@pytest.mark.parametrize("f, fa", [
    (pnp.tanh, anp.tanh),
    (lambda x: pnp.sin(x) * pnp.exp(x), lambda x: anp.sin(x) * anp.exp(x)),
    (lambda x: x ** 3.5 / (1.0 + x), lambda x: x ** 3.5 / (1.0 + x)),
    (lambda x: psp.erf(pnp.arctan(x)), lambda x: asp.erf(anp.arctan(x))),
    (lambda x: pnp.sqrt(pnp.logaddexp(x, 2.0 * x)), lambda x: anp.sqrt(anp.logaddexp(x, 2.0 * x))),
], ids=["tanh", "sin_exp", "power", "erf_arctan", "logaddexp"])
def test_third_derivatives_match_autograd(f, fa):
    g, ga = pcgrad.grad, autograd.grad
    for x in (0.4, 1.3):
        close(g(g(g(f)))(x), ga(ga(ga(fa)))(x), RTOL["sweep"])


def test_the_hessian_of_prod_is_exact_where_two_factors_are_zero():
    x = numpy.array([0.0, 2.0, 0.0, 3.0])  # (autograd's prod rule gives NaN here)
    expected = [[0.0 if i == j else numpy.prod([x[k] for k in range(4) if k not in (i, j)])
                 for j in range(4)] for i in range(4)]
    close(pcgrad.hessian(pnp.prod)(x), expected, 1e-15)


def test_a_fourth_derivative_of_a_vector_function_matches_autograd():
    f, fa = pc("fan_out"), ag("fan_out")
    got = pcgrad.hessian(lambda x: pnp.sum(pcgrad.hessian(f)(x) * W))(X)
    expected = autograd.hessian(lambda x: anp.sum(autograd.hessian(fa)(x) * W))(X)
    close(got, expected, RTOL["sweep"])


def test_a_closure_over_the_outer_traced_value():
    def inner_grad(grad, np):
        return lambda x: grad(lambda y: np.sum(np.sin(x * y) * y))(x ** 2)
    close(pcgrad.jacobian(inner_grad(pcgrad.grad, pnp))(X),
          autograd.jacobian(inner_grad(autograd.grad, anp))(X), RTOL["sweep"])


def test_grad_of_value_and_grad_elementwise_grad_and_vjp():
    def f(x):
        value, g = pcgrad.value_and_grad(lambda y: pnp.sum(y ** 3 * pnp.cos(y)))(x)
        out, vjp_fn = pcgrad.vjp(lambda y: pnp.exp(y) * y[::-1], x)
        return value + pnp.sum(g * C) + pnp.sum(pcgrad.elementwise_grad(pnp.sin)(x * x)) \
            + pnp.sum(vjp_fn(x)[0]) + pnp.sum(out)

    def fa(x):
        y3 = lambda y: anp.sum(y ** 3 * anp.cos(y))
        out, vjp_fn = autograd.make_vjp(lambda y: anp.exp(y) * y[::-1])(x)[::-1]
        return y3(x) + anp.sum(autograd.grad(y3)(x) * C) \
            + anp.sum(autograd.elementwise_grad(anp.sin)(x * x)) + anp.sum(vjp_fn(x)) \
            + anp.sum(out)
    close(pcgrad.grad(f)(X), autograd.grad(fa)(X), RTOL["sweep"])


def test_jacobian_of_grad_with_two_arguments():
    f = lambda x, w: pnp.sum(pnp.tanh(w @ x) * x)
    fa = lambda x, w: anp.sum(anp.tanh(w @ x) * x)
    close(pcgrad.jacobian(pcgrad.grad(f, 1))(X, W), autograd.jacobian(autograd.grad(fa, 1))(X, W),
          RTOL["sweep"])


def test_has_aux_passes_traced_aux_out():
    def f(x):
        g, aux = pcgrad.grad(lambda y: (pnp.sum(y ** 3), y * 2.0), has_aux=True)(x)
        return pnp.sum(g * aux)
    close(pcgrad.grad(f)(X), 18.0 * X ** 2, 1e-12)  # d/dx sum(3x^2 * 2x) = 18 x^2


@pytest.mark.parametrize("name", NAMES)
def test_hvp_is_the_hessian_times_v(name):
    close(pcgrad.hvp(pc(name))(X, C), autograd.hessian(ag(name))(X) @ C, RTOL["sweep"])


def vector_function(np, x):
    return np.tanh(W @ x) * x[::-1] + np.cumsum(x) ** 2


def test_jvp_is_the_jacobian_times_the_tangent():
    out, tangent = pcgrad.jvp(lambda x: vector_function(pnp, x), (X,), (C,))
    close(out, vector_function(numpy, X), 1e-15)
    close(tangent, autograd.jacobian(lambda x: vector_function(anp, x))(X) @ C, RTOL["sweep"])


def test_jvp_of_two_primals_adds_their_products():
    f = lambda x, w: w @ pnp.sin(x)
    _, tangent = pcgrad.jvp(f, (X, W), (C, W * 0.5))
    expected = W @ (numpy.cos(X) * C) + 0.5 * W @ numpy.sin(X)
    close(tangent, expected, RTOL["sweep"])


def test_jvp_of_a_jvp_differentiates_through_the_inner_tangent():
    # g(x, v) = cos(x) v, so its jvp is -sin(x) v tx + cos(x) tv; the inner
    # tangent v must not be read as a constant by the outer jvp
    g = lambda x, v: pcgrad.jvp(pnp.sin, (x,), (v,))[1]
    v, tv = C * 2.0, X[::-1].copy()
    _, tangent = pcgrad.jvp(g, (X, v), (C, tv))
    close(tangent, -numpy.sin(X) * v * C + numpy.cos(X) * tv, RTOL["sweep"])


def test_jvp_through_an_inner_grad_of_a_closure_over_the_argument():
    f = lambda x: x * pcgrad.grad(lambda y: x * y)(2.0)  # x ** 2
    assert pcgrad.jvp(f, (3.0,), (1.0,))[1] == pytest.approx(6.0, rel=1e-14)


def test_jacfwd_and_jacrev_match_the_jacobian():
    expected = autograd.jacobian(lambda x: vector_function(anp, x))(X)
    close(pcgrad.jacfwd(lambda x: vector_function(pnp, x))(X), expected, RTOL["sweep"])
    close(pcgrad.jacrev(lambda x: vector_function(pnp, x))(X), expected, RTOL["sweep"])


def test_hessian_by_jacfwd_of_grad():
    close(pcgrad.jacfwd(pcgrad.grad(pc("matmul")))(X), autograd.hessian(ag("matmul"))(X),
          RTOL["sweep"])


def test_a_nested_grad_compiles_with_jit():
    loss = lambda x: pnp.sum(pcgrad.grad(pc("reductions"))(x) ** 2)
    compiled = pcgrad.jit(pcgrad.grad(loss))
    for x in (X, X[::-1] * 0.9):
        expected = autograd.grad(lambda x: anp.sum(autograd.grad(ag("reductions"))(x) ** 2))(x)
        close(compiled(x), expected, RTOL["sweep"])


def test_a_compiled_nested_grad_refills_its_data_argument():
    def loss(np, grad):
        def f(w, x):
            g = grad(lambda v: np.sum(np.tanh(x @ v) ** 2))(w)
            return np.sum(g ** 2) + np.sum(w ** 2)
        return f
    compiled = pcgrad.jit(pcgrad.grad(loss(pnp, pcgrad.grad)))
    for seed in range(3):
        data = numpy.random.default_rng(seed)
        w, x = data.standard_normal(3), data.standard_normal((4, 3))
        close(compiled(w, x), autograd.grad(loss(anp, autograd.grad))(w, x), RTOL["sweep"])


def test_a_compiled_grad_inside_a_traced_function_is_differentiated():
    inner = pcgrad.jit(pcgrad.grad(pc("fan_out")))
    close(pcgrad.grad(lambda x: pnp.sum(inner(x) * C))(X),
          autograd.grad(lambda x: anp.sum(autograd.grad(ag("fan_out"))(x) * C))(X),
          RTOL["sweep"])


def test_the_inner_derivative_of_a_constant_is_zero():
    f = lambda x: pnp.sum(pcgrad.grad(lambda y: pnp.sum(x) * 3.0)(x) + x)
    close(pcgrad.grad(f)(X), numpy.ones(4), 1e-15)


# --- errors -----------------------------------------------------------------------------
def test_a_primitive_without_a_traced_rule_has_no_second_derivative():
    sin = dataclasses.replace(PRIMITIVES["sin"], vjp=None)
    with pytest.raises(NotImplementedError, match="no traced error rule for sin.*order 2"):
        pcgrad.grad(pcgrad.grad(lambda x: sin(x) * 2.0))(0.3)


def test_return_info_is_refused_inside_a_traced_function():
    inner = pcgrad.grad(lambda y: y ** 2, return_info=True)
    with pytest.raises(NotImplementedError, match="return_info=True, target= and pcgrad.infer"):
        pcgrad.grad(lambda x: inner(x)[0])(0.3)


def test_hessian_differentiates_one_argument():
    with pytest.raises(NotImplementedError, match=r"pcgrad.hessian differentiates one argument"):
        pcgrad.hessian(lambda x, y: x * y, argnums=(0, 1))


def test_jvp_checks_the_tangents():
    with pytest.raises(ValueError, match="The tangent of primal 0 has shape"):
        pcgrad.jvp(pnp.sin, (X,), (C[:2],))
    with pytest.raises(ValueError, match="jvp takes one tangent per primal"):
        pcgrad.jvp(pnp.sin, (X,), ())


def test_trace_is_refused_inside_a_traced_function():
    with pytest.raises(NotImplementedError, match="pcgrad.trace cannot be called inside"):
        pcgrad.grad(lambda x: pcgrad.trace(pnp.sin, x).depth * x)(0.3)


# --- each traced error rule against its Numba kernel --------------------------------------
# Differentiable primitives whose derivative has no traced rule (so no second
# derivative in pcgrad): none today. A new primitive without vjp= fails
# test_every_differentiable_primitive_has_a_traced_rule unless listed here
# with the reason.
WITHOUT_TRACED_RULE = set()


def test_every_differentiable_primitive_has_a_traced_rule():
    missing = {name for name, p in PRIMITIVES.items() if p.differentiable and p.vjp is None}
    assert missing == WITHOUT_TRACED_RULE


def _primitive_nodes(program):
    """(primitive, params, parent values, value) of each differentiable node of
    a test_kernels program traced at A."""
    trace = _Linearized(_program(program), (A,), 0, False, keep_values=True).graph.trace
    for node in range(len(trace)):
        primitive = trace.primitives[node]
        if type(primitive) is not str and primitive.differentiable:
            yield (primitive, trace.params[node],
                   [trace.values[p] for p in trace.parents[node]], trace.values[node])


@pytest.mark.parametrize("program", sorted(PROGRAMS))
@pytest.mark.filterwarnings("ignore:The derivative of .* is infinite or undefined")  # (NaN
def test_traced_rules_match_the_numba_kernels(program):  # in the shape parameters of gammainc)
    seen = 0
    for primitive, params, xs, y in _primitive_nodes(program):
        if primitive.name in WITHOUT_TRACED_RULE:
            continue
        floats = [k for k, x in enumerate(xs) if x.dtype.kind == "f"]
        if not floats:  # (a mask reshaped: nothing to differentiate)
            continue

        def one_primitive(*operands):
            args = list(xs)
            for k, operand in zip(floats, operands):
                args[k] = operand
            return bind_with_arrays(primitive, args, params)
        g = numpy.random.default_rng(seen).standard_normal(y.shape)
        numba_errors = pcgrad.vjp(one_primitive, *[xs[k] for k in floats])[1](g)
        for k, numba_error in zip(floats, numba_errors):
            traced = primitive.vjp(k, g, y, *xs, **params)
            traced = numpy.zeros(xs[k].shape) if traced is None else unbroadcast(traced,
                                                                                 xs[k].shape)
            numpy.testing.assert_allclose(traced, numba_error, rtol=1e-12, atol=1e-12,
                                          err_msg=f"{primitive.name}, operand {k}")
        seen += 1
    assert seen > 0


def test_every_primitive_rule_is_checked_against_its_kernel():
    checked = {p.name for program in PROGRAMS for p, *_ in _primitive_nodes(program)}
    assert {n for n, p in PRIMITIVES.items() if p.differentiable} - checked == set()
