"""The computation graph: a trace pruned to what the relaxation needs.

The first trace of a structure becomes a networkx DiGraph (see
tracing.skeleton and tracing.describe), which networkx algorithms prune and
measure in place: the units are the nodes on an input-to-output path of the
differentiable subgraph (descendants of the inputs that are ancestors of
the output, edges into primitives without a derivative cut); the other
nodes whose values they read stay as constants. The topological order, the
roles, the units under each ``units=`` option and the depth all come from
that graph, once per structure: later traces of the structure reuse it
without networkx.
"""
from collections import namedtuple
from typing import TYPE_CHECKING, Iterable

import networkx as nx
import numpy as np

from .tracing import (COMPUTED, CONSTANT, DATA, INPUT, Trace, describe, refuse_complex,
                      skeleton)

if TYPE_CHECKING:
    import networkx

UNITS = ("all", "marked")  # the units= options (pcgrad.options validates them)

Structure = namedtuple("Structure", "nx nodes roles units")
Structure.__doc__ = """What pruning decides about a structure, all read off ``nx``.

``nx`` is the pruned DiGraph, ``nodes`` its node ids in topological order,
``roles`` maps each to its role and ``units[mode]`` is (the nodes that are
units under ``units=mode``, the depth: units on the longest input-to-output
path, the input excluded, which is the number of steps jacobi takes).
Pruning never looks at shapes, so a structure found at other shapes serves
with ``nx`` None (``Graph.nx`` then builds the graph with this trace's shapes).
"""


