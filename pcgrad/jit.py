"""Compiled replay: trace once per signature, then run forward and relaxation in Numba.

``pcgrad.jit(pcgrad.grad(f, ...))`` traces ``f`` the first time it sees a
signature (pytree structure, shapes and dtypes of the float leaves, values
of everything else) with every float argument as a leaf: the differentiated
ones as inputs, the others as data that each call refills. Each later call
copies the arguments into the plan's value buffer and makes one compiled
call that recomputes every value with the forward kernels (the same kernels
the strict schedule uses) and relaxes the errors. No Python runs per node.
Under the sweep, runs of elementwise nodes are then fused into one loop each
(fusion.py), compiled in another process after a few unfused calls.

A call of the signature called last skips building its key: a matcher made
at trace time checks the arguments against it (structure, shapes, dtypes and
the values of static scalars) and collects their leaves on the way.
"""
import functools
import threading
import warnings
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from . import fusion
from .api import _check_scalar, _check_settled, _check_target, _differentiated
from .graph import Graph
from .plan import Plan
from .pytree import flatten, leaf_paths
from .relax import Relaxation, _first_call
from .tracing import Trace, Tracer, current_trace

CACHE_SIZE = 32
FUSE_AFTER = 3  # unfused calls of a signature before its fused replay compiles ("auto")
FUSE_MODES = ("auto", True, False)


def jit(fn: Callable[..., Any], *, fuse: Any = "auto") -> Callable[..., Any]:
    """Compile ``fn`` = ``pcgrad.grad(f, ...)`` or ``pcgrad.value_and_grad(f, ...)``.

    The compiled function traces ``f`` once per signature and then replays
    the forward pass and the relaxation in Numba. Value-dependent Python
    control flow (``if x > 0:`` on a traced value) and indexing by traced
    values cannot be compiled: tracing them raises a TypeError that names
    ``pcgrad.grad`` (uncompiled) as the alternative.

    As with ``jax.jit``, everything ``f`` reads other than its arguments
    (closure constants, index arrays, masks, precisions) is frozen at trace
    time: changing such an array afterwards, even in place, does not change
    the compiled function. Pass it as an argument instead: float arguments
    are refilled on every call, other arguments are part of the signature
    (compared by content).

    ``fuse`` controls fusion: under the sweep (without ``return_info`` or a
    ``target``) runs of elementwise nodes of one size replay as one loop each
    instead of one kernel call per node, with the same gradients (to
    rounding). With ``"auto"`` the fused replay of a signature compiles in a
    separate process after its first few calls, which run unfused, and takes
    over when ready (Numba's cache keeps it for later processes); ``True``
    compiles it on the first call (deterministic, for tests and benchmarks);
    ``False`` never fuses.

    >>> import numpy, pcgrad, pcgrad.numpy as np
    >>> fast = pcgrad.jit(pcgrad.grad(lambda w, x: np.sum(np.tanh(x @ w) ** 2)))
    >>> x = numpy.ones((2, 3))
    >>> numpy.allclose(fast(numpy.ones(3), x), pcgrad.grad(lambda w, x: np.sum(np.tanh(x @ w) ** 2))(numpy.ones(3), x))
    True
    """
    spec = getattr(fn, "_pcgrad_spec", None)
    if not any(fuse is mode for mode in FUSE_MODES):
        raise ValueError(f"fuse must be 'auto', True or False; got {fuse!r}.")
    if spec is None:
        raise TypeError("pcgrad.jit compiles the functions pcgrad.grad(f, ...) and "
                        "pcgrad.value_and_grad(f, ...) return; got "
                        f"{getattr(fn, '__name__', type(fn).__name__)}.")
    if spec["has_aux"]:
        raise NotImplementedError("pcgrad.jit does not compile has_aux=True yet: aux values "
                                  "would be frozen at trace time. Use pcgrad.grad.")
    compiled = _Compiled(dict(spec, fuse=fuse), fn)
    return functools.wraps(spec["f"])(compiled)


def _is_float_leaf(leaf: Any) -> bool:
    if isinstance(leaf, (bool, np.bool_)):
        return False
    if isinstance(leaf, float):
        return True
    return isinstance(leaf, (np.ndarray, np.generic)) and np.issubdtype(leaf.dtype, np.floating)


