"""The custom_vjp primitive: a node whose error rule is a user's traced bwd.

A call of a ``pcgrad.custom_vjp`` function records one node. Its value is
fwd's output (computed by plain numpy); its error rule is bwd(residuals, g)
traced with g as the only Tracer of a small trace of its own. Everything bwd
computes from the residuals alone happens once, in numpy, while tracing, and
enters that small graph as constants; what remains (the nodes depending on
g) is linear in g and is lowered to an op table of its own, packed into the
node's integer parameters together with the addresses of its forward
kernels. The node's error kernel replays that table: it copies the
constants (the node's extra parents, refreshed on every call) and the error
e into a local value buffer, runs the forward kernels, and adds the
cotangents to its primal parents' errors. So the rule runs inside the
compiled relaxation under every schedule, and a training loop re-plans
nothing while bwd's structure stays the same.

Parents of the node: the primal leaves, then the constants of the bwd
graph, then fwd's output (the node's prediction under ``strict``, which
cannot rerun fwd: its value is held at the feed-forward pass, as the fixed
prediction assumption holds every prediction; the equilibrium errors are
the same).
"""
import ctypes
import itertools
import math
import warnings
import weakref

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .. import kernels
from ..graph import structure_key
from ..kernels import OpTable, call_forward, kernel
from ..tracing import CONSTANT, INPUT
from .core import CUSTOM, LEAF, copy, error_of, family, parent, register, sends, value_of

HEADER = 7   # primal leaves, constants, rows, value size, g's row, len(par), len(ints)


class Rule:
    """The structure of a traced bwd (what the plan lowers) plus fwd and bwd.

    Equal rules have equal structures: calls whose bwd traces to the same
    graph share one plan, whatever the residuals' values. ``fwd``, ``bwd``
    and ``unflatten`` (the primal arguments from their leaves) give the rule
    as a composition of primitives (Primitive.vjp), and are not compared.
    """

    def __init__(self, sub, rows, outputs, primal_shapes, fwd, bwd, unflatten):
        self.primitives = [sub.primitives[i] for i in rows]
        self.params = [sub.params[i] for i in rows]
        position = {node: r for r, node in enumerate(rows)}
        self.parents = [tuple(position[p] for p in sub.parents[i]) for i in rows]
        self.shapes = [sub.shapes[i] for i in rows]
        self.outputs = tuple(position.get(node, -1) for node in outputs)
        self.constants = [r for r, p in enumerate(self.primitives) if p == CONSTANT]
        self.g_row = next(r for r, p in enumerate(self.primitives) if p == INPUT)
        self.nprimal = len(primal_shapes)
        self.fwd, self.bwd, self.unflatten = fwd, bwd, unflatten
        self.key = (structure_key(sub, [rows[self.g_row]], outputs), tuple(primal_shapes))
        self._hash = hash(self.key)

    def __eq__(self, other):
        return type(other) is Rule and self.key == other.key

    def __hash__(self):
        return self._hash

    def __repr__(self):
        names = [p if isinstance(p, str) else p.name for p in self.primitives]
        return f"bwd({', '.join(n for n in names if n not in (INPUT, CONSTANT))})"

    def lower(self, params, in_shapes, out_shape):
        """The node's op-table row: the bwd graph's own op table, packed."""
        m = len(self.primitives)
        op = np.full(m, LEAF, np.int64)
        code = np.zeros(m, np.int64)
        size = np.array([math.prod(s) for s in self.shapes], np.int64)
        voff = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
        pptr, iptr = np.zeros(m + 1, np.int64), np.zeros(m + 1, np.int64)
        par, ints = [], []
        for r, primitive in enumerate(self.primitives):
            pptr[r + 1], iptr[r + 1] = pptr[r], iptr[r]
            if isinstance(primitive, str):
                continue
            op[r] = primitive.opcode
            code[r], row = primitive.lower(self.params[r],
                                           [self.shapes[p] for p in self.parents[r]],
                                           self.shapes[r])
            par.extend(self.parents[r])
            ints.append(np.asarray(row, np.int64))
            pptr[r + 1] = len(par)
            iptr[r + 1] += len(row)
        ints = np.concatenate(ints) if ints else np.zeros(0, np.int64)
        forwards = kernels.addresses("forward", op, code, op != LEAF)
        header = [self.nprimal, len(self.constants), m, int(size.sum()), self.g_row,
                  len(par), ints.size]
        packed = [header, op, code, size, voff, np.full(m, -1), pptr, par, np.zeros(len(par)),
                  iptr, ints, forwards, self.constants, self.outputs]
        return 0, np.concatenate([np.asarray(p, np.int64).ravel() for p in packed])

    def vjp(self, k, g, y, *xs, rule):
        """The cotangent of primal leaf k: bwd(fwd(primals)[1], g), written
        with pcgrad.numpy, so it composes with further differentiation."""
        if k < self.nprimal:
            _, residuals = self.fwd(*self.unflatten(list(xs[:self.nprimal])))
            cotangent = self.bwd(residuals, g)[k]
            if cotangent is not None:
                return cotangent
        return np.zeros(np.shape(xs[k]))  # no derivative; the constants and fwd's output


