"""Properties over random programs: random compositions of primitives.

A program is a small random expression tree over one to three input arrays
of random (broadcast-compatible) shapes, built from unary elementwise
functions on safe domains, broadcasting binary operations, reductions with a
random axis and keepdims, reshape / transpose / slicing and matmul. It is
written once against a numpy-like module and run with both pcgrad.numpy and
autograd.numpy.
"""
import autograd
import autograd.numpy as anp
import hypothesis.strategies as st
import networkx as nx
import numpy as onp
from hypothesis import HealthCheck, assume, given, settings

import pcgrad
import pcgrad.numpy as pnp

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

UNARY = {  # each defined (and differentiable) on the whole real line
    "sin": lambda np, a: np.sin(a),
    "cos": lambda np, a: np.cos(a),
    "tanh": lambda np, a: np.tanh(a),
    "arctan": lambda np, a: np.arctan(a),
    "negative": lambda np, a: -a,
    "square": lambda np, a: np.square(a),
    "exp(tanh)": lambda np, a: np.exp(np.tanh(a)),
    "log(1+a^2)": lambda np, a: np.log(1.0 + a * a),
    "sqrt(1+a^2)": lambda np, a: np.sqrt(1.0 + a * a),
    "abs+1": lambda np, a: np.abs(a) + 1.0,
    "sinh(tanh)": lambda np, a: np.sinh(np.tanh(a)),
}
BINARY = {
    "add": lambda np, a, b: a + b,
    "subtract": lambda np, a, b: a - b,
    "multiply": lambda np, a, b: a * b,
    "divide": lambda np, a, b: a / (1.5 + np.cos(b)),
    "power": lambda np, a, b: (1.0 + a * a) ** np.tanh(b),
}
REDUCTIONS = {
    "sum": lambda np, a, axis, keepdims: np.sum(a, axis=axis, keepdims=keepdims),
    "mean": lambda np, a, axis, keepdims: np.mean(a, axis=axis, keepdims=keepdims),
    "max": lambda np, a, axis, keepdims: np.max(a, axis=axis, keepdims=keepdims),
    "min": lambda np, a, axis, keepdims: np.min(a, axis=axis, keepdims=keepdims),
    "prod": lambda np, a, axis, keepdims: np.prod(a, axis=axis, keepdims=keepdims),
}


class Node:
    """An expression: ``build(np, xs)`` evaluates it with module ``np`` on inputs ``xs``."""

    def __init__(self, label, build, shapes, children=()):
        self.label, self.build, self.children = label, build, children
        self.shape = onp.shape(build(onp, [onp.ones(s) for s in shapes]))

    def exact_zeros(self, xs):
        """Whether this expression or a subexpression has an element exactly 0 at xs."""
        return bool(onp.any(self.build(onp, xs) == 0)) or any(
            child.exact_zeros(xs) for child in self.children)

    def __repr__(self):
        return self.label


def _broadcastable(s1, s2):
    try:
        onp.broadcast_shapes(s1, s2)
        return True
    except ValueError:
        return False


def _matmul_shape(s1, s2):
    try:
        return onp.matmul(onp.ones(s1), onp.ones(s2)).shape
    except ValueError:
        return None


def expression(draw, shapes, depth, constants):
    """Draw a random expression tree of at most ``depth`` levels over the inputs."""
    node = lambda label, build, *children: Node(label, build, shapes, children)
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        i = draw(st.integers(0, len(shapes) - 1))
        return node(f"x{i}", lambda np, xs: xs[i])
    kind = draw(st.sampled_from(["unary", "unary", "binary", "binary", "reduce", "reshape",
                                 "transpose", "slice", "matmul"]))
    a = expression(draw, shapes, depth - 1, constants)
    ndim = len(a.shape)
    if kind == "unary" or (kind == "transpose" and ndim < 2) or (
            kind in ("slice", "matmul") and ndim == 0):
        name = draw(st.sampled_from(sorted(UNARY)))
        fn = UNARY[name]
        return node(f"{name}({a})", lambda np, xs: fn(np, a.build(np, xs)), a)
    if kind == "binary":
        b = expression(draw, shapes, depth - 1, constants)
        if not _broadcastable(a.shape, b.shape):
            b0 = b
            b = node(f"sum({b0})", lambda np, xs: np.sum(b0.build(np, xs)), b0)
        name = draw(st.sampled_from(sorted(BINARY)))
        fn = BINARY[name]
        return node(f"{name}({a}, {b})",
                    lambda np, xs: fn(np, a.build(np, xs), b.build(np, xs)), a, b)
    if kind == "reduce":
        name = draw(st.sampled_from(sorted(REDUCTIONS)))
        choices = [None] + list(range(-ndim, ndim))
        if ndim >= 2:
            choices.append((0, ndim - 1))
        axis = draw(st.sampled_from(choices))
        keepdims = draw(st.booleans())
        fn = REDUCTIONS[name]
        return node(f"{name}({a}, axis={axis}, keepdims={keepdims})",
                    lambda np, xs: fn(np, a.build(np, xs), axis, keepdims), a)
    if kind == "reshape":
        target = draw(st.sampled_from([(-1,), tuple(reversed(a.shape)), (1,) + a.shape,
                                       a.shape + (1,)]))
        return node(f"reshape({a}, {target})",
                    lambda np, xs: np.reshape(a.build(np, xs), target), a)
    if kind == "transpose":
        axes = tuple(draw(st.permutations(range(ndim))))
        return node(f"transpose({a}, {axes})",
                    lambda np, xs: np.transpose(a.build(np, xs), axes), a)
    if kind == "slice":
        axis = draw(st.integers(0, ndim - 1))
        picks = [slice(None, None, -1), slice(0, 1), 0, -1]
        if a.shape[axis] >= 2:
            picks += [slice(1, None), slice(None, None, 2), slice(None, -1)]
        pick = draw(st.sampled_from(picks))
        index = (slice(None),) * axis + (pick,)
        return node(f"{a}[{index}]", lambda np, xs: a.build(np, xs)[index], a)
    # matmul: with another expression if the shapes fit, else with a constant matrix
    b = expression(draw, shapes, depth - 1, constants)
    if len(b.shape) >= 1 and _matmul_shape(a.shape, b.shape) is not None:
        return node(f"matmul({a}, {b})",
                    lambda np, xs: a.build(np, xs) @ b.build(np, xs), a, b)
    if len(b.shape) == 2 and _matmul_shape(a.shape, b.shape[::-1]) is not None:
        return node(f"matmul({a}, {b}.T)",
                    lambda np, xs: a.build(np, xs) @ np.transpose(b.build(np, xs)), a, b)
    c = constants.standard_normal((a.shape[-1], draw(st.integers(1, 3))))
    return node(f"matmul({a}, C{c.shape})", lambda np, xs: a.build(np, xs) @ c, a)


