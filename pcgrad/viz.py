"""Pictures of a relaxation: the graph, its curves, and errors settling on it.

``draw_graph`` draws a traced function's graph (the networkx DAG of
``pcgrad.trace``) in layers, optionally coloured by a relaxation's settled
errors; ``plot_relaxation`` plots residual, energy, per-unit error norms and
the gradient estimate against iteration; ``animate_relaxation`` writes the
graph drawing, one frame per iteration, as a GIF or a self-contained HTML page.

The pictures need matplotlib (and Pillow for GIFs): ``pip install "pcgrad[viz]"``.
matplotlib is imported when one of these functions is called, so
``import pcgrad`` never needs it.
"""
from __future__ import annotations

import contextlib
import html
import os
import pathlib
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import networkx as nx
import numpy as np

from .api import grad, trace
from .graph import Graph
from .pytree import flatten
from .tracing import CONSTANT, DATA, INPUT

# kind: (marker, face colour when not coloured by errors, legend label)
KINDS = {
    "input": ("s", "#4c78a8", "input (differentiated)"),
    "data": ("^", "#72b7b2", "data (not differentiated)"),
    "constant": ("o", "#d4d4d4", "constant"),
    "node": ("o", "#ffffff", "primitive"),
    "pc_node": ("h", "#f2a65a", "pc_node"),
    "output": ("D", "#e45756", "output"),
}
NO_ERROR = "#d9d9d9"  # a unit-less node (units="marked") in a drawing coloured by errors
ERROR_CMAP = "RdBu_r"  # diverging: zero error is its light middle colour
NODE_SIZE, CONSTANT_SIZE = 620, 140  # marker areas, points^2