@kernel
def custom_rule(t, j, value, prediction, e, acc):
    w = t.ints[t.iptr[j]:t.iptr[j + 1]]
    nprimal, nconst, m, vsize, g_row, npar, nints = w[0], w[1], w[2], w[3], w[4], w[5], w[6]
    o = HEADER
    op, code, size, voff, eoff = w[o:o + m], w[o + m:o + 2 * m], w[o + 2 * m:o + 3 * m], \
        w[o + 3 * m:o + 4 * m], w[o + 4 * m:o + 5 * m]
    o += 5 * m
    pptr = w[o:o + m + 1]
    o += m + 1
    par, psend = w[o:o + npar], w[o + npar:o + 2 * npar]
    o += 2 * npar
    iptr = w[o:o + m + 1]
    o += m + 1
    ints = w[o:o + nints]
    o += nints
    forwards, constants = w[o:o + m], w[o + m:o + m + nconst]
    outputs = w[o + m + nconst:o + m + nconst + nprimal]
    sub = OpTable(op, code, size, voff, eoff, pptr, par, psend, iptr, ints)
    v = np.empty(vsize)
    for c in range(nconst):
        r = constants[c]
        src = value_of(t, value, parent(t, j, nprimal + c))
        for i in range(size[r]):
            v[voff[r] + i] = src[i]
    for i in range(size[g_row]):
        v[voff[g_row] + i] = e[i]
    for r in range(m):
        if op[r] != LEAF:
            call_forward(forwards[r], sub, r, v, v[voff[r]:voff[r] + size[r]])
    for k in range(nprimal):
        r = outputs[k]
        if r >= 0 and sends(t, j, k):
            a = error_of(t, acc, parent(t, j, k))
            for i in range(a.size):
                a[i] += v[voff[r] + i]


# --- a rule that runs in Python (custom_vjp(..., trace_bwd=False)) ----------------------
# Some rules cannot be written with primitives (odeint's adjoint solves an ODE
# with scipy). Such a node's error kernel calls back into Python through one
# ctypes function: host(token, e, len(e), out, len(out)) writes the
# cotangents of all primal leaves, flat, into out. The token, a per-call
# number, is the node's constant parent (so plans stay per structure); it
# names the call's bwd in ``_host_rules`` for as long as the call's trace lives.
_host_rules = {}
_tokens = itertools.count(1)
_HOST = ctypes.CFUNCTYPE(None, ctypes.c_double, ctypes.POINTER(ctypes.c_double),
                         ctypes.c_int64, ctypes.POINTER(ctypes.c_double), ctypes.c_int64)