class Program:
    """``make(np)(*xs)`` is the scalar sum(expression * W)."""

    def __init__(self, expr, weights, xs):
        self.expr, self.weights, self.xs = expr, weights, xs

    def make(self, np):
        return lambda *args: np.sum(self.expr.build(np, args) * self.weights)

    def __repr__(self):
        return f"sum({self.expr} * W) at shapes {[x.shape for x in self.xs]}"


@st.composite
def programs(draw):
    a, b = draw(st.integers(1, 3)), draw(st.integers(2, 3))
    count = draw(st.integers(1, 3))
    shapes = [draw(st.sampled_from([(a, b), (b,), (a, 1), (), (2, a, b)])) for _ in range(count)]
    seed = draw(st.integers(0, 2 ** 16))
    rng = onp.random.default_rng(seed)
    expr = expression(draw, shapes, draw(st.integers(1, 4)), rng)
    weights = rng.standard_normal(expr.shape)
    xs = tuple(rng.uniform(0.2, 1.5, s) * rng.choice([-1.0, 1.0], s) for s in shapes)
    return Program(expr, weights, xs)


def gradients(make, xs, schedule, **options):
    return pcgrad.grad(make(pnp), argnums=tuple(range(len(xs))), schedule=schedule,
                       return_info=True, **options)(*xs)


def reference(make, xs):
    return autograd.grad(lambda packed: make(anp)(*packed))(xs)


def assert_close(got, expected, rtol):
    scale = max([1.0] + [float(onp.max(onp.abs(e))) for e in expected if onp.size(e)])
    for g, e in zip(got, expected):
        assert onp.shape(g) == onp.shape(e)
        onp.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * scale)


@PROPERTY
@given(programs())
def test_sweep_gradient_of_random_program_matches_autograd(program):
    make, xs = program.make, program.xs
    got, _ = gradients(make, xs, "sweep")
    assert_close(got, reference(make, xs), rtol=1e-8)


@PROPERTY
@given(programs())
def test_jacobi_gradient_of_random_program_matches_autograd(program):
    make, xs = program.make, program.xs
    got, _ = gradients(make, xs, "jacobi")
    assert_close(got, reference(make, xs), rtol=1e-8)


@PROPERTY
@given(programs())
def test_jacobi_iterations_of_random_program_never_exceed_its_depth(program):
    make, xs = program.make, program.xs
    _, info = gradients(make, xs, "jacobi")
    assert info.converged
    assert info.iterations <= info.depth


@PROPERTY
@given(programs())
def test_jacobi_iterations_of_random_program_equal_its_depth(program):
    # An exact zero (x - x, or a factor 0) stops errors on a path, and the
    # relaxation rightly finishes early: the equality holds for generic values.
    assume(not program.expr.exact_zeros(program.xs))
    make, xs = program.make, program.xs
    _, info = gradients(make, xs, "jacobi")
    assert info.iterations == info.depth


@PROPERTY
@given(programs())
def test_depth_of_random_program_is_its_longest_input_to_output_path(program):
    # the oracle: networkx on the whole recording (every primitive here has a
    # derivative), not on pcgrad's pruned graph
    make, xs = program.make, program.xs
    graph = pcgrad.trace(make(pnp), *xs)
    recording = graph.trace.nx
    on_paths = set(graph.inputs).union(*(nx.descendants(recording, i) for i in graph.inputs)) \
        & (nx.ancestors(recording, graph.output) | {graph.output})
    _, info = gradients(make, xs, "jacobi")
    assert info.depth == graph.depth == nx.dag_longest_path_length(recording.subgraph(on_paths))


@settings(PROPERTY, max_examples=30)
@given(programs())
def test_euler_gradient_of_random_program_matches_autograd(program):
    make, xs = program.make, program.xs
    got, info = gradients(make, xs, "euler", eta=0.5, tol=1e-13)
    assert info.converged
    assert_close(got, reference(make, xs), rtol=1e-6)
