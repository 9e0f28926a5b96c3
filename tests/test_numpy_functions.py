"""The derivative of every pcgrad.numpy function, on every schedule.

Each case is one call of one function, written once against a numpy-like
module ``np`` so that the same body runs on pcgrad.numpy (traced), on
autograd.numpy (the reference) and on numpy itself (finite differences). A
vector output is reduced to a scalar by a fixed random linear functional
``sum(out * c)``, so every output element matters. Inputs are drawn with a
fixed seed per case, from domains where the function is smooth.
"""
import zlib
from dataclasses import dataclass, field
from typing import Callable

import autograd
import autograd.numpy as anp
import numpy
import pytest

import pcgrad
import pcgrad.numpy as pnp

SCHEDULES = {"sweep": {}, "jacobi": {}, "euler": {"eta": 0.5, "tol": 1e-13}}
# Agreement with autograd, relative to the gradient's largest element. The
# exact schedules differ from reverse mode only by summation order; euler
# stops once its residual is 1e-13 of the output error.
AUTOGRAD_RTOL = {"sweep": 1e-8, "jacobi": 1e-8, "euler": 1e-6}
# Finite differences: the 4-point central stencil
#   f'(0) ~ [8 (f(h) - f(-h)) - (f(2h) - f(-2h))] / 12h,   h = 1e-3,
# along a random unit direction. Its truncation error is h^4/30 |f^(5)| ~ 3e-14
# |f^(5)| and its rounding error ~ 1.5 eps max|f| / h ~ 3e-13 max|f|, so the
# tolerance is FD_RTOL times ||grad|| + max|f| (max over the stencil's points).
# The largest error over all cases is 1.8e-10 of that scale (arcsin near 0.9,
# where f^(5) is large): 1e-8 is a real check with a margin of 50.
FD_STEP = 1e-3
FD_RTOL = 1e-8


# --- random arguments ---------------------------------------------------------------------
@dataclass(frozen=True)
class Draw:
    """A random float array of ``shape`` with elements in [lo, hi], kept at least
    ``margin`` away from each point of ``avoid`` (kinks, jumps, zeros)."""
    shape: tuple
    lo: float = -2.0
    hi: float = 2.0
    avoid: tuple = ()
    margin: float = 0.05

    def sample(self, rng):
        x = rng.uniform(self.lo, self.hi, self.shape)
        for _ in range(100):
            bad = numpy.zeros(self.shape, bool)
            for point in self.avoid:
                bad |= numpy.abs(x - point) < self.margin
            if not bad.any():
                return x
            x = numpy.where(bad, rng.uniform(self.lo, self.hi, self.shape), x)
        raise ValueError(f"could not draw {self} away from {self.avoid}")

    def __str__(self):
        return "x".join(map(str, self.shape)) or "scalar"


def real(*shape):
    return Draw(shape)


def positive(*shape):
    return Draw(shape, 0.5, 2.0)


def nonzero(*shape):
    return Draw(shape, -2.0, 2.0, avoid=(0.0,), margin=0.3)


def unit(*shape):
    """Inside (-1, 1), where arcsin, arccos and arctanh are smooth."""
    return Draw(shape, -0.9, 0.9)


def above_one(*shape):
    return Draw(shape, 1.2, 3.0)


def off_integers(*shape):
    """Away from integers and half-integers, where floor, ceil and round jump."""
    return Draw(shape, -3.0, 3.0, avoid=tuple(numpy.arange(-3.0, 3.5, 0.5)), margin=0.1)


@dataclass(frozen=True)
class Distinct:
    """Values 0.2 m + 0.05 for distinct integers m: no ties, and their absolute
    values are distinct and at least 0.05 from zero (no ties in norms either)."""
    shape: tuple
    offset: float = 0.05

    def sample(self, rng):
        n = int(numpy.prod(self.shape, dtype=int))
        grid = 0.2 * (numpy.arange(n) - n // 2) + self.offset
        return rng.permutation(grid).reshape(self.shape)

    __str__ = Draw.__str__


def distinct(*shape):
    return Distinct(shape)


def interleaved(*shape):
    """Distinct values on the grid of ``distinct`` shifted by half a step: at least
    0.1 away from any value drawn by ``distinct``."""
    return Distinct(shape, offset=0.15)


@dataclass(frozen=True)
class Ties:
    """Values from {0, 1, 2}: many exact ties."""
    shape: tuple

    def sample(self, rng):
        return rng.integers(0, 3, self.shape).astype(float)

    __str__ = Draw.__str__


def ties(*shape):
    return Ties(shape)


@dataclass(frozen=True, eq=False)
class At:
    """A differentiated argument at a given point (zeros of prod, sinc at 0)."""
    value: numpy.ndarray

    def sample(self, rng):
        return numpy.array(self.value, dtype=float)

    def __str__(self):
        return "x".join(map(str, numpy.shape(self.value))) or "scalar"


# --- cases --------------------------------------------------------------------------------
@dataclass
class Case:
    """One call ``fn(np, *args)`` of the pcgrad.numpy function ``name``.

    ``specs`` holds draws (sampled into ``args`` and differentiated) and
    constants (passed as they are); ``no_autograd`` and ``no_fd`` say why a
    reference does not apply.
    """
    name: str
    fn: Callable
    specs: tuple
    label: str = ""
    no_autograd: str = ""
    no_fd: str = ""
    marks: tuple = ()
    args: tuple = field(init=False)
    diff: tuple = field(init=False)
    cotangent: list = field(init=False)

    def __post_init__(self):
        rng = numpy.random.default_rng(zlib.crc32(self.id.encode()))
        self.args = tuple(s.sample(rng) if hasattr(s, "sample") else s for s in self.specs)
        self.diff = tuple(i for i, s in enumerate(self.specs) if hasattr(s, "sample"))
        self.cotangent = [rng.standard_normal(numpy.shape(o))
                          for o in _pieces(self.fn(numpy, *self.args))]

    @property
    def id(self):
        shapes = "_".join(str(s) for s in self.specs if hasattr(s, "sample"))
        return "-".join(p for p in (self.name, shapes, self.label) if p)

    def functional(self, np, *args):
        """sum(out * c) over the output (or each output of a list)."""
        total = 0.0
        for out, c in zip(_pieces(self.fn(np, *args)), self.cotangent):
            total = total + np.sum(out * c)
        return total

    def param(self):
        return pytest.param(self, id=self.id, marks=self.marks)


def _pieces(out):
    """The output arrays: one, or the items of a list (autograd boxes it)."""
    return [out] if hasattr(out, "shape") else list(out)


CASES = []


def case(name, fn, *specs, **options):
    CASES.append(Case(name, fn, specs, **options))


def unary(name, draw, shapes=((), (7,), (3, 4)), **options):
    for shape in shapes:
        case(name, lambda np, x, name=name: getattr(np, name)(x), draw(*shape), **options)


# --- elementwise functions of one argument ------------------------------------------------
ZERO_DERIVATIVE = ("sign", "floor", "ceil", "rint", "round", "around")
# Their output is a constant: pcgrad and autograd both warn that the gradient is zero.
CONSTANT_OUTPUT = (pytest.mark.filterwarnings("ignore:The output does not depend"),
                   pytest.mark.filterwarnings("ignore:Output seems independent"))

for _name, _draw in [
        ("negative", real), ("abs", nonzero), ("absolute", nonzero), ("fabs", nonzero),
        ("square", real), ("sqrt", positive), ("reciprocal", nonzero), ("exp", real),
        ("exp2", real), ("expm1", real), ("log", positive), ("log2", positive),
        ("log10", positive), ("sin", real), ("cos", real), ("arcsin", unit), ("arccos", unit),
        ("arctan", real), ("sinh", real), ("cosh", real), ("tanh", real), ("arcsinh", real),
        ("arccosh", above_one), ("arctanh", unit), ("deg2rad", real),
        ("rad2deg", real), ("radians", real), ("degrees", real), ("sinc", nonzero),
        ("sign", nonzero), ("floor", off_integers), ("ceil", off_integers),
        ("rint", off_integers), ("round", off_integers), ("around", off_integers)]:
    unary(_name, _draw, marks=CONSTANT_OUTPUT if _name in ZERO_DERIVATIVE else ())
unary("log1p", lambda *s: Draw(s, -0.5, 2.0))
unary("tan", lambda *s: Draw(s, -1.2, 1.2))
unary("positive", real, no_autograd="autograd has no VJP for positive")
unary("cbrt", nonzero, no_autograd="autograd has no VJP for cbrt")
case("round", lambda np, x: np.round(x, decimals=1), Draw((3, 4), -3.0, 3.0, margin=0.01,
     avoid=tuple(numpy.arange(-3.0, 3.05, 0.05))), label="decimals1", marks=CONSTANT_OUTPUT)
case("sinc", lambda np, x: np.sinc(x), At(numpy.array([0.0, 0.5, -1.5])), label="at-zero",
     no_autograd="autograd's sinc VJP divides by x: nan at x == 0")

# --- elementwise functions of two arguments, with broadcasting ----------------------------
BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (5,)),
                    ((5,), ()), ((2, 1, 4), (1, 3, 1)), ((3, 1, 1), (3, 2, 4))]


