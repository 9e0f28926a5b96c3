"""Custom derivatives: pcgrad.custom_vjp, its Python-rule variant and
pcgrad.extend (autograd's primitive/defvjp), against autograd and central
differences on every schedule; the complex-input refusal."""
import autograd
import autograd.numpy as anp
import numpy
import pytest
from autograd.extend import defvjp as ag_defvjp
from autograd.extend import primitive as ag_primitive

import pcgrad
import pcgrad.numpy as np
from pcgrad.extend import defvjp, defvjp_argnum, primitive
from pcgrad.primitives import PRIMITIVES
from test_numpy_functions import AUTOGRAD_RTOL, SCHEDULES, _assert_close

X = numpy.array([-3.0, -0.5, 0.25, 1.5, 4.0])


@pcgrad.custom_vjp
def log1pexp(x):
    return np.log1p(np.exp(x))


def log1pexp_fwd(x):
    return log1pexp(x), x


def log1pexp_bwd(x, g):
    return (g * (1 - 1 / (1 + np.exp(x))),)


log1pexp.defvjp(log1pexp_fwd, log1pexp_bwd)


def _loss(np, softplus):
    return lambda x: np.sum(np.sin(softplus(np.tanh(x) * 2.0)) * x)


def _autograd_softplus(x):
    return anp.log1p(anp.exp(x))


def _grad(f, schedule, **kwargs):
    return pcgrad.grad(f, schedule=schedule, **SCHEDULES[schedule], **kwargs)


# --- custom_vjp --------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_custom_vjp_gradient_matches_autograd(schedule):
    want = autograd.grad(_loss(anp, _autograd_softplus))(X)
    _assert_close(_grad(_loss(np, log1pexp), schedule)(X), want, AUTOGRAD_RTOL[schedule])


def test_custom_vjp_gradient_matches_central_differences():
    f = _loss(np, log1pexp)
    g, h = pcgrad.grad(f)(X), 1e-5
    for i in range(X.size):
        step = numpy.zeros_like(X)
        step[i] = h
        numeric = (f(X + step) - f(X - step)) / (2 * h)
        assert abs(g[i] - numeric) < 1e-8 * (1 + abs(g[i]))


def test_custom_vjp_rule_is_used_where_the_plain_derivative_overflows():
    with numpy.errstate(over="ignore"):
        assert pcgrad.grad(log1pexp)(1000.0) == 1.0
        assert numpy.isnan(autograd.grad(_autograd_softplus)(1000.0))


@pytest.mark.parametrize("beta", [1e-3, 1e-5])
def test_custom_vjp_under_strict_is_within_order_beta_of_the_exact_gradient(beta):
    exact = pcgrad.grad(_loss(np, log1pexp))(X)
    got = pcgrad.grad(_loss(np, log1pexp), schedule="strict", beta=beta)(X)
    assert numpy.max(numpy.abs(got - exact)) <= 10 * beta * numpy.max(numpy.abs(exact))


def test_strict_error_with_custom_vjp_falls_with_beta():
    exact = pcgrad.grad(_loss(np, log1pexp))(X)
    errors = [numpy.max(numpy.abs(pcgrad.grad(_loss(np, log1pexp), schedule="strict",
                                              beta=beta)(X) - exact)) for beta in (1e-3, 1e-5)]
    assert errors[1] < errors[0] / 30


def test_custom_vjp_outside_a_transformation_runs_the_function():
    assert log1pexp(0.0) == numpy.log(2.0)


def test_custom_vjp_new_residual_values_reach_the_rule_on_each_call():
    f = pcgrad.grad(lambda x: np.sum(log1pexp(x)))
    for x in (X, X + 1.0, -X):
        numpy.testing.assert_allclose(f(x), 1 - 1 / (1 + numpy.exp(x)), rtol=1e-14)


@pcgrad.custom_vjp
def scaled(params, x):
    return params["w"] * x + params["b"]


scaled.defvjp(lambda params, x: (scaled(params, x), (params, x)),
              lambda r, g: ({"w": np.sum(g * r[1]), "b": np.sum(g)}, g * r[0]["w"]))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_custom_vjp_takes_pytree_arguments_and_gives_their_cotangents(schedule):
    params, x = {"w": 1.5, "b": 0.5}, X

    def loss(np, f):
        return lambda params, x: np.sum(np.tanh(f(params, x)) ** 2)

    got = _grad(loss(np, scaled), schedule, argnums=(0, 1))(params, x)
    want = autograd.grad(loss(anp, lambda p, x: p["w"] * x + p["b"]), argnum=(0, 1))(params, x)
    for key in "wb":
        _assert_close(got[0][key], want[0][key], AUTOGRAD_RTOL[schedule])
    _assert_close(got[1], want[1], AUTOGRAD_RTOL[schedule])