class Graph:
    """A pruned computation graph.

    ``graph.nx`` is the networkx DiGraph the relaxation is planned from,
    shared by every trace of the same structure. Node attributes:
    ``primitive``, ``params``, ``parents`` (ordered ids), ``shape``,
    ``dtype``, ``role`` ("input", "constant" or "node"; under pcgrad.jit also
    "data" and "computed") and ``unit`` (the ``units=`` options under which
    the node is a predictive-coding unit: ("all", "marked"), ("all",) or
    ()); a node made a constant keeps its primitive's name as ``origin``.
    Edges carry ``argnums`` (the argument positions at which the parent
    enters the child) and ``steps_all`` / ``steps_marked`` (the steps the
    child adds to a path under each ``units=`` option; negative into a node
    without an error, where no error path runs). Values belong to one call:
    ``graph.trace.values[node]`` (None where the trace did not keep it).
    ``nodes`` lists the kept node ids in topological order, ``roles`` maps
    each to its role, ``inputs`` lists the input ids in argument order and
    ``output`` is the output id (None when the output is not traced).
    """

    nodes: list[int]
    roles: dict[int, str]

    def __init__(self, trace: Trace, inputs: Iterable[int], output: int | None,
                 data: Iterable[int] = (), recompute: bool = False,
                 structure: Structure | None = None) -> None:
        self.trace = trace
        self.inputs = list(inputs)
        self.data = list(data)
        self.output = output
        self.recompute = recompute
        self.structure = structure or _structure(trace, self.inputs, output, self.data,
                                                 recompute)
        self.nodes, self.roles = self.structure.nodes, self.structure.roles

    @property
    def nx(self) -> "networkx.DiGraph":
        if self.structure.nx is None:  # a structure met at other shapes: describe these
            self.structure = _structure(self.trace, self.inputs, self.output, self.data,
                                        self.recompute)
        return self.structure.nx

    @property
    def connected(self) -> bool:
        """Whether the output depends on any differentiated input."""
        return self.output is not None and self.roles[self.output] in (INPUT, "node")

    @property
    def depth(self) -> int:
        """Longest path, in edges, from a differentiated input to the output."""
        return self.structure.units["all"][1]

    def __len__(self) -> int:
        return len(self.nodes)

    def __str__(self) -> str:
        lines = [f"graph: {len(self.nodes)} nodes, depth {self.depth}"]
        for node in sorted(self.nodes):  # creation order, like the program
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

    def to_dot(self) -> str:
        """The graph as Graphviz DOT text (making it needs no Graphviz).

        One DOT node ``n<id>`` per node of ``graph.nx``, labelled with its
        primitive (or input name, or constant) and type; the shape tells the
        roles apart: inputs are boxes, constants plain text, pc_nodes
        hexagons, the output a double octagon. One edge per edge of
        ``graph.nx``. Render it with any Graphviz tool (``dot -Tsvg``).

        >>> import pcgrad, pcgrad.numpy as np
        >>> print(pcgrad.trace(lambda x: np.sum(np.exp(x)), np.ones(3)).to_dot())
        digraph pcgrad {
          rankdir=LR;
          node [fontname="Helvetica", fontsize=10];
          n0 [label="input args[0]\\nf64[3]", shape=box];
          n1 [label="exp\\nf64[3]", shape=ellipse];
          n2 [label="sum[axis=None, keepdims=False]\\nf64[]", shape=doubleoctagon];
          n0 -> n1;
          n1 -> n2;
        }
        """
        graph = self.nx
        lines = ["digraph pcgrad {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
        for node, attrs in graph.nodes(data=True):
            label, shape = _dot_node(attrs, self.trace.values[node], node == self.output)
            lines.append(f'  n{node} [label="{label}", shape={shape}];')
        lines.extend(f"  n{parent} -> n{child};" for parent, child in graph.edges)
        return "\n".join(lines + ["}"])


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


def structure_key(trace, inputs, output, shapeless=None):
    """A hashable description of everything pruning and a Plan depend on:
    primitives, parameters, edges, shapes and dtypes of the whole trace, and
    which nodes are the inputs and the output (not the values). Its first
    item, everything but the shapes, is all pruning depends on; pass it as
    ``shapeless`` when it is known (from a trace of the same structure)."""
    if shapeless is None:
        shapeless = _Key((tuple(trace.primitives), tuple(trace.parents),
                          tuple([_freeze_params(p) if p else () for p in trace.params]),
                          tuple([d.char for d in trace.dtypes]), tuple(inputs), output))
    return _Key((shapeless, tuple(trace.shapes)))


class _Key(tuple):
    """A tuple whose (deep, costly) hash is computed once."""

    def __new__(cls, items):
        key = super().__new__(cls, items)
        key._hash = tuple.__hash__(key)
        return key

    def __hash__(self):
        return self._hash

    __eq__ = tuple.__eq__


def same_params(params, other):
    """Whether two nodes' params are the same, arrays compared by content."""
    if params.keys() != other.keys():
        return False
    for key, value in params.items():
        if not _same(value, other[key]):
            return False
    return True


def _same(value, other):
    kind = type(value)
    if kind is not type(other):
        return False
    if kind is np.ndarray:
        return (value.shape == other.shape and value.dtype == other.dtype
                and value.tobytes() == other.tobytes())
    if kind is tuple or kind is list:
        if len(value) != len(other):
            return False
        for item, other_item in zip(value, other):
            if not _same(item, other_item):
                return False
        return True
    return value == other


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


def _structure(trace, inputs, output, data=(), recompute=False):
    """The Structure of a trace: its nodes up to the output as a DiGraph,
    pruned in place by networkx algorithms.

    With ``recompute`` (compiling), the nodes that depend on any traced
    argument (inputs or ``data``, the traced arguments not differentiated)
    and feed the output without being units are kept as COMPUTED: replay
    recomputes them, without errors.
    """
    graph = skeleton(trace, range(output + 1) if output is not None else inputs + data)
    for node in graph:
        refuse_complex(trace.dtypes[node], f"the value of {trace.name(node)} (node {node})")
    roles = _roles(graph, trace, inputs, output, data, recompute)
    graph.remove_nodes_from([node for node in list(graph) if node not in roles])
    for node, role in roles.items():
        if role == CONSTANT:  # no error and nothing recomputed: a value read
            graph.remove_edges_from(list(graph.in_edges(node)))
    describe(trace, graph)
    for node, attributes in graph.nodes(data=True):
        role = attributes["role"] = roles[node]
        if role == CONSTANT and attributes["primitive"] != CONSTANT:
            attributes.update(primitive=CONSTANT, params={}, parents=(),
                              origin=attributes["primitive"])
        marked = role == INPUT or node == output or attributes["primitive"] == "pc_node"
        attributes["unit"] = (("all", "marked") if marked else ("all",)) \
            if role in (INPUT, "node") else ()
    unit = dict(graph.nodes(data="unit"))
    without_error = -len(graph)  # the weight of an edge into a node without an error
    steps = {node: {"steps_" + mode: int(mode in modes) if modes else without_error
                    for mode in UNITS} for node, modes in unit.items()}
    for _, child, edge in graph.edges(data=True):
        edge.update(steps[child])
    nodes = list(nx.topological_sort(graph))
    units = {mode: [node for node in nodes if mode in unit[node]] for mode in UNITS}
    depth = dict.fromkeys(UNITS, 0)
    if output is not None and roles[output] == "node":
        depth["all"] = _longest(graph, "steps_all", nodes)
        # marked units besides the inputs and the output are pc_nodes; without
        # them every input-to-output path has one marked unit, the output
        depth["marked"] = _longest(graph, "steps_marked", nodes) \
            if len(units["marked"]) > len(inputs) + 1 else 1
    return Structure(graph, nodes, roles, {mode: (units[mode], depth[mode]) for mode in UNITS})


def _longest(graph, weight, order):
    """The length of the longest path of ``graph`` by ``weight``."""
    path = nx.dag_longest_path(graph, weight, topo_order=order)
    return sum([graph.edges[u, v][weight] for u, v in zip(path, path[1:])])


def _roles(graph, trace, inputs, output, data, recompute):
    """The role of every node kept, decided on ``graph`` (every edge of the
    trace up to the output), whose edges into primitives without a
    derivative this cuts: the differentiable subgraph. Units ("node") are
    the descendants of the inputs in it that are ancestors of the output."""
    roles = dict.fromkeys(inputs, INPUT)
    roles.update(dict.fromkeys(data, DATA))
    if output is None:
        return roles
    if recompute:  # what replay recomputes: depends on a traced argument, feeds the output
        live = _descendants(graph, inputs + data)
        computed = live & nx.ancestors(graph, output) | ({output} & live)
    cut = [(parent, node, graph.edges[parent, node]) for node in graph
           if not (isinstance(trace.primitives[node], str)
                   or trace.primitives[node].differentiable)
           for parent in graph.pred[node]]
    graph.remove_edges_from(cut)
    reached = _descendants(graph, inputs)
    if output in reached:
        roles.update(dict.fromkeys(reached & nx.ancestors(graph, output) | {output}, "node"))
    if recompute:
        graph.add_edges_from(cut)
        roles.update(dict.fromkeys(computed - set(roles), COMPUTED))
    roles.update(dict.fromkeys(inputs, INPUT))
    roles.update(dict.fromkeys(data, DATA))
    for node, role in list(roles.items()):
        if role in ("node", COMPUTED):
            for parent in trace.parents[node]:
                roles.setdefault(parent, CONSTANT)
    roles.setdefault(output, CONSTANT)
    return roles


def _descendants(graph, sources):
    """The sources and every node reachable from them."""
    return set().union(*nx.bfs_layers(graph, sources)) if sources else set()


def _dot_node(attrs: dict, value: np.ndarray | None, output: bool) -> tuple[str, str]:
    """(escaped DOT label, shape) of a node of Graph.nx with value ``value``."""
    role, kind = attrs["role"], _type(attrs["shape"], attrs["dtype"])
    if role in (INPUT, DATA):
        text, shape = f"input {attrs['params']['name']}", "box"
    elif role == CONSTANT:
        text = "constant" + (f" {value.item():.6g}" if value is not None and value.size == 1
                             else "")
        shape = "plaintext"
    else:
        text = attrs["primitive"] + _format_params(attrs["params"])
        shape = "hexagon" if attrs["primitive"] == "pc_node" else "ellipse"
    label = f"{text}\n{kind}".replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return label, "doubleoctagon" if output else shape
