"""Plan: a Graph lowered to flat buffers and an op table for the Numba kernels.

Nodes are renumbered 0..n-1 in the topological order networkx gave the
graph (see graph.Structure, which also decides the units and the depth
under each ``units=`` option). Each node gets a row of
the op table (opcode, sub-code, parents, integer parameters), a slice of the
error buffer if it is a predictive-coding unit (an input or an interior
node), and a slice of the value buffer if some kernel reads its value.

A plan depends only on the graph's structure (primitives, parameters,
shapes, edges), not on its values, so repeated calls with the same
structure reuse one plan from a bounded cache and only refill the values.
"""
import math
import threading
from collections import OrderedDict
from itertools import accumulate

import numpy as np

from .primitives import OpTable
from .primitives.core import LEAF
from .graph import UNITS, Graph, same_params, structure_key
from .tracing import COMPUTED, INPUT

CACHE_SIZE = 128  # structures kept
CACHE_BYTES = 1 << 28  # bytes of their plans' op tables kept (some hold an index per element)
IDLE_BYTES = 1 << 24  # beyond this, structures idle for CACHE_WINDOW lookups are dropped
CACHE_WINDOW = 32
LAST_ARRAY_BYTES = 1 << 20  # array params the thread's last structure may hold
SCRATCH_WINDOW = 32  # requests after which a scratch buffer may shrink
RELEASE_SIZE = 1 << 20  # value-buffer elements from which a trace's values are released
_scratch = threading.local()


def scratch(name, size):
    """A float64 buffer of ``size`` reused by every call on this thread.

    Large buffers allocated fresh on every call cost the operating system's
    page faults each time; one-shot relaxations borrow these instead (their
    results are copied out before the thread's next call). A buffer grows by
    doubling, except that a request more than twice as large as any before
    gets a new array of its own (``base`` None) that the caller may keep:
    the first call at a new large size then touches no memory besides what
    it uses (grad hands such an error buffer out as the gradient instead of
    copying from it), and a single huge call leaves nothing behind; the
    buffer grows when the size comes again. After every SCRATCH_WINDOW
    requests a buffer shrinks to the largest of them if it is more than
    four times that.
    """
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    # [buffer, largest request in this window, requests in it, largest request]
    held = buffers.get(name)
    if held is None:
        held = buffers[name] = [np.empty(0), 0, 0, 0]
    if size > held[1]:
        held[1] = size
    held[2] += 1
    largest, held[3] = held[3], max(held[3], size)
    if held[0].size < size:
        if size > 2 * largest:  # a new large size: the caller's own
            return np.empty(size)
        held[0] = np.empty(max(size, 2 * held[0].size))
    elif held[2] >= SCRATCH_WINDOW:
        if held[0].size > 4 * held[1]:
            held[0] = np.empty(held[1])
        held[1] = held[2] = 0
    return held[0][:size]


class _Entry:
    """A cached structure: its Structure (pruned DiGraph and what it decides)
    and its plans by ``store_all``, with their size in bytes; ``skeletons``
    holds the Skeletons by ``store_all``, shared by the entries of the same
    structure at other shapes."""

    def __init__(self, structure, skeletons):
        self.structure, self.plans, self.nbytes, self.cached = structure, {}, 0, True
        self.skeletons = skeletons
        self.used = 0  # the cache's lookup count when last looked up


class _Cache:
    """The structures of recent traces, least recently used first: at most
    CACHE_SIZE of them and CACHE_BYTES of plans, and beyond IDLE_BYTES of
    plans none unused for CACHE_WINDOW lookups (the most recent is kept
    whatever its size). A huge call's plan thus goes once other
    structures are in use again."""

    def __init__(self):
        self.entries, self.nbytes, self.lock = OrderedDict(), 0, threading.Lock()
        self.lookups = 0
        # structures at any shapes: (Structure, Skeletons by store_all), the
        # CACHE_SIZE most recent (they hold no per-element arrays)
        self.shapeless = OrderedDict()

    def get_shapeless(self, key):
        """(Structure, Skeletons) of the structure ``key`` at other shapes, or None."""
        with self.lock:
            found = self.shapeless.get(key)
            if found is not None:
                self.shapeless.move_to_end(key)
            return found

    def put_shapeless(self, key, found):
        with self.lock:
            self.shapeless[key] = found
            if len(self.shapeless) > CACHE_SIZE:
                self.shapeless.popitem(last=False)

    def get(self, key):
        with self.lock:
            self.lookups += 1
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
                entry.used = self.lookups
                self._evict()
            return entry

    def put(self, key, entry):
        with self.lock:
            self.entries[key] = entry
            entry.used = self.lookups
            self._evict()

    def grow(self, entry, nbytes):
        """Count ``nbytes`` more of ``entry``'s plans."""
        with self.lock:
            entry.nbytes += nbytes
            if entry.cached:
                self.nbytes += nbytes
                self._evict()

    def _evict(self):
        while len(self.entries) > 1:
            oldest = next(iter(self.entries.values()))
            idle = self.nbytes > IDLE_BYTES and self.lookups - oldest.used > CACHE_WINDOW
            if not (idle or len(self.entries) > CACHE_SIZE or self.nbytes > CACHE_BYTES):
                return
            self.entries.popitem(last=False)
            oldest.cached = False
            self.nbytes -= oldest.nbytes


