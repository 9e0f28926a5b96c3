"""Per-node costs of pcgrad on a 1000-node graph (scalar_chain's 200 steps).

Prints the tracing overhead per node (tracing time minus the plain numpy
forward, divided by the number of traced nodes), the cost per node of a
plan-cache miss (the structure key, the networkx graph pruned and measured,
the plan) and the time of one relaxation of the planned graph by the sweep
and jacobi schedules.
Run pinned to one core: ``taskset -c 1 python bench/per_node.py``.
"""
import time

import numpy

import pcgrad.numpy as pnp
from pcgrad.api import _Linearized
from pcgrad.graph import Graph, structure_key
from pcgrad.plan import Plan
from pcgrad.relax import Relaxation


def chain(np):
    def f(x):
        for _ in range(200):
            x = np.sin(x) * 1.01 + 0.1 * x ** 2
        return np.sum(x)
    return f


def best_us(call, calls=200, repeats=7):
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def main():
    x = numpy.random.default_rng(0).uniform(-0.05, 0.05, 10)
    traced = _Linearized(chain(pnp), (x,), 0, False)
    plan, value = traced.plan("sweep")
    nodes = len(traced.graph.trace)
    tracing = best_us(lambda: _Linearized(chain(pnp), (x,), 0, False, None, True))
    forward = best_us(lambda: chain(numpy)(x))
    print(f"{nodes} traced nodes: tracing {tracing:.0f} µs, numpy forward {forward:.0f} µs, "
          f"overhead {(tracing - forward) / nodes:.2f} µs per node")
    trace, inputs, output = traced.graph.trace, traced.graph.inputs, traced.graph.output

    def miss():
        structure_key(trace, inputs, output)
        Plan(Graph(trace, inputs, output))
    seconds = best_us(miss, calls=5)
    print(f"plan-cache miss: {seconds:.0f} µs, {seconds / nodes:.2f} µs per node")
    for schedule in ("sweep", "jacobi"):
        relaxation = Relaxation(plan, schedule, max_iters=10_000)
        err, work = numpy.empty(relaxation.error_size), numpy.empty(2 * relaxation.error_size)
        seconds = best_us(lambda: relaxation.run(value, numpy.ones(1), err=err, work=work))
        print(f"{schedule}: one relaxation of the {len(plan)}-node plan in {seconds:.0f} µs")


if __name__ == "__main__":
    main()
