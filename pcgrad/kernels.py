"""Kernels compiled when first used, and called by address from the relaxation.

Every kernel of every primitive family has one of two signatures over the op
table (see ``OpTable``):

    rule(t, j, value, prediction, e, acc)   acc[parents of j] += J_j^T e
    forward(t, j, value, out)               out = f_j(values of j's parents)

The relaxation loop never names a kernel: a plan hands it one int64 array of
kernel addresses per signature (one entry per node), and it calls entry j
through ``call_rule``/``call_forward``. So a kernel is compiled (or loaded
from Numba's on-disk cache) only when a plan first uses it, and adding a
primitive never recompiles the loop. Addresses are those of Numba's native
entry points, called with Numba's own calling convention (what its
first-class function values do internally); this uses Numba internals, so
pyproject.toml pins the Numba range it is tested with.

A compile that takes more than a second is announced once on stderr;
``pcgrad.precompile()`` compiles every kernel ahead of time.
"""
import contextlib
import ctypes
import os
import functools
import hashlib
import importlib.machinery
import importlib.util
import pathlib
import re
import sys
import threading
import warnings
from collections import namedtuple

import numpy as np
from numba import njit, types, typeof
from llvmlite import binding as llvm, ir
from numba.core import cgutils, event
from numba.core.caching import FunctionCache
from numba.core.registry import CPUDispatcher, cpu_target
from numba.extending import intrinsic, register_jitable

# The op table: flat int64 arrays over the plan's nodes (in topological order).
#   op, code     family and sub-code of node j
#   size         number of elements of node j
#   voff, eoff   offset of node j in the value and error buffers (-1: not stored)
#   pptr, par    parents of j are par[pptr[j]:pptr[j+1]] (node indices)
#   psend        1 where the error rule must send error to that parent
#   iptr, ints   integer parameters of j are ints[iptr[j]:iptr[j+1]]
OpTable = namedtuple("OpTable", "op code size voff eoff pptr par psend iptr ints")

_ints, _floats = np.zeros(1, np.int64), np.zeros(1)
_table = typeof(OpTable(*[_ints] * len(OpTable._fields)))
_buffer = typeof(_floats)
_indices = typeof(_ints)
RULE = types.none(_table, types.int64, _buffer, _buffer, _buffer, _buffer)
FORWARD = types.none(_table, types.int64, _buffer, _buffer)
# a recorder the relaxation calls after each iteration (relax.RelaxRecord):
# (trail, kept, state, iteration, last, t, err, value, units, segments)
HOOK = types.none(_buffer, _indices, _indices, types.int64, types.boolean, _table, _buffer,
                  _buffer, _indices, _indices)
# an output energy (relax.ENERGY_KERNELS): scale E(mu), writing scale dE/dmu into grad
# (mu, target, precision, row, grad, scale)
ENERGY = types.float64(_buffer, _buffer, _buffer, types.int64, _buffer, types.float64)


def _borrowed(context, builder, ty, value):
    """``value`` (of type ``ty``) with every array in it borrowed: the same
    view without its owner (meminfo) and parent object, so that compiled
    code holding it never touches the owner's reference count: atomic
    updates that took a fifth of the jacobi loop's samples in a profile
    (perf, the bench LSTM). Only for arrays that do not outlive the call."""
    if isinstance(ty, types.Array):
        array = context.make_array(ty)(context, builder, value)
        array.meminfo = cgutils.get_null_value(array.meminfo.type)
        array.parent = cgutils.get_null_value(array.parent.type)
        return array._getvalue()
    if isinstance(ty, types.BaseTuple):  # (the op table)
        for i, item in enumerate(ty):
            part = _borrowed(context, builder, item, builder.extract_value(value, i))
            value = builder.insert_value(value, part, i)
    return value


