"""The public transformations: grad, value_and_grad, vjp, jacobian, elementwise_grad,
and those built on their nesting: hessian, hvp, jvp, jacfwd, jacrev.

All are thin wrappers over one entry point, ``_Linearized``: trace the
function at the given arguments, prune the graph, lower it to a Plan, and
return a function that relaxes the plan's errors from an output error
(the cotangent) and reads the settled errors out at the inputs. Called
inside a function that is itself being traced, a transformation records its
function into that trace instead, and its errors are the relaxation's
equilibrium written out as primitives (pcgrad.settle), so that the outer
transformation can differentiate them.
"""
import contextlib
import math
import functools
import operator
import warnings
from typing import Any, Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .graph import Graph
from .options import ENERGIES, check_energy, check_record, options_from, relaxation_options
from .plan import cached_graph, plan_for
from .primitives import PRIMITIVES
from .primitives.core import tnp
from .pytree import flatten, leaf_paths, tree_map
from .relax import ConvergenceError, RelaxInfo, convergence_message, output_energy, relax
from .settle import settled_errors
from .tracing import Trace, Tracer, current_trace, refuse_complex

Argnums = int | tuple[int, ...] | list[int]  # which positional arguments to differentiate


def _check_settled(info: RelaxInfo | None, on_nonconvergence: str, stacklevel: int) -> None:
    """Raise ConvergenceError for a diverged or (by default) unconverged
    relaxation, or warn, or (a fixed budget) accept it; a None info means it
    converged."""
    if info is None or info.converged:
        return
    if on_nonconvergence == "raise" or info.diverged:
        raise ConvergenceError(convergence_message(info), info)
    if on_nonconvergence == "ignore":
        return
    warnings.warn(convergence_message(info), RuntimeWarning, stacklevel=stacklevel + 1)


def _check_float(leaf: Any, where: str) -> Any:
    if type(leaf) is np.ndarray and leaf.dtype.kind == "f":
        return leaf
    dtype = np.result_type(leaf) if not isinstance(leaf, (np.ndarray, Tracer)) else leaf.dtype
    refuse_complex(dtype, where)
    if isinstance(leaf, (bool, int, np.bool_, np.integer)) or not np.issubdtype(dtype, np.floating):
        raise TypeError(
            f"Can only differentiate with respect to float arguments; {where} has dtype "
            f"{np.dtype(dtype).name}. Pass floats, e.g. np.asarray(x, dtype=float).")
    return leaf if isinstance(leaf, Tracer) else np.array(leaf, dtype=dtype)


def _argnums(argnums: Any, nargs: int) -> tuple[tuple[int, ...], bool]:
    """(argument positions, whether argnums is a tuple or list): validated, as in
    JAX (Python or numpy integers, negative ones counting from the end)."""
    if type(argnums) is int and 0 <= argnums < nargs:
        return (argnums,), False
    many = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if many else (argnums,)
    for n in nums:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"argnums must be an int or a tuple of ints; got {n!r} of type "
                            f"{type(n).__name__}.")
        if not -nargs <= n < nargs:
            raise ValueError(f"argnums {argnums!r} is out of range for a function called "
                             f"with {nargs} positional arguments.")
    return tuple(int(n) % nargs for n in nums), many


def _differentiated(args: tuple[Any, ...],
                    argnums: Any) -> tuple[list[list[Any]], list[list[str]], "Gradients"]:
    """The differentiated arguments' leaves, checked to be floats: (leaves,
    names, Gradients), leaves and names one list per argument of
    ``Gradients.positions``."""
    nums, many = _argnums(argnums, len(args))
    positions = nums if len(nums) == 1 else tuple(dict.fromkeys(nums))  # each traced once
    leaves, names, unflattens, kinds = [], [], [], []
    for n in positions:
        arg_leaves, unflatten = flatten(args[n])
        if _ARRAY.issuperset(map(type, arg_leaves)) and \
                _FLOAT64.issuperset(map(_dtype, arg_leaves)):
            values, arg_kinds = arg_leaves, [_PLAIN] * len(arg_leaves)  # nothing to convert
        else:
            where = f"argument {n}"
            values = [_check_float(leaf, where) for leaf in arg_leaves]
            arg_kinds = [(v.dtype, not isinstance(leaf, np.ndarray) and (
                type(leaf) is float or np.ndim(leaf) == 0)) for leaf, v in zip(arg_leaves, values)]
        leaves.append(values)
        names.append(leaf_paths(args[n], f"args[{n}]"))
        unflattens.append(unflatten)
        kinds.append(arg_kinds)
    return leaves, names, Gradients(nums, many, positions, unflattens, kinds)


