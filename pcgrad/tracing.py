"""Tracing: run a function on Tracers and record every primitive call.

A Tracer carries a concrete numpy value (so Python control flow on values
works, as in autograd) and the id of the node that produced it. Each
primitive call computes its numpy forward value and records one node of the
computation graph (a ``networkx.DiGraph`` on request). Each Trace belongs to
one call; the only shared state, the stack of active traces, is
thread-local, so threads trace independently. This module knows nothing
about derivatives or predictive coding; it only builds the graph.
"""
import threading

import networkx as nx
import numpy as np

_active = threading.local()


def current_trace():
    """The innermost trace active in this thread, or None."""
    stack = getattr(_active, "stack", None)
    return stack[-1] if stack else None


def lift(value):
    """``value`` as a Tracer of the current trace (a constant node), or itself
    when nothing is being traced."""
    trace = current_trace()
    if trace is None or isinstance(value, Tracer):
        return value
    value = np.asarray(value)
    return Tracer(value, trace.constant(value), trace)

INPUT, CONSTANT = "input", "constant"
# Roles pruning gives nodes besides INPUT, CONSTANT and "node" (a unit):
# DATA, a traced argument that is not differentiated, and COMPUTED, a node
# recomputed from inputs without an error (both only when compiling).
DATA, COMPUTED = "data", "computed"


class Trace:
    """One recording: a node table in creation order, viewable as a DiGraph.

    Creation order is a topological order, so no later pass needs to sort.
    Node i has ``primitives[i]`` (a Primitive, or INPUT / CONSTANT for leaves),
    ``params[i]`` (dict), ``parents[i]`` (ordered tuple of node ids),
    ``shapes[i]``, ``dtypes[i]`` and ``values[i]`` (its numpy value). Recording
    appends to these lists, which costs far less per node than a networkx
    graph; ``nx`` builds the graph.

    Unless ``keep_values``, a value is kept only if an error rule may read it
    (the node's own rule or a child's, see Primitive.reads_inputs and
    reads_output), it is a leaf, a pc_node or the output (set by the caller);
    the others are None. Intermediates nobody reads are then freed as soon as
    the traced function drops them, as in a plain numpy forward pass, instead
    of piling up (and being paged in afresh) on every call.
    """

    def __init__(self, compiling=False, keep_values=False):
        self.primitives, self.params, self.parents, self.values = [], [], [], []
        self.shapes, self.dtypes = [], []
        self.compiling = compiling  # True under pcgrad.jit: the graph is replayed later
        self.keep_values = keep_values or compiling
        self.active = False
        self._scalars = {}  # Python number constants by identity: one node each

    def __enter__(self):
        if not hasattr(_active, "stack"):
            _active.stack = []
        _active.stack.append(self)
        self.active = True
        return self

    def __exit__(self, *exc):
        _active.stack.pop()
        self.active = False

    def __len__(self):
        return len(self.values)

    def record(self, primitive, params, parents, value, keep=True):
        self.primitives.append(primitive)
        self.params.append(params)
        self.parents.append(parents)
        self.values.append(value if keep or self.keep_values else None)
        self.shapes.append(value.shape)
        self.dtypes.append(value.dtype)
        return len(self.values) - 1

    def leaf(self, value, name):
        """Record an input (differentiated argument) leaf and return its Tracer."""
        return Tracer(value, self.record(INPUT, {"name": name}, (), value), self)

    def constant(self, value):
        if type(value) in (float, int):
            held = self._scalars.get(id(value))
            if held is not None and held[0] is value:
                return held[1]
            node = self.record(CONSTANT, {}, (), np.asarray(value))
            self._scalars[id(value)] = value, node
            return node
        return self.record(CONSTANT, {}, (), np.asarray(value))

    def name(self, node):
        primitive = self.primitives[node]
        return primitive if isinstance(primitive, str) else primitive.name

    @property
    def nx(self):
        """The whole recording as a networkx DiGraph (see ``to_networkx``)."""
        return to_networkx(self, range(len(self)))