@intrinsic
def span(typingctx, x, o, k):
    """x[o:o + k] of a 1-d C-contiguous array ``x``, borrowed (see
    ``_borrowed``): making and dropping it updates no reference count. Those
    atomic updates were half of perf's samples of jacobi on an LSTM with
    small states, where the relaxation's helpers take their views with this
    and run about 15% faster. Only within a call that holds ``x``; never
    return or keep it. Unlike a slice, ``o`` and ``k`` are not clipped."""
    def codegen(context, builder, sig, args):
        ty = sig.args[0]
        array = context.make_array(ty)(context, builder, args[0])
        out = context.make_array(ty)(context, builder)
        o_, k_ = (context.cast(builder, v, t, types.intp) for v, t in zip(args[1:], sig.args[1:]))
        context.populate_array(out, data=builder.gep(array.data, [o_]), shape=[k_],
                               strides=[array.itemsize], itemsize=array.itemsize, meminfo=None)
        return out._getvalue()
    if not (isinstance(x, types.Array) and x.ndim == 1 and x.layout == "C"):
        raise TypeError(f"span takes a 1-d C-contiguous array; got {x}")
    return x(x, o, k), codegen


def stack_buffer(n):
    """An intrinsic ``make()`` giving a float64 array of ``n`` elements on the
    stack of the compiled function calling it (allocated once, on entry; a
    kernel's np.empty costs it a few tenths of a microsecond). It lives as
    long as that function's call: never return it."""
    array_type = types.Array(types.float64, 1, "C")

    @intrinsic
    def make(typingctx):
        def codegen(context, builder, sig, args):
            intp = context.get_value_type(types.intp)
            data = cgutils.alloca_once(builder, ir.DoubleType(), size=n)
            array = context.make_array(array_type)(context, builder)
            context.populate_array(array, data=data, shape=[intp(n)], strides=[intp(8)],
                                   itemsize=intp(8), meminfo=None)
            return array._getvalue()
        return array_type(), codegen
    return make


def _call(context, builder, fn, signature, llargs):
    """Call ``fn`` (of ``signature``) with ``llargs``, its arrays borrowed: the
    caller holds them for the call."""
    argtypes, result = signature.args, signature.return_type
    args = [_borrowed(context, builder, ty, v) for ty, v in zip(argtypes, llargs)]
    status, out = context.call_conv.call_function(builder, fn, result, argtypes, args)
    with cgutils.if_unlikely(builder, status.is_error):
        context.call_conv.return_status_propagate(builder, status)
    return context.get_dummy_value() if result == types.none else out


def caller(signature):
    """An intrinsic ``call(address, *args)`` calling the function of
    ``signature`` at ``address`` with ``args``, its arrays borrowed (see
    ``_call``); ``address`` as ``address_of`` gives it."""
    @intrinsic
    def call(typingctx, address, *args):
        _check(signature, tuple(args))

        def codegen(context, builder, sig, llargs):
            fnty = context.call_conv.get_function_type(signature.return_type, signature.args)
            fn = builder.inttoptr(llargs[0], fnty.as_pointer())
            return _call(context, builder, fn, signature, _unpacked(builder, llargs[1], args))
        return signature.return_type(types.int64, types.StarArgTuple(args)), codegen
    return call


def _unpacked(builder, value, args):
    """The arguments a ``*args`` of an intrinsic packs into one tuple."""
    return [builder.extract_value(value, i) for i in range(len(args))]


def shared_table(name, n):
    """An int64 array of ``n`` zeros that compiled code reads through the
    intrinsic ``read(i)`` this returns with it, as (array, read). The array
    is a process-wide symbol ``name`` of the JIT, as Numba's runtime
    functions are: code reading it holds the name, not the address, so it
    is cached on disk and, loaded in another process, reads that process's
    array. For what only Python knows at run time and only when a plan is
    made, such as the addresses of kernels compiled since."""
    table = np.zeros(n, np.int64)
    _kept.append(table)
    llvm.add_symbol(name, table.ctypes.data)
    array_type = ir.ArrayType(ir.IntType(64), n)

    @intrinsic
    def read(typingctx, i):
        if not isinstance(i, types.Integer):
            raise TypeError(f"{name} takes an integer index; got {i}")

        def codegen(context, builder, sig, args):
            found = builder.module.globals.get(name)
            if found is None:
                found = ir.GlobalVariable(builder.module, array_type, name)
                found.linkage = "external"
            index = context.cast(builder, args[0], sig.args[0], types.int64)
            return builder.load(builder.gep(found, [ir.Constant(ir.IntType(64), 0), index]))
        return types.int64(i), codegen
    return table, read