_ARRAY, _FLOAT64 = frozenset({np.ndarray}), frozenset({np.dtype(np.float64)})
_dtype = operator.attrgetter("dtype")
_PLAIN = (np.dtype(np.float64), False)  # the kind of a float64 array leaf


class Gradients:
    """How gradients take the form of the differentiated arguments.

    ``positions`` lists each differentiated argument once (in argnums
    order); ``build`` puts flat per-leaf gradients (the leaves of
    ``positions`` in order) into each argument's pytree, each leaf in its
    argument's dtype and type, and returns one pytree, or a tuple over
    argnums when argnums is a tuple (a repeated argnum gets its gradient
    again, as in JAX). ``kinds`` holds, per argument, each leaf's (dtype,
    whether it is a scalar).
    """

    def __init__(self, argnums: tuple[int, ...], many: bool, positions: tuple[int, ...],
                 unflattens: list[Callable[[list[Any]], Any]],
                 kinds: list[list[tuple[np.dtype[Any], bool]]]) -> None:
        self.argnums, self.many, self.positions = argnums, many, positions
        self.unflattens, self.kinds = unflattens, kinds

    def build(self, flat: list[Any], copy: bool) -> Any:
        """The gradients from ``flat``, copied if ``copy`` (they live in a
        borrowed buffer) and for a repeated argnum (each gets its own)."""
        if not self.many:  # one argument
            return self.unflattens[0](_leaves_like(flat, self.kinds[0], copy))
        chunks, start = {}, 0
        for n, unflatten, kinds in zip(self.positions, self.unflattens, self.kinds):
            chunks[n] = unflatten, kinds, flat[start:start + len(kinds)]
            start += len(kinds)
        grads, done = [], set()
        for n in self.argnums:
            unflatten, kinds, chunk = chunks[n]
            grads.append(unflatten(_leaves_like(chunk, kinds, copy or n in done)))
            done.add(n)
        return tuple(grads)