_cache = _Cache()


def cached_graph(trace, inputs, output):
    """The pruned Graph of a trace, reusing the Structure (and later the plans)
    of an earlier trace of the same structure from the bounded cache; only a
    new structure builds a networkx graph.

    A training loop traces the same structure call after call, so the thread's
    previous trace is compared first, list by list, which costs less than
    building and hashing the structure key; the same structure at new shapes
    (a new batch size) reuses the previous key's shapeless part.
    """
    last = getattr(_scratch, "last", None)
    if last is not None and _same_structure(trace, inputs, output, last[0]):
        if last[0][3] == trace.shapes:
            graph = Graph(trace, inputs, output, structure=last[1].structure)
            graph.plans = last[1]
            return graph
        key = structure_key(trace, inputs, output, shapeless=last[2][0])
    else:
        key = structure_key(trace, inputs, output)
    entry = _cache.get(key)
    if entry is None:
        shapeless = _cache.get_shapeless(key[0])
        if shapeless is None:  # a new structure: pruned by networkx
            graph, skeletons = Graph(trace, inputs, output), {}
            _cache.put_shapeless(key[0], (graph.structure, skeletons))
            entry = _Entry(graph.structure, skeletons)
        else:  # pruning does not depend on shapes
            structure, skeletons = shapeless
            graph = Graph(trace, inputs, output, structure=structure._replace(nx=None))
            entry = _Entry(graph.structure, skeletons)
        _cache.put(key, entry)
    else:
        graph = Graph(trace, inputs, output, structure=entry.structure)
    graph.plans = entry
    # the structure only: the trace's lists but not its values, nor large array params
    held = sum([a.nbytes for node in trace.array_nodes for a in _arrays(trace.params[node])])
    _scratch.last = ((trace.primitives, trace.parents, trace.params, trace.shapes,
                      trace.dtypes, trace.array_nodes, list(inputs), output), entry, key) \
        if held <= LAST_ARRAY_BYTES else None
    return graph


def _arrays(params):
    for value in params.values():
        for item in value if type(value) is tuple else (value,):
            if type(item) is np.ndarray:
                yield item


def _same_structure(trace, inputs, output, last):
    """Whether ``trace`` has the structure ``last`` of an earlier trace, shapes
    aside: list by list, and the params that hold arrays (Trace.array_nodes)
    by content."""
    primitives, parents, params, _, dtypes, array_nodes, last_inputs, last_output = last
    if not (output == last_output and inputs == last_inputs and primitives == trace.primitives
            and parents == trace.parents and dtypes == trace.dtypes
            and array_nodes == trace.array_nodes):
        return False
    if not array_nodes:
        return params == trace.params
    start = 0
    for node in array_nodes:
        if (params[start:node] != trace.params[start:node]
                or not same_params(params[node], trace.params[node])):
            return False
        start = node + 1
    return params[start:] == trace.params[start:]


def plan_for(graph, store_all=False, pooled=False):
    """(plan, value buffer) for ``graph``: its structure's plan, built once per
    cached structure; the buffer holds this graph's values (in this thread's
    scratch buffer when ``pooled``)."""
    entry = graph.plans
    plan = entry.plans.get(store_all)
    if plan is None:
        built = Plan(graph, store_all, entry.skeletons.get(store_all))
        entry.skeletons.setdefault(store_all, built.skeleton)
        plan = entry.plans.setdefault(store_all, built)  # another thread's if it was first
        if plan is built:
            _cache.grow(entry, plan.nbytes)
    if pooled:
        return plan, plan.values_from(graph, scratch("value", plan.value_size), release=True)
    return plan, plan.values_from(graph)