_kept = []  # the shared tables, alive while the process runs


def _check(signature, args):
    if args != signature.args:
        raise TypeError(f"a kernel takes {signature.args}; got {args}")


call_rule = caller(RULE)  # call_rule(rules[j], t, j, value, prediction, e, acc)
call_forward = caller(FORWARD)  # call_forward(forwards[j], t, j, value, out)


# --- BLAS ---------------------------------------------------------------------------
# Matrix products call scipy's BLAS dgemm directly, through its address (a
# run-time argument, so the kernels that call it stay cacheable), instead of
# numpy.dot inside Numba, whose implementation takes many seconds to compile.
_dgemm = []
_CYTHON_BLAS = "scipy.linalg.cython_blas"


@functools.cache
def _cython_blas():
    """scipy.linalg.cython_blas, loaded from its extension file alone unless
    scipy.linalg is imported already: importing it by name runs
    scipy.linalg's __init__ first (the rest of scipy.linalg, array_api_compat,
    numpy.f2py ...: a fifth of a second), for a module that needs none of it.
    The module is left out of sys.modules, so that a later import of
    scipy.linalg imports it as usual."""
    found = sys.modules.get(_CYTHON_BLAS)
    if found is not None:
        return found
    folder = pathlib.Path(importlib.util.find_spec("scipy").origin).parent / "linalg"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / ("cython_blas" + suffix)
        if path.is_file():
            spec = importlib.util.spec_from_file_location(_CYTHON_BLAS, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            if sys.modules.get(_CYTHON_BLAS) is module:  # a single-phase module adds itself
                del sys.modules[_CYTHON_BLAS]
            return module
    raise ImportError(f"no {_CYTHON_BLAS} extension file in {folder}")


def _capsule_pointer(capsule):
    """The pointer a PyCapsule holds."""
    api = ctypes.pythonapi
    name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", api))
    pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
        ("PyCapsule_GetPointer", api))
    return pointer(capsule, name(capsule))


def blas_dgemm():
    """The address of BLAS dgemm (from scipy.linalg.cython_blas)."""
    if not _dgemm:
        try:
            address = _capsule_pointer(_cython_blas().__pyx_capi__["dgemm"])
        except Exception:  # an unusual scipy layout: import it by name
            from numba.extending import get_cython_function_address
            address = get_cython_function_address(_CYTHON_BLAS, "dgemm")
        _dgemm.append(address)
    return _dgemm[0]


_numba_ready = threading.Event()


def numba_ready():
    """Let Numba import its implementation modules, which it does at its first
    compile or cache load in a process, with scipy.linalg.cython_blas loaded
    alone (see _cython_blas): numba.np.arraymath imports it by name only to
    check that BLAS is there, and that import would run all of scipy.linalg's
    __init__. The module is in sys.modules for that time only, unless
    scipy.linalg was imported meanwhile (then it stays, as its submodule)."""
    if _numba_ready.is_set():
        return
    alone = None
    if "scipy.linalg" not in sys.modules and _CYTHON_BLAS not in sys.modules:
        with contextlib.suppress(Exception):  # then Numba imports scipy.linalg itself
            alone = sys.modules[_CYTHON_BLAS] = _cython_blas()
    try:
        cpu_target.target_context.refresh()
    finally:
        if alone is not None and sys.modules.get(_CYTHON_BLAS) is alone:
            linalg = sys.modules.get("scipy.linalg")
            if linalg is None:
                del sys.modules[_CYTHON_BLAS]
            else:
                linalg.cython_blas = alone
    _numba_ready.set()