def binary(name, draw1, draw2, shapes=BROADCAST_SHAPES, **options):
    for s1, s2 in shapes:
        case(name, lambda np, a, b, name=name: getattr(np, name)(a, b), draw1(*s1), draw2(*s2),
             **options)


for _name in ("add", "subtract", "multiply"):
    binary(_name, real, real)
binary("divide", real, nonzero)
binary("true_divide", real, nonzero)
binary("power", positive, real)
binary("arctan2", real, nonzero)
binary("hypot", nonzero, nonzero)
binary("logaddexp", real, real)
binary("logaddexp2", real, real)
binary("maximum", distinct, interleaved, shapes=BROADCAST_SHAPES[:3])
binary("minimum", distinct, interleaved, shapes=BROADCAST_SHAPES[:3])
_TIES = "not differentiable at ties; tied elements share the derivative equally, as in autograd"
binary("maximum", ties, ties, shapes=[((4, 5), (4, 5)), ((4, 5), (5,))], label="ties",
       no_fd=_TIES)
binary("minimum", ties, ties, shapes=[((4, 5), (4, 5)), ((4, 5), (5,))], label="ties",
       no_fd=_TIES)
case("power", lambda np, x: np.power(x, 2), real(3, 4), label="int2-negative-base")
case("power", lambda np, x: np.power(x, 3), real(3, 4), label="int3-negative-base")
case("power", lambda np, x: np.power(x, 2.5), positive(3, 4), label="scalar-exponent")
case("power", lambda np, x: np.power(2.0, x), real(3, 4), label="scalar-base")
case("power", lambda np, x: np.power(x, -1), nonzero(5), label="int-1")
case("power", lambda np, x, y: np.power(x, y), positive(3, 4), Draw((3, 4), -2, 2,
     avoid=(0.0,)), label="both")

# Rows longer than the broadcasting kernels' chunk (256 elements) along which
# an operand is constant (a column, a scalar): spread over several chunks
LONG_ROWS = [((3, 600), (3, 1)), ((), (600,)), ((2, 1, 300), (3, 1))]
binary("multiply", real, real, shapes=LONG_ROWS)
binary("divide", real, nonzero, shapes=LONG_ROWS)
binary("power", positive, real, shapes=LONG_ROWS)
binary("hypot", nonzero, nonzero, shapes=LONG_ROWS)

# where: the condition is a constant (or computed from x, without derivative)
_MASK = numpy.array([[True, False, True, True], [False, False, True, False],
                     [True, True, False, True]])
case("where", lambda np, c, x, y: np.where(c, x, y), _MASK, real(3, 4), real(3, 4))
case("where", lambda np, c, x, y: np.where(c, x, y), _MASK, real(3, 4), real(4),
     no_autograd="autograd's where VJP does not sum over broadcast axes")
case("where", lambda np, c, x: np.where(c, x, 0.5), _MASK, real(3, 4), label="scalar-y")
case("where", lambda np, c, x, y: np.where(c, x, y), _MASK, real(3, 1), real(4),
     label="both-broadcast", no_autograd="autograd's where VJP does not sum over broadcast axes")
case("where", lambda np, x: np.where(x > 0, x, np.sin(x)), nonzero(3, 4),
     label="traced-condition")
case("where", lambda np, c, x, y: np.where(c, x, y), numpy.arange(600) % 3 == 0, real(2, 1),
     real(2, 600), label="long-rows", no_autograd="autograd's where VJP does not sum over "
     "broadcast axes")
