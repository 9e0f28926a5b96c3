"""Tracing: run a function on Tracers and record every primitive call.

A Tracer carries a concrete numpy value (so Python control flow on values
works, as in autograd) and the id of the node that produced it. Each
primitive call computes its numpy forward value and records one node of the
computation graph in flat lists (``to_networkx`` turns them into a networkx
DiGraph when a new structure is planned). Each Trace belongs to
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
    graph; ``nx`` builds the graph. ``array_nodes`` lists the nodes whose
    params hold arrays (see ``bind_with_arrays``).

    Unless ``keep_values``, a value is kept only if an error rule may read it
    (the node's own rule or a child's, see Primitive.reads_inputs and
    reads_output), it is a leaf, a pc_node or the output (set by the caller);
    the others are None. Intermediates nobody reads are then freed as soon as
    the traced function drops them, as in a plain numpy forward pass, instead
    of piling up (and being paged in afresh) on every call. While ``nested``
    (a count) transformations record into the trace, every value is kept,
    and so are those of the earlier nodes they use: their error rules are
    recorded as primitives that read them (see pcgrad.settle).
    """

    def __init__(self, compiling=False, keep_values=False):
        self.primitives, self.params, self.parents, self.values = [], [], [], []
        self.shapes, self.dtypes, self.array_nodes = [], [], []
        self.compiling = compiling  # True under pcgrad.jit: the graph is replayed later
        self.keep_values = keep_values or compiling
        self.active = False
        self.nested = 0
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
        self.values.append(value if keep or self.keep_values or self.nested else None)
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
        return self.record(CONSTANT, {}, (), value if type(value) is np.ndarray
                           else np.asarray(value))

    def name(self, node):
        primitive = self.primitives[node]
        return primitive if isinstance(primitive, str) else primitive.name

    @property
    def nx(self):
        """The whole recording as a networkx DiGraph (see ``to_networkx``)."""
        return to_networkx(self, range(len(self)))


def to_networkx(trace, nodes):
    """A DiGraph of ``nodes`` of ``trace`` (described by ``describe``)."""
    graph = skeleton(trace, nodes)
    describe(trace, graph)
    return graph