@intrinsic
def gemm(typingctx, dgemm, ta, tb, m, n, k, a, b, c, beta):
    """Row-major c (m x n) = op(a) @ op(b) + beta c, op(x) = x.T where ``ta`` /
    ``tb`` (booleans); a, b, c are flat float64 buffers starting at the
    matrices (m, n, k at least 1); ``dgemm`` the address of BLAS dgemm. A
    row-major matrix is its column-major transpose, so dgemm computes
    c.T = op(b).T op(a).T. Its Fortran arguments (pointers to ints, chars and
    doubles) live on the stack."""
    def codegen(context, builder, sig, args):
        dgemm_, ta_, tb_, m_, n_, k_, a_, b_, c_, beta_ = args
        i32, f64, i8 = ir.IntType(32), ir.DoubleType(), ir.IntType(8)
        ptr = i8.as_pointer()

        def on_stack(ty, v):
            slot = cgutils.alloca_once(builder, ty)
            builder.store(v, slot)
            return builder.bitcast(slot, ptr)

        def data(array_value, array_type):
            array = context.make_array(array_type)(context, builder, array_value)
            return builder.bitcast(array.data, ptr)

        def flag(transposed):  # "T" or "N"
            return on_stack(i8, builder.select(transposed, i8(ord("T")), i8(ord("N"))))

        m32, n32, k32 = (builder.trunc(v, i32) for v in (m_, n_, k_))
        ldb = builder.select(tb_, k32, n32)  # leading dimensions as stored
        lda = builder.select(ta_, m32, k32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr] * 13)
        fn = builder.inttoptr(dgemm_, fnty.as_pointer())
        builder.call(fn, [
            flag(tb_), flag(ta_), on_stack(i32, n32), on_stack(i32, m32), on_stack(i32, k32),
            on_stack(f64, f64(1.0)), data(b_, sig.args[7]), on_stack(i32, ldb),
            data(a_, sig.args[6]), on_stack(i32, lda), on_stack(f64, beta_),
            data(c_, sig.args[8]), on_stack(i32, n32)])
        return context.get_dummy_value()
    return types.none(types.int64, types.boolean, types.boolean, types.int64, types.int64,
                      types.int64, a, b, c, types.float64), codegen


# hook(trail, kept, state, it, last, t, err, value, units, segments) at an address
call_hook = caller(HOOK)


# relax.settle_sweep, which the jacobi/euler loop calls to read out its inputs:
# (t, value, err, seed, out, precision, sweep_eoff, sweep_psend, opens_ptr,
# opens, rules, inputs, hook, trail, kept, state, units, segments)
SWEEP = types.Tuple((types.float64, types.boolean))(
    _table, _buffer, _buffer, _buffer, types.int64, _buffer, *[_indices] * 6, types.int64,
    _buffer, *[_indices] * 4)


call_sweep = caller(SWEEP)  # settle_sweep at an address: (squared errors, nonfinite)
call_energy = caller(ENERGY)  # energy(mu, target, precision, row, grad, scale) at an address


SIGNATURES = {"rule": RULE, "forward": FORWARD, "hook": HOOK, "energy": ENERGY}
# Numba gives every function it compiles a CPython and a C entry point;
# kernels, and the helpers they call, are only ever called from compiled code,
# so they go without: for a function taking the op table those wrappers are
# much of its code, and a first gradient compiles about a quarter faster
# without them. (Called from Python, such a function would crash the
# interpreter.)
INNER = dict(no_cpython_wrapper=True, no_cfunc_wrapper=True)
# The entry points Python calls keep their CPython wrapper only.
ENTRY = dict(cache=True, no_cfunc_wrapper=True)


def scalar(fn):
    """``@scalar``: scalar math for the kernels' loops. Numba compiles it on
    its own, per argument types, and links it into the kernels calling it,
    where LLVM inlines it, so that their loops vectorise. It stays a plain
    function, not a dispatcher, so that a kernel made from it can be cached
    (its cache key pickles it by name). Only compiled code calls it, so it
    goes without wrappers (see INNER)."""
    return register_jitable(**INNER)(fn)


def kernel(fn=None, **options):
    """``@kernel``: a family kernel, compiled lazily with Numba's cache and
    numpy's error model, so that it raises nothing (1/0 gives inf where
    Python's model raises ZeroDivisionError); ``@kernel(fastmath=...)`` adds
    Numba options."""
    return helper(fn, error_model="numpy", **options)