case("clip", lambda np, x: np.clip(x, -0.5, 0.5), Draw((3, 4), avoid=(-0.5, 0.5)))
case("clip", lambda np, x: np.clip(x, None, 0.5), Draw((7,), avoid=(0.5,)), label="max-only")
case("clip", lambda np, x: np.clip(x, -0.5, None), Draw((7,), avoid=(-0.5,)), label="min-only")
case("clip", lambda np, x, lo, hi: np.clip(x, lo, hi), Draw((3, 4), -2.0, 2.0),
     Draw((4,), -1.5, -0.5), Draw((3, 1), 0.5, 1.5), label="traced-bounds",
     no_autograd="autograd's clip has no VJP for its bounds")

# --- reductions ---------------------------------------------------------------------------
AXES = [(None, False), (0, False), (1, True), (-1, False), ((0, 2), False), ((0, 2), True)]


def reduction(name, draw, axes=AXES, shape=(2, 3, 4), **options):
    for axis, keepdims in axes:
        label = f"axis{axis}".replace(" ", "") + ("-keepdims" if keepdims else "")
        case(name, lambda np, x, name=name, axis=axis, keepdims=keepdims:
             getattr(np, name)(x, axis=axis, keepdims=keepdims), draw(*shape), label=label,
             **options)


reduction("sum", real)
reduction("mean", real)
# 4096 elements or more with the last axis reduced: the forward takes the einsum path
reduction("sum", real, axes=[((1, 3), False), ((1, 3), True), (-1, False)], shape=(8, 4, 16, 8))
reduction("mean", real, axes=[((3, 5), False)], shape=(2, 4, 8, 2, 8, 2))
reduction("prod", nonzero)
reduction("max", distinct)
reduction("min", distinct)
reduction("amax", distinct, axes=AXES[:2])
reduction("amin", distinct, axes=AXES[:2])
reduction("var", real)
reduction("std", real)
for _name in ("sum", "mean", "prod", "max", "min"):
    case(_name, lambda np, x, name=_name: getattr(np, name)(x), real(), label="0d")
for _name in ("var", "std"):
    for _ddof in (1, 2):
        case(_name, lambda np, x, name=_name, ddof=_ddof: getattr(np, name)(x, ddof=ddof),
             real(3, 4), label=f"ddof{_ddof}")
        case(_name, lambda np, x, name=_name, ddof=_ddof:
             getattr(np, name)(x, axis=0, ddof=ddof, keepdims=True), real(3, 4),
             label=f"axis0-ddof{_ddof}-keepdims")
case("max", lambda np, x: np.max(x), ties(4, 5), label="ties", no_fd=_TIES)
case("max", lambda np, x: np.max(x, axis=1), ties(4, 5), label="ties-axis1", no_fd=_TIES)
case("min", lambda np, x: np.min(x, axis=0), ties(4, 5), label="ties-axis0", no_fd=_TIES)
# Along any line these products are polynomials of degree <= 4, on which the
# stencil is exact (up to rounding) even though the derivative vanishes.
_AUTOGRAD_PROD = "autograd's prod VJP divides by x: nan where x == 0"
PROD_AT_ZEROS = [
    ("one-zero", None, numpy.array([[1.5, 0.0], [0.8, -1.1]])),
    ("two-zeros", None, numpy.array([[1.5, 0.0], [0.0, -1.1]])),
    ("one-zero-axis1", 1, numpy.array([[1.5, 0.0, -0.7], [0.8, 1.2, -1.1]])),
    ("two-zeros-axis1", 1, numpy.array([[1.5, 0.0, 0.0], [0.0, 1.2, -1.1]]))]
for _label, _axis, _x in PROD_AT_ZEROS:
    case("prod", lambda np, x, axis=_axis: np.prod(x, axis=axis), At(_x), label=_label,
         no_autograd=_AUTOGRAD_PROD)
for _axis in (None, 0, 1, -1):
    case("cumsum", lambda np, x, axis=_axis: np.cumsum(x, axis=axis), real(2, 3, 4),
         label=f"axis{_axis}")
case("cumsum", lambda np, x: np.cumsum(x), real(6), label="1d")
_AVERAGE = "autograd has no VJP for average"
case("average", lambda np, x: np.average(x), real(3, 4), no_autograd=_AVERAGE)
case("average", lambda np, x: np.average(x, axis=1), real(3, 4), label="axis1",
     no_autograd=_AVERAGE)
case("average", lambda np, x, w: np.average(x, weights=w), real(3, 4), positive(3, 4),
     label="weights", no_autograd=_AVERAGE)
case("average", lambda np, x, w: np.average(x, axis=0, weights=w), real(3, 4), positive(3),
     label="weights-1d-axis0", no_autograd=_AVERAGE)
case("average", lambda np, x, w: np.average(x, axis=0, weights=w), real(3, 4), positive(3, 4),
     label="weights-axis0", no_autograd=_AVERAGE)

# --- products -----------------------------------------------------------------------------
for _s1, _s2 in [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 2)), ((3, 4), (4, 2)),
                 ((2, 3, 4), (4, 5)), ((2, 3, 4), (5, 4, 3)), ((), (3, 4)), ((3, 4), ())]:
    case("dot", lambda np, a, b: np.dot(a, b), real(*_s1), real(*_s2))
for _s1, _s2 in [((4,), (4,)), ((4,), (4, 2)), ((3, 4), (4,)), ((3, 4), (4, 2)),
                 ((3, 2, 4), (3, 4, 5)), ((3, 2, 4), (4, 5)), ((2, 4), (3, 4, 5)),
                 ((2, 1, 3, 4), (5, 4, 2)), ((4,), (3, 4, 2)), ((3, 2, 4), (4,))]:
    case("matmul", lambda np, a, b: np.matmul(a, b), real(*_s1), real(*_s2))
case("vdot", lambda np, a, b: np.vdot(a, b), real(5), real(5), no_autograd="autograd has "
     "no VJP for vdot")
case("vdot", lambda np, a, b: np.vdot(a, b), real(3, 4), real(3, 4), no_autograd="autograd "
     "has no VJP for vdot")
for _s1, _s2 in [((4,), (4,)), ((3, 4), (2, 4)), ((2, 3, 4), (4,)), ((), (3,))]:
    case("inner", lambda np, a, b: np.inner(a, b), real(*_s1), real(*_s2))
case("outer", lambda np, a, b: np.outer(a, b), real(3), real(4))
case("outer", lambda np, a, b: np.outer(a, b), real(2, 2), real(3),
     no_autograd="autograd's outer VJP does not restore an N-d input's shape")
