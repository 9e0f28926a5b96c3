"""Relaxation: prediction errors flow to equilibrium in one Numba function.

Units are the interior nodes and the inputs. Under the fixed prediction
assumption (FPA) the output's error is clamped to the seed (beta times the
cotangent) and every other unit relaxes toward

    eps_i = sum_{c in children(i)} J_ci^T eps_c        (= -dF/dv_i + eps_i)

which is the backprop recursion; at an input this sum is the read-out
gradient. ``send_errors`` computes J^T eps for one node by dispatching on its
opcode to the family kernels; the schedules differ only in the order of
updates and their step.
"""
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .primitives.core import (COPY, CUMSUM, EXTREMUM, GATHER, LEAF, MATMUL, NARY, PROD,
                              SCATTER, UNARY, error_of)
from .primitives.elementwise import nary_vjp, unary_vjp
from .primitives.linalg import matmul_vjp
from .primitives.reduction import cumsum_vjp, extremum_vjp, prod_vjp, scatter_vjp
from .primitives.structural import copy_vjp, gather_vjp

SCHEDULES = ("sweep", "jacobi", "euler")
SWEEP, JACOBI, EULER = range(3)


class ConvergenceError(RuntimeError):
    """A relaxation did not reach equilibrium; ``.info`` is its RelaxInfo."""

    def __init__(self, message, info):
        super().__init__(message)
        self.info = info


@dataclass
class RelaxInfo:
    """What a relaxation did.

    ``iterations``: synchronous updates (1 for ``sweep``); ``energy`` and
    ``residual``: the prediction-error energy 1/2 sum eps^2 over interior
    nodes and max|dF/dv| over units, recorded before each update and after
    the last (length iterations + 1, or 1 for ``sweep``); ``converged``:
    whether the residual fell to ``tol`` times the output error scale;
    ``depth``: the units on the longest input-to-output path, the number of
    steps ``jacobi`` takes; ``node_updates``: node updates performed (a sweep
    is one per node; jacobi and euler update only what changed).
    """
    schedule: str
    iterations: int
    converged: bool
    energy: np.ndarray
    residual: np.ndarray
    depth: int
    node_updates: int
    eta: float = 1.0
    tol: float = 0.0
    extra: dict = field(default_factory=dict)


@njit(cache=True)
def send_errors(t, j, value, e, acc):
    """acc[parents of j] += J_j^T e: node j's error rule."""
    op = t.op[j]
    if op == UNARY:
        unary_vjp(t, j, value, e, acc)
    elif op == NARY:
        nary_vjp(t, j, value, e, acc)
    elif op == GATHER:
        gather_vjp(t, j, value, e, acc)
    elif op == COPY:
        copy_vjp(t, j, value, e, acc)
    elif op == SCATTER:
        scatter_vjp(t, j, value, e, acc)
    elif op == EXTREMUM:
        extremum_vjp(t, j, value, e, acc)
    elif op == PROD:
        prod_vjp(t, j, value, e, acc)
    elif op == CUMSUM:
        cumsum_vjp(t, j, value, e, acc)
    elif op == MATMUL:
        matmul_vjp(t, j, value, e, acc)


@njit(inline="always")
def _differ(a, b):
    return not (a == b or (a != a and b != b))  # NaN on both sides counts as settled