def test_custom_vjp_none_cotangent_sends_no_error():
    @pcgrad.custom_vjp
    def first(a, b):
        return a * b

    first.defvjp(lambda a, b: (a * b, b), lambda b, g: (g * b, None))
    ga, gb = pcgrad.grad(lambda a, b: np.sum(first(a, b)), argnums=(0, 1))(X, 2.0 * X)
    numpy.testing.assert_array_equal(ga, 2.0 * X)
    assert gb == pytest.approx(numpy.zeros(X.size))


def test_custom_vjp_primitive_vjp_is_the_bwd_rule():
    out = pcgrad.trace(lambda x: log1pexp(x), X)
    node = out.output
    params = out.trace.params[node]
    parents = [out.trace.values[p] for p in out.trace.parents[node]]
    g = numpy.linspace(1.0, 2.0, X.size)
    got = PRIMITIVES["custom_vjp"].vjp(0, g, None, *parents, **params)
    numpy.testing.assert_allclose(got, log1pexp_bwd(X, g)[0], rtol=1e-15)


def test_custom_vjp_is_one_node_whose_rule_is_replayed():
    graph = pcgrad.trace(lambda x: log1pexp(x), X)
    assert [graph.trace.name(n) for n in graph.nodes if graph.roles[n] == "node"] == \
        ["custom_vjp"]


# --- custom_vjp with a rule run in Python -------------------------------------------------
def _python_rule(calls):
    sine = pcgrad.custom_vjp(numpy.sin, trace_bwd=False)

    def bwd(x, g):
        calls.append(g.copy())
        return (g * numpy.cos(x),)
    sine.defvjp(lambda x: (numpy.sin(x), x), bwd)
    return sine


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_python_rule_matches_autograd(schedule):
    sine = _python_rule([])
    got = _grad(lambda x: np.sum(np.tanh(sine(x * x))), schedule)(X)
    want = autograd.grad(lambda x: anp.sum(anp.tanh(anp.sin(x * x))))(X)
    _assert_close(got, want, AUTOGRAD_RTOL[schedule])


def test_python_rule_runs_once_under_the_sweep():
    calls = []
    pcgrad.grad(lambda x: np.sum(_python_rule(calls)(x)))(X)
    assert len(calls) == 1


def test_python_rule_that_raises_warns_and_gives_nan():
    broken = pcgrad.custom_vjp(numpy.sin, trace_bwd=False)
    broken.defvjp(lambda x: (numpy.sin(x), x), lambda x, g: 1 / 0)
    with pytest.warns(RuntimeWarning, match=r"The bwd rule of sin raised "
                                            r"ZeroDivisionError.*cotangents are nan"):
        g = pcgrad.grad(lambda x: np.sum(broken(x)))(X)
    assert numpy.all(numpy.isnan(g))


# --- errors --------------------------------------------------------------------------------
def _custom(bwd, fwd=None):
    f = pcgrad.custom_vjp(lambda x: x * 2.0)
    f.defvjp(fwd or (lambda x: (x * 2.0, x)), bwd)
    return f


def test_custom_vjp_without_defvjp_raises_type_error():
    f = pcgrad.custom_vjp(lambda x: x)
    with pytest.raises(TypeError, match=r"has no rule yet: call .*defvjp\(fwd, bwd\)"):
        pcgrad.grad(lambda x: np.sum(f(x)))(X)


def test_bwd_returning_an_array_raises_type_error():
    with pytest.raises(TypeError, match=r"must return a tuple with one cotangent per "
                                        r"argument; got Tracer"):
        pcgrad.grad(lambda x: np.sum(_custom(lambda x, g: g * 2.0)(x)))(X)


def test_bwd_returning_too_many_cotangents_raises_type_error():
    with pytest.raises(TypeError, match=r"returned 2 cotangents for 1 arguments"):
        pcgrad.grad(lambda x: np.sum(_custom(lambda x, g: (g, g))(x)))(X)


def test_bwd_cotangent_of_the_wrong_shape_raises_value_error():
    with pytest.raises(ValueError, match=r"cotangent of shape \(\) for an argument of shape "
                                         r"\(5,\)"):
        pcgrad.grad(lambda x: np.sum(_custom(lambda x, g: (np.sum(g),))(x)))(X)


def test_bwd_not_linear_in_g_raises_value_error():
    with pytest.raises(ValueError, match=r"does not depend on g and is not zero; bwd must "
                                         r"be linear in g"):
        pcgrad.grad(lambda x: np.sum(_custom(lambda x, g: (x,))(x)))(X)


def test_bwd_closing_over_a_traced_value_raises_type_error():
    def loss(x):
        y = np.tanh(x)
        return np.sum(_custom(lambda r, g: (g * y,))(x))
    with pytest.raises(TypeError, match=r"computed with a traced value that is not g; pass "
                                        r"everything bwd needs through fwd's residuals"):
        pcgrad.grad(loss)(X)