for _axes, _s1, _s2 in [(0, (2, 3), (4,)), (1, (2, 3), (3, 4)), (2, (2, 3, 4), (3, 4, 2)),
                        (([1], [0]), (2, 3), (3, 4)), (([0, 2], [2, 1]), (4, 3, 2), (5, 2, 4)),
                        ((2, 0), (3, 4, 2), (2, 5))]:
    case("tensordot", lambda np, a, b, axes=_axes: np.tensordot(a, b, axes=axes), real(*_s1),
         real(*_s2), label=f"axes{_axes}".replace(" ", ""))
_AUTOGRAD_DIAG = "autograd's einsum VJP rejects repeated subscripts"
_AUTOGRAD_BROADCAST = "autograd's einsum VJP does not sum over size-1 broadcasting"
for _subscripts, _shapes, _reason in [
        ("ij->ji", [(3, 4)], ""), ("ij", [(3, 4)], ""), ("ji", [(3, 4)], ""),
        ("ij->", [(3, 4)], ""), ("ij->j", [(3, 4)], ""), ("ii", [(3, 3)], _AUTOGRAD_DIAG),
        ("ii->i", [(3, 3)], _AUTOGRAD_DIAG), ("iij->j", [(3, 3, 4)], _AUTOGRAD_DIAG),
        ("iji->ij", [(3, 4, 3)], _AUTOGRAD_DIAG),
        ("ij,jk->ik", [(2, 3), (3, 4)], ""), ("ij,jk", [(2, 3), (3, 4)], ""),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], ""), ("i,i->", [(4,), (4,)], ""),
        ("i,i", [(4,), (4,)], ""), ("i,j->ij", [(3,), (4,)], ""), ("i,j", [(3,), (4,)], ""),
        ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)], ""),
        ("...ij,jk->...ik", [(2, 2, 3, 4), (4, 5)], ""), ("...i,...i->...", [(2, 3), (3,)], ""),
        ("bij,bkj->bik", [(2, 3, 4), (2, 5, 4)], ""), ("bij,jk->bk", [(2, 3, 4), (4, 5)], ""),
        ("abc,cbd->dab", [(2, 3, 4), (4, 3, 5)], ""), ("ij,ij->i", [(3, 4), (3, 4)], ""),
        ("ij,kj->", [(3, 4), (2, 4)], ""), ("ii,ij->j", [(3, 3), (3, 4)], _AUTOGRAD_DIAG),
        ("...ij,...jk->...ik", [(2, 3, 4), (1, 4, 5)], ""),
        ("ij,jk->ik", [(3, 1), (2, 4)], _AUTOGRAD_BROADCAST),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)], ""), ("i,ij,j", [(3,), (3, 4), (4,)], ""),
        ("ab,bc,cd,da->", [(2, 3), (3, 4), (4, 2), (2, 2)], ""),
        ("bchw,oc->bohw", [(2, 1, 3, 4), (5, 1)], ""), ("ia,ja->ji", [(3, 1), (4, 1)], ""),
        ("i,j->ji", [(3,), (4,)], ""), ("ij,k->kji", [(2, 3), (4,)], "")]:
    case("einsum", lambda np, *xs, s=_subscripts: np.einsum(s, *xs),
         *[real(*shape) for shape in _shapes], label=_subscripts, no_autograd=_reason)
case("trace", lambda np, x: np.trace(x), real(3, 3))
case("trace", lambda np, x: np.trace(x, offset=1), real(3, 4), label="offset1")
case("trace", lambda np, x: np.trace(x, -1, 1, 2), real(2, 3, 4),
     label="offset-1-axes12", no_autograd="autograd's trace VJP takes no axes")

# linalg.norm: vector norms along axes and the Frobenius norm
_NORM_AUTOGRAD = "autograd's norm VJP is missing (ord 1, -inf) or nan (ord inf)"
_NORM_KEEPDIMS = "autograd's norm VJP gives the wrong shape with keepdims"
for _ord, _axis, _keepdims, _reason in [
        (None, None, False, ""), (2, None, False, ""), (None, 0, False, ""),
        (2, 1, True, _NORM_KEEPDIMS),
        (3, None, False, ""), (3, 1, False, ""), (1.5, -1, False, ""),
        (1, None, False, _NORM_AUTOGRAD), (1, 0, True, _NORM_AUTOGRAD),
        (numpy.inf, None, False, _NORM_AUTOGRAD), (numpy.inf, 1, False, _NORM_AUTOGRAD),
        (-numpy.inf, None, False, _NORM_AUTOGRAD), (-numpy.inf, 0, True, _NORM_AUTOGRAD)]:
    _shape = (5,) if _axis is None else (3, 4)
    case("linalg.norm", lambda np, x, o=_ord, a=_axis, k=_keepdims:
         np.linalg.norm(x, o, axis=a, keepdims=k), distinct(*_shape),
         label=f"ord{_ord}-axis{_axis}" + ("-keepdims" if _keepdims else ""), no_autograd=_reason)
case("linalg.norm", lambda np, x: np.linalg.norm(x), real(3, 4), label="frobenius")
case("linalg.norm", lambda np, x: np.linalg.norm(x, "fro"), real(3, 4), label="fro")
case("linalg.norm", lambda np, x: np.linalg.norm(x, axis=(0, 2), keepdims=True), real(2, 3, 4),
     label="frobenius-axes02-keepdims", no_autograd=_NORM_KEEPDIMS)
case("linalg.norm", lambda np, x: np.linalg.norm(x, axis=(0, 2)), real(2, 3, 4),
     label="frobenius-axes02")

# --- rearranging --------------------------------------------------------------------------
case("transpose", lambda np, x: np.transpose(x), real(3, 4))
case("transpose", lambda np, x: np.transpose(x), real(2, 3, 4), label="reversed")
case("transpose", lambda np, x: np.transpose(x, (1, 2, 0)), real(2, 3, 4), label="axes120")
case("transpose", lambda np, x: np.transpose(x, (0, -1, 1)), real(2, 3, 4), label="axes0-11",
     no_autograd="autograd's transpose VJP mishandles negative axes")