def entry(fn=None, **options):
    """``@entry``: a cached function Python calls (see ENTRY);
    ``@entry(error_model=...)`` adds Numba options."""
    def compile(f):
        dispatcher = njit(**dict(ENTRY, cache=False), **options)(f)
        dispatcher._cache = _LazyCache(f)  # Numba's cache, under a lock (see _LazyCache)
        return dispatcher
    return compile if fn is None else compile(fn)


class _Helper(CPUDispatcher):
    """A dispatcher that compiled code calls with its arguments' plain types:
    Numba would otherwise compile a function once per constant it is called
    with (``parent(t, j, 0)``, ``parent(t, j, 1)`` ...), each compile a tenth
    of a second or more of the first gradient."""

    def get_call_template(self, args, kws):
        return super().get_call_template(
            tuple(types.unliteral(a) for a in args),
            {k: types.unliteral(v) for k, v in kws.items()})

    def enable_caching(self):
        self._cache = _LazyCache(self.py_func)


class _LazyCache:
    """Numba's disk cache of one function, set up when first used (setting it
    up finds and tests the cache folder: a file written and deleted, which a
    process that loads a few kernels need not do for the hundred others), and
    read and written under a lock that other processes respect.

    Numba saves an entry by reading the function's index, picking the first
    data-file name the index does not use, and writing the index, then the
    data, with no lock. Two processes saving at once (test workers, dask
    workers, a pool) can pick the same name for different entries, and an
    index can then send one kernel to another's code: all sub-codes of a
    family (every unary function's error rule ...) share one index, so a
    gradient could silently use the wrong derivative. An exclusive lock on a
    file beside the index makes each load and save whole. Without fcntl
    (Windows), or where the lock file cannot be made, Numba's own behaviour
    is left as it is."""

    def __init__(self, py_func):
        self._py_func, self._cache = py_func, None

    def __getattr__(self, name):
        if self._cache is None:
            self._cache = FunctionCache(self._py_func)
        return getattr(self._cache, name)

    def load_overload(self, sig, target_context):
        with self._locked():
            return self.__getattr__("load_overload")(sig, target_context)

    def save_overload(self, sig, data):
        with self._locked():
            return self.__getattr__("save_overload")(sig, data)

    @contextlib.contextmanager
    def _locked(self):
        try:
            import fcntl
            index = self.__getattr__("_cache_file")._index_path
            handle = os.open(index + ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        except (ImportError, OSError):
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)  # (releases the lock)


def helper(fn=None, **options):
    """``@helper``: a function that only compiled code calls (see INNER),
    cached, compiled once per argument types whatever constants it is called
    with; ``@helper(fastmath=...)`` adds Numba options."""
    def compile(f):
        dispatcher = _Helper(py_func=f, locals={}, targetoptions=dict(
            nopython=True, **INNER, **options))
        dispatcher.enable_caching()
        return dispatcher
    return compile if fn is None else compile(fn)


def address_of(dispatcher, signature):
    """The address of ``dispatcher`` compiled for ``signature`` (compiling it
    or loading it from Numba's cache if need be), to call through ``caller``.
    Numba raises a TypingError if the function returns another type."""
    key = (dispatcher, signature)
    found = _addresses_of.get(key)
    if found is None:
        numba_ready()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Numba's performance hints
            result = dispatcher.get_compile_result(signature)
        # (looked up once, as soon as the code is loaded: see ``distinct``)
        found = _addresses_of.setdefault(
            key, result.library.get_pointer_to_function(result.fndesc.llvm_func_name))
    return found


_addresses_of = {}