def skeleton(trace, nodes):
    """A DiGraph of ``nodes`` of ``trace`` and the edges from their parents,
    without attributes (pruning needs no more)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    parents = trace.parents
    graph.add_edges_from([(parent, node) for node in nodes for parent in parents[node]])
    return graph


def describe(trace, graph):
    """Set the attributes of ``graph``'s nodes and edges from ``trace``.

    Node attributes: ``primitive`` (name), ``params``, ``parents`` (ordered
    ids), ``shape``, ``dtype`` and ``role`` ("input", "constant" or "node").
    Each parent's edge carries ``argnums``: the argument positions at which
    it enters the child. Values are no attributes: they belong to one call
    (``trace.values``), the graph to every call of the same structure.
    """
    primitives, parents, params = trace.primitives, trace.parents, trace.params
    shapes, dtypes = trace.shapes, trace.dtypes
    for node, attributes in graph.nodes(data=True):
        primitive = primitives[node]
        if type(primitive) is str:
            name = role = primitive
        else:
            name, role = primitive.name, "node"
        attributes.update(primitive=name, params=params[node], parents=parents[node],
                          shape=shapes[node], dtype=dtypes[node], role=role)
        edges = graph.pred[node]
        for position, parent in enumerate(parents[node]):
            edge = edges.get(parent)
            if edge is not None:
                edge["argnums"] = edge.get("argnums", ()) + (position,)


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
    # the hot path of tracing: one numpy call and one recorded node
    if len(args) == 1:  # (no loops or lists for the commonest case)
        x = args[0]
        if type(x) is not Tracer:
            return _untraced(primitive, args, params)
        trace, traced = x._trace, args
        value = primitive.forward(x.value, **params) if params else primitive.forward(x.value)
        parents = (x.node,)
    elif len(args) == 2:  # (nor for binary operators)
        x, y = args
        if type(x) is Tracer:
            trace = x._trace
            if type(y) is Tracer:
                if y._trace is not trace:
                    _mixed_traces()
                traced, parents = args, (x.node, y.node)
                value = primitive.forward(x.value, y.value, **params)
            else:  # a non-traced argument becomes a constant node
                traced, parents = (x,), (x.node, trace.constant(y))
                value = primitive.forward(x.value, y, **params)
        elif type(y) is Tracer:
            trace = y._trace
            traced, parents = (y,), (trace.constant(x), y.node)
            value = primitive.forward(x, y.value, **params)
        else:
            return _untraced(primitive, args, params)
    else:
        trace = None
        for arg in args:
            if type(arg) is Tracer:
                if trace is None:
                    trace = arg._trace
                elif arg._trace is not trace:
                    _mixed_traces()
        if trace is None:
            return _untraced(primitive, args, params)
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
    if trace.nested or not trace.keep_values and (reads is True or (reads and len(traced) > 1)):
        # keep the traced operands' values this node's error rule reads
        # ("others": an operand's value is read only when another is traced)
        for arg in traced:
            trace.values[arg.node] = arg.value
    keep = primitive.reads_output or primitive.keeps_value
    return Tracer(value, trace.record(primitive, params, parents, value, keep), trace)


def bind_with_arrays(primitive, args, params):
    """``bind`` for params that hold arrays (an index, a mask, a precision),
    possibly inside tuples.

    The node records copies of them, so that changing the caller's arrays
    after the call cannot change what was traced, and ``Trace.array_nodes``
    lists it: comparisons of structure compare its params by content (an
    array is ``==`` to itself even after an in-place change).
    """
    for arg in args:
        if type(arg) is Tracer:
            break
    else:  # plain numpy: nothing is recorded
        return bind(primitive, args, params)
    result = bind(primitive, args, {key: _copied(value) for key, value in params.items()})
    result._trace.array_nodes.append(result.node)
    return result


def _copied(value):
    if type(value) is np.ndarray:
        return value.copy()
    if type(value) is tuple:
        return tuple([_copied(item) for item in value])
    return value


def _untraced(primitive, args, params):
    """The plain numpy forward; another engine's traced value (an autograd box,
    a JAX tracer) is refused, since numpy would compute with it as an opaque
    object (or not at all) and its derivative would be lost without a word.
    Numpy's scalars stay scalars, as numpy returns them."""
    try:
        value = primitive.forward(*args, **params)
    except TypeError:
        _refuse_foreign(primitive, args)
        raise
    if not isinstance(value, (np.ndarray, np.generic)):
        value = np.asarray(value)
    if value.dtype == object:
        _refuse_foreign(primitive, args)
    return value


def _refuse_foreign(primitive, args):
    for arg in args:
        if isinstance(arg, (list, tuple)):
            _refuse_foreign(primitive, arg)
        elif not isinstance(arg, (np.ndarray, np.generic)) and \
                type(arg).__module__ != "builtins":
            kind = type(arg)
            raise TypeError(
                f"pcgrad.numpy ({primitive.name}) cannot compute with a value of type "
                f"{kind.__module__}.{kind.__qualname__} (another engine's traced value?): "
                "numpy would drop its derivative. Call the function with that engine's numpy "
                "module (autograd.numpy, jax.numpy) or differentiate it with pcgrad.grad; "
                "pcgrad.compare runs one function under several engines.")


def refuse_complex(dtype, where):
    """Raise the TypeError for a complex ``dtype`` found at ``where``."""
    if np.dtype(dtype).kind == "c":
        raise TypeError(f"complex inputs are not supported: {where} has dtype "
                        f"{np.dtype(dtype).name}. pcgrad differentiates real arrays; split a "
                        "complex computation into its real and imaginary parts.")


class MixedTraces(TypeError):
    """Values of two different traces met in one operation."""


def _mixed_traces():
    raise MixedTraces(
        "Values traced by two different pcgrad traces met in one operation (a traced "
        "value escaped from the function it belongs to, e.g. through a global). Pass "
        "values as arguments to the functions you differentiate.")