case("swapaxes", lambda np, x: np.swapaxes(x, 0, 2), real(2, 3, 4))
case("swapaxes", lambda np, x: np.swapaxes(x, -1, 1), real(2, 3, 4), label="negative")
case("moveaxis", lambda np, x: np.moveaxis(x, 0, -1), real(2, 3, 4))
case("moveaxis", lambda np, x: np.moveaxis(x, [0, 1], [2, 0]), real(2, 3, 4), label="lists")
case("reshape", lambda np, x: np.reshape(x, (4, 3)), real(3, 4))
case("reshape", lambda np, x: np.reshape(x, (2, -1, 2)), real(3, 4), label="minus1")
case("reshape", lambda np, x: np.reshape(x, (1, 1)), real(), label="from-0d")
case("ravel", lambda np, x: np.ravel(x), real(2, 3, 4))
case("squeeze", lambda np, x: np.squeeze(x), real(3, 1, 4, 1))
case("squeeze", lambda np, x: np.squeeze(x, axis=1), real(3, 1, 4, 1), label="axis1")
case("expand_dims", lambda np, x: np.expand_dims(x, 1), real(3, 4))
case("expand_dims", lambda np, x: np.expand_dims(x, -1), real(3, 4), label="axis-1")
case("atleast_1d", lambda np, x: np.atleast_1d(x), real())
case("atleast_2d", lambda np, x: np.atleast_2d(x), real(4))
case("broadcast_to", lambda np, x: np.broadcast_to(x, (3, 4)), real(4),
     no_autograd="autograd's broadcast_to cannot add leading dimensions")
case("broadcast_to", lambda np, x: np.broadcast_to(x, (2, 3, 4)), real(3, 1),
     no_autograd="autograd's broadcast_to cannot add leading dimensions")
case("broadcast_to", lambda np, x: np.broadcast_to(x, (3, 4)), real(3, 1), label="same-ndim")
case("broadcast_arrays", lambda np, x, y: np.broadcast_arrays(x, y), real(3, 1), real(4),
     no_autograd="autograd has no VJP for broadcast_arrays")
_CONST = numpy.arange(8.0).reshape(2, 4)
case("concatenate", lambda np, x, y: np.concatenate([x, y]), real(2, 4), real(3, 4))
case("concatenate", lambda np, x, y: np.concatenate([x, _CONST, y, x], axis=0), real(2, 4),
     real(3, 4), label="constant-repeated")
case("concatenate", lambda np, x, y: np.concatenate((x, y), axis=-1), real(2, 3), real(2, 4),
     label="axis-1")
case("concatenate", lambda np, x, y: np.concatenate([x, y], axis=None), real(2, 3), real(4),
     label="axisNone", no_autograd="autograd's concatenate VJP rejects axis=None")
case("concatenate", lambda np, x: np.concatenate([x]), real(3), label="one")
case("stack", lambda np, x, y: np.stack([x, y]), real(3, 4), real(3, 4))
case("stack", lambda np, x, y: np.stack([x, _CONST[0, :3], y], axis=1), real(3), real(3),
     label="axis1-constant")
case("stack", lambda np, x, y: np.stack([x, y], axis=-1), real(3, 4), real(3, 4),
     label="axis-1")
case("hstack", lambda np, x, y: np.hstack([x, y]), real(3), real(4))
case("hstack", lambda np, x, y: np.hstack([x, y]), real(2, 3), real(2, 4))
case("vstack", lambda np, x, y: np.vstack([x, y]), real(4), real(4))
case("vstack", lambda np, x, y: np.vstack([x, y]), real(2, 4), real(3, 4))
# numpy deprecates row_stack: the references call vstack
case("row_stack", lambda np, x, y: (np.row_stack if np is pnp else np.vstack)([x, y]), real(4),
     real(2, 4))
case("column_stack", lambda np, x, y: np.column_stack([x, y]), real(3), real(3, 2))
case("split", lambda np, x: np.split(x, 3), real(6, 2), label="sections")
case("split", lambda np, x: np.split(x, [1, 3], axis=1), real(2, 5), label="indices-axis1")
case("split", lambda np, x: np.split(x, [2, 2, 4], axis=-1), real(2, 5), label="empty-piece")
case("split", lambda np, x: np.split(x, numpy.int64(2), axis=1), real(3, 4), label="int64")
case("array_split", lambda np, x: np.array_split(x, 3), real(7))
case("hsplit", lambda np, x: np.hsplit(x, 2), real(3, 4))
case("vsplit", lambda np, x: np.vsplit(x, [1]), real(3, 4))
case("flip", lambda np, x: np.flip(x), real(2, 3, 4), no_autograd="autograd has no VJP "
     "for flip")
case("flip", lambda np, x: np.flip(x, 1), real(2, 3, 4), label="axis1",
     no_autograd="autograd has no VJP for flip")
case("flip", lambda np, x: np.flip(x, (0, 2)), real(2, 3, 4), label="axes02",
     no_autograd="autograd has no VJP for flip")
case("fliplr", lambda np, x: np.fliplr(x), real(3, 4))
case("flipud", lambda np, x: np.flipud(x), real(3, 4))
case("roll", lambda np, x: np.roll(x, 2, axis=1), real(3, 4))
case("roll", lambda np, x: np.roll(x, -5, axis=0), real(3, 4), label="negative-axis0")
case("roll", lambda np, x: np.roll(x, 5), real(3, 4), label="axisNone")
case("tile", lambda np, x: np.tile(x, 3), real(4))
case("tile", lambda np, x: np.tile(x, (2, 1, 3)), real(3, 4), label="reps213")
case("repeat", lambda np, x: np.repeat(x, 2), real(3, 4), label="axisNone")
case("repeat", lambda np, x: np.repeat(x, 3, axis=1), real(3, 4), label="axis1")
case("repeat", lambda np, x: np.repeat(x, [2, 0, 1], axis=0), real(3, 4), label="per-element",
     no_autograd="autograd's repeat takes an int only")
case("pad", lambda np, x: np.pad(x, 1), real(3, 4), label="default-mode",
     no_autograd="autograd's pad VJP needs mode passed positionally")
case("pad", lambda np, x: np.pad(x, ((1, 0), (2, 3)), "constant"), real(3, 4), label="widths")
case("pad", lambda np, x: np.pad(x, (2, 1), "constant", constant_values=1.5), real(4),
     label="constant-values")
case("pad", lambda np, x: np.pad(x, ((0, 1), (1, 1)), "constant", constant_values=-2.0),
     real(3, 4), label="constant-values-2d")
case("pad", lambda np, x: np.pad(x, 1, "constant", constant_values=((1.0, 2.0), (3.0, 4.0))),
     real(3, 4), label="constant-values-per-axis")
_TAKE = "autograd has no VJP for take"
case("take", lambda np, x: np.take(x, [0, -1, 2, 2]), real(3, 4), label="axisNone",
     no_autograd=_TAKE)
case("take", lambda np, x: np.take(x, [[1, -3], [0, 1]], axis=1), real(3, 4), label="axis1",
     no_autograd=_TAKE)
