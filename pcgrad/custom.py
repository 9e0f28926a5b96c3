"""Custom derivatives: functions whose error rule you write (``custom_vjp``).

The mechanism is one primitive (primitives/custom.py): a call records one
node whose value is fwd's output and whose error rule is bwd, traced with
pcgrad.numpy into a small graph that the compiled relaxation replays.
``pcgrad.extend`` offers autograd's spelling of the same thing.
"""
import functools

import numpy as np

from .primitives.custom import HostRule, Rule, custom_vjp_call, host_token
from .pytree import flatten
from .tracing import MixedTraces, Trace, Tracer


_CLOSURE = ("The bwd rule of {} computed with a traced value that is not g; pass everything "
            "bwd needs through fwd's residuals.")


class custom_vjp:
    """A function with a hand-written vector-Jacobian product, as in JAX.

    Decorate ``f``, then give ``f.defvjp(fwd, bwd)``: ``fwd(*args)`` returns
    ``(out, residuals)``, and ``bwd(residuals, g)`` returns one cotangent per
    argument of ``f`` (a tuple; None for an argument with no derivative), each
    shaped like its argument. Write bwd with ``pcgrad.numpy``; it must be
    linear in ``g``. Under ``pcgrad.grad`` each call runs fwd in numpy and
    traces bwd once into primitives, so the rule runs inside the compiled
    relaxation under every schedule. Outside any transformation ``f`` itself
    runs. ``out`` must be one float array.

    With ``trace_bwd=False`` bwd is any Python function of numpy arrays (g a
    plain array of out's shape), for rules primitives cannot express (an ODE
    solve, a library call): the relaxation calls it whenever the node's
    error changes (once under ``sweep``; once per change under the
    iterative schedules, which then agree with the sweep to the accuracy
    with which bwd is linear in g). Such a rule cannot be differentiated
    again.

    >>> import pcgrad, pcgrad.numpy as np
    >>> @pcgrad.custom_vjp
    ... def log1pexp(x):
    ...     return np.log1p(np.exp(x))
    >>> def log1pexp_fwd(x):
    ...     return log1pexp(x), x
    >>> def log1pexp_bwd(x, g):
    ...     return (g * (1 - 1 / (1 + np.exp(x))),)
    >>> log1pexp.defvjp(log1pexp_fwd, log1pexp_bwd)
    >>> float(pcgrad.grad(log1pexp)(100.0))
    1.0
    """

    def __init__(self, fun, trace_bwd=True):
        self.fun, self.fwd, self.bwd, self.trace_bwd = fun, None, None, trace_bwd
        functools.update_wrapper(self, fun)

    def defvjp(self, fwd, bwd):
        """Set the forward ``fwd(*args) -> (out, residuals)`` and the rule
        ``bwd(residuals, g) -> tuple of cotangents``."""
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args):
        if self.fwd is None:
            raise TypeError(f"custom_vjp function {self.__name__} has no rule yet: call "
                            f"{self.__name__}.defvjp(fwd, bwd) before calling it.")
        leaves, unflatten = flatten(args)
        trace = _trace_of(leaves)
        if trace is None:
            return self.fun(*args)
        if trace.compiling:
            raise TypeError(f"pcgrad.jit cannot compile {self.__name__}, a custom_vjp "
                            "function: its forward runs in Python on every call. Use "
                            "pcgrad.grad without jit.")
        values = [leaf.value if isinstance(leaf, Tracer) else leaf for leaf in leaves]
        with Trace():  # fwd runs on plain values: nothing of it is recorded
            out, residuals = self.fwd(*unflatten(values))
        if isinstance(out, Tracer):
            raise TypeError(f"The fwd rule of {self.__name__} computed with a traced value "
                            "that is not one of its arguments; pass that value as an argument.")
        if not isinstance(out, (np.ndarray, np.generic, float)) or \
                np.asarray(out).dtype.kind != "f":
            raise TypeError(f"The fwd rule of {self.__name__} must return (out, residuals) "
                            f"with out one float array; got out of type {type(out).__name__}.")
        out = np.asarray(out)
        arguments = unflatten([0.0] * len(values))  # their structure, for bwd's cotangents
        if not self.trace_bwd:
            token = host_token(trace, self.__name__,
                               lambda g: self._bwd_leaves(residuals, g.reshape(out.shape),
                                                          arguments),
                               [np.shape(v) for v in values])
            return custom_vjp_call(*leaves, token, out, rule=HostRule(len(leaves)))
        return self._traced_rule(leaves, values, arguments, unflatten, out, residuals)

    def _traced_rule(self, leaves, values, arguments, unflatten, out, residuals):
        """Record the node whose error rule is bwd traced with g as its only Tracer."""
        name = self.__name__
        sub = Trace(keep_values=True)
        try:
            with sub:
                g = sub.leaf(out.copy(), "g")
                cotangents = self._bwd_leaves(residuals, g, arguments)
        except MixedTraces as error:  # bind met a value of the enclosing trace
            raise TypeError(_CLOSURE.format(name)) from error
        primal_shapes = [np.shape(v) for v in values]
        outputs = []
        for cotangent, shape in zip(cotangents, primal_shapes):
            if cotangent is None:
                outputs.append(None)
                continue
            if not isinstance(cotangent, Tracer):  # independent of g: must be zero
                if np.any(np.asarray(cotangent) != 0):
                    raise ValueError(f"The bwd rule of {name} returned a cotangent that does "
                                     "not depend on g and is not zero; bwd must be linear "
                                     "in g.")
                outputs.append(None)
                continue
            if cotangent._trace is not sub:
                raise TypeError(_CLOSURE.format(name))
            if cotangent.shape != shape:
                raise ValueError(f"The bwd rule of {name} returned a cotangent of shape "
                                 f"{cotangent.shape} for an argument of shape {shape}; give "
                                 "each cotangent its argument's shape.")
            outputs.append(cotangent.node)
        rows = _ancestors(sub, [g.node] + [o for o in outputs if o is not None])
        for node in rows:
            if getattr(sub.primitives[node], "opcode", None) == custom_vjp_call.opcode:
                raise NotImplementedError(f"The bwd rule of {name} calls a custom_vjp "
                                          "function on g; compute it with pcgrad.numpy "
                                          "primitives instead.")
        rule = Rule(sub, rows, tuple(outputs), primal_shapes, self.fwd,
                    lambda residuals, g: self._bwd_leaves(residuals, g, arguments), unflatten)
        constants = [sub.values[rows[r]] for r in rule.constants]
        return custom_vjp_call(*leaves, *constants, out, rule=rule)

    def _bwd_leaves(self, residuals, g, args):
        """bwd's cotangents as one list over the arguments' leaves (None: no error)."""
        cotangents = self.bwd(residuals, g)
        if not isinstance(cotangents, (tuple, list)):
            raise TypeError(f"The bwd rule of {self.__name__} must return a tuple with one "
                            f"cotangent per argument; got {type(cotangents).__name__}. "
                            "Return (cotangent,) for a function of one argument.")
        if len(cotangents) != len(args):
            raise TypeError(f"The bwd rule of {self.__name__} returned {len(cotangents)} "
                            f"cotangents for {len(args)} arguments; return one per argument "
                            "(None for an argument without a derivative).")
        flat = []
        for arg, cotangent in zip(args, cotangents):
            arg_leaves, _ = flatten(arg)
            if cotangent is None:
                flat.extend([None] * len(arg_leaves))
                continue
            cot_leaves, _ = flatten(cotangent)
            if len(cot_leaves) != len(arg_leaves):
                raise TypeError(f"The bwd rule of {self.__name__} returned a cotangent with "
                                f"{len(cot_leaves)} leaves for an argument with "
                                f"{len(arg_leaves)}; give each the structure of its argument.")
            flat.extend(cot_leaves)
        return flat


def _trace_of(leaves):
    trace = None
    for leaf in leaves:
        if isinstance(leaf, Tracer):
            if trace is not None and leaf._trace is not trace:
                raise NotImplementedError(
                    "A custom_vjp function received values of two different pcgrad traces; "
                    "higher-order derivatives through custom_vjp are not supported yet.")
            trace = leaf._trace
    return trace


def _ancestors(trace, nodes):
    """``nodes`` and their ancestors in ``trace``, in creation order."""
    seen, stack = set(nodes), list(nodes)
    while stack:
        for parent in trace.parents[stack.pop()]:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return sorted(seen)