@njit(cache=True)
def relax_fixed(t, value, err, seed, out, unit, schedule, eta, tol, max_iters, energy,
                residual):
    """Relax errors under the FPA into ``err`` (zeros on entry).

    Returns (iterations, node_updates, converged).

    sweep:  reverse topological Gauss-Seidel, unit step: exact in one pass.
    jacobi: eps <- sum_c J^T eps_c for all units at once, from the last step.
    euler:  eps <- eps + eta (sum_c J^T eps_c - eps); inputs read out at once.

    Nodes that are not units (``unit[j]`` false) carry no state of their own:
    within a step their error is what their children send. jacobi and euler
    keep ``acc`` = sum_c J^T eps_c up to date incrementally, since the errors
    enter linearly: each step only units whose error differs from ``acc``
    update, and only their changes propagate (through non-units in reverse
    topological order). A step therefore costs what changed, not the graph.
    """
    n = len(t.op)
    error_of(t, err, out)[:] = seed
    if schedule == SWEEP:
        acc = np.zeros_like(err)
        error_of(t, acc, out)[:] = seed
        for j in range(n - 1, -1, -1):
            if t.eoff[j] >= 0:
                e = error_of(t, err, j)
                e[:] = error_of(t, acc, j)
                if t.op[j] != LEAF:
                    send_errors(t, j, value, e, acc)
        total = 0.0
        for j in range(n):
            if t.op[j] != LEAF:
                total += 0.5 * np.sum(error_of(t, err, j) ** 2)
        energy[0] = total
        residual[0] = 0.0
        return 1, n, True

    acc = np.zeros_like(err)       # sum_c J^T eps_c of each unit
    incoming = np.zeros_like(err)  # this step's changes arriving at each node
    outgoing = np.zeros_like(err)  # this step's change of each updated unit
    pending = np.zeros(n, np.bool_)
    touched = np.zeros(n, np.bool_)
    candidates = np.empty(n, np.int64)
    ncand = 0
    updated = 0
    scale = np.max(np.abs(seed)) if seed.size else 0.0
    threshold = tol * (scale if scale > 0 else 1.0)
    total_energy = 0.5 * np.sum(seed ** 2)
    error_of(t, outgoing, out)[:] = seed
    pending[out] = True
    hi = out
    for it in range(max_iters + 1):
        if it > 0:
            # update every unit whose error differs from what its children send
            hi = -1
            ncand_next = 0
            for c in range(ncand):
                j = candidates[c]
                e, a, d = error_of(t, err, j), error_of(t, acc, j), error_of(t, outgoing, j)
                changed = False
                for i in range(e.size):
                    if _differ(a[i], e[i]):
                        new = a[i] if (schedule == JACOBI or t.op[j] == LEAF) else \
                            e[i] + eta * (a[i] - e[i])
                        d[i] = new - e[i]
                        if t.op[j] != LEAF:
                            total_energy += 0.5 * (new * new - e[i] * e[i])
                        e[i] = new
                        changed = True
                    else:
                        d[i] = 0.0
                if changed:
                    updated += 1
                    candidates[ncand_next] = j
                    ncand_next += 1
                    if t.op[j] != LEAF:
                        pending[j] = True
                        hi = max(hi, j)
            ncand = ncand_next
            for c in range(ncand):
                touched[candidates[c]] = True
        # propagate the changes in reverse topological order
        j = hi
        while j >= 0:
            if pending[j]:
                pending[j] = False
                if unit[j]:
                    send_errors(t, j, value, error_of(t, outgoing, j), incoming)
                else:
                    d, e = error_of(t, incoming, j), error_of(t, err, j)
                    for i in range(e.size):
                        total_energy += 0.5 * ((e[i] + d[i]) ** 2 - e[i] * e[i])
                    e += d
                    send_errors(t, j, value, d, incoming)
                    d[:] = 0.0
                    updated += 1
                for q in range(t.pptr[j], t.pptr[j + 1]):
                    p = t.par[q]
                    if t.psend[q] == 0:
                        continue
                    if unit[p]:
                        if not touched[p]:
                            touched[p] = True
                            candidates[ncand] = p
                            ncand += 1
                    else:
                        pending[p] = True
            j -= 1
        # the changes reach the units; measure the residual
        worst = 0.0
        for c in range(ncand):
            p = candidates[c]
            touched[p] = False
            a, d, e = error_of(t, acc, p), error_of(t, incoming, p), error_of(t, err, p)
            a += d
            d[:] = 0.0
            if p != out:
                for i in range(a.size):
                    gap = abs(a[i] - e[i]) if _differ(a[i], e[i]) else 0.0
                    worst = max(worst, gap if gap == gap else np.inf)
        energy[it] = total_energy
        residual[it] = worst
        if worst <= threshold:
            return it, updated, True
    return max_iters, updated, False


def relax(plan, seed, schedule="sweep", eta=1.0, tol=0.0, max_iters=10_000, units="all"):
    """Relax a Plan's errors from an output error ``seed``; returns (errors, RelaxInfo).

    ``units`` is "all" (every node is a predictive-coding unit) or "marked"
    (only inputs, the output and ``pc_node``s are; the nodes between them pass
    errors on within one step). ``errors`` is the flat error buffer (index it
    with the plan's ``eoff``).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}.")
    code = SCHEDULES.index(schedule)
    unit, depth = plan.units_for(units)
    length = 1 if code == SWEEP else max_iters + 1
    energy, residual = np.zeros(length), np.zeros(length)
    seed = np.ascontiguousarray(seed, dtype=np.float64).ravel()
    err = np.zeros(plan.error_size)
    iterations, updates, converged = relax_fixed(plan.table, plan.value, err, seed, plan.output, unit,
                                        code, float(eta), float(tol), int(max_iters), energy,
                                        residual)
    recorded = 1 if code == SWEEP else iterations + 1
    info = RelaxInfo(schedule, iterations, converged, energy[:recorded].copy(),
                     residual[:recorded].copy(), depth, updates, float(eta), float(tol))
    return err, info
