"""Fusion: a jit replay whose elementwise regions run as one loop each.

A replay (jit.py) normally calls one forward kernel and one error rule per
node, which costs about a microsecond of dispatch each: a graph of many small
elementwise nodes spends its time there. A fused replay is a Numba module
generated for one plan: a replay function that calls the other nodes'
kernels as the relaxation does and, for each region, a function of its own
for either pass. A region, a run of consecutive nodes in the plan's
topological order that are all elementwise (unary or n-ary) and of one size,
with operands of that size or size-1 constants, runs as one loop over the
elements: the forward computes each element of every node in registers and
stores only the values something reads later; the sweep then settles the
region's errors per element in registers, from the scalar functions of the
elementwise tables, and writes only the errors that leave the region. Other
nodes keep their kernels, called by address as in the relaxation loop. A loop
that cannot vectorize (it calls sin or cos, which choose per element between
a fast body and libm) calls libm's forms of the functions instead, about twice
as fast there (elementwise.SCALAR_FORMS).

A region is a contiguous run of the topological order, so no path leaves it
and comes back, and per element the fused sweep adds the same terms in the
same order as the unfused one (errors from children in reverse topological
order, buffers zeroed at the same steps): the gradients are those of the
unfused replay up to rounding of inlined derivatives.

The generated source is written to a file named by its hash and pcgrad's
kernel digest (kernels.source_digest) in Numba's cache folder, and compiled
with ``cache=True``: a later process loads it, and an edited kernel file
gives a new name, never stale code. Numba takes a fraction of a second per
fused node to compile it, so jit.py has it compiled by a child process
(``Fused.compile(elsewhere=True)``) while the calls go on unfused.

A replay, fused or unfused (``replay`` here, which calls the forward pass and
the sweep), takes two arguments, because Numba's unboxing of each argument
of a call costs time on every call: one int64 array holding the plan's op
table and the sweep's index arrays, and one float64 array holding the value,
error and seed buffers (``pack``, ``unpack``).
"""
import atexit
import hashlib
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile
import threading

import numpy as np
from numba import typeof, types
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array

from . import kernels
from .kernels import OpTable, entry
from .primitives.core import LEAF, NARY, UNARY
from .primitives.elementwise import IN_RANGE, NARY_TABLE, UNARY_TABLE
from .relax import forward_pass, kernel_addresses, settle_sweep

# nodes a run needs to be worth compiling a loop for (a plan without one
# stays unfused: a pair saves about a microsecond and costs seconds of compile)
MIN_REGION = 3
# nodes a region has at most: Numba's compile time grows faster than linearly
# with a function's length, so a long run is cut into regions of this many,
# each its own small function
MAX_REGION = 32
FORWARD, DERIVATIVE = 2, 3  # columns of the elementwise tables


def regions(plan, sweep_psend):
    """The (lo, hi) node ranges of ``plan`` fused as regions, in order."""
    t, found, lo = plan.table, [], None
    n = len(plan)
    for j in range(n + 1):
        joins = j < n and (t.op[j] == LEAF or (
            _fusable(t, sweep_psend, j) and (lo is None or t.size[j] == t.size[lo])))
        if joins and lo is None and t.op[j] != LEAF:
            lo, last = j, j
        elif joins and lo is not None:
            last = j if t.op[j] != LEAF else last
        elif lo is not None:
            if int(np.sum(t.op[lo:last + 1] != LEAF)) >= MIN_REGION:
                found += _cut(t, lo, last + 1)
            lo = None
            if j < n and _fusable(t, sweep_psend, j):
                lo, last = j, j
    return found


def _cut(t, lo, hi):
    """lo..hi-1 cut into regions of at most MAX_REGION nodes."""
    nodes = [j for j in range(lo, hi) if t.op[j] != LEAF]
    starts = nodes[::MAX_REGION] + [hi]
    return [(starts[k], starts[k + 1]) for k in range(len(starts) - 1)]


def _fusable(t, sweep_psend, j):
    """Whether node j is elementwise with operands of its own size (or
    size-1 constants that receive no error)."""
    if t.op[j] not in (UNARY, NARY) or t.size[j] == 0 or t.voff[j] < 0:
        return False
    for q in range(t.pptr[j], t.pptr[j + 1]):
        p = t.par[q]
        if t.voff[p] < 0 or sweep_psend[q] == 2:
            return False
        if t.size[p] != t.size[j] and not (t.size[p] == 1 and sweep_psend[q] == 0):
            return False
    return True