class _Linearized:
    """A function traced at some arguments: its output, its graph, and relaxations
    from any output energy.

    Inside a function being traced (``outer``, the active trace) it records
    into that trace instead, and its pullback returns the settled errors as
    traced values of it (see pcgrad.settle); ``graph`` is then None.
    """

    aux: Any
    out: Any
    _plans: dict[bool, Any]

    def __init__(self, f: Callable[..., Any], args: tuple[Any, ...], argnums: Any,
                 has_aux: bool, kwargs: dict[str, Any] | None = None, pooled: bool = False,
                 keep_values: bool = False) -> None:
        # pooled: one relaxation, its buffers borrowed from this thread and its
        # results copied out (grad, value_and_grad); otherwise owned buffers.
        # keep_values: keep every traced value (strict relaxation, trace()),
        # not only those an error rule reads.
        self.pooled = pooled
        leaves, names, self.gradients = _differentiated(args, argnums)
        self.outer = current_trace()
        if self.outer is not None:
            self._record_nested(f, args, leaves, has_aux, kwargs)
            return
        inputs = []
        with Trace(keep_values=keep_values) as trace:
            traced_args = list(args)
            for n, values, paths, unflatten in zip(self.gradients.positions, leaves, names,
                                                   self.gradients.unflattens):
                tracers = [trace.leaf(v, name) for v, name in zip(values, paths)]
                inputs.extend([t.node for t in tracers])
                traced_args[n] = unflatten(tracers)
            result = f(*traced_args, **(kwargs or {}))
        self._output(result, has_aux)
        output = self._out.node if isinstance(self._out, Tracer) and \
            self._out._trace is trace else None
        if output is not None:
            trace.values[output] = self.out  # the output energy reads it
        self.graph = cached_graph(trace, inputs, output)
        self._plans = {}

    def _record_nested(self, f: Callable[..., Any], args: tuple[Any, ...],
                       leaves: list[list[Any]], has_aux: bool,
                       kwargs: dict[str, Any] | None) -> None:
        """Record ``f`` into the active trace, each differentiated leaf a node of
        its own (a copy of the leaf, traced or constant), so that the
        derivative is taken with respect to this use of it only."""
        trace = self.outer
        traced_args, self._inputs = list(args), []
        trace.nested += 1  # keep the values the traced error rules will read
        try:
            for n, values, unflatten in zip(self.gradients.positions, leaves,
                                            self.gradients.unflattens):
                # a copy node even of a constant: rules read constants as plain
                # arrays, which would hide this input from an outer walk
                tracers = [PRIMITIVES["reshape"](
                    v if isinstance(v, Tracer) else Tracer(v, trace.constant(v), trace),
                    shape=np.shape(v)) for v in values]
                self._inputs.extend([t.node for t in tracers])
                traced_args[n] = unflatten(tracers)
            result = f(*traced_args, **(kwargs or {}))
        finally:
            trace.nested -= 1
        self._output(result, has_aux, nested=True)
        self.graph = None

    def _output(self, result: Any, has_aux: bool, nested: bool = False) -> None:
        """Check f's ``result`` and set ``out`` (its value; the traced output
        itself when nested), ``_out`` (the traced output) and ``aux``."""
        if has_aux and not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise TypeError("has_aux=True expects the function to return a pair (out, aux); "
                            f"got {_described(result)}. Return (out, aux), or drop has_aux.")
        out, self.aux = result if has_aux else (result, None)
        if not isinstance(out, Tracer) and not isinstance(out, (np.ndarray, np.generic, float, int)):
            raise TypeError(f"The differentiated function must return one array (or, with "
                            f"has_aux, a pair (array, aux)); got {type(out).__name__}.")
        if has_aux and not nested:
            self.aux = tree_map(lambda x: x.value if isinstance(x, Tracer) else x, self.aux)
        self._out = out
        if nested:
            self.out = out if isinstance(out, Tracer) else np.asarray(out)
        else:
            self.out = out.value if isinstance(out, Tracer) else np.asarray(out)

    def plan(self, schedule: str) -> Any:
        """The Plan for ``schedule`` (strict stores every value) and this trace's
        value buffer for it (in this thread's scratch buffer if ``pooled``)."""
        strict = schedule == "strict"
        if strict not in self._plans:
            self._plans[strict] = plan_for(self.graph, strict, self.pooled)
        return self._plans[strict]

    def pullback(self, target: ArrayLike, options: dict[str, Any], energy: str = "linear",
                 free: dict[int, Any] | None = None, want_info: bool = False) -> Any:
        """Relax from the output energy (``target``: the cotangent for "linear");
        returns (gradients per argument, RelaxInfo, final values buffer, E at the
        feed-forward output). Nested: (the settled errors as traced values, None,
        None, None)."""
        if self.outer is not None:
            return self._settled(target, energy, free, want_info), None, None, None
        if not self.graph.connected:
            warnings.warn("The output does not depend on the differentiated inputs; their "
                          "gradient is zero.", UserWarning, stacklevel=4)
            target = np.ascontiguousarray(np.broadcast_to(target, self.out.shape), float)
            energy_value = output_energy(
                ENERGIES.index(energy), np.ascontiguousarray(self.out, float).ravel(),
                target.ravel(), np.zeros(0), self.out.shape[-1] if self.out.ndim else 1,
                np.empty(self.out.size))
            zeros = [np.zeros(self.graph.trace.values[n].shape) for n in self.graph.inputs]
            return self.gradients.build(zeros, False), None, None, energy_value
        plan, value = self.plan(options["schedule"])
        err, value, info, energy_value, relaxation = relax(
            plan, value, _broadcast(target, self.out.shape),
            options["schedule"], pooled=self.pooled, want_info=want_info, eta=options["eta"],
            tol=options["tol"],
            max_iters=options["max_iters"], units=options["units"], energy=energy,
            beta=options["beta"], precisions=self._relaxed_precisions(plan, options),
            free=free, named=tuple(sorted(plan.named)) if want_info else (),
            record=options["record"] if want_info else None)
        _check_settled(info, options["on_nonconvergence"], stacklevel=4)
        t = plan.table
        if want_info:
            for name, node in self._named().items():
                i, trace_value = plan.index.get(node), self.graph.trace.values[node]
                if i is None or t.eoff[i] < 0:  # off the differentiable path: a constant
                    info.errors[name] = np.zeros(trace_value.shape)
                    info.values[name] = np.array(trace_value, float)
                    continue
                info.errors[name] = relaxation.error_of(err, i).reshape(
                    trace_value.shape).copy()
                info.values[name] = (value[t.voff[i]:t.voff[i] + t.size[i]].reshape(
                    trace_value.shape).copy() if t.voff[i] >= 0 else
                    np.array(trace_value, float))
        span, flat = relaxation.input_span, None
        if self.pooled and err.base is None and span is not None and span[0] == 0:
            # a buffer of this call's own (see plan.scratch) headed by the
            # inputs' errors: shrunk to them in place (realloc) instead of
            # copied out, unless something else (a debugger) refers to it
            with contextlib.suppress(ValueError):
                err.resize(span[1])
                flat = relaxation.input_errors(err)
        if flat is None:  # a pooled buffer is reused by the thread's next call
            flat = relaxation.input_errors(err, copy=self.pooled)
        return self.gradients.build(flat, False), info, value, energy_value

    def _settled(self, cotangent: Any, energy: str, free: Any, want_info: bool) -> Any:
        """The gradients a relaxation from ``cotangent`` settles to, recorded
        into the outer trace."""
        if want_info or free is not None or energy != "linear":
            raise NotImplementedError(
                "Inside a function being differentiated, pcgrad transformations record "
                "their equilibrium as primitives: return_info=True, target= and "
                "pcgrad.infer are not available there. Call them outside, or drop them.")
        out = self._out
        if isinstance(cotangent, Tracer):
            if cotangent.shape != np.shape(out):
                cotangent = tnp.broadcast_to(cotangent, np.shape(out))
        else:
            cotangent = _broadcast(cotangent, np.shape(out))
        if isinstance(out, Tracer) and out._trace is self.outer:
            flat = settled_errors(self.outer, self._inputs, out.node, cotangent)
        else:  # the output is a constant
            flat = [np.zeros(self.outer.shapes[n]) for n in self._inputs]
        return self.gradients.build(flat, False)

    def _named(self) -> dict[str, int]:
        """Named pc_nodes of the whole trace (on the differentiable path or not)."""
        trace = self.graph.trace
        return {trace.params[n]["name"]: n for n in range(len(trace))
                if trace.name(n) == "pc_node" and trace.params[n]["name"] is not None}

    def _relaxed_precisions(self, plan: Any, options: dict[str, Any]) -> Any:
        """The precisions= option restricted to named nodes the relaxation has
        (a named node off the differentiable path has no error to weight)."""
        given = options["precisions"]
        if not given:
            return None
        named = self._named()
        unknown = sorted(set(given) - set(named))
        if unknown:
            raise ValueError(f"precisions names {unknown[0]!r}, which is not a named pc_node "
                             f"of this function (named pc_nodes: "
                             f"{', '.join(sorted(named)) or 'none'}).")
        return {name: p for name, p in given.items() if name in plan.named}