def _pyplot() -> Any:
    """matplotlib.pyplot, imported on first use (the ``viz`` extra)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('pcgrad.viz needs matplotlib: pip install "pcgrad[viz]"') from None
    return plt


@dataclass
class GraphDrawing:
    """What ``draw_graph`` drew.

    ``ax``: the Axes; ``positions``: node id -> (x, y); ``markers``: node id ->
    (PathCollection, index), the node's marker; ``labels``: node id -> its
    Text. When coloured by errors, ``cmap`` and ``norm`` map an error to its
    colour (``color_of(0.0)`` is the zero colour) and ``colorbar`` is the
    colour bar; otherwise all three are None.
    """
    ax: Any
    graph: Graph
    positions: dict[int, tuple[float, float]]
    markers: dict[int, tuple[Any, int]]
    labels: dict[int, Any]
    cmap: Any = None
    norm: Any = None
    colorbar: Any = None
    _base: dict[int, str] = field(default_factory=dict)

    def facecolor(self, node: int) -> np.ndarray:
        """The RGBA face colour node ``node`` is drawn in."""
        collection, i = self.markers[node]
        return np.asarray(collection.get_facecolors()[i])

    def color_of(self, error: float) -> np.ndarray:
        """The RGBA colour of an error (a scalar error, or an error's norm)."""
        return np.asarray(self.cmap(self.norm(error)))

    def show(self, record: Any, k: int) -> None:
        """Colour the nodes and label the inputs (and, under strict, the values)
        as at recorded iteration ``k`` of ``record``."""
        shown = _errors_at(record, k)
        faces: dict[Any, np.ndarray] = {}
        for node, (collection, i) in self.markers.items():
            if collection not in faces:
                faces[collection] = np.array(collection.get_facecolors())
            if node in shown:
                faces[collection][i] = self.color_of(shown[node])
        for collection, colours in faces.items():
            collection.set_facecolors(colours)
        extra = _readouts(record, k)
        for node, text in self.labels.items():
            text.set_text(self._base[node] + extra.get(node, ""))


def _graph_of(f_or_graph: Callable[..., Any] | Graph, args: tuple[Any, ...],
              argnums: Any) -> Graph:
    if isinstance(f_or_graph, Graph):
        if args:
            raise TypeError("draw_graph takes arguments only with a function to trace; "
                            "it was given a Graph.")
        return f_or_graph
    return trace(f_or_graph, *args, argnums=argnums)


def _kind(graph: Graph, node: int, attrs: dict[str, Any]) -> str:
    if node == graph.output:
        return "output"
    if attrs["role"] in (INPUT, DATA, CONSTANT):
        return str(attrs["role"])
    return "pc_node" if attrs["primitive"] == "pc_node" else "node"


def _shape_text(shape: tuple[int, ...]) -> str:
    return "scalar" if shape == () else "\u00d7".join(str(d) for d in shape)


def _label(attrs: dict[str, Any], value: Any) -> str:
    """Two lines: what the node is (a constant: its value), and its shape."""
    shape = _shape_text(attrs["shape"])
    if attrs["role"] in (INPUT, DATA):
        return f"{attrs['params']['name']}\n{shape}"
    if attrs["role"] == CONSTANT:
        if value is not None and np.size(value) == 1:
            return f"{np.asarray(value).item():.4g}"
        return f"constant\n{shape}"
    name = attrs["primitive"]
    if name == "pc_node" and attrs["params"].get("name"):
        name = f"pc_node {attrs['params']['name']!r}"
    return f"{name}\n{shape}"


def _layers(g: nx.DiGraph) -> dict[int, list[int]]:
    """Layer -> nodes in drawing order.

    Layers are the topological generations of the graph without its leaves
    (inputs and constants), from layer 1; a leaf goes one layer before its
    first reader, so that a weight used late sits beside its use. Within a
    layer, nodes are ordered by the mean height of their neighbours (those
    before, then those after), which keeps edges from crossing needlessly.
    """
    leaves = {n for n in g if g.in_degree(n) == 0}
    layer = {n: k + 1 for k, nodes in enumerate(nx.topological_generations(g.subgraph(
        n for n in g if n not in leaves))) for n in nodes}
    for n in leaves:
        layer[n] = min((layer[c] for c in g.successors(n)), default=1) - 1
    order: dict[int, list[int]] = {}
    for n in sorted(g):
        order.setdefault(layer[n], []).append(n)
    order = dict(sorted(order.items()))
    height = {n: i - (len(nodes) - 1) / 2 for nodes in order.values() for i, n in enumerate(nodes)}
    for neighbours, keys in ((g.predecessors, list(order)), (g.successors, list(order)[::-1])):
        for key in keys:
            def centre(n: int) -> float:
                near = [height[m] for m in neighbours(n)]
                return sum(near) / len(near) if near else height[n]
            order[key].sort(key=centre)
            height.update({n: i - (len(order[key]) - 1) / 2 for i, n in enumerate(order[key])})
    return order


def _errors_at(record: Any, k: int) -> dict[int, float]:
    """Node id -> the number its colour shows at recorded iteration k: a
    scalar unit's error itself, an array unit's error norm; inputs that are
    not recorded units show their gradient estimate the same way."""
    shown = {}
    for r, node in enumerate(record.nodes):
        e = None if record.errors is None else record.errors[r][k]
        shown[node] = float(e.reshape(())) if e is not None and e.size == 1 else \
            float(record.norms[k, r])
    for r, node in enumerate(record.inputs):
        if node not in shown:
            g = np.asarray(record.gradients[r][k])
            shown[node] = float(g.reshape(())) if g.size == 1 else float(np.linalg.norm(g))
    return shown


def _number(name: str, x: np.ndarray) -> str:
    x = np.asarray(x)
    return f"{name} = {x.item():.4g}" if x.size == 1 else f"|{name}| = {np.linalg.norm(x):.3g}"


def _readouts(record: Any, k: int) -> dict[int, str]:
    """Extra label lines at iteration k: the gradient estimate at each input,
    and each unit's value when the record has values (strict)."""
    extra = {node: "\n" + _number("grad", record.gradients[r][k])
             for r, node in enumerate(record.inputs)}
    if record.values is not None:
        for r, node in enumerate(record.nodes):
            if node not in extra:
                extra[node] = "\n" + _number("v", record.values[r][k])
    return extra


def _record_of(info: Any, graph: Graph) -> Any:
    record = getattr(info, "record", None)
    if record is None:
        raise ValueError("Colouring by errors needs the relaxation's record: relax with "
                         "return_info=True and record='errors'.")
    shapes = graph.nx.nodes(data="shape")
    for r, node in enumerate(record.nodes):
        if node not in graph.nx or (record.errors is not None
                                    and record.errors[r].shape[1:] != tuple(shapes[node])):
            raise ValueError(f"The record's unit {node} is not a node of this graph: trace the "
                             "function with the argnums of the relaxation (draw_graph(f, "
                             "*args, argnums=...)).")
    return record


def _error_scale(record: Any, frames: Sequence[int]) -> float:
    """The largest |number| any node shows over ``frames``; 1 if all are zero."""
    top = max((abs(v) for k in frames for v in _errors_at(record, k).values()), default=0.0)
    return top if top > 0 and np.isfinite(top) else 1.0


def _draw(graph: Graph, ax: Any = None, record: Any = None, frames: Sequence[int] = (),
          title: str | None = None) -> GraphDrawing:
    """Draw ``graph``; with ``record``, colour by its errors on a scale that
    covers every frame in ``frames`` (and show the last of them)."""
    plt = _pyplot()
    from matplotlib.colors import SymLogNorm
    from matplotlib.lines import Line2D

    g = graph.nx
    layers = _layers(g)
    if ax is None:
        width = min(40.0, max(5.0, 1.05 * len(layers) + (1.6 if record is not None else 0.5)))
        height = min(40.0, max(3.0, 1.0 * max(len(nodes) for nodes in layers.values()) + 1.4))
        _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    pos = nx.multipartite_layout(g, subset_key=layers)
    positions = {n: (float(x), -float(y)) for n, (x, y) in pos.items()}  # first node on top
    step = _spacing(positions, layers)

    kinds = {n: _kind(graph, n, g.nodes[n]) for n in g}
    colored = record is not None
    recorded = set(record.nodes) | set(record.inputs) if colored else set()
    nx.draw_networkx_edges(g, positions, ax=ax, arrows=True, arrowstyle="-|>", arrowsize=11,
                           edge_color="#7f7f7f", width=0.9, min_source_margin=8,
                           min_target_margin=9,
                           node_size=[CONSTANT_SIZE if kinds[n] == "constant" else NODE_SIZE
                                      for n in g], node_shape="o")
    markers: dict[int, tuple[Any, int]] = {}
    for kind, (marker, colour, _) in KINDS.items():
        members = [n for n in g if kinds[n] == kind]
        if not members:
            continue
        faces = [colour if not colored or kind == "constant" else
                 ("#ffffff" if n in recorded else NO_ERROR) for n in members]
        collection = ax.scatter([positions[n][0] for n in members],
                                [positions[n][1] for n in members],
                                s=CONSTANT_SIZE if kind == "constant" else NODE_SIZE,
                                marker=marker, c=faces, edgecolors="#333333",
                                linewidths=1.6 if kind == "output" else 1.0, zorder=3)
        collection.set_gid(f"pcgrad-nodes-{kind}")
        markers.update({n: (collection, i) for i, n in enumerate(members)})
    labels, base = {}, {}
    for n in g:
        base[n] = _label(g.nodes[n], graph.trace.values[n])
        below = 8 if kinds[n] == "constant" else 13
        labels[n] = ax.annotate(base[n], positions[n], xytext=(0, -below),
                                textcoords="offset points", ha="center", va="top",
                                fontsize=8.5, zorder=4, linespacing=1.05,
                                bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none",
                                          alpha=0.8))
    xs = [p[0] for p in positions.values()]
    ys = [p[1] for p in positions.values()]
    ax.set_xlim(min(xs) - 0.55 * step, max(xs) + 0.55 * step)
    ax.set_ylim(min(ys) - 0.95 * step, max(ys) + 0.35 * step)
    ax.set_axis_off()

    handles = [Line2D([], [], marker=KINDS[k][0], linestyle="", markersize=9,
                      markerfacecolor=KINDS[k][1] if not colored or k == "constant" else "white",
                      markeredgecolor="#333333", label=KINDS[k][2])
               for k in KINDS if k in kinds.values()]
    if colored and any(n not in recorded and kinds[n] != "constant" for n in g):
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=9,
                              markerfacecolor=NO_ERROR, markeredgecolor="#333333",
                              label="not a unit (no error recorded)"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              ncols=min(len(handles), 4), frameon=False, fontsize=8, handletextpad=0.3)
    drawing = GraphDrawing(ax, graph, positions, markers, labels, _base=base)
    if colored:
        top = _error_scale(record, frames)
        # symmetric log scale: errors a thousand times smaller than the largest
        # still show, and zero is the colour map's middle
        drawing.cmap = plt.get_cmap(ERROR_CMAP)
        drawing.norm = SymLogNorm(linthresh=1e-3 * top, linscale=0.5, vmin=-top, vmax=top)
        mappable = plt.cm.ScalarMappable(norm=drawing.norm, cmap=drawing.cmap)
        drawing.colorbar = ax.figure.colorbar(
            mappable, ax=ax, shrink=0.7, pad=0.01, aspect=30,
            label="error \u03b5 (scalar units; arrays: its norm |\u03b5|)")
        ticks = [sign * top * scale for sign in (-1, 1) for scale in (1, 0.1, 0.01)] + [0.0]
        drawing.colorbar.set_ticks(sorted(ticks), labels=[f"{t:.2g}" for t in sorted(ticks)])
        drawing.show(record, frames[-1])
    ax.set_title(title if title is not None else
                 f"{len(g)} nodes, depth {graph.depth}", fontsize=10)
    return drawing