case("take", lambda np, x: np.take(x, numpy.array([2, 0, 2]), axis=0), real(3, 4),
     label="axis0-repeated", no_autograd=_TAKE)
case("take_along_axis", lambda np, x: np.take_along_axis(x, numpy.array([[0, 2], [1, 1],
     [3, 0]]), axis=1), real(3, 4), no_autograd="autograd has no VJP for take_along_axis")
_AUTOGRAD_DIAG_VJP = "autograd's diag VJP assumes a square matrix"
case("diag", lambda np, x: np.diag(x), real(3, 3), label="extract")
case("diag", lambda np, x: np.diag(x), real(3, 4), label="extract-wide",
     no_autograd=_AUTOGRAD_DIAG_VJP)
case("diag", lambda np, x: np.diag(x, 1), real(3, 4), label="extract-k1",
     no_autograd=_AUTOGRAD_DIAG_VJP)
case("diag", lambda np, x: np.diag(x, -2), real(4, 3), label="extract-k-2",
     no_autograd=_AUTOGRAD_DIAG_VJP)
case("diag", lambda np, x: np.diag(x), real(3), label="build")
case("diag", lambda np, x: np.diag(x, 2), real(3), label="build-k2")
case("diag", lambda np, x: np.diag(x, -1), real(3), label="build-k-1")
_AUTOGRAD_DIAGONAL = "autograd's diagonal VJP supports offset=0 on the last two axes only"
case("diagonal", lambda np, x: np.diagonal(x, 0, -1, -2), real(2, 3, 3), label="last-axes")
case("diagonal", lambda np, x: np.diagonal(x), real(3, 4), no_autograd=_AUTOGRAD_DIAGONAL)
case("diagonal", lambda np, x: np.diagonal(x, 1, 0, 2), real(3, 2, 4), label="offset1-axes02",
     no_autograd=_AUTOGRAD_DIAGONAL)
for _name in ("triu", "tril"):
    for _k in (0, 1, -1):
        case(_name, lambda np, x, name=_name, k=_k: getattr(np, name)(x, k), real(4, 3),
             label=f"k{_k}")

# --- indexing -----------------------------------------------------------------------------
for _label, _index in [
        ("int", 1), ("negative-int", -1), ("slice", slice(1, 3)),
        ("negative-step", slice(None, None, -1)), ("step-2", (slice(None), slice(3, 0, -2))),
        ("none", (None, slice(None), 0)), ("ellipsis", (Ellipsis, 1)),
        ("int-array-repeated", numpy.array([0, 2, 0, 0])),
        ("int-list", [2, 1]), ("int-arrays", (numpy.array([0, 2, 2]), numpy.array([3, 1, 3]))),
        ("bool-mask", numpy.arange(12).reshape(3, 4) % 3 == 0),
        ("bool-rows", numpy.array([True, False, True])),
        ("mixed", (numpy.array([1, 1, 0]), slice(1, None))),
        ("mixed-int-array", (slice(None, None, -1), numpy.array([[3, 3], [0, 1]]))),
        ("mixed-none-ellipsis", (None, Ellipsis, numpy.array([True, False, True, True])))]:
    case("getitem", lambda np, x, i=_index: x[i], real(3, 4), label=_label)
case("getitem", lambda np, x: x[1, ..., ::-1, None], real(2, 3, 4), label="3d-mixed")

# --- constants inside a differentiated function -------------------------------------------
case("zeros", lambda np, x: x * np.ones(4) + np.zeros((3, 4)), real(3, 4))
case("ones", lambda np, x: x * np.ones((3, 4)), real(3, 4))
case("zeros_like", lambda np, x: np.sin(x) + np.zeros_like(x), real(3, 4))
case("ones_like", lambda np, x: np.sin(x) * np.ones_like(x), real(3, 4))
case("full", lambda np, x: x * np.full((3, 4), 2.5), real(3, 4))
case("full_like", lambda np, x: x * np.full_like(x, 2.5), real(3, 4))
case("eye", lambda np, x: np.eye(3, 4, 1) * x, real(3, 4))
case("identity", lambda np, x: np.identity(3) @ x, real(3, 4))
case("arange", lambda np, x: x * np.arange(4.0), real(3, 4))
case("linspace", lambda np, x: x * np.linspace(-1.0, 1.0, 4), real(3, 4))
case("logspace", lambda np, x: x * np.logspace(0.0, 1.0, 4), real(3, 4))
case("array", lambda np, x: x * np.array([1.0, 2.0, 3.0, 4.0]), real(3, 4), label="constant")
case("array", lambda np, x0, x1: np.array([x0, x1]), real(), real(), label="traced-scalars")
case("array", lambda np, x0, x1: np.array([[x0, 1.0], [x1, x0]]), real(), real(),
     label="traced-nested")
case("array", lambda np, x, y: np.array([x, y]), real(3), real(3), label="traced-vectors")
case("asarray", lambda np, x: np.asarray(x) * np.asarray([1.0, 2.0, 3.0]), real(3),
     no_autograd="autograd has no VJP for asarray")
case("empty", lambda np, x: np.concatenate([x, np.empty(0)]), real(3))
case("shape", lambda np, x: np.reshape(x, np.shape(x)[::-1]), real(3, 4))
case("ndim", lambda np, x: x * np.ndim(x), real(3, 4))
case("size", lambda np, x: x / np.size(x), real(3, 4))