def _static_key(leaf: Any) -> tuple[Any, ...]:
    if isinstance(leaf, np.ndarray):
        return ("array", leaf.shape, leaf.dtype.str, leaf.tobytes())
    return (type(leaf).__name__, leaf)


def _signature(tree: Any, leaves: list[Any]) -> Any:
    """The replay key of ``tree`` (containers, float shapes and dtypes, other
    values), appending its leaves in ``pytree.flatten`` order to ``leaves``."""
    kind = type(tree)
    if kind is np.ndarray:
        leaves.append(tree)
        return ("f", tree.shape, tree.dtype.str) if tree.dtype.kind == "f" else _static_key(tree)
    if kind is float:
        leaves.append(tree)
        return "float"
    if isinstance(tree, (tuple, list)):
        return (kind.__name__,) + tuple(_signature(child, leaves) for child in tree)
    if isinstance(tree, dict):
        return ("dict",) + tuple((key, _signature(child, leaves)) for key, child in tree.items())
    if tree is None:
        return None
    leaves.append(tree)
    return ("f", (), np.dtype(tree.dtype).str) if _is_float_leaf(tree) else _static_key(tree)


def _matcher(tree: Any) -> Callable[[Any, list[Any]], bool] | None:
    """A function ``match(other, leaves)``: whether ``other`` has the
    signature of ``tree`` (then its leaves, in ``_signature``'s order, are
    appended to ``leaves``). Stricter than the signature (containers and
    leaves of the same type, a dtype the same object), never looser. None
    where checking needs the signature itself: static arrays, which it
    compares by content, and other objects."""
    kind = type(tree)
    if kind is np.ndarray:
        if tree.dtype.kind != "f":
            return None
        shape, dtype = tree.shape, tree.dtype

        def match_array(x: Any, leaves: list[Any]) -> bool:
            if type(x) is np.ndarray and x.shape == shape and x.dtype is dtype:
                leaves.append(x)
                return True
            return False
        return match_array
    if isinstance(tree, (tuple, list, dict)):
        keys = tuple(tree) if isinstance(tree, dict) else None
        kids = []
        for child in (tree.values() if isinstance(tree, dict) else tree):
            kid = _matcher(child)
            if kid is None:
                return None
            kids.append(kid)
        size = len(kids)

        def match_container(x: Any, leaves: list[Any]) -> bool:
            if type(x) is not kind or len(x) != size:
                return False
            if keys is not None:
                if tuple(x) != keys:
                    return False
                x = x.values()
            for kid, child in zip(kids, x):
                if not kid(child, leaves):
                    return False
            return True
        return match_container
    if tree is None:
        return lambda x, leaves: x is None
    if _is_float_leaf(tree):  # float or a NumPy float scalar: a leaf refilled on each call
        def match_float(x: Any, leaves: list[Any]) -> bool:
            if type(x) is kind:
                leaves.append(x)
                return True
            return False
        return match_float
    if kind in (int, bool, str) or isinstance(tree, np.generic):
        def match_static(x: Any, leaves: list[Any]) -> bool:
            if type(x) is kind and x == tree:
                leaves.append(x)
                return True
            return False
        return match_static
    return None


class _Compiled:
    """The compiled function: a bounded cache of replays, one per signature.
    Called inside a function being traced, it runs uncompiled: the outer
    trace records it (see pcgrad.settle), and so does an outer pcgrad.jit."""

    _replays: "OrderedDict[Any, _Replay]"

    def __init__(self, spec: dict[str, Any], uncompiled: Callable[..., Any]) -> None:
        self.spec, self.uncompiled = spec, uncompiled
        self._replays, self._lock = OrderedDict(), threading.Lock()
        self._last: _Replay | None = None  # the replay called last

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if current_trace() is not None:
            return self.uncompiled(*args, **kwargs)
        leaves: list[Any] = []
        last = self._last
        if last is not None and last.match is not None and last.match((args, kwargs), leaves):
            return last(leaves)
        leaves.clear()
        key = _signature((args, kwargs), leaves)
        with self._lock:
            replay = self._replays.get(key)
            if replay is not None:
                self._replays.move_to_end(key)
        if replay is None:
            replay = _Replay(self.spec, args, kwargs)
            with self._lock:
                self._replays[key] = replay
                if len(self._replays) > CACHE_SIZE:
                    self._replays.popitem(last=False)
        self._last = replay
        return replay(leaves)