def _spacing(positions: dict[int, tuple[float, float]], layers: dict[int, list[int]]) -> float:
    """Distance between neighbouring layers (multipartite_layout scales x and y alike)."""
    firsts = [positions[nodes[0]][0] for nodes in layers.values()]
    if len(firsts) > 1:
        return abs(firsts[1] - firsts[0])
    ys = sorted(p[1] for p in positions.values())
    return abs(ys[1] - ys[0]) if len(ys) > 1 else 1.0


def draw_graph(f_or_graph: Callable[..., Any] | Graph, *args: Any, ax: Any = None,
               info: Any = None, argnums: Any = None, title: str | None = None) -> GraphDrawing:
    """Draw a function's computation graph, optionally coloured by a relaxation.

    ``f_or_graph`` is a Graph (``pcgrad.trace``'s) or a function, traced at
    ``args`` with ``argnums`` (default: every argument, as ``pcgrad.trace``).
    Nodes sit in layers by topological generation, from the inputs (left) to
    the output (right), each labelled with its primitive and shape; the
    marker tells inputs, data, constants, primitives, pc_nodes and the
    output apart (see the legend).

    With ``info`` (the RelaxInfo of a relaxation run with ``return_info=True,
    record="errors"``, and the same argnums) each unit is coloured by its
    settled error (a scalar unit by its signed error, an array unit by its
    norm) on a diverging colour map centred on zero, with a symmetric log
    scale and a colour bar, and each input is labelled with its gradient. Draws into ``ax`` (else a new
    figure sized to the graph) and returns a GraphDrawing.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pcgrad, pcgrad.numpy as np
    >>> f = lambda x: np.sum(np.tanh(x) ** 2)
    >>> drawing = pcgrad.viz.draw_graph(f, np.ones(3))
    >>> len(drawing.markers)
    4
    >>> g, info = pcgrad.grad(f, return_info=True, record="errors")(np.ones(3))
    >>> drawing = pcgrad.viz.draw_graph(f, np.ones(3), info=info)
    """
    graph = _graph_of(f_or_graph, args, argnums)
    if info is None:
        return _draw(graph, ax, title=title)
    record = _record_of(info, graph)
    last = record.norms.shape[0] - 1
    return _draw(graph, ax, record, [last], title if title is not None else
                 f"{info.schedule}: settled after {info.iterations} iteration"
                 f"{'s' if info.iterations != 1 else ''}")


