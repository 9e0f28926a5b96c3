"""The computation graph: a trace pruned to what the relaxation needs.

Pruning keeps the nodes on a path from a differentiated input to the output
(through differentiable primitives only) and, as constants, the other nodes
whose values those nodes read. Node ids come from tracing and are already a
topological order, so every pass here is a single loop over ids: no
recursion, whatever the depth.
"""
import numpy as np

from .tracing import CONSTANT, INPUT, to_networkx


class Graph:
    """A pruned computation graph.

    ``graph.nx`` is the networkx DiGraph: node attributes ``primitive``,
    ``params``, ``parents`` (ordered ids), ``shape``, ``dtype``, ``value`` and
    ``role`` ("input", "constant" or "node"); edges carry ``argnums``.
    ``nodes`` lists the kept node ids in topological order, ``roles`` maps
    each to its role, ``inputs`` lists the input ids in argument order and
    ``output`` is the output id (None when the output is not traced).
    """

    def __init__(self, trace, inputs, output):
        self.trace = trace
        self.inputs = list(inputs)
        self.output = output
        self.nodes, self.roles = _prune(trace, self.inputs, output)
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
            kind = _type(value)
            if role == INPUT:
                lines.append(f"  %{node}: {kind} = input {self.trace.params[node]['name']}")
            elif role == CONSTANT:
                shown = f" {value.item():.6g}" if value.size == 1 else ""
                lines.append(f"  %{node}: {kind} = constant{shown}")
            else:
                args = " ".join(f"%{p}" for p in self.trace.parents[node])
                params = _format_params(self.trace.params[node])
                lines.append(f"  %{node}: {kind} = {self.trace.name(node)}{params} {args}")
        lines.append(f"  output %{self.output}" if self.output is not None
                     else "  output (constant)")
        return "\n".join(lines)

    __repr__ = __str__


def _type(value):
    short = {"float64": "f64", "float32": "f32", "bool": "bool"}.get(value.dtype.name,
                                                                       value.dtype.name)
    return f"{short}[{','.join(str(d) for d in value.shape)}]"


def _format_params(params):
    if not params:
        return ""
    parts = []
    for key, value in params.items():
        text = repr(value) if not isinstance(value, np.ndarray) else f"array{list(value.shape)}"
        parts.append(f"{key}={text if len(text) <= 40 else text[:37] + '...'}")
    return "[" + ", ".join(parts) + "]"


def _prune(trace, inputs, output):
    """Kept node ids (sorted) and their roles."""
    if output is None:
        return list(inputs), dict.fromkeys(inputs, INPUT)
    primitives, parents = trace.primitives, trace.parents
    reached = bytearray(output + 1)
    for node in inputs:
        reached[node] = 1
    for node in range(min(inputs, default=0), output + 1):
        primitive = primitives[node]
        if not reached[node] and not isinstance(primitive, str) and primitive.differentiable:
            for p in parents[node]:
                if reached[p]:
                    reached[node] = 1
                    break
    roles = dict.fromkeys(inputs, INPUT)
    if not reached[output]:
        roles[output] = CONSTANT
        return sorted(roles), roles
    needed = bytearray(output + 1)
    needed[output] = 1
    for node in range(output, -1, -1):
        if needed[node] and node not in roles:
            roles[node] = "node"
            for p in parents[node]:
                if reached[p]:
                    needed[p] = 1
                elif p not in roles:
                    roles[p] = CONSTANT
    return sorted(roles), roles