def test_fwd_returning_a_non_float_output_raises_type_error():
    f = _custom(lambda x, g: (g,), fwd=lambda x: ("out", x))
    with pytest.raises(TypeError, match=r"must return \(out, residuals\) with out one float "
                                        r"array; got out of type str"):
        pcgrad.grad(lambda x: np.sum(f(x)))(X)


def test_fwd_closing_over_a_traced_value_raises_type_error():
    def loss(x):
        y = np.tanh(x)
        return np.sum(_custom(lambda r, g: (g,), fwd=lambda x: (x * y, x))(x))
    with pytest.raises(TypeError, match=r"The fwd rule of <lambda> computed with a traced "
                                        r"value that is not one of its arguments"):
        pcgrad.grad(loss)(X)


def test_jit_of_a_custom_vjp_function_raises_type_error():
    with pytest.raises(TypeError, match=r"pcgrad\.jit cannot compile log1pexp, a custom_vjp "
                                        r"function.*without jit"):
        pcgrad.jit(pcgrad.grad(lambda x: np.sum(log1pexp(x))))(X)


# --- pcgrad.extend: autograd's spelling ------------------------------------------------------
def _logsumexp_pair():
    def body(np):
        def logsumexp(x):
            m = np.max(x)
            return m + np.log(np.sum(np.exp(x - m)))
        return logsumexp

    def vjp(np):
        return lambda ans, x: lambda g: np.full(x.shape, g) * np.exp(x - np.full(x.shape, ans))

    ours, theirs = primitive(body(np)), ag_primitive(body(anp))
    defvjp(ours, vjp(np))
    ag_defvjp(theirs, vjp(anp))
    return ours, theirs


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_extend_primitive_with_defvjp_matches_autograd(schedule):
    ours, theirs = _logsumexp_pair()
    got = _grad(lambda y: np.sum(ours(y ** 2)), schedule)(X)
    want = autograd.grad(lambda y: anp.sum(theirs(y ** 2)))(X)
    _assert_close(got, want, AUTOGRAD_RTOL[schedule])


def test_extend_defvjp_argnums_and_none_makers():
    @primitive
    def mul(a, b, c):
        return a * b * c

    defvjp(mul, lambda ans, a, b, c: lambda g: g * b * c, None, argnums=(0, 1))
    ga, gb = pcgrad.grad(lambda a, b: mul(a, b, 3.0), argnums=(0, 1))(2.0, 5.0)
    assert (ga, gb) == (15.0, 0.0)


def test_extend_vjp_in_the_broadcast_shape_is_summed_to_the_argument():
    @primitive
    def add(a, b):
        return a + b

    defvjp(add, lambda ans, a, b: lambda g: g, lambda ans, a, b: lambda g: g)
    a, b = numpy.ones((2, 3)), numpy.ones(3)
    ga, gb = pcgrad.grad(lambda a, b: np.sum(add(a, b) * X[:3]), argnums=(0, 1))(a, b)
    numpy.testing.assert_array_equal(gb, 2.0 * X[:3])


def test_extend_defvjp_argnum_gives_every_argument():
    @primitive
    def mul(a, b):
        return a * b

    defvjp_argnum(mul, lambda n, ans, args, kwargs: lambda g: g * args[1 - n])
    assert pcgrad.grad(lambda a, b: mul(a, b), argnums=(0, 1))(2.0, 5.0) == (5.0, 2.0)


def test_extend_primitive_outside_a_transformation_runs_the_function():
    ours, _ = _logsumexp_pair()
    assert ours(numpy.zeros(2)) == pytest.approx(numpy.log(2.0))


def test_extend_primitive_without_defvjp_raises_type_error():
    bare = primitive(lambda x: x * 2.0)
    with pytest.raises(TypeError, match=r"without a derivative: call defvjp on it"):
        pcgrad.grad(lambda x: np.sum(bare(x)))(X)


def test_extend_defvjp_on_an_undecorated_function_raises_type_error():
    with pytest.raises(TypeError, match=r"defvjp takes a function wrapped by "
                                        r"pcgrad\.extend\.primitive"):
        defvjp(lambda x: x, lambda ans, x: lambda g: g)


def test_extend_traced_argument_without_a_maker_raises_type_error():
    @primitive
    def mul(a, b):
        return a * b

    defvjp(mul, lambda ans, a, b: lambda g: g * b)
    with pytest.raises(TypeError, match=r"defvjp gave mul no derivative for argument 1"):
        pcgrad.grad(lambda b: mul(2.0, b))(3.0)


# --- complex numbers ---------------------------------------------------------------------------
def test_complex_argument_raises_type_error():
    with pytest.raises(TypeError, match=r"complex inputs are not supported: argument 0 has "
                                        r"dtype complex128"):
        pcgrad.grad(lambda x: np.sum(x))(X + 1j)


def test_complex_value_inside_the_function_raises_type_error():
    with pytest.raises(TypeError, match=r"complex inputs are not supported: the value of "
                                        r".*complex128"):
        pcgrad.grad(lambda x: np.sum(np.abs(x * 1j)))(X)
