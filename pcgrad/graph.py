"""The computation graph: a traced DiGraph pruned to what the relaxation needs.

Pruning keeps the nodes on a path from a differentiated input to the output
(through differentiable primitives only) and, as constants, the other nodes
whose values those nodes read. Node ids come from tracing and are already a
topological order, so every pass here is a single loop over sorted ids: no
recursion, whatever the depth.
"""
import networkx as nx
import numpy as np

from .primitives import PRIMITIVES


class Graph:
    """A pruned computation graph.

    ``graph.nx`` is the networkx DiGraph: node attributes ``primitive``,
    ``params``, ``parents`` (ordered ids), ``shape``, ``dtype``, ``value`` and
    ``role`` ("input", "constant" or "node"); edges carry ``argnums``.
    ``inputs`` lists the input node ids in argument order, ``output`` is the
    output node id (None when the output is not traced).
    """

    def __init__(self, traced, inputs, output):
        self.inputs = list(inputs)
        self.output = output
        self.nx = _prune(traced, self.inputs, output)
        self.depth = _depth(self.nx, self.inputs, output)

    @property
    def connected(self):
        """Whether the output depends on any differentiated input."""
        return self.output is not None and self.nx.nodes[self.output]["role"] != "constant"

    def __len__(self):
        return len(self.nx)

    def __str__(self):
        lines = []
        for node in sorted(self.nx):
            a = self.nx.nodes[node]
            kind = _type(a)
            if a["role"] == "input":
                lines.append(f"  %{node}: {kind} = input {a['params']['name']}")
            elif a["role"] == "constant":
                shown = f" {a['value'].item():.6g}" if a["value"].size == 1 else ""
                lines.append(f"  %{node}: {kind} = constant{shown}")
            else:
                args = " ".join(f"%{p}" for p in a["parents"])
                params = _format_params(a["params"])
                lines.append(f"  %{node}: {kind} = {a['primitive']}{params} {args}")
        header = f"graph: {len(self.nx)} nodes, depth {self.depth}"
        output = f"  output %{self.output}" if self.output is not None else "  output (constant)"
        return "\n".join([header] + lines + [output])

    __repr__ = __str__


def _type(attrs):
    dtype = np.dtype(attrs["dtype"])
    short = {"float64": "f64", "float32": "f32", "bool": "bool"}.get(dtype.name, dtype.name)
    return f"{short}[{','.join(str(d) for d in attrs['shape'])}]"


def _format_params(params):
    if not params:
        return ""
    parts = []
    for key, value in params.items():
        text = repr(value) if not isinstance(value, np.ndarray) else f"array{list(value.shape)}"
        parts.append(f"{key}={text if len(text) <= 40 else text[:37] + '...'}")
    return "[" + ", ".join(parts) + "]"


def _differentiable(name):
    return name not in ("input", "constant") and PRIMITIVES[name].differentiable


def _prune(traced, inputs, output):
    nodes = traced.nodes
    reached = set(inputs)
    if output is not None:
        for node in range(inputs[0] if inputs else 0, output + 1):
            a = nodes[node]
            if node not in reached and _differentiable(a["primitive"]) and any(
                    p in reached for p in a["parents"]):
                reached.add(node)
    needed = {output} if output in reached else set()
    for node in range(output if output is not None else -1, -1, -1):
        if node in needed:
            needed.update(p for p in nodes[node]["parents"] if p in reached)
    needed.update(inputs)

    pruned = nx.DiGraph()
    for node in sorted(needed):
        a = dict(nodes[node])
        a["role"] = "input" if a["primitive"] == "input" else "node"
        pruned.add_node(node, **a)
        if a["role"] == "input":
            continue
        for parent in a["parents"]:
            if parent not in needed and parent not in pruned:
                c = nodes[parent]
                pruned.add_node(parent, primitive="constant", params={}, parents=(),
                                shape=c["shape"], dtype=c["dtype"], value=c["value"],
                                role="constant", origin=c["primitive"])
            pruned.add_edge(parent, node, **traced.edges[parent, node])
    if output is not None and output not in pruned:
        o = nodes[output]
        pruned.add_node(output, primitive="constant", params={}, parents=(), shape=o["shape"],
                        dtype=o["dtype"], value=o["value"], role="constant",
                        origin=o["primitive"])
    return pruned


def _depth(graph, inputs, output):
    """Longest path, in edges, from a differentiated input to the output."""
    if output is None or graph.nodes[output]["role"] == "constant":
        return 0
    longest = {}
    for node in sorted(graph):
        a = graph.nodes[node]
        if a["role"] == "input":
            longest[node] = 0
        elif a["role"] == "node":
            longest[node] = 1 + max(longest[p] for p in a["parents"] if p in longest)
    return longest[output]