def _described(result: Any) -> str:
    if isinstance(result, Tracer):
        return f"one traced array of shape {result.shape}"
    if isinstance(result, (tuple, list)):
        return f"a {type(result).__name__} of length {len(result)}"
    return f"one {type(result).__name__}"


def _broadcast(target: ArrayLike, shape: tuple[int, ...]) -> NDArray[np.float64]:
    target = np.asarray(target, np.float64)
    return target if target.shape == shape else np.broadcast_to(target, shape)


def _leaves_like(leaves: list[Any], kinds: list[tuple[np.dtype[Any], bool]],
                 copy: bool) -> list[Any]:
    """Gradient leaves, each like its argument's leaf (see ``_like``)."""
    if kinds.count(_PLAIN) == len(kinds):  # float64 arrays: only the copy
        return [g.copy() for g in leaves] if copy else list(leaves)
    return [_like(g, dtype, scalar, copy) for g, (dtype, scalar) in zip(leaves, kinds)]


def _like(g: NDArray[Any], dtype: Any, scalar: bool, copy: bool) -> Any:
    """A gradient leaf in its argument's dtype: a Python-float-like scalar, or an
    array (a copy when it lives in a borrowed buffer; else a view of the
    relaxation's own error buffer, which nothing reuses)."""
    if isinstance(g, Tracer):  # a derivative recorded into an outer trace
        return g
    g = g.copy() if copy and g.dtype == dtype else np.array(g, dtype=dtype, copy=copy or None)
    return g[()] if scalar else g