class _Replay:
    """One traced signature: a plan whose values every call refills and replays."""

    def __init__(self, spec: dict[str, Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        self.spec = spec
        self.match = _matcher((args, kwargs))
        _, _, self.gradients = _differentiated(args, spec["argnums"])
        leaves, unflatten = flatten((args, kwargs))
        # each leaf's path and positional argument (None: a kwarg)
        names: list[str] = []
        owner: list[int | None] = []
        for n, arg in enumerate(args):
            paths = leaf_paths(arg, f"args[{n}]")
            names += paths
            owner += [n] * len(paths)
        names += leaf_paths(kwargs, "kwargs")
        owner += [None] * (len(leaves) - len(owner))
        self.float_leaves = [k for k, leaf in enumerate(leaves) if _is_float_leaf(leaf)]
        with Trace(compiling=True) as trace:
            traced = list(leaves)
            for k in self.float_leaves:
                traced[k] = trace.leaf(np.array(leaves[k]), names[k])
            targs, tkwargs = unflatten(traced)
            try:
                out = spec["f"](*targs, **tkwargs)
            except TypeError as error:
                if "pcgrad.jit" in str(error) or "compiled" in str(error):
                    raise TypeError(f"{error} Use pcgrad.grad without pcgrad.jit for this "
                                    "function.") from None
                raise
        if not isinstance(out, Tracer) or out._trace is not trace:
            raise TypeError("The compiled function's output does not depend on its float "
                            "arguments; pcgrad.jit has nothing to replay.")
        self.target = spec["target"]
        if self.target is None:
            _check_scalar(out.value, "grad")
        else:
            _check_target(out.value, self.target)
        positions = self.gradients.positions
        self.inputs = [k for n in positions for k in range(len(leaves)) if owner[k] == n]
        data = [k for k in self.float_leaves if owner[k] not in positions]
        node = {k: traced[k].node for k in self.float_leaves}
        graph = Graph(trace, [node[k] for k in self.inputs], out.node,
                      data=[node[k] for k in data], recompute=True)
        if not graph.connected:
            raise TypeError("The output does not depend on the differentiated arguments; "
                            "pcgrad.jit cannot compile a zero gradient. Use pcgrad.grad.")
        self.plan = plan = Plan(graph, store_all=True)
        t = plan.table
        options = spec["options"]
        self.relaxation = Relaxation(
            plan, options["schedule"], eta=options["eta"], tol=options["tol"],
            max_iters=options["max_iters"], units=options["units"],
            energy="linear" if self.target is None else spec["energy"], beta=options["beta"],
            precisions=options["precisions"], named=sorted(plan.named)
            if spec["return_info"] else (), record=options["record"])
        cotangent = np.ones(1) if self.target is None else \
            np.ascontiguousarray(self.target, np.float64).ravel()
        # packed: under the sweep without a RelaxInfo, one compiled call on the
        # packed buffers replays (fusion.replay, later the fused replay); else
        # Relaxation.run does
        self.packed = fusion.fusable(self.relaxation, spec["return_info"], self.target)
        if self.packed:
            with _first_call(fusion.replay, "the compiled replay"):  # and the loops it calls
                fusion.replay.compile(fusion.SIGNATURE)
                self.ints, self.floats, self.value, self.err, self.cotangent = fusion.pack(
                    plan, self.relaxation, cotangent.size)
            plan.values_from(graph, out=self.value)
            self.cotangent[...] = cotangent
            self.run = fusion.replay
        else:
            self.value, self.cotangent = plan.values_from(graph), cotangent
            self.err = np.empty(self.relaxation.error_size)
        self.work = None if self.packed else np.empty(2 * self.relaxation.error_size)
        self.slots = []  # (leaf number, view of its place in the value buffer)
        for k in self.float_leaves:
            i = plan.index.get(node[k])
            if i is not None and t.voff[i] >= 0:
                view = self.value[t.voff[i]:t.voff[i] + t.size[i]].reshape(np.shape(leaves[k]))
                self.slots.append((k, view))
        self.read_gradients = self._gradient_reader([np.shape(leaves[k]) for k in self.inputs],
                                                    args)
        self.out_slice = (t.voff[plan.output], t.size[plan.output], out.value.shape)
        self._lock = threading.Lock()
        self.fused = None  # the compiled fused replay, once there is one
        # unfused calls left before fusion starts (None: never)
        self.countdown = None
        if spec["fuse"] is not False and self.packed:
            if spec["fuse"] is True:
                self._fuse(elsewhere=False)
            else:
                self.countdown = FUSE_AFTER

    def _gradient_reader(self, shapes: list[tuple[int, ...]],
                         args: tuple[Any, ...]) -> Callable[[Any], Any]:
        """A function from the settled error buffer to the gradients, in
        arrays of their own (a later call must not change them): the float64
        array leaves of one differentiated argument are views of one copy of
        their errors; other leaves and argnums go through Gradients.build."""
        eoff, size = self.relaxation.table.eoff, self.plan.table.size
        places = [(int(eoff[i]), int(size[i])) for i in self.plan.inputs]
        gradients = self.gradients
        if gradients.many or any(dtype != np.float64 or scalar
                                 for kinds in gradients.kinds for dtype, scalar in kinds):
            def build(err: Any) -> Any:
                return gradients.build([err[o:o + n].reshape(shape)
                                        for (o, n), shape in zip(places, shapes)], copy=True)
            return build
        runs: list[slice] = []  # the places merged where they meet
        for o, n in places:
            if runs and runs[-1].stop == o:
                runs[-1] = slice(runs[-1].start, o + n)
            else:
                runs.append(slice(o, o + n))

        def copy(err: Any) -> Any:
            return err[runs[0]].copy() if len(runs) == 1 else \
                np.concatenate([err[run] for run in runs])
        argument = args[gradients.positions[0]]
        if type(argument) is np.ndarray:  # one leaf, the argument itself
            shape = shapes[0]
            return lambda err: copy(err).reshape(shape)
        views, start = [], 0  # each leaf's place in the copy
        for (_, n), shape in zip(places, shapes):
            views.append((slice(start, start + n), shape))
            start += n
        # a tuple or list of arrays is built directly, other pytrees by unflatten
        flat_container = type(argument) in (tuple, list) and all(
            type(leaf) is np.ndarray for leaf in argument)
        unflatten = type(argument) if flat_container else gradients.unflattens[0]

        def read(err: Any) -> Any:
            flat = copy(err)
            return unflatten([flat[view].reshape(shape) for view, shape in views])
        return read

    def _fuse(self, elsewhere: bool) -> None:
        """Generate and compile the fused replay (in another process if
        ``elsewhere``); it replaces the unfused one from the next call (if
        the plan has a region worth fusing)."""
        try:
            fused = fusion.fuse(self.plan, self.relaxation)
            if fused is not None:
                self.fused = fused.compile(elsewhere)
                self.run = fused.function
        except Exception as error:  # a bug in fusion must not stop a working replay
            warnings.warn(f"pcgrad.jit could not compile a fused replay ({error!r}); this "
                          "signature keeps replaying unfused. Please report it.",
                          RuntimeWarning, stacklevel=2)

    def __call__(self, leaves: list[Any]) -> Any:
        spec = self.spec
        with self._lock:
            for k, view in self.slots:
                view[...] = leaves[k]
            if self.packed and not self.run(self.ints, self.floats):
                err, value, info, energy = self.err, self.value, None, None
            else:  # other schedules, and where the replay met inf or nan (for the warning)
                err, value, info, energy = self.relaxation.run(
                    self.value, self.cotangent, forward=True, err=self.err, work=self.work,
                    want_info=spec["return_info"])
                _check_settled(info, spec["options"]["on_nonconvergence"], stacklevel=3)
            if self.countdown is not None:
                self.countdown -= 1
                if self.countdown <= 0:
                    self.countdown = None
                    threading.Thread(target=self._fuse, args=(True,), daemon=True,
                                     name="pcgrad fusion").start()
            g = self.read_gradients(err)
            if spec["kind"] == "grad":
                return (g, info) if spec["return_info"] else g
            o, n, shape = self.out_slice
            output = value[o:o + n].reshape(shape).copy()
        value_out = output if self.target is None else np.float64(energy)
        return (value_out, g, info) if spec["return_info"] else (value_out, g)