@_HOST
def _host(token, e, n, out, m):
    name, bwd, shapes = _host_rules[int(token)]
    g = np.ctypeslib.as_array(e, (n,)).copy()
    flat = np.ctypeslib.as_array(out, (m,))
    try:
        start = 0
        for cotangent, shape in zip(bwd(g), shapes):
            size = math.prod(shape)
            if cotangent is not None:
                flat[start:start + size] = np.broadcast_to(cotangent, shape).ravel()
            start += size
    except Exception as error:  # an exception cannot cross the compiled relaxation
        flat[:] = np.nan
        warnings.warn(f"The bwd rule of {name} raised {error!r}; its cotangents are nan.",
                      RuntimeWarning)


HOST_ADDRESS = ctypes.cast(_host, ctypes.c_void_p).value


def host_token(trace, name, bwd, shapes):
    """A token (float array) naming ``bwd`` (a function of the flat error g
    returning one cotangent per primal leaf, of ``shapes``) while ``trace``
    lives."""
    token = next(_tokens)
    _host_rules[token] = name, bwd, shapes
    weakref.finalize(trace, _host_rules.pop, token, None)
    return np.array(float(token))


@intrinsic
def call_host(typingctx, address, token, e, out):
    """The C function at ``address``: (token, e.data, e.size, out.data, out.size)."""
    def codegen(context, builder, sig, args):
        address_, token_, e_, out_ = args
        i64, f64 = ir.IntType(64), ir.DoubleType()
        ptr = f64.as_pointer()
        e_array = context.make_array(sig.args[2])(context, builder, e_)
        out_array = context.make_array(sig.args[3])(context, builder, out_)
        fnty = ir.FunctionType(ir.VoidType(), [f64, ptr, i64, ptr, i64])
        fn = builder.inttoptr(address_, fnty.as_pointer())
        builder.call(fn, [token_, builder.bitcast(e_array.data, ptr), e_array.nitems,
                          builder.bitcast(out_array.data, ptr), out_array.nitems])
        return context.get_dummy_value()
    return types.none(types.int64, types.float64, e, out), codegen


# ints: the callback's address, the number of primal leaves
@kernel
def host_rule(t, j, value, prediction, e, acc):
    nprimal = t.ints[t.iptr[j] + 1]
    total = 0
    for k in range(nprimal):
        total += t.size[parent(t, j, k)]
    out = np.zeros(total)
    call_host(t.ints[t.iptr[j]], value_of(t, value, parent(t, j, nprimal))[0],
              np.ascontiguousarray(e), out)
    start = 0
    for k in range(nprimal):
        p = parent(t, j, k)
        if sends(t, j, k):
            a = error_of(t, acc, p)
            for i in range(a.size):
                a[i] += out[start + i]
        start += t.size[p]


class HostRule:
    """A rule run in Python: the node's parameters (all its calls share a plan)."""

    def __init__(self, nprimal):
        self.nprimal = nprimal

    def __eq__(self, other):
        return type(other) is HostRule and self.nprimal == other.nprimal

    def __hash__(self):
        return hash(("host", self.nprimal))

    def __repr__(self):
        return "bwd(python)"

    def lower(self, params, in_shapes, out_shape):
        return 1, np.array([HOST_ADDRESS, self.nprimal], np.int64)

    def vjp(self, k, g, y, *xs, rule):
        raise NotImplementedError("A custom_vjp rule with trace_bwd=False runs in Python on "
                                  "numpy arrays, so it cannot be differentiated again; write "
                                  "bwd with pcgrad.numpy and keep trace_bwd=True.")


# The prediction: fwd's output at the feed-forward pass, the node's last parent.
@kernel
def custom_forward(t, j, value, out):
    copy(out, value_of(t, value, t.par[t.pptr[j + 1] - 1]))


def _lower(params, in_shapes, out_shape):
    return params["rule"].lower(params, in_shapes, out_shape)


def _vjp(k, g, y, *xs, rule):
    return rule.vjp(k, g, y, *xs, rule=rule)


custom_vjp_call = register("custom_vjp", CUSTOM, lambda *operands, rule: operands[-1], _lower,
                           reads_inputs="others", vjp=_vjp)
family(CUSTOM, lambda code: (custom_rule, host_rule)[code], lambda code: custom_forward,
       codes=(0, 1), names={0: "custom_vjp", 1: "custom_vjp (python rule)"})