def _check_scalar(out: Any, name: str) -> None:
    if isinstance(out, Tracer):
        out = out.value
    if type(out) is np.ndarray and out.ndim == 0 and out.dtype.kind == "f":
        return
    if np.size(out) != 1:  # a one-element array counts as a scalar, as in autograd
        raise TypeError(f"{name} requires a scalar output (or a one-element array, as "
                        f"autograd accepts); got shape {np.shape(out)}. Use pcgrad.jacobian "
                        "or pcgrad.vjp for non-scalar outputs.")
    if not np.issubdtype(np.asarray(out).dtype, np.floating):
        raise TypeError(f"{name} requires a float output; got dtype {np.asarray(out).dtype}.")


def value_and_grad(f: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False, *,
                   schedule: str = "sweep", eta: float | None = None, tol: float | None = None,
                   max_iters: int | None = None, units: str = "all",
                   target: ArrayLike | None = None, energy: str = "squared",
                   beta: float | None = None, precisions: Mapping[str, ArrayLike] | None = None,
                   return_info: bool = False, on_nonconvergence: str = "raise",
                   record: str | None = None) -> Callable[..., Any]:
    """Like ``grad``, but the function returns ``(value, gradient)``.

    The value is f's output, or with ``target`` the output energy E. With
    ``has_aux`` the value is ``(value, aux)``, as in JAX.

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.value_and_grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    (array(5.), array([2., 4.]))
    """
    options = relaxation_options(schedule, eta, tol, max_iters, units, beta, precisions,
                                 on_nonconvergence, record)
    check_energy(energy)
    check_record(options, return_info)

    @functools.wraps(f)
    def value_and_grad_f(*args: Any, **kwargs: Any) -> Any:
        lin = _Linearized(f, args, argnums, has_aux, kwargs, pooled=True,
                          keep_values=options["schedule"] == "strict")
        if target is None:
            _check_scalar(lin.out, "grad")
            g, info, _, _ = lin.pullback(1.0, options, want_info=return_info)
            value = lin.out
        else:
            clamped = _check_target(lin.out, target)
            g, info, _, value = lin.pullback(clamped, options, energy, want_info=return_info)
            value = np.float64(value)
        value = (value, lin.aux) if has_aux else value
        return (value, g, info) if return_info else (value, g)
    value_and_grad_f._pcgrad_spec = dict(  # type: ignore[attr-defined]
        kind="value_and_grad", f=f, argnums=argnums, has_aux=has_aux, options=options,
        target=target, energy=energy, return_info=return_info)
    return value_and_grad_f


def _check_target(out: Any, target: ArrayLike) -> NDArray[np.float64]:
    target = np.asarray(target, dtype=np.float64)
    if target.shape != np.shape(out):
        raise ValueError(f"The target has shape {target.shape}; the network's output has shape "
                         f"{np.shape(out)}. With target=, f returns the prediction, not a loss.")
    return target


