"""The primitive registry and the op table the Numba kernels read.

A primitive is registered once with everything the engine needs of it: its
numpy forward (used while tracing), its family (the opcode whose Numba
kernels compute its prediction and its error rule), how it lowers into the op
table (its sub-code and integer parameters), and which values its error rule
reads. The scheduler dispatches on opcodes and never on names.
"""
import importlib
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..kernels import OpTable, helper, register_family  # noqa: F401  (OpTable: the families' table)
from ..tracing import bind

# Opcodes: one per kernel family.
LEAF, UNARY, NARY, GATHER, SCATTER, EXTREMUM, PROD, CUMSUM, MATMUL, COPY = range(10)
LINALG = 10  # factorizations and inverses (primitives/linalg.py)
CONV = 11  # convolutions (primitives/conv.py)
CUSTOM = 12  # custom_vjp rules (primitives/custom.py)

# The op table (OpTable, see kernels.py) has one row per node: its family,
# sub-code, sizes, buffer offsets, parents and integer parameters.


@dataclass(frozen=True, eq=False)
class Primitive:
    """One primitive: numpy forward plus its family's kernels.

    forward(*values, **params) -> ndarray is the numpy forward.
    lower(params, in_shapes, out_shape) -> (code, ints) builds the op-table row.
    reads_inputs / reads_output: whether the error rule reads parent values /
    the node's own prediction (values nobody reads are never copied into the
    plan's buffers). reads_inputs="others": an operand's value is read only
    to send error to another operand (products: d(ab)/da = b).
    differentiable=False marks primitives with zero derivative (comparisons,
    floor, ...): their outputs are constants for the relaxation.
    writes_sole_parent: the error rule honours psend 2 (it is a parent's only
    sender in the sweep) by writing the parent's error instead of adding to
    it, so the sweep need not zero that buffer first.
    keeps_value: the trace keeps the node's value even when no error rule
    reads it (pc_node: its settled value is reported in RelaxInfo.values).
    vjp(k, g, y, *xs, **params): the same error rule written with pcgrad
    primitives, so that a relaxation can itself be traced (derivatives of
    derivatives): the error sent to parent k given this node's error g, its
    output y and its parents' values xs (Tracers or arrays), in parent k's
    shape or the output's broadcast shape (the caller sums broadcast axes),
    or None where the error sent to parent k is always zero. A primitive
    without a vjp has no derivatives beyond the first.
    """
    name: str
    opcode: int
    forward: Callable
    lower: Callable
    reads_inputs: bool = False
    reads_output: bool = False
    differentiable: bool = True
    writes_sole_parent: bool = False
    keeps_value: bool = False
    vjp: Callable | None = None

    def __call__(self, *args, **params):
        return bind(self, args, params)


PRIMITIVES = {}


class _Primitives:
    """The registered primitives by attribute (``prim.digamma(x)``): the
    traced error rules call primitives registered after them."""

    def __getattr__(self, name):
        return PRIMITIVES[name]


class _Lazy:
    """A module imported on first attribute access: the traced error rules are
    written with pcgrad.numpy, which imports this package."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)


prim, tnp = _Primitives(), _Lazy("pcgrad.numpy")


def register(name, opcode, forward, lower, **flags):
    primitive = Primitive(name, opcode, forward, lower, **flags)
    PRIMITIVES[name] = primitive
    return primitive


def family(opcode, rule, forward, codes=(0,), names=None):
    """Register the kernels of family ``opcode``: ``rule(code)`` and
    ``forward(code)`` make its error-rule and forward kernels for a sub-code
    (families that read the sub-code at run time return one kernel for all);
    ``names[code]`` names them in compile notices."""
    label = (lambda code: names[code]) if names else (lambda code: FAMILY_NAMES[opcode])
    register_family("rule", opcode, rule, codes, label)
    register_family("forward", opcode, forward, codes, label)


FAMILY_NAMES = {UNARY: "unary", NARY: "n-ary", GATHER: "gather", SCATTER: "sum",
                EXTREMUM: "max/min", PROD: "prod", CUMSUM: "cumsum", MATMUL: "matmul",
                COPY: "copy"}


def no_ints(code=0):
    """A lowering for primitives that need no integer parameters."""
    empty = np.zeros(0, np.int64)
    return lambda params, in_shapes, out_shape: (code, empty)


# Accessors the kernels share.
@helper
def parent(t, j, k):
    return t.par[t.pptr[j] + k]


@helper
def sends(t, j, k):
    return t.psend[t.pptr[j] + k] != 0


@helper
def value_of(t, value, i):
    return value[t.voff[i]:t.voff[i] + t.size[i]]


@helper
def error_of(t, buf, i):
    return buf[t.eoff[i]:t.eoff[i] + t.size[i]]


# The forward kernels pass these the table's arrays they need rather than the
# table: a call copies each of its ten arrays' fields, and the kernels'
# compile time grows with their code.
@helper
def view(x, o, k):
    """x[o:o + k]."""
    return x[o:o + k]


# Loops instead of the slice assignments x[:] = v, x[:] = y and x[:] += y: the
# first of those in a process takes Numba about 2 s to compile, each later one
# a few tenths.
@helper
def fill(x, v):
    """x[:] = v."""
    for i in range(x.size):
        x[i] = v


@helper
def copy(dst, src):
    """dst[:] = src."""
    for i in range(dst.size):
        dst[i] = src[i]


@helper
def accumulate(dst, src):
    """dst[:] += src."""
    for i in range(dst.size):
        dst[i] += src[i]


def broadcast_map(in_shape, out_shape):
    """Flat index into an operand of ``in_shape`` for each element of its broadcast."""
    size = math.prod(in_shape)
    return np.broadcast_to(np.arange(size, dtype=np.int64).reshape(in_shape),
                           out_shape).ravel()