def _infos(info_or_infos: Any) -> list[Any]:
    return list(info_or_infos) if isinstance(info_or_infos, (list, tuple)) else [info_or_infos]


def _positive(y: np.ndarray, floor: float) -> np.ndarray:
    """y for a log axis: values below ``floor`` (zeros: exactly settled) at the floor."""
    return np.maximum(np.asarray(y, float), floor)


FLOOR = 1e-17


def plot_relaxation(info_or_infos: Any, labels: Sequence[str] | None = None,
                    reference: Any = None, graph: Graph | None = None) -> Any:
    """Plot how relaxations settled; several (one per schedule, say) overlaid.

    Top row: the residual max|dF/dv| against iteration (log scale); the
    energy (``info.energy``, the free energy F under ``strict``) and the sum
    of squared prediction errors (``info.squared_errors``, 1/2 sum eps^T
    Pi^-1 eps), where recorded; and, with ``reference`` (the exact
    gradient, in the structure ``grad`` returns), the relative error of the
    gradient estimate at each iteration. Below, for each relaxation with a
    record (``record="errors"``), a heat map of every unit's error norm
    against iteration (exact zeros in white); ``graph`` (the same function's
    ``pcgrad.trace``) names its rows. Values below 1e-17 (exact zeros) are
    drawn at 1e-17 on the log axes. Returns the matplotlib Figure.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pcgrad, pcgrad.numpy as np
    >>> f = lambda x: np.sum(np.sin(np.tanh(x)))
    >>> infos = [pcgrad.grad(f, schedule=s, return_info=True, record="errors")(np.ones(3))[1]
    ...          for s in ("jacobi", "euler")]
    >>> figure = pcgrad.viz.plot_relaxation(infos, reference=pcgrad.grad(f)(np.ones(3)))
    """
    plt = _pyplot()
    from matplotlib.colors import LogNorm

    infos = _infos(info_or_infos)
    labels = list(labels) if labels is not None else [i.schedule for i in infos]
    if len(labels) != len(infos):
        raise ValueError(f"plot_relaxation got {len(infos)} relaxations and {len(labels)} "
                         "labels; give one label per relaxation.")
    with_energy = any(getattr(i, "energy", None) is not None or
                      getattr(i, "squared_errors", None) is not None for i in infos)
    recorded = [(i, label) for i, label in zip(infos, labels)
                if getattr(i, "record", None) is not None]
    if reference is not None and not recorded:
        raise ValueError("The gradient error needs the relaxations' records: relax with "
                         "return_info=True and record='errors'.")
    curves = 1 + with_energy + (reference is not None)
    columns = max(curves, len(recorded), 1)
    figure = plt.figure(figsize=(4.6 * columns, 7.4 if recorded else 3.6),
                        layout="constrained")
    top, bottom = figure.subfigures(2, 1, height_ratios=[1, 1.15]) if recorded else \
        (figure, None)
    axes = list(np.atleast_1d(top.subplots(1, curves)))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    lengths = [len(i.residual) for i in infos]
    spread = max(lengths) > 20 * max(1, min(lengths))  # short runs beside long ones

    ax = axes.pop(0)
    for n, (info, label) in enumerate(zip(infos, labels)):
        ax.plot(_positive(info.residual, FLOOR), "o-", ms=3, color=colours[n % len(colours)],
                label=label)
    ax.set(yscale="log", xlabel="iteration", ylabel="residual max |dF/dv|",
           title="residual")
    ax.legend(fontsize=8)
    if with_energy:
        ax = axes.pop(0)
        signed = False
        for n, (info, label) in enumerate(zip(infos, labels)):
            colour = colours[n % len(colours)]
            energy = getattr(info, "energy", None)
            if energy is not None:
                ax.plot(energy, "-", color=colour, label=f"{label}: energy F")
                signed |= bool(np.any(np.asarray(energy) <= 0))
            squared = getattr(info, "squared_errors", None)
            if squared is not None:
                ax.plot(_positive(squared, FLOOR), "--", color=colour,
                        label=f"{label}: \u00bd\u03a3 \u03b5\u1d40\u03a0\u207b\u00b9\u03b5")
        ax.set_yscale("symlog" if signed else "log")
        ax.set(xlabel="iteration", title="energy and squared errors")
        ax.legend(fontsize=7)
    if reference is not None:
        ax = axes.pop(0)
        exact = np.concatenate([np.ravel(leaf) for leaf in flatten(reference)[0]])
        scale = np.linalg.norm(exact) or 1.0
        for n, (info, label) in enumerate(zip(infos, labels)):
            record = getattr(info, "record", None)
            if record is None:
                continue
            estimates = np.concatenate([np.reshape(g, (len(g), -1)) for g in record.gradients],
                                       axis=1)
            if estimates.shape[1] != exact.size:
                raise ValueError(f"The reference has {exact.size} elements; the gradients of "
                                 f"relaxation {label!r} have {estimates.shape[1]}. Give the "
                                 "exact gradient of the same arguments.")
            error = np.linalg.norm(estimates - exact, axis=1) / scale
            ax.plot(_positive(error, FLOOR), "o-", ms=3, color=colours[n % len(colours)],
                    label=label)
        ax.set(yscale="log", xlabel="iteration", ylabel="|g_k - g| / |g|",
               title="gradient estimate: relative error")
        ax.legend(fontsize=8)
    for ax in top.axes:
        if spread:  # a log-like iteration axis, linear over the first ten
            ax.set_xscale("symlog", linthresh=10, linscale=0.6)
            ax.set_xlim(left=0)
    if bottom is not None:
        heat_axes = np.atleast_1d(bottom.subplots(1, len(recorded)))
        for ax, (info, label) in zip(heat_axes, recorded):
            _heat_map(ax, info.record, label, graph, LogNorm, plt)
    return figure