def grad(f: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False, *,
         schedule: str = "sweep", eta: float | None = None, tol: float | None = None,
         max_iters: int | None = None, units: str = "all", target: ArrayLike | None = None,
         energy: str = "squared", beta: float | None = None,
         precisions: Mapping[str, ArrayLike] | None = None, return_info: bool = False,
         on_nonconvergence: str = "raise", record: str | None = None) -> Callable[..., Any]:
    """The gradient of scalar function ``f``, computed by relaxing prediction errors.

    ``argnums`` (int or tuple) picks the differentiated arguments; each may be
    a float, a float array or a pytree of them, and its gradient has the same
    structure and dtype.

    ``schedule``:
      * "sweep" (default): reverse topological order, unit step; exact in one pass.
      * "jacobi": all units at once; exact after depth(graph) steps.
      * "euler": step ``eta`` in (0, 1] until every unit has settled: its
        residual max|dF/dv| is at most ``tol`` times the size (max-norm) of its
        own error, so small gradients are as accurate as large ones (at most
        ``max_iters`` steps).
      * "strict": no fixed prediction assumption: values relax and every
        prediction and Jacobian is recomputed from them; the output is nudged
        by ``beta`` (default 1e-3) and the result is eps/beta, within O(beta)
        of the gradient. Divergence (eta too large) raises ConvergenceError.
    A relaxation that does not converge raises ``ConvergenceError`` (or warns
    with ``on_nonconvergence="warn"``). ``on_nonconvergence="ignore"`` makes
    ``max_iters`` a fixed budget, as predictive-coding papers run it (e.g.
    ``schedule="euler", eta=0.1, max_iters=100``): the errors reached when it
    runs out are the (approximate) gradient, and ``info.converged`` and
    ``info.residual`` report the gap. A diverged strict relaxation still raises.

    ``units="marked"`` makes only inputs, the output and ``pcgrad.pc_node``s
    predictive-coding units (the nodes between them pass errors on within a
    step, as the layers of a PC network); the default makes every node one.
    ``precisions={"name": p}`` sets the precision of named pc_nodes.

    With ``target``, ``f`` returns a prediction, clamped to ``target`` by the
    output energy ``energy``: "squared" (1/2 (mu - y)^T Pi (mu - y)) or
    "cross_entropy" (-sum y . log softmax(mu) over the last axis; mu are
    logits), and the result is the gradient of that energy.

    With ``return_info`` the function returns ``(gradient, RelaxInfo)``; with
    ``has_aux`` it returns ``(gradient, aux)``. ``record="errors"`` (with
    ``return_info``) also keeps every unit's error at every iteration and the
    gradient estimate at each input in ``info.record`` (a RelaxRecord).

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.grad(lambda x: np.sum(np.sin(x)))(np.array([0.0, np.pi]))
    array([ 1., -1.])
    """
    vg = value_and_grad(f, argnums, has_aux, schedule=schedule, eta=eta, tol=tol,
                        max_iters=max_iters, units=units, target=target, energy=energy,
                        beta=beta, precisions=precisions, return_info=return_info,
                        on_nonconvergence=on_nonconvergence, record=record)

    @functools.wraps(f)
    def grad_f(*args: Any, **kwargs: Any) -> Any:
        result = vg(*args, **kwargs)
        (value, g), rest = result[:2], result[2:]
        if has_aux:
            return (g, value[1]) + rest
        return (g,) + rest if rest else g
    grad_f._pcgrad_spec = dict(vg._pcgrad_spec, kind="grad")  # type: ignore[attr-defined]
    return grad_f


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False, return_info: bool = False,
        **options: Any) -> tuple[Any, ...]:
    """``(out, vjp_fn)``: ``vjp_fn(cotangent)`` returns a tuple with one gradient per primal.

    The function is traced once; every ``vjp_fn`` call is one relaxation from
    output error ``cotangent``. With ``has_aux`` returns ``(out, vjp_fn, aux)``;
    with ``return_info`` ``vjp_fn`` returns ``(grads, RelaxInfo)``. ``options``
    are grad's relaxation options (schedule, eta, tol, max_iters, units, beta,
    precisions, on_nonconvergence).

    >>> import pcgrad, pcgrad.numpy as np
    >>> out, vjp_fn = pcgrad.vjp(lambda x: x * 3.0, np.array([1.0, 2.0]))
    >>> vjp_fn(np.array([1.0, 10.0]))
    (array([ 3., 30.]),)
    """
    options = options_from(options)
    check_record(options, return_info)
    lin = _Linearized(f, primals, tuple(range(len(primals))), has_aux,
                      keep_values=options["schedule"] == "strict")
    # copy the values now: the caller may change a constant in place
    if lin.outer is None and lin.graph.connected:
        lin.plan(options["schedule"])

    def vjp_fn(cotangent: ArrayLike) -> Any:
        if np.shape(cotangent) != np.shape(lin.out):
            raise ValueError(f"The cotangent has shape {np.shape(cotangent)}; the output has "
                             f"shape {np.shape(lin.out)}.")
        g, info, _, _ = lin.pullback(cotangent, options, want_info=return_info)
        return (g, info) if return_info else g
    return (lin.out, vjp_fn, lin.aux) if has_aux else (lin.out, vjp_fn)


