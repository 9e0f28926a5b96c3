"""The public transformations: grad, value_and_grad, vjp, jacobian, elementwise_grad.

All are thin wrappers over one entry point, ``_linearize``: trace the
function at the given arguments, prune the graph, lower it to a Plan, and
return a function that relaxes the plan's errors from an output error
(the cotangent) and reads the settled errors out at the inputs.
"""
import math
import functools
import warnings

import numpy as np

from .plan import cached_graph, plan_for
from .pytree import flatten, leaf_paths, tree_map
from .relax import ENERGIES, SCHEDULES, ConvergenceError, convergence_message, output_energy, relax
from .tracing import Trace, Tracer

DEFAULTS = {  # eta, tol, max_iters per schedule
    "sweep": (1.0, 0.0, 1),
    "jacobi": (1.0, 0.0, 1_000_000),
    "euler": (0.5, 1e-10, 100_000),
    "strict": (0.1, 1e-8, 100_000),
}
STRICT_BETA = 1e-3


def _options(schedule="sweep", eta=None, tol=None, max_iters=None, units="all", beta=None,
             precisions=None, on_nonconvergence="raise"):
    """Validated relaxation options (grad's keyword arguments)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}; choose one of "
                         f"{', '.join(repr(s) for s in SCHEDULES)}.")
    default_eta, default_tol, default_iters = DEFAULTS[schedule]
    eta = default_eta if eta is None else float(eta)
    if not 0.0 < eta <= 1.0:
        raise ValueError(f"eta must be in (0, 1] for the {schedule!r} schedule; got {eta}.")
    if schedule in ("jacobi", "sweep") and eta != 1.0:
        raise ValueError(f"The {schedule!r} schedule takes unit steps (eta = 1); use "
                         "schedule='euler' for a smaller step.")
    if beta is not None and schedule != "strict":
        raise ValueError("beta nudges the output in the 'strict' schedule only; the fixed "
                         "prediction schedules are exact with beta = 1.")
    beta = (STRICT_BETA if schedule == "strict" else 1.0) if beta is None else float(beta)
    if not beta > 0:
        raise ValueError(f"beta must be positive; got {beta}.")
    if units not in ("all", "marked"):
        raise ValueError(f"units must be 'all' or 'marked'; got {units!r}.")
    if on_nonconvergence not in ("raise", "warn"):
        raise ValueError("on_nonconvergence must be 'raise' or 'warn'; "
                         f"got {on_nonconvergence!r}.")
    return dict(schedule=schedule, eta=eta, beta=beta, units=units, precisions=precisions,
                tol=default_tol if tol is None else float(tol),
                max_iters=default_iters if max_iters is None else int(max_iters),
                on_nonconvergence=on_nonconvergence)


def _check_settled(info, on_nonconvergence, stacklevel):
    """Raise ConvergenceError for a diverged or (by default) unconverged
    relaxation, or warn; a None info means it converged."""
    if info is None or info.converged:
        return
    if on_nonconvergence == "raise" or info.diverged:
        raise ConvergenceError(convergence_message(info), info)
    warnings.warn(convergence_message(info), RuntimeWarning, stacklevel=stacklevel + 1)


def _check_float(leaf, where):
    if isinstance(leaf, Tracer):
        raise NotImplementedError(
            "pcgrad transformations cannot be nested yet: an argument is already being "
            "traced (pcgrad.grad inside a function being differentiated). Higher-order "
            "derivatives are not supported yet.")
    if type(leaf) is np.ndarray and leaf.dtype.kind == "f":
        return leaf
    dtype = np.result_type(leaf) if not isinstance(leaf, np.ndarray) else leaf.dtype
    if isinstance(leaf, (bool, int, np.bool_, np.integer)) or not np.issubdtype(dtype, np.floating):
        raise TypeError(
            f"Can only differentiate with respect to float arguments; {where} has dtype "
            f"{np.dtype(dtype).name}. Pass floats, e.g. np.asarray(x, dtype=float).")
    return np.array(leaf, dtype=dtype)


def _argnums(argnums, nargs):
    if type(argnums) is int and 0 <= argnums < nargs:
        return (argnums,), False
    many = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if many else (argnums,)
    for n in nums:
        if not isinstance(n, int) or not -nargs <= n < nargs:
            raise ValueError(f"argnums {argnums!r} is out of range for a function called "
                             f"with {nargs} positional arguments.")
    return tuple(n % nargs for n in nums), many


class _Linearized:
    """A function traced at some arguments: its output, its graph, and relaxations
    from any output energy."""

    def __init__(self, f, args, argnums, has_aux, kwargs=None, pooled=False,
                 keep_values=False):
        # pooled: one relaxation, its buffers borrowed from this thread and its
        # results copied out (grad, value_and_grad); otherwise owned buffers.
        # keep_values: keep every traced value (strict relaxation, trace()),
        # not only those an error rule reads.
        self.pooled = pooled
        nums, self.many = _argnums(argnums, len(args))
        leaves, self.unflatten, self.dtypes = [], [], []
        with Trace(keep_values=keep_values) as trace:
            traced_args = list(args)
            for n in nums:
                arg_leaves, unflatten = flatten(args[n])
                values = [_check_float(leaf, f"argument {n}") for leaf in arg_leaves]
                tracers = [trace.leaf(v, name)
                           for v, name in zip(values, leaf_paths(args[n], f"args[{n}]"))]
                leaves.append(tracers)
                self.unflatten.append(unflatten)
                self.dtypes.append([(v.dtype, not isinstance(leaf, np.ndarray) and (
                    type(leaf) is float or np.ndim(leaf) == 0))
                    for leaf, v in zip(arg_leaves, values)])
                traced_args[n] = unflatten(tracers)
            result = f(*traced_args, **(kwargs or {}))
        out, self.aux = result if has_aux else (result, None)
        if not isinstance(out, Tracer) and not isinstance(out, (np.ndarray, np.generic, float, int)):
            raise TypeError(f"The differentiated function must return one array (or, with "
                            f"has_aux, a pair (array, aux)); got {type(out).__name__}.")
        if has_aux:
            self.aux = tree_map(lambda x: x.value if isinstance(x, Tracer) else x, self.aux)
        self.out = out.value if isinstance(out, Tracer) else np.asarray(out)
        inputs = [t.node for group in leaves for t in group]
        output = out.node if isinstance(out, Tracer) and out._trace is trace else None
        if output is not None:
            trace.values[output] = self.out  # the output energy reads it
        self.graph = cached_graph(trace, inputs, output)
        self.counts = [len(group) for group in leaves]
        self._plans = {}

    def plan(self, schedule):
        """The Plan for ``schedule`` (strict stores every value) and this trace's
        value buffer for it (in this thread's scratch buffer if ``pooled``)."""
        strict = schedule == "strict"
        if strict not in self._plans:
            self._plans[strict] = plan_for(self.graph, strict, self.pooled)
        return self._plans[strict]

    def pullback(self, target, options, energy="linear", free=None, record=False):
        """Relax from the output energy (``target``: the cotangent for "linear");
        returns (gradients per argument, RelaxInfo, final values buffer, E at the
        feed-forward output)."""
        if not self.graph.connected:
            warnings.warn("The output does not depend on the differentiated inputs; their "
                          "gradient is zero.", UserWarning, stacklevel=4)
            target = np.ascontiguousarray(np.broadcast_to(target, self.out.shape), float)
            energy_value = output_energy(
                ENERGIES.index(energy), np.ascontiguousarray(self.out, float).ravel(),
                target.ravel(), np.zeros(0), self.out.shape[-1] if self.out.ndim else 1,
                np.empty(self.out.size))
            return self._structure([np.zeros(self.graph.trace.values[n].shape)
                                    for n in self.graph.inputs]), None, None, energy_value
        plan, value = self.plan(options["schedule"])
        err, value, info, energy_value, relaxation = relax(
            plan, value, _broadcast(target, self.out.shape),
            options["schedule"], pooled=self.pooled, want_info=record, eta=options["eta"],
            tol=options["tol"],
            max_iters=options["max_iters"], units=options["units"], energy=energy,
            beta=options["beta"], precisions=self._relaxed_precisions(plan, options),
            free=free, named=sorted(plan.named) if record else ())
        _check_settled(info, options["on_nonconvergence"], stacklevel=4)
        t = plan.table
        flat = [relaxation.error_of(err, i).reshape(
            self.graph.trace.values[self.graph.inputs[k]].shape)
            for k, i in enumerate(plan.inputs)]
        if record:
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
        return self._structure(flat), info, value, energy_value

    def _named(self):
        """Named pc_nodes of the whole trace (on the differentiable path or not)."""
        trace = self.graph.trace
        return {trace.params[n]["name"]: n for n in range(len(trace))
                if trace.name(n) == "pc_node" and trace.params[n]["name"] is not None}

    def _relaxed_precisions(self, plan, options):
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

    def _structure(self, flat):
        """Per-argument pytrees (dtype and type of each leaf) from flat leaf arrays."""
        grads, start = [], 0
        for unflatten, dtypes, count in zip(self.unflatten, self.dtypes, self.counts):
            chunk = flat[start:start + count]
            start += count
            grads.append(unflatten([_like(g, dtype, scalar, self.pooled)
                                    for g, (dtype, scalar) in zip(chunk, dtypes)]))
        return tuple(grads) if self.many else grads[0]


def _broadcast(target, shape):
    target = np.asarray(target, np.float64)
    return target if target.shape == shape else np.broadcast_to(target, shape)


def _like(g, dtype, scalar, copy):
    """A gradient leaf in its argument's dtype: a Python-float-like scalar, or an
    array (a copy when it lives in a borrowed buffer; else a view of the
    relaxation's own error buffer, which nothing reuses)."""
    g = np.array(g, dtype=dtype, copy=copy or None)
    return g[()] if scalar else g


def _check_scalar(out, name):
    if type(out) is np.ndarray and out.ndim == 0 and out.dtype.kind == "f":
        return
    if np.ndim(out) != 0:
        raise TypeError(f"{name} requires a scalar output; got shape {np.shape(out)}. "
                        "Use pcgrad.jacobian or pcgrad.vjp for non-scalar outputs.")
    if not np.issubdtype(np.asarray(out).dtype, np.floating):
        raise TypeError(f"{name} requires a float output; got dtype {np.asarray(out).dtype}.")


def value_and_grad(f, argnums=0, has_aux=False, *, schedule="sweep", eta=None, tol=None,
                   max_iters=None, units="all", target=None, energy="squared", beta=None,
                   precisions=None, return_info=False, on_nonconvergence="raise"):
    """Like ``grad``, but the function returns ``(value, gradient)``.

    The value is f's output, or with ``target`` the output energy E. With
    ``has_aux`` the value is ``(value, aux)``, as in JAX.

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.value_and_grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    (array(5.), array([2., 4.]))
    """
    options = _options(schedule, eta, tol, max_iters, units, beta, precisions,
                       on_nonconvergence)
    if energy not in ENERGIES[1:]:
        raise ValueError(f"energy must be 'squared' or 'cross_entropy' (the output energy "
                         f"with target=); got {energy!r}.")

    @functools.wraps(f)
    def value_and_grad_f(*args, **kwargs):
        lin = _Linearized(f, args, argnums, has_aux, kwargs, pooled=True,
                          keep_values=options["schedule"] == "strict")
        if target is None:
            _check_scalar(lin.out, "grad")
            g, info, _, _ = lin.pullback(1.0, options, record=return_info)
            value = lin.out
        else:
            clamped = _check_target(lin.out, target)
            g, info, _, value = lin.pullback(clamped, options, energy, record=return_info)
            value = np.float64(value)
        value = (value, lin.aux) if has_aux else value
        return (value, g, info) if return_info else (value, g)
    value_and_grad_f._pcgrad_spec = dict(
        kind="value_and_grad", f=f, argnums=argnums, has_aux=has_aux, options=options,
        target=target, energy=energy, return_info=return_info)
    return value_and_grad_f


def _check_target(out, target):
    target = np.asarray(target, dtype=np.float64)
    if target.shape != np.shape(out):
        raise ValueError(f"The target has shape {target.shape}; the network's output has shape "
                         f"{np.shape(out)}. With target=, f returns the prediction, not a loss.")
    return target


def grad(f, argnums=0, has_aux=False, *, schedule="sweep", eta=None, tol=None,
         max_iters=None, units="all", target=None, energy="squared", beta=None,
         precisions=None, return_info=False, on_nonconvergence="raise"):
    """The gradient of scalar function ``f``, computed by relaxing prediction errors.

    ``argnums`` (int or tuple) picks the differentiated arguments; each may be
    a float, a float array or a pytree of them, and its gradient has the same
    structure and dtype.

    ``schedule``:
      * "sweep" (default): reverse topological order, unit step; exact in one pass.
      * "jacobi": all units at once; exact after depth(graph) steps.
      * "euler": step ``eta`` in (0, 1] until the residual max|dF/dv| is below
        ``tol`` times the output error (at most ``max_iters`` steps).
      * "strict": no fixed prediction assumption: values relax and every
        prediction and Jacobian is recomputed from them; the output is nudged
        by ``beta`` (default 1e-3) and the result is eps/beta, within O(beta)
        of the gradient. Divergence (eta too large) raises ConvergenceError.
    A relaxation that does not converge raises ``ConvergenceError`` (or warns
    with ``on_nonconvergence="warn"``).

    ``units="marked"`` makes only inputs, the output and ``pcgrad.pc_node``s
    predictive-coding units (the nodes between them pass errors on within a
    step, as the layers of a PC network); the default makes every node one.
    ``precisions={"name": p}`` sets the precision of named pc_nodes.

    With ``target``, ``f`` returns a prediction, clamped to ``target`` by the
    output energy ``energy``: "squared" (1/2 (mu - y)^T Pi (mu - y)) or
    "cross_entropy" (-sum y . log softmax(mu) over the last axis; mu are
    logits), and the result is the gradient of that energy.

    With ``return_info`` the function returns ``(gradient, RelaxInfo)``; with
    ``has_aux`` it returns ``(gradient, aux)``.

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.grad(lambda x: np.sum(np.sin(x)))(np.array([0.0, np.pi]))
    array([ 1., -1.])
    """
    vg = value_and_grad(f, argnums, has_aux, schedule=schedule, eta=eta, tol=tol,
                        max_iters=max_iters, units=units, target=target, energy=energy,
                        beta=beta, precisions=precisions, return_info=return_info,
                        on_nonconvergence=on_nonconvergence)

    @functools.wraps(f)
    def grad_f(*args, **kwargs):
        result = vg(*args, **kwargs)
        (value, g), rest = result[:2], result[2:]
        if has_aux:
            return (g, value[1]) + rest
        return (g,) + rest if rest else g
    grad_f._pcgrad_spec = dict(vg._pcgrad_spec, kind="grad")
    return grad_f


def vjp(f, *primals, has_aux=False, return_info=False, **options):
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
    options = _options(**options)
    lin = _Linearized(f, primals, tuple(range(len(primals))), has_aux,
                      keep_values=options["schedule"] == "strict")

    def vjp_fn(cotangent):
        if np.shape(cotangent) != np.shape(lin.out):
            raise ValueError(f"The cotangent has shape {np.shape(cotangent)}; the output has "
                             f"shape {np.shape(lin.out)}.")
        g, info, _, _ = lin.pullback(cotangent, options, record=return_info)
        return (g, info) if return_info else g
    return (lin.out, vjp_fn, lin.aux) if has_aux else (lin.out, vjp_fn)


def jacobian(f, argnums=0, **options):
    """The Jacobian of ``f``: shape ``out.shape + arg.shape`` per differentiated leaf.

    One trace; one relaxation per output element (seeded with that one-hot
    output error). ``options`` are grad's relaxation options.

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.jacobian(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    options = _options(**options)

    @functools.wraps(f)
    def jacobian_f(*args, **kwargs):
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
        return unflatten([np.asarray(col).reshape(shape + np.shape(leaf))
                          for col, leaf in zip(columns, leaves0)])
    return jacobian_f


def elementwise_grad(f, argnums=0, **options):
    """The vector-Jacobian product with a cotangent of ones (autograd's
    ``elementwise_grad``): the derivative of each output element with respect
    to its own input element, for functions acting elementwise. ``options``
    are grad's relaxation options.

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.elementwise_grad(np.tanh)(np.array([0.0, 1.0]))
    array([1.        , 0.41997434])
    """
    options = _options(**options)

    @functools.wraps(f)
    def elementwise_grad_f(*args, **kwargs):
        lin = _Linearized(f, args, argnums, False, kwargs,
                          keep_values=options["schedule"] == "strict")
        return lin.pullback(np.ones(lin.out.shape), options)[0]
    return elementwise_grad_f


def trace(f, *args, argnums=None):
    """Trace ``f`` at ``args`` into a pruned Graph (all arguments differentiated by default).

    >>> import pcgrad, pcgrad.numpy as np
    >>> print(pcgrad.trace(lambda x: np.sum(np.exp(x)), np.ones(3)))
    graph: 3 nodes, depth 2
      %0: f64[3] = input args[0]
      %1: f64[3] = exp %0
      %2: f64[] = sum[axis=None, keepdims=False] %1
      output %2
    """
    nums = tuple(range(len(args))) if argnums is None else argnums
    return _Linearized(f, args, nums, False, keep_values=True).graph
