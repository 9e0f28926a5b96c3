"""The computation graph: a trace pruned to what the relaxation needs.

Pruning keeps the nodes on a path from a differentiated input to the output
(through differentiable primitives only) and, as constants, the other nodes
whose values those nodes read. Node ids come from tracing and are already a
topological order, so every pass here is a single loop over ids: no
recursion, whatever the depth.
"""
import numpy as np

from .tracing import COMPUTED, CONSTANT, DATA, INPUT, to_networkx


class Graph:
    """A pruned computation graph.

    ``graph.nx`` is the networkx DiGraph: node attributes ``primitive``,
    ``params``, ``parents`` (ordered ids), ``shape``, ``dtype``, ``value`` and
    ``role`` ("input", "constant" or "node"); edges carry ``argnums``. The
    graph of ``pcgrad.trace`` has every value; inside ``grad`` the trace keeps
    only values an error rule reads, and ``value`` is None for the others.
    ``nodes`` lists the kept node ids in topological order, ``roles`` maps
    each to its role, ``inputs`` lists the input ids in argument order and
    ``output`` is the output id (None when the output is not traced).
    """

    def __init__(self, trace, inputs, output, data=(), recompute=False, pruned=None):
        self.trace = trace
        self.inputs = list(inputs)
        self.data = list(data)
        self.output = output
        self.nodes, self.roles = pruned or _prune(trace, self.inputs, output, self.data,
                                                  recompute)
        self._nx = None

    @property
    def nx(self):
        if self._nx is None:
            self._nx = to_networkx(self.trace, self.nodes, self.roles)
        return self._nx

    @property
    def connected(self):
        """Whether the output depends on any differentiated input."""
        return self.output is not None and self.roles[self.output] != CONSTANT

    @property
    def depth(self):
        """Longest path, in edges, from a differentiated input to the output."""
        if not self.connected:
            return 0
        longest = {}
        for node in self.nodes:
            if self.roles[node] == INPUT:
                longest[node] = 0
            elif self.roles[node] == "node":
                longest[node] = 1 + max(longest[p] for p in self.trace.parents[node]
                                        if p in longest)
        return longest[self.output]

    def __len__(self):
        return len(self.nodes)

    def __str__(self):
        lines = [f"graph: {len(self.nodes)} nodes, depth {self.depth}"]
        for node in self.nodes:
            value, role = self.trace.values[node], self.roles[node]
            kind = _type(self.trace.shapes[node], self.trace.dtypes[node])
            if role in (INPUT, DATA):
                lines.append(f"  %{node}: {kind} = input {self.trace.params[node]['name']}"
                             + (" (not differentiated)" if role == DATA else ""))
            elif role == CONSTANT:
                shown = f" {value.item():.6g}" if value is not None and value.size == 1 else ""
                lines.append(f"  %{node}: {kind} = constant{shown}")
            else:
                args = " ".join(f"%{p}" for p in self.trace.parents[node])
                params = _format_params(self.trace.params[node])
                lines.append(f"  %{node}: {kind} = {self.trace.name(node)}{params} {args}")
        lines.append(f"  output %{self.output}" if self.output is not None
                     else "  output (constant)")
        return "\n".join(lines)

    __repr__ = __str__


def _type(shape, dtype):
    short = {"float64": "f64", "float32": "f32", "bool": "bool"}.get(dtype.name, dtype.name)
    return f"{short}[{','.join(str(d) for d in shape)}]"


def _format_params(params):
    if not params:
        return ""
    parts = []
    for key, value in params.items():
        text = repr(value) if not isinstance(value, np.ndarray) else f"array{list(value.shape)}"
        parts.append(f"{key}={text if len(text) <= 40 else text[:37] + '...'}")
    return "[" + ", ".join(parts) + "]"


def structure_key(trace, inputs, output):
    """A hashable description of everything pruning and a Plan depend on:
    primitives, parameters, edges, shapes and dtypes of the whole trace, and
    which nodes are the inputs and the output (not the values)."""
    return _Key((tuple(trace.primitives), tuple(trace.parents),
                 tuple([_freeze_params(p) if p else () for p in trace.params]),
                 tuple(trace.shapes), tuple([d.char for d in trace.dtypes]),
                 tuple(inputs), output))


class _Key(tuple):
    """A tuple whose (deep, costly) hash is computed once."""

    def __new__(cls, items):
        key = super().__new__(cls, items)
        key._hash = tuple.__hash__(key)
        return key

    def __hash__(self):
        return self._hash

    __eq__ = tuple.__eq__


def _freeze_params(params):
    return tuple([(key, _freeze(value)) for key, value in params.items()])


def _freeze(value):
    """A hashable stand-in for a parameter value (arrays by content)."""
    kind = type(value)
    if kind is slice:
        return ("slice", value.start, value.stop, value.step)
    if kind is tuple or kind is list:
        return (kind.__name__,) + tuple([_freeze(v) for v in value])
    if kind is np.ndarray:
        return ("array", value.shape, value.dtype.str, value.tobytes())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _prune(trace, inputs, output, data=(), recompute=False):
    """Kept node ids (sorted) and their roles.

    Units ("node") lie on a path from a differentiated input to the output
    through differentiable primitives. With ``recompute`` (compiling), the
    other nodes that depend on any traced argument (inputs or ``data``, the
    traced arguments that are not differentiated) and feed the kept ones are
    kept as COMPUTED: replay recomputes them, without errors. Everything
    else they read is CONSTANT.
    """
    roles = dict.fromkeys(inputs, INPUT)
    roles.update(dict.fromkeys(data, DATA))
    if output is None:
        return sorted(roles), roles
    primitives, parents = trace.primitives, trace.parents
    reached = bytearray(output + 1)  # on a differentiable path from an input
    live = bytearray(output + 1)     # depends on some traced argument
    for node in inputs:
        reached[node] = live[node] = 1
    for node in data:
        live[node] = 1
    for node in range(min(roles, default=0), output + 1):
        primitive = primitives[node]
        if isinstance(primitive, str):
            continue
        for p in parents[node]:
            if reached[p] and primitive.differentiable:
                reached[node] = 1
            if live[p] and recompute:
                live[node] = 1
    if not (reached[output] or live[output]):
        roles[output] = CONSTANT
        return sorted(roles), roles
    needed = bytearray(output + 1)
    needed[output] = 1
    for node in range(output, -1, -1):
        if needed[node] and node not in roles:
            roles[node] = "node" if reached[node] else COMPUTED
            for p in parents[node]:
                if reached[p] or live[p]:
                    needed[p] = 1
                elif p not in roles:
                    roles[p] = CONSTANT
    return sorted(roles), roles