class Kernel:
    """One compiled kernel: a Numba dispatcher of one signature ("rule" or
    "forward"), compiled the first time its address is asked for; then
    ``prepare()``, if given, readies what the kernel reads at run time for
    its sub-code (see ``shared_table``)."""

    def __init__(self, name, kind, dispatcher, prepare=None):
        self.name, self.kind, self.dispatcher, self.prepare = name, kind, dispatcher, prepare
        self._address = 0
        self._lock = threading.Lock()

    @property
    def compiled(self):
        return self._address != 0

    def address(self):
        if self._address:
            return self._address
        with self._lock:
            if not self._address:
                found = address_of(self.dispatcher, SIGNATURES[self.kind])
                if self.prepare is not None:
                    self.prepare()  # (before any caller can have the address)
                self._address = found
        return self._address

    def __repr__(self):
        return f"Kernel({self.name!r}, {self.kind!r}, compiled={self.compiled})"


# Every kernel that can exist, by (kind, opcode, sub-code); families register
# a factory that makes their kernel for a sub-code (see primitives/core.py).
_factories = {}   # (kind, opcode) -> (factory(code) -> dispatcher, codes, name(code))
_kernels = {}     # (kind, opcode, code) -> Kernel


def register_family(kind, opcode, factory, codes, name):
    """Register ``factory(code)``, making the ``kind`` kernel of family
    ``opcode`` for each sub-code in ``codes`` (a dispatcher, or a dispatcher
    and the ``prepare`` of its Kernel); ``name(code)`` names it."""
    _factories[kind, opcode] = factory, tuple(codes), name


def get(kind, opcode, code):
    """The Kernel of ``kind`` for family ``opcode``, sub-code ``code``."""
    key = (kind, opcode, code)
    found = _kernels.get(key)
    if found is None:
        factory, _, name = _factories[kind, opcode]
        made = factory(code)  # a dispatcher, or (dispatcher, prepare)
        made = made if isinstance(made, tuple) else (made,)
        distinct(made[0].py_func, f"{kind} {name(code)}")
        found = _kernels.setdefault(key, Kernel(name(code), kind, *made))
    return found


def distinct(py_func, label):
    """Give ``py_func``, if a closure made by a factory, a name of its own
    (its qualified name with ``label``), before Numba compiles it; returns it.

    Numba names compiled code after the function's qualified name and a
    counter of the compiling process. Two closures of one factory compiled
    in two processes can so get one name, and loaded from the disk cache
    into a third, the JIT's lookup by that name (``address_of``) could find
    either: one function's kernel would run another's derivative. A name per
    sub-code keeps them apart (and gives each its own cache index). A
    closure serving several sub-codes keeps the name of the first one used."""
    if py_func.__closure__ is not None and not getattr(py_func, "_pcgrad_named", False):
        py_func.__qualname__ += "_" + re.sub(r"\W+", "_", label).strip("_")
        py_func._pcgrad_named = True
    return py_func


def compiled():
    """(kind, name) of every kernel compiled (or loaded) in this process."""
    return sorted((k.kind, k.name) for k in _kernels.values() if k.compiled)


def every_kernel():
    """Every kernel of every registered family and sub-code."""
    return [get(kind, opcode, code) for (kind, opcode), (_, codes, _) in _factories.items()
            for code in codes]


_announced = threading.Event()
NOTICE_AFTER = 1.0  # seconds


_tables = {}  # addresses by (kind, ops, codes, needed): a structure at new shapes reuses them
TABLES_KEPT = 1024


def addresses(kind, ops, codes, needed):
    """int64 kernel addresses of ``kind`` for the nodes with ``needed``
    (opcode ``ops[j]``, sub-code ``codes[j]``); 0 elsewhere. Compiles the
    kernels not yet compiled, announcing a compile that takes long. The
    result is shared: do not write to it."""
    key = (kind, ops.tobytes(), codes.tobytes(), needed.tobytes())
    found = _tables.get(key)
    if found is None:
        found = _addresses(kind, ops, codes, needed)
        if len(_tables) >= TABLES_KEPT:
            _tables.clear()
        _tables[key] = found
    return found


def _addresses(kind, ops, codes, needed):
    out = np.zeros(len(ops), np.int64)
    wanted = {}
    for j in np.flatnonzero(needed):
        key = (int(ops[j]), int(codes[j]))
        wanted.setdefault(key, []).append(j)
    missing = [get(kind, op, code) for op, code in wanted if not get(kind, op, code).compiled]
    if missing:
        with announcing(", ".join(sorted({k.name for k in missing}))):
            for k in missing:
                k.address()
    for (op, code), nodes in wanted.items():
        out[nodes] = get(kind, op, code).address()
    return out