class Skeleton:
    """What a Plan takes from its structure alone, the same at every shape:
    the node order, opcodes, edges, which nodes carry an error or a stored
    value, the units and the sweep's order of opening errors. A structure met
    again at new shapes (a new batch size) builds its Plan from the skeleton
    of an earlier one, lowering only what the shapes change.
    """

    def __init__(self, graph, store_all):
        trace, nodes, roles = graph.trace, graph.nodes, graph.roles
        index = {node: i for i, node in enumerate(nodes)}
        n = len(nodes)
        self.op = np.zeros(n, np.int64)
        has_error = np.array([roles[node] in (INPUT, "node") for node in nodes])
        stored = np.full(n, store_all)
        self.writes_sole_parent = np.zeros(n, bool)
        self.pptr = np.zeros(n + 1, np.int64)
        self.lowered = []  # (i, primitive, parent indices) of the nodes with a row
        par = []
        for i, node in enumerate(nodes):
            self.pptr[i + 1] = self.pptr[i]
            if roles[node] not in ("node", COMPUTED):
                continue  # LEAF
            primitive = trace.primitives[node]
            parents = [index[p] for p in trace.parents[node]]
            par.extend(parents)
            self.pptr[i + 1] = len(par)
            self.op[i] = primitive.opcode
            self.writes_sole_parent[i] = primitive.writes_sole_parent
            self.lowered.append((i, primitive, parents))
            if primitive.reads_inputs == "others":
                for k, p in enumerate(parents):
                    stored[p] |= any(has_error[q] for m, q in enumerate(parents) if m != k)
            elif primitive.reads_inputs:
                stored[parents] = True
            if primitive.reads_output:
                stored[i] = True
        stored[index[graph.output]] = True  # the output energy reads it
        self.par = np.array(par, np.int64)
        self.psend = has_error[self.par].astype(np.int64)
        self.has_error, self.stored_mask = has_error, stored
        # the same as lists: a Plan's offsets are summed in Python, cheaper than
        # numpy's per-call overhead on a few dozen nodes
        self.error_flags, self.stored_flags = has_error.tolist(), stored.tolist()
        self.stored = np.flatnonzero(stored)
        self.nodes = list(nodes)
        self.stored_nodes = [self.nodes[i] for i in self.stored]
        self.leaf = self.op == LEAF
        marked = [i for i, node in enumerate(nodes) if trace.name(node) == "pc_node"]
        self.named = {trace.params[nodes[i]]["name"]: i for i in marked
                      if trace.params[nodes[i]]["name"] is not None}
        self.precision = {i: trace.params[nodes[i]]["precision"] for i in marked
                          if trace.params[nodes[i]]["precision"] is not None}
        self.units = {}  # units= option -> (unit mask, depth), as the graph decided them
        for mode in UNITS:
            unit_nodes, depth = graph.structure.units[mode]
            mask = np.zeros(n, bool)
            mask[[index[node] for node in unit_nodes]] = True
            self.units[mode] = mask, depth
        self.inputs = np.array([index[node] for node in graph.inputs], np.int64)
        self.output = index[graph.output]
        self.index = index
        self._sweep = None

    def sweep_order(self):
        """(kept, events, psend, opens_ptr, opens) of the sweep (see
        Plan.sweep_layout): the errors that keep their own place, the
        (node, opening) events of the walk that places the others (an
        error opened by the step that first writes it, freed after its own
        step reads it), and what does not depend on sizes."""
        if self._sweep is not None:
            return self._sweep
        n, pptr, par = len(self.op), self.pptr, self.par
        unit = self.has_error
        inputs = unit & self.leaf
        keep = inputs.copy()
        keep[self.output] = True
        keep[list(self.named.values())] = True
        open_at = np.full(n, -1)
        open_at[self.output] = n
        for j in range(n - 1, -1, -1):
            for q in range(pptr[j], pptr[j + 1]):
                p = par[q]
                if self.psend[q] and open_at[p] < 0:
                    open_at[p] = j
        by_step = {}
        for i in np.flatnonzero(unit & ~keep).tolist():
            by_step.setdefault(int(open_at[i]), []).append(i)
        freed = unit & ~keep  # after their last reader, step j
        events = []
        for j in range(n, -1, -1):
            events.extend([(i, True) for i in by_step.get(j, ())])
            if j < n and freed[j]:
                events.append((j, False))
        # a parent whose only sender writes (not adds) its error is not zeroed
        senders = np.bincount(par[self.psend != 0], minlength=n)
        child = edge_children(pptr)
        psend = self.psend.copy()
        psend[(self.psend != 0) & (senders[par] == 1) & self.writes_sole_parent[child]] = 2
        written = np.zeros(n, bool)
        written[par[psend == 2]] = True
        steps = [[] for _ in range(n + 1)]
        for i in np.flatnonzero(unit & ~written):  # never written: opened first
            steps[open_at[i] if open_at[i] >= 0 else n].append(i)
        ptr = np.zeros(n + 2, np.int64)
        ptr[1:] = np.cumsum([len(steps[j]) for j in range(n + 1)])
        opens = np.array([i for j in range(n + 1) for i in steps[j]], np.int64)
        # the inputs first: their errors (the gradient) then head the buffer
        kept = np.flatnonzero(inputs).tolist() + np.flatnonzero(keep & ~inputs).tolist()
        self._sweep = kept, events, psend, ptr, opens
        return self._sweep