def jacobian(f: Callable[..., Any], argnums: Argnums = 0, **options: Any) -> Callable[..., Any]:
    """The Jacobian of ``f``: shape ``out.shape + arg.shape`` per differentiated leaf.

    One trace; one relaxation per output element (seeded with that one-hot
    output error). ``options`` are grad's relaxation options.

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.jacobian(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    options = options_from(options)

    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        lin = _Linearized(f, args, argnums, False, kwargs,
                          keep_values=options["schedule"] == "strict")
        shape = lin.out.shape
        rows = []
        for k in range(math.prod(shape)):
            seed = np.zeros(lin.out.size)
            seed[k] = 1.0
            rows.append(lin.pullback(seed.reshape(shape), options)[0])
        leaves0, unflatten = flatten(rows[0]) if rows else flatten(lin.pullback(
            np.zeros(shape), options)[0])
        columns = [[flatten(r)[0][i] for r in rows] for i in range(len(leaves0))]
        if lin.outer is not None:  # rows of traced values
            return unflatten([tnp.reshape(tnp.stack(col) if col else np.zeros((0,)),
                                          shape + np.shape(leaf))
                              for col, leaf in zip(columns, leaves0)])
        return unflatten([np.asarray(col).reshape(shape + np.shape(leaf))
                          for col, leaf in zip(columns, leaves0)])
    return jacobian_f


def elementwise_grad(f: Callable[..., Any], argnums: Argnums = 0,
                     **options: Any) -> Callable[..., Any]:
    """The vector-Jacobian product with a cotangent of ones (autograd's
    ``elementwise_grad``): the derivative of each output element with respect
    to its own input element, for functions acting elementwise. ``options``
    are grad's relaxation options.

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.elementwise_grad(np.tanh)(np.array([0.0, 1.0]))
    array([1.        , 0.41997434])
    """
    options = options_from(options)

    @functools.wraps(f)
    def elementwise_grad_f(*args: Any, **kwargs: Any) -> Any:
        lin = _Linearized(f, args, argnums, False, kwargs,
                          keep_values=options["schedule"] == "strict")
        return lin.pullback(np.ones(lin.out.shape), options)[0]
    return elementwise_grad_f


def hessian(f: Callable[..., Any], argnums: int = 0, **options: Any) -> Callable[..., Any]:
    """The Hessian of scalar ``f`` with respect to array argument ``argnums``:
    shape ``arg.shape + arg.shape``, the Jacobian of its gradient.

    The gradient is recorded into the Jacobian's trace as primitives (its
    relaxation's equilibrium) and the Jacobian relaxes that graph once per
    element. ``options`` are grad's relaxation options, used by both.

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 3.0]))
    array([[6., 2.],
           [2., 0.]])
    """
    _single_argnum(argnums, "hessian")
    return jacobian(grad(f, argnums, **options), argnums, **options)


def jacrev(f: Callable[..., Any], argnums: Argnums = 0, **options: Any) -> Callable[..., Any]:
    """JAX's name for ``jacobian`` (one relaxation per output element).

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.jacrev(lambda x: x ** 3)(np.array([1.0, 2.0]))
    array([[ 3.,  0.],
           [ 0., 12.]])
    """
    return jacobian(f, argnums, **options)


def hvp(f: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """``hvp(f)(x, v)``: the Hessian of scalar ``f`` at array ``x`` times ``v``,
    without forming the Hessian: the gradient of <grad f(x), v>, two
    relaxations' worth of work. ``options`` are grad's relaxation options.

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.hvp(lambda x: np.sum(x ** 3))(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([6., 0.])
    """
    def hvp_f(x: Any, v: Any) -> Any:
        return grad(lambda y: tnp.sum(grad(f, **options)(y) * v), **options)(x)
    return hvp_f


def jvp(f: Callable[..., Any], primals: tuple[Any, ...] | list[Any],
        tangents: tuple[Any, ...] | list[Any], **options: Any) -> tuple[Any, Any]:
    """Forward mode, as JAX's: ``(f(*primals), J t)`` for tangents ``t`` of the
    primals (arrays, one per primal).

    The product is the transpose of a vjp: vjp(u) = J^T u is linear in the
    cotangent u, so the gradient of u -> <J^T u, t> is J t. ``options`` are
    grad's relaxation options.

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.jvp(lambda x: np.sin(x), (np.array([0.0, 1.0]),), (np.array([1.0, 1.0]),))
    (array([0.        , 0.84147098]), array([1.        , 0.54030231]))
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp takes one tangent per primal; got {len(primals)} primals and "
                         f"{len(tangents)} tangents.")
    for n, (p, t) in enumerate(zip(primals, tangents)):
        if np.shape(p) != np.shape(t):
            raise ValueError(f"The tangent of primal {n} has shape {np.shape(t)}; the primal "
                             f"has shape {np.shape(p)}.")
    out = f(*primals)

    def transposed(u: Any) -> Any:
        cotangents = vjp(f, *primals, **options)[1](u)
        return sum(tnp.sum(g * t) for g, t in zip(cotangents, tangents))
    zero = np.zeros(np.shape(out))
    with warnings.catch_warnings():  # a constant f: its tangent is zero
        warnings.filterwarnings("ignore", "The output does not depend", UserWarning)
        return out, grad(transposed, **options)(zero)