def _heat_map(ax: Any, record: Any, label: str, graph: Graph | None, LogNorm: Any,
              plt: Any) -> None:
    """Units (inputs at the bottom, the output on top) against iteration."""
    norms = np.ma.masked_less_equal(np.asarray(record.norms, float).T, 0.0)
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    positive = norms.compressed()
    norm = LogNorm(positive.min(), positive.max()) if positive.size and \
        positive.min() < positive.max() else None
    image = ax.imshow(norms, aspect="auto", origin="lower", interpolation="nearest",
                      cmap=cmap, norm=norm)
    names = [f"%{n}" if graph is None else f"%{n} " + _label(graph.nx.nodes[n], graph.trace.values[n]).split("\n")[0]
             for n in record.nodes]
    every = max(1, len(names) // 24)
    ax.set_yticks(range(0, len(names), every), names[::every], fontsize=7)
    ax.set(xlabel="iteration", title=f"{label}: error norm |\u03b5| per unit")
    ax.figure.colorbar(image, ax=ax, label="|\u03b5| (white: exactly 0)")


def animate_relaxation(f: Callable[..., Any], *args: Any, schedule: str = "jacobi",
                       path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
                       = "relax.gif", argnums: Any = 0, fps: int | None = None,
                       max_frames: int | None = None, progress: bool = False,
                       **options: Any) -> Any:
    """Animate a relaxation on the graph: one frame per recorded iteration.

    Relaxes ``f`` at ``args`` (``pcgrad.grad(f, argnums, schedule=schedule,
    **options)`` with ``record="errors"``) and draws the graph as
    ``draw_graph`` does, its nodes coloured by their errors at each
    iteration and the inputs labelled with the gradient estimate so far:
    under ``jacobi`` the errors move one layer per frame from the output
    to the inputs, under ``euler`` they grow gradually, under ``strict``
    the values move too (shown under each unit). ``path`` (one path or
    several) ends in ``.gif`` (written with Pillow) or ``.html`` (a
    self-contained page: every frame embedded, playable offline).
    ``fps`` defaults to about 8 seconds per loop; ``max_frames`` (default:
    all) shows that many iterations, evenly spaced, first and last included,
    for long relaxations. ``progress`` shows a tqdm bar while the frames are
    drawn. Returns the RelaxInfo shown.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import os, tempfile, pcgrad, pcgrad.numpy as np
    >>> where = os.path.join(tempfile.mkdtemp(), "relax.gif")
    >>> info = pcgrad.viz.animate_relaxation(lambda x: np.sum(np.tanh(x)), np.ones(2),
    ...                                      path=where)
    >>> info.iterations
    2
    """
    paths = [pathlib.Path(p) for p in ([path] if isinstance(path, (str, os.PathLike))
                                       else path)]
    for p in paths:
        if p.suffix.lower() not in (".gif", ".html"):
            raise ValueError(f"animate_relaxation writes .gif or .html files; got {str(p)!r}.")
    plt = _pyplot()

    _, info = grad(f, argnums=argnums, schedule=schedule, return_info=True, record="errors",
                   **options)(*args)
    graph = trace(f, *args, argnums=argnums)
    record = _record_of(info, graph)
    frames = list(range(record.norms.shape[0]))
    if max_frames is not None and len(frames) > max_frames:
        frames = sorted(set(np.linspace(0, frames[-1], max(2, max_frames)).round().astype(int)))
    drawing = _draw(graph, record=record, frames=frames)
    residual = np.asarray(info.residual)

    def show(k: int) -> None:
        drawing.show(record, k)
        r = residual[min(k, residual.size - 1)]
        drawing.ax.set_title(f"{schedule}: iteration {k} of {info.iterations}    "
                             f"residual max|dF/dv| = {r:.2e}", fontsize=10)

    fps = fps if fps is not None else int(np.clip(round(len(frames) / 8), 1, 12))
    _write_frames(drawing.ax.figure, frames, show, paths, fps,
                  f"pcgrad: {schedule} relaxation", progress)
    plt.close(drawing.ax.figure)
    return info


def _write_frames(figure: Any, frames: Sequence[int], show: Callable[[int], None],
                  paths: Sequence[pathlib.Path], fps: int, title: str, progress: bool) -> None:
    """Write ``figure`` at each of ``frames`` (``show(k)`` sets frame k up) to
    each path, a GIF or a page titled ``title``, drawing each frame once.

    matplotlib's movie writers grab a frame by saving their figure, which
    would draw it again for every writer: they save ``picture`` instead, a
    figure that shows the drawn pixels one to one.
    """
    from matplotlib import animation
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # laid out and drawn by Agg whatever pyplot's backend, as savefig draws a PNG
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else \
        FigureCanvasAgg(figure)
    # even pixel sizes (the HTML writer would resize its figure to them) and
    # one layout: every frame, in every file, has the same boxes
    width, height = figure.get_size_inches()
    figure.set_size_inches(animation.adjusted_figsize(width, height, figure.dpi, 2))
    figure.draw_without_rendering()
    figure.set_layout_engine("none")
    picture = Figure(figsize=figure.get_size_inches(), dpi=figure.dpi)
    FigureCanvasAgg(picture)
    pixels = picture.figimage(np.zeros((1, 1, 4), np.uint8), origin="upper")
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        # the HTML writer writes matplotlib's player, which _page then wraps
        players = {p: pathlib.Path(scratch, f"{n}.html") for n, p in enumerate(paths)
                   if p.suffix.lower() == ".html"}
        with contextlib.ExitStack() as saving:
            writers = [saving.enter_context(_writer(p, fps).saving(
                picture, players.get(p, p), picture.dpi)) for p in paths]
            for k in _progress(frames, ", ".join(p.name for p in paths), progress):
                show(k)
                canvas.draw()
                pixels.set_data(np.array(canvas.buffer_rgba()))
                for writer in writers:
                    writer.grab_frame()
        for p, player in players.items():
            p.write_text(_page(title, player.read_text()), encoding="utf-8")


def _writer(path: pathlib.Path, fps: int) -> Any:
    """matplotlib's movie writer for a GIF (Pillow's) or a page (every frame embedded)."""
    from matplotlib import animation

    if path.suffix.lower() == ".gif":
        return animation.PillowWriter(fps=fps)
    return animation.HTMLWriter(fps=fps, embed_frames=True, default_mode="loop",
                                embed_limit=2.0 ** 12)  # MB: keep every frame


def _progress(frames: Sequence[int], names: str, progress: bool) -> Iterable[int]:
    """``frames``, with a tqdm bar that advances as each is drawn if ``progress``
    (and tqdm is installed)."""
    if not progress:
        return frames
    try:
        from tqdm import tqdm
    except ImportError:
        return frames
    return tqdm(frames, desc=f"writing {names}", unit="frame", leave=False)


# matplotlib's player draws its buttons with Font Awesome icons loaded from
# the web; the page uses characters instead, so it needs no network access
ICONS = {"fa fa-play fa-flip-horizontal": "\u25c0", "fa fa-minus": "\u2212",
         "fa fa-plus": "+", "fa fa-fast-backward": "|\u25c0\u25c0",
         "fa fa-step-backward": "|\u25c0", "fa fa-pause": "\u25ae\u25ae",
         "fa fa-play": "\u25b6", "fa fa-step-forward": "\u25b6|",
         "fa fa-fast-forward": "\u25b6\u25b6|"}


def _page(title: str, player: str) -> str:
    """A complete, self-contained HTML page around matplotlib's JavaScript player."""
    player = re.sub(r"<link[^>]*font-awesome[^>]*>", "", player)
    for icon, character in ICONS.items():
        player = player.replace(f'<i class="{icon}"></i>', character)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n</head>\n<body>\n{player}\n</body>\n"
            "</html>\n")