# --- Tracer methods and operators ---------------------------------------------------------
_C = numpy.random.default_rng(7).standard_normal((3, 4))
for _label, _fn, _specs in [
        ("T", lambda np, x: x.T, [real(3, 4)]),
        ("sum-axis", lambda np, x: x.sum(axis=1), [real(3, 4)]),
        ("mean", lambda np, x: x.mean(), [real(3, 4)]),
        ("max", lambda np, x: x.max(), [distinct(3, 4)]),
        ("min-axis", lambda np, x: x.min(axis=0), [distinct(3, 4)]),
        ("prod", lambda np, x: x.prod(axis=1), [nonzero(3, 4)]),
        ("var-std", lambda np, x: x.var(axis=0) + x.std(), [real(3, 4)]),
        ("cumsum", lambda np, x: x.cumsum(axis=1), [real(3, 4)]),
        ("reshape-ints", lambda np, x: x.reshape(2, 6), [real(3, 4)]),
        ("reshape-tuple", lambda np, x: x.reshape((4, -1)), [real(3, 4)]),
        ("transpose", lambda np, x: x.transpose((1, 0)), [real(3, 4)]),
        ("transpose-ints", lambda np, x: x.transpose(1, 0), [real(3, 4)]),
        ("ravel-flatten", lambda np, x: x.ravel() * x.flatten(), [real(3, 4)]),
        ("squeeze", lambda np, x: x.squeeze(), [real(3, 1)]),
        ("swapaxes", lambda np, x: x.swapaxes(0, 1), [real(3, 4)]),
        ("clip", lambda np, x: x.clip(-0.5, 0.5), [Draw((3, 4), avoid=(-0.5, 0.5))]),
        ("diagonal-trace", lambda np, x: x.diagonal() * x.trace(), [real(3, 4)]),
        ("repeat", lambda np, x: x.repeat(2, axis=0), [real(3, 4)]),
        ("take", lambda np, x: x.take([2, 0]), [real(3, 4)]),
        ("add", lambda np, x, y: x + y, [real(3, 4), real(4)]),
        ("sub", lambda np, x, y: x - y, [real(3, 4), real(3, 1)]),
        ("mul", lambda np, x, y: x * y, [real(3, 4), real(4)]),
        ("div", lambda np, x, y: x / y, [real(3, 4), nonzero(4)]),
        ("pow", lambda np, x, y: x ** y, [positive(3, 4), real(4)]),
        ("pow-int", lambda np, x: x ** 2 + x ** 3, [real(3, 4)]),
        ("matmul", lambda np, x, y: x @ y, [real(3, 4), real(4, 2)]),
        ("float-left", lambda np, x: 2.0 + x, [real(3, 4)]),
        ("rsub-float", lambda np, x: 2.0 - x, [real(3, 4)]),
        ("rmul-float", lambda np, x: 2.0 * x, [real(3, 4)]),
        ("rdiv-float", lambda np, x: 2.0 / x, [nonzero(3, 4)]),
        ("rpow-float", lambda np, x: 2.0 ** x, [real(3, 4)]),
        ("array-left", lambda np, x: _C + x, [real(3, 4)]),
        ("rsub-array", lambda np, x: _C - x, [real(3, 4)]),
        ("rmul-array", lambda np, x: _C * x, [real(3, 4)]),
        ("rdiv-array", lambda np, x: _C / x, [nonzero(3, 4)]),
        ("rpow-array", lambda np, x: numpy.abs(_C) ** x, [real(3, 4)]),
        ("rmatmul-array", lambda np, x: _C.T @ x, [real(3, 2)]),
        ("neg", lambda np, x: -x, [real(3, 4)]),
        ("pos", lambda np, x: +x, [real(3, 4)]),
        ("abs", lambda np, x: abs(x), [nonzero(3, 4)]),
        ("iter", lambda np, x: [row * k for k, row in enumerate(x, 1)], [real(3, 4)]),
        ("len", lambda np, x: x * len(x), [real(3, 4)])]:
    case("Tracer", _fn, *_specs, label=_label, no_autograd={
        "transpose-ints": "autograd's transpose method takes a tuple only",
        "pos": "autograd's boxes have no unary +",
        "diagonal-trace": _AUTOGRAD_DIAGONAL, "take": _TAKE}.get(_label, ""))


# --- the tests ----------------------------------------------------------------------------
def _grad(case, schedule, dtype=numpy.float64):
    args = [a.astype(dtype) if i in case.diff else a for i, a in enumerate(case.args)]
    return pcgrad.grad(lambda *a: case.functional(pnp, *a), argnums=case.diff,
                       schedule=schedule, **SCHEDULES[schedule])(*args)


def _assert_close(got, want, rtol):
    """Elementwise, relative to the largest element of ``want``."""
    scale = numpy.max(numpy.abs(want), initial=0.0)
    numpy.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def _finite_difference(case, direction, h=FD_STEP):
    """The 4-point central difference of the functional along ``direction``, and
    the largest |value| it used (its rounding error is eps times that over h)."""
    def at(t):
        args = list(case.args)
        for i, v in zip(case.diff, direction):
            args[i] = args[i] + t * v
        return case.functional(numpy, *args)
    f = {t: at(t * h) for t in (-2, -1, 1, 2)}
    return (8.0 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12.0 * h), max(map(abs, f.values()))


def _directions(case, count=2):
    rng = numpy.random.default_rng(zlib.crc32(case.id.encode()) + 1)
    for _ in range(count):
        v = [rng.standard_normal(numpy.shape(case.args[i])) for i in case.diff]
        norm = numpy.sqrt(sum(numpy.sum(x * x) for x in v))
        yield [x / norm for x in v]


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []


AUTOGRAD_CASES = [c.param() for c in CASES if not c.no_autograd]
FD_CASES = [c.param() for c in CASES if not c.no_fd]
TESTED_NAMES = sorted({c.name for c in CASES})  # read by docs/generate_numpy_table.py


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("case", AUTOGRAD_CASES)
def test_gradient_matches_autograd(case, schedule):
    assert_matches_autograd(case, schedule)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("case", FD_CASES)
def test_gradient_matches_finite_differences(case, schedule):
    assert_matches_finite_differences(case, schedule)


def assert_matches_autograd(case, schedule):
    """pcgrad's gradient of ``case`` against autograd's, argument by argument
    (shared with the scipy, numpy-tail and linalg tables)."""
    got = _grad(case, schedule)
    for i, g in zip(case.diff, got):
        want = autograd.grad(lambda *a: case.functional(anp, *a), i)(*case.args)
        _assert_close(g, want, AUTOGRAD_RTOL[schedule])


def assert_matches_finite_differences(case, schedule):
    """pcgrad's directional derivatives of ``case`` along random directions
    against central differences (shared with the scipy and numpy-tail tables)."""
    g = _grad(case, schedule)
    norm = numpy.sqrt(sum(numpy.sum(x * x) for x in g))
    for v in _directions(case):
        analytic = sum(numpy.sum(gi * vi) for gi, vi in zip(g, v))
        numeric, values = _finite_difference(case, v)
        assert abs(analytic - numeric) <= FD_RTOL * (norm + values)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_traced_value_matches_numpy(case):
    value, _ = pcgrad.value_and_grad(lambda *a: case.functional(pnp, *a),
                                     argnums=case.diff)(*case.args)
    numpy.testing.assert_allclose(value, case.functional(numpy, *case.args), rtol=1e-12)


# --- behaviours at special points ---------------------------------------------------------
def _schedule_options(schedule):
    return dict(schedule=schedule, **SCHEDULES[schedule])