def jacfwd(f: Callable[..., Any], argnums: int = 0, **options: Any) -> Callable[..., Any]:
    """The Jacobian of ``f`` with respect to array argument ``argnums`` by
    forward mode (one ``jvp`` per input element; shape ``out.shape +
    arg.shape``), as JAX's. ``options`` are grad's relaxation options.

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.jacfwd(lambda x: x[:1] * x[1:])(np.array([2.0, 3.0]))
    array([[3., 2.]])
    """
    _single_argnum(argnums, "jacfwd")

    @functools.wraps(f)
    def jacfwd_f(*args: Any) -> Any:
        n = _argnums(argnums, len(args))[0][0]
        x = args[n]

        def f_of_x(y: Any) -> Any:
            return f(*args[:n], y, *args[n + 1:])
        out: Any = None
        columns = []
        for k in range(int(np.size(x))):
            tangent = np.zeros(np.size(x))
            tangent[k] = 1.0
            out, column = jvp(f_of_x, (x,), (tangent.reshape(np.shape(x)),), **options)
            columns.append(column)
        if not columns:
            return np.zeros(np.shape(f_of_x(x)) + np.shape(x))
        return tnp.reshape(tnp.stack(columns, axis=-1), np.shape(out) + np.shape(x))
    return jacfwd_f


def _single_argnum(argnums: Any, name: str) -> None:
    if isinstance(argnums, (tuple, list)):
        raise NotImplementedError(f"pcgrad.{name} differentiates one argument; got argnums="
                                  f"{argnums!r}. Pass an int, and call it once per argument.")


def trace(f: Callable[..., Any], *args: Any, argnums: Argnums | None = None) -> Graph:
    """Trace ``f`` at ``args`` into a pruned Graph (all arguments differentiated by default).

    >>> import pcgrad, pcgrad.numpy as np
    >>> print(pcgrad.trace(lambda x: np.sum(np.exp(x)), np.ones(3)))
    graph: 3 nodes, depth 2
      %0: f64[3] = input args[0]
      %1: f64[3] = exp %0
      %2: f64[] = sum[axis=None, keepdims=False] %1
      output %2
    """
    if current_trace() is not None:
        raise NotImplementedError("pcgrad.trace cannot be called inside a function being "
                                  "differentiated. Call it outside.")
    nums = tuple(range(len(args))) if argnums is None else argnums
    return _Linearized(f, args, nums, False, keep_values=True).graph