class Plan:
    """Flat, Numba-ready form of a Graph.

    ``table`` is the OpTable; ``values_from(graph)`` makes the float64 value
    buffer for any graph of this structure; ``inputs`` the plan indices of the differentiated inputs
    (argument order); ``output`` the plan index of the output;
    ``error_size`` the length of the error buffer; ``sizes`` lists each
    node's element count (``table.size`` as Python ints). With ``store_all`` every
    value is stored (strict relaxation and replay recompute predictions from
    them); otherwise only the values some error rule reads. ``skeleton``: the
    Skeleton of this structure at other shapes, if one was built.
    """

    def __init__(self, graph, store_all=False, skeleton=None):
        trace = graph.trace
        if store_all and not trace.keep_values:
            raise ValueError("Storing every value needs a trace made with keep_values=True.")
        self.skeleton = sk = skeleton or Skeleton(graph, store_all)
        # built in lists, one numpy array per field at the end: a structure met
        # at new shapes (a plan-cache miss) pays this on every call
        shapes = [trace.shapes[node] for node in sk.nodes]
        n = len(shapes)
        self.sizes = size = [math.prod(shape) for shape in shapes]
        subcode, iptr, ints = [0] * n, [0] * (n + 1), []
        for i, primitive, parents in sk.lowered:
            subcode[i], row = primitive.lower(trace.params[sk.nodes[i]],
                                              [shapes[p] for p in parents], shapes[i])
            ints.append(row)
            iptr[i + 1] = len(row)
        voff, self.value_size = _offsets(size, sk.stored_flags)
        eoff, self.error_size = _offsets(size, sk.error_flags)
        self.table = OpTable(
            op=sk.op, code=np.array(subcode, np.int64), size=np.array(size, np.int64),
            voff=np.array(voff, np.int64), eoff=np.array(eoff, np.int64), pptr=sk.pptr,
            par=sk.par, psend=sk.psend, iptr=np.array(list(accumulate(iptr)), np.int64),
            ints=np.concatenate(ints) if ints else np.zeros(0, np.int64))
        self.stored, self.nodes, self.index = sk.stored, sk.nodes, sk.index
        self.named, self.inputs, self.output = sk.named, sk.inputs, sk.output
        self.output_shape = shapes[sk.output]
        self.shapes = shapes
        self._sweep = None
        self.relaxations = {}  # prepared Relaxations by options (relax.py)

    def values_from(self, graph, out=None, release=False):
        """A value buffer holding the stored values of ``graph`` (same structure),
        written into ``out`` if given. With ``release``, when the values are
        large (RELEASE_SIZE elements or more), the trace's float64 values
        become views of the buffer as they are copied, so that each array the
        trace alone held is freed at once instead of being held twice (use it
        only when the buffer outlives every use of the trace)."""
        values = graph.trace.values
        if not (release and self.value_size >= RELEASE_SIZE):
            # raveled first: numpy joins 1-d parts faster than it flattens (axis=None)
            parts = list(map(_ravel, map(values.__getitem__, self.skeleton.stored_nodes)))
            if not parts:
                return np.zeros(0)
            if out is None:
                return np.concatenate(parts, dtype=np.float64)
            return np.concatenate(parts, out=out, casting="same_kind")
        out = np.empty(self.value_size) if out is None else out
        start = 0
        for node in self.skeleton.stored_nodes:
            part = values[node]
            view = out[start:start + part.size].reshape(part.shape)
            np.copyto(view, part, casting="same_kind")
            if part.dtype == np.float64:
                values[node] = view
            start += part.size
        return out

    def units_for(self, units):
        """(unit mask, depth) for ``units`` = "all" or "marked".

        Units carry relaxing errors; other nodes pass errors on at once. The
        depth counts units on the longest input-to-output path, the input
        excluded: the number of synchronous steps an exact relaxation takes
        (both come from the graph, see graph.Structure).
        """
        if units not in self.skeleton.units:
            raise ValueError(f"units must be 'all' or 'marked'; got {units!r}.")
        return self.skeleton.units[units]

    @property
    def nbytes(self):
        """Bytes of the op table (what a cached plan holds per element)."""
        return sum(array.nbytes for array in self.table)

    def sweep_layout(self):
        """(table, opens, error_size) for the sweep, whose errors live briefly.

        In a reverse topological sweep a node's error is written first by its
        last child and read last by the node itself; between two such
        lifetimes its buffer can be reused. Inputs, the output and named
        pc_nodes keep their own places (they are read out), the inputs' at
        the head of the buffer. ``table`` is the op table with those
        offsets (and psend 2 on an edge whose child is its parent's only
        sender and writes rather than adds, see
        Primitive.writes_sole_parent); the buffers to zero before node j is
        processed are ``opens[1][opens[0][j]:opens[0][j + 1]]`` (the output's
        are opened first, at j = n).
        """
        if self._sweep is not None:
            return self._sweep
        kept, events, psend, ptr, opens = self.skeleton.sweep_order()
        size = self.sizes
        eoff, free, end = [-1] * len(size), {}, 0
        for i in kept:
            eoff[i], end = end, end + size[i]
        for i, opening in events:
            if not opening:
                free.setdefault(size[i], []).append(eoff[i])
                continue
            spare = free.get(size[i])
            if spare:
                eoff[i] = spare.pop()
            else:
                eoff[i], end = end, end + size[i]
        self._sweep = (self.table._replace(eoff=np.array(eoff, np.int64), psend=psend),
                       (ptr, opens), end)
        return self._sweep

    def precision_buffer(self, overrides=None):
        """Per-element precisions in error-buffer layout: 1, or a pc_node's own
        precision, or ``overrides[name]`` for the pc_node of that name. Empty
        (meaning all ones) when no node has a precision."""
        given = dict(self.skeleton.precision)
        for name, p in (overrides or {}).items():
            if name not in self.named:
                known = ", ".join(sorted(self.named)) or "none"
                raise ValueError(f"precisions names {name!r}, which is not a named pc_node of "
                                 f"this function (named pc_nodes: {known}).")
            given[self.named[name]] = p
        if not given:
            return np.zeros(0)
        precision = np.ones(self.error_size)
        t = self.table
        names = {i: name for name, i in self.named.items()}
        for i, p in given.items():
            p = np.asarray(p, dtype=np.float64)
            where = f"pc_node {names[i]!r}" if i in names else f"a pc_node of shape {self.shapes[i]}"
            if not np.all(p > 0):
                raise ValueError(f"Precisions must be positive; got {p} for {where}.")
            try:
                block = np.broadcast_to(p, self.shapes[i])
            except ValueError:
                raise ValueError(f"The precision of {where} has shape {p.shape}, which does "
                                 f"not broadcast to the node's shape {self.shapes[i]}.") from None
            precision[t.eoff[i]:t.eoff[i] + t.size[i]] = block.ravel()
        return precision

    def __len__(self):
        return len(self.table.op)


_ravel = np.ndarray.ravel


def edge_children(pptr):
    """The child of each edge of an op table with parent pointers ``pptr``
    (edge q runs from par[q] into the node j with pptr[j] <= q < pptr[j + 1])."""
    return np.repeat(np.arange(len(pptr) - 1), np.diff(pptr))


def _offsets(size, flags):
    """(offsets of the flagged nodes in a buffer packing them in order, -1
    elsewhere; the buffer's length)."""
    offsets, end = [], 0
    for n, flag in zip(size, flags):
        offsets.append(end if flag else -1)
        end += n if flag else 0
    return offsets, end