@intrinsic
def load(typingctx, array, index):
    """array[index] without Numba's negative-index and bounds handling, whose
    code for thousands of accesses takes Numba seconds to compile."""
    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.load(builder.gep(data, [args[1]]))
    return types.float64(array, index), codegen


@intrinsic
def store(typingctx, array, index, value):
    """array[index] = value (see ``load``)."""
    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        builder.store(args[2], builder.gep(data, [args[1]]))
        return context.get_dummy_value()
    return types.none(array, index, value), codegen


def source(plan, relaxation):
    """Python source of the fused replay of ``plan`` under the sweep
    ``relaxation`` (its op table and opens), or None when no region is worth it.

    The function ``replay(ints, floats)`` (arguments as ``pack`` makes them)
    recomputes the values, settles the errors as settle_sweep does and
    returns whether a read-out gradient holds inf or nan. Each region has a
    function of its own for either pass.
    """
    t, ts = plan.table, relaxation.table
    found = regions(plan, ts.psend)
    if not found:
        return None
    n = len(plan)
    children = [[] for _ in range(n)]
    for j in range(n):
        for q in range(t.pptr[j], t.pptr[j + 1]):
            children[t.par[q]].append(j)
    segments, start = [], 0
    for lo, hi in found:
        if start < lo:
            segments.append(("span", start, lo))
        segments.append(("region", lo, hi))
        start = hi
    if start < n:
        segments.append(("span", start, n))
    used, functions = set(), []
    replay = [f"    open_errors(ts, err, opens_ptr, opens, {n})",
              f"    copy(error_of(ts, err, {plan.output}), seed)"]
    read_back = {}  # region -> values its errors read
    for kind, lo, hi in reversed(segments):
        if kind == "span":
            replay.append(f"    sweep_span(ts, value, err, rules, opens_ptr, opens, {hi}, {lo})")
        else:
            lines, read_back[lo] = _region_sweep(t, ts, relaxation, lo, hi, used,
                                                 _runs_scalar(t, lo, hi, DERIVATIVE))
            functions.append(lines)
            replay.append(f"    sweep_{lo}(value, err)")
    forward = []
    for kind, lo, hi in segments:
        if kind == "span":
            forward.append(f"    forward_span(t, value, forwards, {lo}, {hi})")
        else:
            functions.append(_region_forward(t, plan.output, children, lo, hi, read_back[lo],
                                             used, _runs_scalar(t, lo, hi, FORWARD)))
            forward.append(f"    forward_{lo}(value)")
    head = [
        f"# the fused replay of a plan of {n} nodes, regions {found} (generated by pcgrad.fusion)",
        "from pcgrad.fusion import load, store, unpack",
        "from pcgrad.kernels import entry, kernel",
        "from pcgrad.primitives.core import copy, error_of",
        "from pcgrad.primitives.elementwise import (NARY_TABLE, UNARY_TABLE, scalar_form, zero_d,",
        "                                           zero_nary_d)",
        "from pcgrad.relax import _nonfinite, forward_span, open_errors, sweep_span",
        ""]
    # the table's scalar functions, each compiled once as a function of its
    # own: called from the regions, they compile far faster than inlined ones;
    # a name ending in "s" is the form for scalar loops (see _runs_scalar)
    for name in sorted(used):
        table = "UNARY_TABLE" if name[0] == "U" else "NARY_TABLE"
        column, zero = (FORWARD, "") if name[1] == "f" else \
            (DERIVATIVE, " or zero_d" if name[0] == "U" else " or zero_nary_d")
        args = ", ".join(("x", "y") if name[:2] == "Ud" else ("x",) if name[0] == "U" else
                         ("a", "b", "c") if name[1] == "f" else ("k", "a", "b", "c", "y"))
        form = f"{table}[{name[2:].rstrip('s')}][{column}]{zero}"
        if name.endswith("s"):
            form = f"scalar_form({form})"
        head += [f"_{name} = {form}", "", "",
                 "@kernel", f"def {name}({args}):", f"    return _{name}({args})",
                 "", ""]
    for lines in functions:
        head += ["@kernel"] + lines + ["", ""]
    head += ["@entry(error_model=\"numpy\")",
             "def replay(ints, floats):",
             "    t, ts, forwards, rules, opens_ptr, opens, inputs, scalars, value, err, seed = "
             "unpack(ints, floats)"]
    tail = ["    return _nonfinite(ts, err, inputs)", ""]
    return "\n".join(head + forward + replay + tail)