def _assert_exact(got, want, schedule):
    """Equal up to rounding on the exact schedules; euler stops near the fixed point."""
    if schedule == "euler":
        _assert_close(got, want, AUTOGRAD_RTOL["euler"])
    else:
        numpy.testing.assert_allclose(got, want, rtol=1e-15, atol=0.0)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name", ZERO_DERIVATIVE + ("stop_gradient",))
def test_zero_derivative_function_has_exactly_zero_gradient(name, schedule):
    x = off_integers(3, 4).sample(numpy.random.default_rng(0))
    with pytest.warns(UserWarning, match="does not depend on the differentiated inputs"):
        g = pcgrad.grad(lambda x: pnp.sum(getattr(pnp, name)(x) * _C),
                        **_schedule_options(schedule))(x)
    numpy.testing.assert_array_equal(g, numpy.zeros((3, 4)))


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name", ZERO_DERIVATIVE + ("stop_gradient",))
def test_zero_derivative_function_adds_exactly_nothing_to_a_sum(name, schedule):
    x = off_integers(3, 4).sample(numpy.random.default_rng(0))
    g = pcgrad.grad(lambda x: pnp.sum(_C * (x + getattr(pnp, name)(x))),
                    **_schedule_options(schedule))(x)
    _assert_exact(g, _C, schedule)


PREDICATES = {
    "less": lambda np, x: np.less(x, 0.5), "less_equal": lambda np, x: np.less_equal(x, 0.5),
    "greater": lambda np, x: np.greater(x, 0.5),
    "greater_equal": lambda np, x: np.greater_equal(x, 0.5),
    "equal": lambda np, x: np.equal(x, np.round(x)),
    "not_equal": lambda np, x: np.not_equal(x, np.round(x)),
    "logical_and": lambda np, x: np.logical_and(x > 0, x < 1),
    "logical_or": lambda np, x: np.logical_or(x < 0, x > 1),
    "logical_xor": lambda np, x: np.logical_xor(x < 0, x < 1),
    "logical_not": lambda np, x: np.logical_not(x < 0),
    "isnan": lambda np, x: np.isnan(np.log(x)),
    "operators": lambda np, x: ((x < 0) | (x >= 1)) & ~(x == 1.5) ^ (x != x),
}


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("name", PREDICATES)
def test_predicate_is_a_constant_with_zero_derivative(name, schedule):
    x = off_integers(3, 4).sample(numpy.random.default_rng(1))
    with numpy.errstate(invalid="ignore"):
        g = pcgrad.grad(lambda x: pnp.sum(x * PREDICATES[name](pnp, x)),
                        **_schedule_options(schedule))(x)
        _assert_exact(g, PREDICATES[name](numpy, x).astype(float), schedule)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("label, axis, x", PROD_AT_ZEROS, ids=[p[0] for p in PROD_AT_ZEROS])
def test_prod_derivative_at_zeros_is_the_product_of_the_other_elements(label, axis, x, schedule):
    g = pcgrad.grad(lambda x: pnp.sum(pnp.prod(x, axis=axis)), **_schedule_options(schedule))(x)
    want = numpy.zeros_like(x)
    for i in numpy.ndindex(x.shape):  # sum(prod(x)) is linear in x[i]
        one, zero = x.copy(), x.copy()
        one[i], zero[i] = 1.0, 0.0
        want[i] = numpy.sum(numpy.prod(one, axis=axis)) - numpy.sum(numpy.prod(zero, axis=axis))
    _assert_exact(g, want, schedule)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_tied_maxima_share_the_derivative_equally(schedule):
    x = numpy.array([1.0, 3.0, -2.0, 3.0, 3.0])
    g = pcgrad.grad(lambda x: pnp.max(x), **_schedule_options(schedule))(x)
    _assert_exact(g, [0.0, 1 / 3, 0.0, 1 / 3, 1 / 3], schedule)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_tied_minima_along_an_axis_share_the_derivative_equally(schedule):
    x = numpy.array([[0.0, 2.0, 0.0], [1.0, 1.0, 1.0]])
    g = pcgrad.grad(lambda x: pnp.sum(pnp.min(x, axis=1) * numpy.array([1.0, 3.0])),
                    **_schedule_options(schedule))(x)
    _assert_exact(g, [[0.5, 0.0, 0.5], [1.0, 1.0, 1.0]], schedule)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_tied_maximum_operands_share_the_derivative_equally(schedule):
    x, y = numpy.array([1.0, 2.0, 3.0]), numpy.array([1.0, 0.0, 3.0])
    gx, gy = pcgrad.grad(lambda x, y: pnp.sum(pnp.maximum(x, y)), argnums=(0, 1),
                         **_schedule_options(schedule))(x, y)
    _assert_exact(gx, [0.5, 1.0, 0.5], schedule)
    _assert_exact(gy, [0.5, 0.0, 0.5], schedule)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_repeated_indices_accumulate_errors(schedule):
    x = numpy.arange(4.0)
    g = pcgrad.grad(lambda x: pnp.sum(x[numpy.array([0, 2, 0, 0])]) + pnp.sum(
        pnp.take(x, [1, 1, -1])), **_schedule_options(schedule))(x)
    _assert_exact(g, [3.0, 2.0, 1.0, 1.0], schedule)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_stop_gradient_holds_its_argument_constant(schedule):
    x = numpy.array([0.5, -1.5, 2.0])
    g = pcgrad.grad(lambda x: pnp.sum(x * pnp.stop_gradient(x)), **_schedule_options(schedule))(x)
    _assert_exact(g, x, schedule)


# --- float32 ------------------------------------------------------------------------------
FLOAT32_CASES = ["tanh-3x4", "matmul-3x2x4_3x4x5", "sum-2x3x4-axis(0,2)-keepdims",
                 "einsum-2x3x4_2x4x5-bij,bjk->bik", "getitem-3x4-int-array-repeated",
                 "linalg.norm-3x4-frobenius", "power-3x4_4", "prod-2x3x4-axis1-keepdims"]


@pytest.mark.parametrize("case", [c.param() for c in CASES if c.id in FLOAT32_CASES])
def test_float32_gradient_is_float32_and_matches_float64(case):
    for g32, g64 in zip(_grad(case, "sweep", numpy.float32), _grad(case, "sweep")):
        assert g32.dtype == numpy.float32
        _assert_close(g32, g64, 1e-5)


def test_float32_cases_exist():
    assert sorted(c.id for c in CASES if c.id in FLOAT32_CASES) == sorted(FLOAT32_CASES)
