"""Compiled replay: trace once per signature, then run forward and relaxation in Numba.

``pcgrad.jit(pcgrad.grad(f, ...))`` traces ``f`` the first time it sees a
signature (pytree structure, shapes and dtypes of the float leaves, values
of everything else) with every float argument as a leaf: the differentiated
ones as inputs, the others as data that each call refills. Each later call
copies the arguments into the plan's value buffer and makes one compiled
call that recomputes every value with the forward kernels (the same kernels
the strict schedule uses) and relaxes the errors. No Python runs per node.
"""
import functools
import threading
from collections import OrderedDict

import numpy as np

from .api import _argnums, _check_float, _check_scalar, _check_settled, _check_target
from .graph import Graph
from .plan import Plan
from .pytree import flatten, leaf_paths
from .relax import Relaxation
from .tracing import Trace, Tracer

CACHE_SIZE = 32


def jit(fn):
    """Compile ``fn`` = ``pcgrad.grad(f, ...)`` or ``pcgrad.value_and_grad(f, ...)``.

    The compiled function traces ``f`` once per signature and then replays
    the forward pass and the relaxation in Numba. Value-dependent Python
    control flow (``if x > 0:`` on a traced value) and indexing by traced
    values cannot be compiled: tracing them raises a TypeError that names
    ``pcgrad.grad`` (uncompiled) as the alternative.

    >>> import numpy, pcgrad, pcgrad.numpy as np
    >>> fast = pcgrad.jit(pcgrad.grad(lambda w, x: np.sum(np.tanh(x @ w) ** 2)))
    >>> x = numpy.ones((2, 3))
    >>> numpy.allclose(fast(numpy.ones(3), x), pcgrad.grad(lambda w, x: np.sum(np.tanh(x @ w) ** 2))(numpy.ones(3), x))
    True
    """
    spec = getattr(fn, "_pcgrad_spec", None)
    if spec is None:
        raise TypeError("pcgrad.jit compiles the functions pcgrad.grad(f, ...) and "
                        "pcgrad.value_and_grad(f, ...) return; got "
                        f"{getattr(fn, '__name__', type(fn).__name__)}.")
    if spec["has_aux"]:
        raise NotImplementedError("pcgrad.jit does not compile has_aux=True yet: aux values "
                                  "would be frozen at trace time. Use pcgrad.grad.")
    compiled = _Compiled(spec)
    return functools.wraps(spec["f"])(compiled)


def _is_float_leaf(leaf):
    if isinstance(leaf, (bool, np.bool_)):
        return False
    if isinstance(leaf, float):
        return True
    return isinstance(leaf, (np.ndarray, np.generic)) and np.issubdtype(leaf.dtype, np.floating)


def _static_key(leaf):
    if isinstance(leaf, np.ndarray):
        return ("array", leaf.shape, leaf.dtype.str, leaf.tobytes())
    return (type(leaf).__name__, leaf)


def _signature(tree, leaves):
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


class _Compiled:
    """The compiled function: a bounded cache of replays, one per signature."""

    def __init__(self, spec):
        self.spec = spec
        self._replays, self._lock = OrderedDict(), threading.Lock()

    def __call__(self, *args, **kwargs):
        leaves = []
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
        return replay(leaves)