def _function(t, j, used, kind, scalar):
    """The name of node j's scalar forward ("f") or derivative ("d") in the
    generated module, in its form for scalar loops if ``scalar``."""
    if t.op[j] == UNARY:
        name = f"U{kind}{t.code[j]}"
    else:
        name = f"N{kind}{t.code[j] // 2}"
    name += "s" if scalar else ""
    used.add(name)
    return name


def _runs_scalar(t, lo, hi, column):
    """Whether the loop of region lo..hi-1 that calls the functions of
    ``column`` (its forward's or its sweep's) runs scalar code: whether one
    of them chooses per element between a fast body and libm (sin, cos and
    their derivatives, elementwise.IN_RANGE), which keeps LLVM from
    vectorizing the loop. Such a loop calls libm's forms of the functions
    (elementwise.SCALAR_FORMS), about twice as fast there as the vectorizable
    ones (and these twice as fast as libm in loops that vectorize, whatever
    their length: measured on 8 to 128 elements)."""
    return any(t.op[j] == UNARY and UNARY_TABLE[t.code[j]][column] in IN_RANGE
               for j in range(lo, hi))


def _parents(t, j):
    return [int(t.par[q]) for q in range(t.pptr[j], t.pptr[j + 1])]


def _constants(t, inside, size):
    """The size-1 operands of a region of ``size``: loaded once."""
    return sorted({p for j in inside for p in _parents(t, j)
                   if p not in inside and t.size[p] != size})


def _region_forward(t, output, children, lo, hi, read_back, used, scalar):
    """The forward of region lo..hi-1: each element of every node in
    registers, stored where a later kernel, the output or the region's errors
    read it."""
    size = int(t.size[lo])
    inside = set(j for j in range(lo, hi) if t.op[j] != LEAF)
    constants = _constants(t, inside, size)
    w = [f"def forward_{lo}(value):"]
    w += [f"    c{p} = load(value, {t.voff[p]})" for p in constants]
    w.append(f"    for i in range({size}):")
    loaded = set()

    def operand(p):
        if p in inside:
            return f"v{p}"
        if p in constants:
            return f"c{p}"
        if p not in loaded:
            loaded.add(p)
            w.append(f"        x{p} = load(value, {t.voff[p]} + i)")
        return f"x{p}"

    for j in sorted(inside):
        args = [operand(p) for p in _parents(t, j)]
        if t.op[j] == NARY:
            args += ["0.0"] * (3 - len(args))
        w.append(f"        v{j} = {_function(t, j, used, 'f', scalar)}({', '.join(args)})")
        if j == output or j in read_back or any(c not in inside for c in children[j]):
            w.append(f"        store(value, {t.voff[j]} + i, v{j})")
    return w


