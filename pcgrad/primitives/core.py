"""The primitive registry and the op table the Numba kernels read.

A primitive is registered once with everything the engine needs of it: its
numpy forward (used while tracing), its family (the opcode whose Numba
kernels compute its prediction and its error rule), how it lowers into the op
table (its sub-code and integer parameters), and which values its error rule
reads. The scheduler dispatches on opcodes and never on names.
"""
import math
from collections import namedtuple
from dataclasses import dataclass
from typing import Callable

import numpy as np
from numba import njit

from ..tracing import bind

# Opcodes: one per kernel family.
LEAF, UNARY, NARY, GATHER, SCATTER, EXTREMUM, PROD, CUMSUM, MATMUL, COPY = range(10)

# The op table: flat int64 arrays over the plan's nodes (in topological order).
#   op, code     family and sub-code of node j
#   size         number of elements of node j
#   voff, eoff   offset of node j in the value and error buffers (-1: not stored)
#   pptr, par    parents of j are par[pptr[j]:pptr[j+1]] (node indices)
#   psend        1 where the error rule must send error to that parent
#   iptr, ints   integer parameters of j are ints[iptr[j]:iptr[j+1]]
OpTable = namedtuple("OpTable", "op code size voff eoff pptr par psend iptr ints")


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

    def __call__(self, *args, **params):
        return bind(self, args, params)


PRIMITIVES = {}


def register(name, opcode, forward, lower, **flags):
    primitive = Primitive(name, opcode, forward, lower, **flags)
    PRIMITIVES[name] = primitive
    return primitive


def no_ints(code=0):
    """A lowering for primitives that need no integer parameters."""
    empty = np.zeros(0, np.int64)
    return lambda params, in_shapes, out_shape: (code, empty)


# Accessors the kernels share.
@njit(inline="always")
def parent(t, j, k):
    return t.par[t.pptr[j] + k]


@njit(inline="always")
def sends(t, j, k):
    return t.psend[t.pptr[j] + k] != 0


@njit(inline="always")
def value_of(t, value, i):
    return value[t.voff[i]:t.voff[i] + t.size[i]]


@njit(inline="always")
def error_of(t, buf, i):
    return buf[t.eoff[i]:t.eoff[i] + t.size[i]]


def broadcast_map(in_shape, out_shape):
    """Flat index into an operand of ``in_shape`` for each element of its broadcast."""
    size = math.prod(in_shape)
    return np.broadcast_to(np.arange(size, dtype=np.int64).reshape(in_shape),
                           out_shape).ravel()


@njit(inline="always")
def stored_value(t, value, i):
    """Value of node i, or an empty array when the plan did not store it."""
    if t.voff[i] < 0:
        return value[:0]
    return value[t.voff[i]:t.voff[i] + t.size[i]]