class _Replay:
    """One traced signature: a plan whose values every call refills and replays."""

    def __init__(self, spec, args, kwargs):
        self.spec = spec
        nums, self.many = _argnums(spec["argnums"], len(args))
        leaves, unflatten = flatten((args, kwargs))
        names = leaf_paths((args, kwargs))
        owner = [_argument_of(name) for name in names]
        self.float_leaves = [k for k, leaf in enumerate(leaves) if _is_float_leaf(leaf)]
        for n in nums:
            for leaf, o in zip(leaves, owner):
                if o == n:
                    _check_float(leaf, f"argument {n}")
        with Trace(compiling=True) as trace:
            traced = list(leaves)
            for k in self.float_leaves:
                traced[k] = trace.leaf(np.array(leaves[k]), _readable(names[k]))
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
        self.inputs = [k for k in self.float_leaves if owner[k] in nums]
        data = [k for k in self.float_leaves if owner[k] not in nums]
        node = {k: traced[k].node for k in self.float_leaves}
        graph = Graph(trace, [node[k] for k in self.inputs], out.node,
                      data=[node[k] for k in data], recompute=True)
        if not graph.connected:
            raise TypeError("The output does not depend on the differentiated arguments; "
                            "pcgrad.jit cannot compile a zero gradient. Use pcgrad.grad.")
        self.plan = plan = Plan(graph, store_all=True)
        t = plan.table
        self.value = plan.values_from(graph)
        self.slots = []  # (leaf number, view of its place in the value buffer)
        for k in self.float_leaves:
            i = plan.index.get(node[k])
            if i is not None and t.voff[i] >= 0:
                view = self.value[t.voff[i]:t.voff[i] + t.size[i]].reshape(np.shape(leaves[k]))
                self.slots.append((k, view))
        options = spec["options"]
        self.relaxation = Relaxation(
            plan, options["schedule"], eta=options["eta"], tol=options["tol"],
            max_iters=options["max_iters"], units=options["units"],
            energy="linear" if self.target is None else spec["energy"], beta=options["beta"],
            precisions=options["precisions"], named=sorted(plan.named)
            if spec["return_info"] else ())
        self.err = np.empty(self.relaxation.error_size)
        self.work = np.empty(2 * self.relaxation.error_size)
        eoff = self.relaxation.table.eoff
        self.grads = [(k, eoff[plan.inputs[m]], t.size[plan.inputs[m]], np.shape(leaves[k]),
                       np.result_type(leaves[k]), np.ndim(leaves[k]) == 0
                       and not isinstance(leaves[k], np.ndarray))
                      for m, k in enumerate(self.inputs)]
        self.argument_leaves = [[k for k in self.inputs if owner[k] == n] for n in nums]
        self.unflatten_argument = [flatten(args[n])[1] for n in nums]
        self.out_slice = (t.voff[plan.output], t.size[plan.output], out.value.shape)
        self.cotangent = np.ones(1) if self.target is None else \
            np.ascontiguousarray(self.target, np.float64).ravel()
        self._lock = threading.Lock()

    def __call__(self, leaves):
        spec = self.spec
        with self._lock:
            for k, view in self.slots:
                view[...] = leaves[k]
            err, value, info, energy = self.relaxation.run(
                self.value, self.cotangent, forward=True, err=self.err, work=self.work,
                want_info=spec["return_info"])
            _check_settled(info, spec["options"]["on_nonconvergence"], stacklevel=3)
            by_leaf = {k: np.array(err[o:o + n].reshape(shape), dtype=dtype)
                       if not scalar else dtype.type(err[o])
                       for k, o, n, shape, dtype, scalar in self.grads}
            o, n, shape = self.out_slice
            output = value[o:o + n].reshape(shape).copy()
        grads = [unflatten([by_leaf[k] for k in group])
                 for unflatten, group in zip(self.unflatten_argument, self.argument_leaves)]
        g = tuple(grads) if self.many else grads[0]
        if spec["kind"] == "grad":
            return (g, info) if spec["return_info"] else g
        value_out = output if self.target is None else np.float64(energy)
        return (value_out, g, info) if spec["return_info"] else (value_out, g)


def _argument_of(path):
    """The positional argument number of a leaf path "[0][n]...", or None for kwargs."""
    return int(path.split("]")[1].lstrip("[")) if path.startswith("[0]") else None


def _readable(path):
    """"[0][2][1]" -> "args[2][1]"; "[1]['k']" -> "kwargs['k']"."""
    if path.startswith("[0]"):
        rest = path[3:]
        n, _, tail = rest[1:].partition("]")
        return f"args[{n}]{tail}"
    return "kwargs" + path[3:]