def _region_sweep(t, ts, relaxation, lo, hi, used, scalar):
    """The sweep of region lo..hi-1, per element: the errors of its nodes in
    registers, the steps in reverse order with their buffers opened as
    settle_sweep opens them. Returns (its lines, the region nodes whose
    values it reads)."""
    size = int(t.size[lo])
    inside = set(j for j in range(lo, hi) if t.op[j] != LEAF)
    ptr, opens = relaxation.opens_ptr, relaxation.opens
    opened_here = {int(q) for j in range(lo, hi) for q in opens[ptr[j]:ptr[j + 1]]}
    constants = _constants(t, inside, size)
    w = [f"def sweep_{lo}(value, err):"]
    w += [f"    c{p} = load(value, {t.voff[p]})" for p in constants]
    w.append(f"    for i in range({size}):")
    for j in sorted(inside, reverse=True):  # errors that came from outside the region
        if ts.eoff[j] >= 0 and j not in opened_here:
            w.append(f"        e{j} = load(err, {ts.eoff[j]} + i)")
    loaded, reads = set(), set()

    def value(p):
        if p in constants:
            return f"c{p}"
        if p not in loaded:
            loaded.add(p)
            if p in inside:
                reads.add(p)
            w.append(f"        v{p} = load(value, {t.voff[p]} + i)")
        return f"v{p}"

    for j in range(hi - 1, lo - 1, -1):
        for q in opens[ptr[j]:ptr[j + 1]]:
            if q in inside:
                w.append(f"        e{q} = 0.0")
            else:
                w.append(f"        store(err, {ts.eoff[q]} + i, 0.0)")
        if j not in inside or ts.eoff[j] < 0:
            continue
        parents = _parents(t, j)
        d = _function(t, j, used, "d", scalar)
        for k, p in enumerate(parents):
            if ts.psend[t.pptr[j] + k] == 0:
                continue
            if t.op[j] == UNARY:
                term = f"{d}({value(p)}, {value(j)})"
            else:
                reads_inputs, reads_output = NARY_TABLE[t.code[j] // 2][4:6]
                args = [value(x) if reads_inputs == "all" or (reads_inputs == "others" and m != k)
                        else f"e{j}" for m, x in enumerate(parents)]
                args += [f"e{j}"] * (3 - len(args))
                y = value(j) if reads_output else f"e{j}"
                term = f"{d}({k}, {', '.join(args)}, {y})"
            if p in inside:
                w.append(f"        e{p} += {term} * e{j}")
            else:
                at = f"{ts.eoff[p]} + i"
                w.append(f"        store(err, {at}, load(err, {at}) + {term} * e{j})")
    return w, reads


_folder_lock = threading.Lock()
_folders = {}  # digest -> the folder holding this process's generated modules


def _folder(digest):
    """A writable folder for generated modules under Numba's cache for
    pcgrad, holding no modules of other kernel digests; else the temporary
    folder."""
    with _folder_lock:
        found = _folders.get(digest)
        if found is not None:
            return found
        candidates = []
        try:
            candidates.append(pathlib.Path(kernels._cache_path_of(kernels._HERE)) / "fused")
        except Exception:  # no cache locator applies (e.g. a read-only install)
            pass
        candidates.append(pathlib.Path(tempfile.gettempdir()) / f"pcgrad-fused-{os.getuid()}")
        for folder in candidates:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                probe = folder / f".probe-{os.getpid()}"
                probe.write_text("")
                probe.unlink()
            except OSError:
                continue
            # modules of another digest, and Numba's cache of them: never used again
            for old in list(folder.glob("fused_*")) + list(folder.glob("__pycache__/fused_*")):
                if not old.name.startswith(f"fused_{digest[:16]}_"):
                    try:
                        old.unlink()
                    except OSError:
                        pass
            _folders[digest] = folder
            return folder
        raise OSError("no writable folder for pcgrad's fused replays")


def _digest():
    """The digest of every file whose code a fused replay compiles in
    (pcgrad's kernels and this module)."""
    return hashlib.sha256((kernels.source_digest() + pathlib.Path(__file__).read_text())
                          .encode()).hexdigest()


def source_name(text):
    """The module name of a generated source: its hash and the digest, so
    that an edited kernel never leaves stale code in use."""
    digest = _digest()
    return "fused_{}_{}".format(digest[:16], hashlib.sha256(
        (digest + text).encode()).hexdigest()[:24])


def compile_source(text):
    """The ``replay`` of a generated source, its module written under Numba's
    cache folder and imported (Numba loads its compiled code from its cache
    when an earlier process compiled the same source)."""
    name = source_name(text)
    path = _folder(_digest()) / f"{name}.py"
    if not path.exists():  # written once: Numba's cache keys on the file's time stamp
        part = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        part.write_text(text)
        os.replace(part, path)
    module = sys.modules.get(f"pcgrad._fused.{name}")
    if module is None:
        spec = importlib.util.spec_from_file_location(f"pcgrad._fused.{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[spec.name] = module
    return module.replay


class Fused:
    """The fused replay of one plan under one sweep relaxation."""

    def __init__(self, plan, relaxation, text):
        self.plan, self.relaxation, self.text = plan, relaxation, text
        self.nodes = len(plan)
        self.function = None

    def compile(self, elsewhere=False):
        """Compile the generated function (or load it from Numba's cache).
        With ``elsewhere`` a separate Python process compiles it into Numba's
        cache first, so that the compile neither holds this process's GIL
        (its calls go on at full speed) nor shares its core."""
        if elsewhere:
            _compile_elsewhere(self.text)
        function = compile_source(self.text)
        with kernels.announcing(None, once=_announced, message=(
                f"pcgrad: compiling the fused replay of a {self.nodes}-node graph for "
                "pcgrad.jit; later calls and processes reuse it.")):
            function.compile(SIGNATURE)
        self.function = function
        return self


_announced = threading.Event()  # the fused replays' compile notice was printed


# --- the replay's two arguments ------------------------------------------------
# Numba unboxes every argument of a compiled call, a namedtuple field by field:
# eleven arrays and an op table cost a few microseconds a call, two arrays half
# of one. So a replay takes every index array of its plan in one int64 array,
# each a section of it, and its value, error and seed buffers as sections of
# one float64 array.

# "scalars": the output node, the value and error buffer sizes, and the
# addresses of forward_pass and settle_sweep
SECTIONS = OpTable._fields + ("sweep_eoff", "sweep_psend", "forwards", "rules", "opens_ptr",
                              "opens", "inputs", "scalars")
_HEADER = len(SECTIONS) + 1  # ints starts with where each section starts, and where the last ends
_indices, _buffer = typeof(np.zeros(1, np.int64)), typeof(np.zeros(1))
SIGNATURE = (_indices, _buffer)  # replay(ints, floats)

# The unfused replay calls the forward pass and the sweep by address, as the
# relaxation calls kernels: a direct call would link their code into the
# replay, where LLVM optimises it again (seconds on a first call).
FORWARD_PASS = types.none(kernels._table, _buffer, _indices)
SETTLE_SWEEP = types.Tuple((types.float64, types.boolean))(
    kernels._table, _buffer, _buffer, _buffer, types.int64, _buffer, _indices, _indices,
    _indices, _indices, _indices, _indices, types.int64, _buffer, _indices, _indices, _indices,
    _indices)


call_forward_pass = kernels.caller(FORWARD_PASS)  # forward_pass(t, value, forwards)
call_settle_sweep = kernels.caller(SETTLE_SWEEP)  # settle_sweep(...)


def pack(plan, relaxation, seed_size):
    """(ints, floats, value, err, seed): a replay's arguments for ``plan``
    under the sweep ``relaxation``, and the value, error and seed buffers as
    views of ``floats`` (zeros, for the caller to fill in). Compiles the
    kernels and loops it calls if need be."""
    t, ts = plan.table, relaxation.table
    scalars = [plan.output, plan.value_size, relaxation.error_size,
               kernels.address_of(forward_pass, FORWARD_PASS),
               kernels.address_of(settle_sweep, SETTLE_SWEEP)]
    parts = [np.asarray(part, np.int64) for part in (
        tuple(t) + (ts.eoff, ts.psend, kernel_addresses(plan, "forward"),
                    kernel_addresses(plan, "rule"), relaxation.opens_ptr, relaxation.opens,
                    plan.inputs, scalars))]
    starts = _HEADER + np.concatenate([[0], np.cumsum([part.size for part in parts])])
    ints = np.concatenate([starts] + parts)
    floats = np.zeros(plan.value_size + relaxation.error_size + seed_size)
    value = floats[:plan.value_size]
    err = floats[plan.value_size:plan.value_size + relaxation.error_size]
    return ints, floats, value, err, floats[plan.value_size + relaxation.error_size:]


def _view(context, builder, array_type, array, start, stop):
    """Code for array[start:stop] of a 1-D C-contiguous array (0 <= start <=
    stop <= its size), a new reference: no clamping of the bounds, whose code
    makes Numba's slices slow to compile."""
    part = context.make_array(array_type)(context, builder)
    populate_array(part, data=builder.gep(array.data, [start]),
                   shape=[builder.sub(stop, start)], strides=[array.itemsize],
                   itemsize=array.itemsize, meminfo=array.meminfo, parent=array.parent)
    value = part._getvalue()
    context.nrt.incref(builder, array_type, value)
    return value


@intrinsic
def view(typingctx, array, start, stop):
    """array[start:stop] (see ``_view``)."""
    if not (isinstance(array, types.Array) and array.ndim == 1 and array.layout == "C"):
        return None

    def codegen(context, builder, sig, args):
        first, last = (context.cast(builder, v, t, types.intp)
                       for v, t in zip(args[1:], sig.args[1:]))
        return _view(context, builder, sig.args[0],
                     context.make_array(sig.args[0])(context, builder, args[0]), first, last)
    return array(array, start, stop), codegen


UNPACKED = types.Tuple((kernels._table, kernels._table) + (_indices,) * 6 + (_buffer,) * 3)


@intrinsic
def unpack(typingctx, ints, floats):
    """(t, ts, forwards, rules, opens_ptr, opens, inputs, scalars, value, err,
    seed) from a replay's arguments: the op table, the sweep's op table (its
    own error offsets and psend) and views of the other sections. Written as
    code rather than as views in Numba, whose code for some thirty arrays takes
    it seconds to compile."""
    if (ints, floats) != SIGNATURE:
        return None

    def codegen(context, builder, sig, args):
        whole = [context.make_array(t)(context, builder, a) for t, a in zip(sig.args, args)]

        def at(k):  # ints[k]
            return builder.load(builder.gep(whole[0].data, [k]))

        def section(name):
            k = context.get_constant(types.intp, SECTIONS.index(name))
            return _view(context, builder, _indices, whole[0], at(k),
                         at(builder.add(k, context.get_constant(types.intp, 1))))

        t = [section(name) for name in OpTable._fields]
        ts = [section({"eoff": "sweep_eoff", "psend": "sweep_psend"}.get(name, name))
              for name in OpTable._fields]
        others = [section(name) for name in SECTIONS[len(OpTable._fields) + 2:]]
        scalars = at(context.get_constant(types.intp, SECTIONS.index("scalars")))
        values = at(builder.add(scalars, context.get_constant(types.intp, 1)))
        errors = builder.add(values, at(builder.add(scalars, context.get_constant(types.intp, 2))))
        buffers = [_view(context, builder, _buffer, whole[1], a, b) for a, b in (
            (context.get_constant(types.intp, 0), values), (values, errors),
            (errors, whole[1].nitems))]
        return context.make_tuple(builder, sig.return_type, [
            context.make_tuple(builder, kernels._table, t),
            context.make_tuple(builder, kernels._table, ts)] + others + buffers)
    return UNPACKED(ints, floats), codegen


@entry(error_model="numpy")
def replay(ints, floats):
    """The unfused replay: forward_pass and settle_sweep (without a record)
    in one compiled call; whether a read-out gradient holds inf or nan."""
    t, ts, forwards, rules, opens_ptr, opens, inputs, scalars, value, err, seed = unpack(
        ints, floats)
    call_forward_pass(scalars[3], t, value, forwards)
    no_floats, no_ints = view(floats, 0, 0), view(ints, 0, 0)
    return call_settle_sweep(scalars[4], t, value, err, seed, scalars[0], no_floats, ts.eoff,
                             ts.psend, opens_ptr, opens, rules, inputs, 0, no_floats, no_ints,
                             no_ints, no_ints, no_ints)[1]


_children = set()  # compiles running in child processes
_children_lock = threading.Lock()


@atexit.register
def _stop_children():
    """Stop the child compiles still running when this process exits: a
    program that has ended leaves nothing running behind it (Numba writes its
    cache files whole, so a stopped compile leaves none)."""
    with _children_lock:
        for child in _children:
            child.kill()


def _compile_elsewhere(text):
    """Compile a generated source into Numba's cache in a child process
    (this pcgrad); if that fails, the caller compiles it."""
    compile_source(text)  # writes the module's file
    root = str(pathlib.Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    code = ("import sys\n"
            "from pcgrad import fusion\n"
            "fusion.compile_source(sys.stdin.read()).compile(fusion.SIGNATURE)\n")
    try:
        child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 env=env, text=True)
    except OSError:
        return
    with _children_lock:
        _children.add(child)
    try:
        child.communicate(text, timeout=3600)
    except subprocess.SubprocessError:
        child.kill()
    finally:
        with _children_lock:
            _children.discard(child)


def fusable(relaxation, return_info, target):
    """Whether a replay under ``relaxation`` can be fused with exactly the
    unfused semantics: a sweep without a record, no RelaxInfo asked for, and
    the linear energy (whose output error is the cotangent)."""
    return (relaxation.schedule == "sweep" and not relaxation.recording and not return_info
            and target is None and not relaxation.named)


def fuse(plan, relaxation):
    """A Fused replay of ``plan`` (not yet compiled), or None when it has no
    region worth fusing."""
    text = source(plan, relaxation)
    return None if text is None else Fused(plan, relaxation, text)