class _Notice(event.Listener):
    """Starts a timer at the first Numba compile (loads from the disk cache
    are no compiles) that prints its message after NOTICE_AFTER seconds,
    unless ``once`` says it was printed already: ``message``, or the kernels'
    message naming ``names`` (what the context and those within it compile,
    as far as they got)."""

    def __init__(self, message, once, names):
        self.message, self.once, self.names, self.timer = message, once, names, None

    def on_start(self, ev):
        if self.timer is None and not self.once.is_set():
            self.timer = threading.Timer(NOTICE_AFTER, self.notice)
            self.timer.daemon = True
            self.timer.start()

    def on_end(self, ev):
        pass

    def notice(self):
        if not self.once.is_set():
            self.once.set()
            print(self.message or (
                f"pcgrad: compiling Numba kernels on first use "
                f"({', '.join(self.names) or 'pcgrad'}); later calls and processes reuse them. "
                "`python -m pcgrad precompile` compiles all of them ahead of time."),
                file=sys.stderr, flush=True)


_notices = threading.local()  # the innermost announcing context of this thread


@contextlib.contextmanager
def announcing(what, message=None, once=None):
    """Within this context, a compile of ``what`` (None: whatever contexts
    within it name) that takes more than NOTICE_AFTER seconds is announced
    on stderr, once per process and ``once`` event (the kernels' own by
    default), by default with the kernels' message naming it. Within an
    announcing context of the same ``once`` and message, the time counts
    from the outer context's first compile, and ``what`` joins its names: a
    first gradient that compiles its loop and three kernels for 0.7 s each
    is announced, not silent."""
    once = _announced if once is None else once
    outer = getattr(_notices, "current", None)
    if outer is not None and outer.once is once and message is None and outer.message is None:
        if what:
            outer.names.append(what)
        yield
        return
    notice = _Notice(message, once, [what] if what else [])
    _notices.current = notice
    try:
        with event.install_listener("numba:compile", notice):
            yield
    finally:
        _notices.current = outer
        if notice.timer is not None:
            notice.timer.cancel()


@contextlib.contextmanager
def unannounced():
    """No kernel compile notice within this context, as if it had been
    printed: ``pcgrad.precompile`` shows a progress bar instead (and the
    notice's advice is to run it). A notice not printed before is still
    printed for a compile after the context."""
    printed = _announced.is_set()
    _announced.set()
    try:
        yield
    finally:
        if not printed:
            _announced.clear()


_HERE = pathlib.Path(__file__).parent
NUMBA_SOURCES = [_HERE / "kernels.py", _HERE / "relax.py"] + sorted(
    (_HERE / "primitives").glob("*.py"))


def source_digest():
    return hashlib.sha256(b"".join(p.read_bytes() for p in NUMBA_SOURCES)).hexdigest()


def _cache_path_of(folder):
    """Numba's cache folder for functions defined in ``folder``."""
    from numba.core.caching import FunctionCache

    def fn():
        return 0
    fn.__code__ = fn.__code__.replace(co_filename=str(folder / "__init__.py"))
    return FunctionCache(fn)._cache_path


def drop_stale_compiled_code():
    """Delete pcgrad's cached compiled code if any Numba source file changed."""
    digest = source_digest()
    for folder in (_HERE, _HERE / "primitives"):
        try:
            cache = pathlib.Path(_cache_path_of(folder))
        except Exception:  # no cache locator applies (e.g. a read-only install)
            continue
        stamp = cache / "pcgrad-kernels.sha256"
        try:
            if stamp.read_text() == digest:
                continue
        except OSError:
            pass
        try:
            for old in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
                old.unlink()
            cache.mkdir(parents=True, exist_ok=True)
            stamp.write_text(digest)
        except OSError:  # a read-only location: Numba then compiles in memory
            pass


drop_stale_compiled_code()
