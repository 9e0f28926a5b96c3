"""A relaxation's equilibrium recorded as primitives: derivatives of derivatives.

A transformation called inside a function that is being traced (pcgrad.grad
inside pcgrad.grad) does not relax anything itself. Its function's nodes are
recorded into the outer trace, and its result is the equilibrium every
schedule settles to: each node's error is the sum over its children of the
child's error rule, e_i = sum_c rule_c(e_c). ``settled_errors`` writes these
equations out with each primitive's traced error rule (``Primitive.vjp``),
walking the nodes from the output back to the inputs, so the errors it
returns are ordinary traced values. The outer transformation then relaxes the
whole graph, the second derivative being the settled error of a
predictive-coding network built on the first one's equilibrium; a third
nesting walks the rules the second one recorded, and so on.
"""
import numpy as np

from .primitives.core import tnp
from .tracing import CONSTANT, Tracer


def settled_errors(trace, inputs, output, cotangent):
    """The settled errors at nodes ``inputs`` of ``trace`` when node ``output``
    has error ``cotangent``: Tracers of ``trace`` (arrays where constant)."""
    primitives, parents, params = trace.primitives, trace.parents, trace.params
    start = min(inputs)
    on_path = set(inputs)  # the nodes the inputs reach through differentiable primitives
    for node in range(start + 1, output + 1):
        primitive = primitives[node]
        if type(primitive) is not str and primitive.differentiable and \
                any(p in on_path for p in parents[node]):
            on_path.add(node)
    errors = {output: cotangent} if output in on_path else {}
    wanted = set(inputs)
    for node in range(output, start, -1):
        if node in wanted or node not in errors:
            continue
        primitive, g = primitives[node], errors.pop(node)
        if primitive.vjp is None:
            raise NotImplementedError(
                f"pcgrad has no traced error rule for {primitive.name}, so derivatives of "
                f"order 2 and higher through {primitive.name} are not available. Use it "
                "in first derivatives only.")
        xs = [_traced(trace, p) for p in parents[node]]
        y = _traced(trace, node)
        for k, p in enumerate(parents[node]):
            if p not in on_path:
                continue
            e = primitive.vjp(k, g, y, *xs, **params[node])
            if e is None:
                continue
            e = unbroadcast(e, trace.shapes[p])
            errors[p] = e if p not in errors else errors[p] + e
    return [errors.get(n, np.zeros(trace.shapes[n], trace.dtypes[n])) for n in inputs]


def _traced(trace, node):
    """Node ``node``'s value as its rule reads it: a Tracer, or the array of a constant."""
    value = trace.values[node]
    if trace.primitives[node] == CONSTANT:
        return value
    assert value is not None, f"the value of node {node} was not kept"
    return Tracer(value, node, trace)


def unbroadcast(e, shape):
    """Error ``e`` (in a broadcast shape) summed over the axes along which an
    operand of ``shape`` was broadcast."""
    e_shape = np.shape(e)
    if e_shape == tuple(shape):
        return e
    lead = len(e_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + d for d, n in enumerate(shape)
                                      if n == 1 and e_shape[lead + d] != 1)
    return tnp.reshape(tnp.sum(e, axis=axes) if axes else e, shape)