def to_networkx(trace, nodes, roles=None):
    """A DiGraph of ``nodes`` of ``trace``.

    Node attributes: ``primitive`` (name), ``params``, ``parents`` (ordered
    ids), ``shape``, ``dtype``, ``value`` (None if the trace did not keep it),
    and ``role`` ("input", "constant"
    or "node"; ``roles`` maps nodes to roles that override it, and a node
    made a constant keeps its primitive name as ``origin``). Edges carry
    ``argnums``: the argument positions at which the parent enters the child.
    """
    graph = nx.DiGraph()
    roles = roles or {}
    for node in nodes:
        name = trace.name(node)
        role = roles.get(node, name if name in (INPUT, CONSTANT) else "node")
        attrs = dict(primitive=name, params=trace.params[node], parents=trace.parents[node],
                     shape=trace.shapes[node], dtype=trace.dtypes[node],
                     value=trace.values[node], role=role)
        if role == CONSTANT and name != CONSTANT:
            attrs.update(primitive=CONSTANT, params={}, parents=(), origin=name)
        graph.add_node(node, **attrs)
        for position, parent in enumerate(attrs["parents"]):
            if graph.has_edge(parent, node):
                graph.edges[parent, node]["argnums"] += (position,)
            else:
                graph.add_edge(parent, node, argnums=(position,))
    return graph


class Tracer:
    """A traced array: a concrete value plus the graph node that computed it.

    Operators and methods are attached by ``pcgrad.numpy`` (the tracer itself
    knows no primitives).
    """

    __slots__ = ("value", "node", "_trace")
    __array_priority__ = 1000.0

    def __init__(self, value, node, trace):
        self.value = value
        self.node = node
        self._trace = trace

    shape = property(lambda self: self.value.shape)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)
    dtype = property(lambda self: self.value.dtype)

    def __len__(self):
        if self.value.ndim == 0:
            raise TypeError("len() of a 0-d traced array")
        return self.value.shape[0]

    def __bool__(self):
        if self._trace.compiling:
            raise TypeError(
                "Python control flow on a traced value (bool() of a Tracer) cannot be "
                "compiled by pcgrad.jit: the branch would be frozen at trace time. "
                "Call pcgrad.grad without jit, or use pcgrad.numpy.where.")
        return bool(self.value)

    def __float__(self):
        raise TypeError(
            "float() or int() of a traced value would drop its derivative. Keep it as a "
            "pcgrad.numpy array; Python control flow works on comparisons "
            "(if x > 0: ...).")

    __int__ = __index__ = __complex__ = __float__

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "A traced array cannot be converted to a numpy array: its derivative "
            "would be lost. Use the functions of pcgrad.numpy (import pcgrad.numpy "
            "as np) inside functions you differentiate.")

    def __setitem__(self, index, value):
        raise TypeError(
            "Traced arrays cannot be modified in place (x[i] = v). Build a new array "
            "instead: pcgrad.numpy.where(mask, v, x), pcgrad.numpy.concatenate, or "
            "pcgrad.numpy.pad.")

    def __hash__(self):
        return id(self)

    def __repr__(self):
        return f"Tracer(node={self.node}, value={self.value!r})"


def bind(primitive, args, params):
    """Apply ``primitive`` to ``args`` (Tracers, arrays or numbers).

    Without a Tracer among the arguments this is the plain numpy forward.
    Otherwise the numpy forward value is recorded as one graph node whose
    parents are the arguments (non-traced arguments become constant nodes).
    """
    trace = None
    for arg in args:
        if type(arg) is Tracer:
            if trace is None:
                trace = arg._trace
            elif arg._trace is not trace:
                _mixed_traces()
    if trace is None:
        return np.asarray(primitive.forward(*args, **params))
    # the hot path of tracing: one numpy call and one recorded node
    if len(args) == 1:  # (no list building for the commonest case)
        x = args[0]
        value = primitive.forward(x.value, **params)
        parents, traced = (x.node,), args
    else:
        operands, parents, traced = [], [], []
        for arg in args:
            if type(arg) is Tracer:
                operands.append(arg.value)
                parents.append(arg.node)
                traced.append(arg)
            else:
                operands.append(arg)
                parents.append(trace.constant(arg))
        value = primitive.forward(*operands, **params)
        parents = tuple(parents)
    if type(value) is not np.ndarray:
        value = np.asarray(value)
    if not trace.active:
        raise TypeError("A traced value was used after its function returned (a Tracer "
                        "escaped, e.g. stored in a global). Compute with it inside the "
                        "function being differentiated.")
    reads = primitive.reads_inputs
    if not trace.keep_values and (reads is True or (reads and len(traced) > 1)):
        # keep the traced operands' values this node's error rule reads
        # ("others": an operand's value is read only when another is traced)
        for arg in traced:
            trace.values[arg.node] = arg.value
    keep = primitive.reads_output or primitive.keeps_value
    return Tracer(value, trace.record(primitive, params, parents, value, keep), trace)


def _mixed_traces():
    raise NotImplementedError(
        "A value traced by an outer pcgrad transformation reached an inner one "
        "(for example pcgrad.grad inside a function being differentiated). "
        "Higher-order derivatives are not supported yet.")
