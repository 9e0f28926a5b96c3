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
    ``depth``: the longest input-to-output path, which ``jacobi`` needs
    exactly; ``node_updates``: unit updates performed.
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


@njit(cache=True)
def _energy(t, err):
    total = 0.0
    for j in range(len(t.op)):
        if t.op[j] != LEAF:
            e = error_of(t, err, j)
            for i in range(e.size):
                total += 0.5 * e[i] * e[i]
    return total


@njit(cache=True)
def _residual(t, err, acc, unit, out):
    """max |sum_c J^T eps_c - eps_i| over units other than the clamped output.
    An element that is NaN on both sides (NaN input) counts as settled."""
    worst = 0.0
    for j in range(len(t.op)):
        if not unit[j] or j == out:
            continue
        e, a = error_of(t, err, j), error_of(t, acc, j)
        for i in range(e.size):
            d = abs(a[i] - e[i])
            if d != d:
                d = 0.0 if (a[i] != a[i] and e[i] != e[i]) else np.inf
            worst = max(worst, d)
    return worst


@njit(cache=True)
def relax_fixed(t, value, err, seed, out, unit, schedule, eta, tol, max_iters, energy,
                residual):
    """Relax errors under the FPA into ``err`` (zeros on entry). Returns (iterations, converged).

    sweep:  reverse topological Gauss-Seidel, unit step: exact in one pass.
    jacobi: eps <- sum_c J^T eps_c for all units at once, from the last step.
    euler:  eps <- eps + eta (sum_c J^T eps_c - eps); inputs read out at once.
    Nodes that are not units (``unit[j]`` false) carry no state of their own:
    within each pass their error is the sum their children send at once.
    """
    n = len(t.op)
    acc = np.zeros_like(err)
    error_of(t, err, out)[:] = seed
    if schedule == SWEEP:
        error_of(t, acc, out)[:] = seed
        for j in range(n - 1, -1, -1):
            if t.eoff[j] >= 0:
                e = error_of(t, err, j)
                e[:] = error_of(t, acc, j)
                if t.op[j] != LEAF:
                    send_errors(t, j, value, e, acc)
        energy[0] = _energy(t, err)
        residual[0] = 0.0
        return 1, True
    scale = np.max(np.abs(seed)) if seed.size else 0.0
    threshold = tol * (scale if scale > 0 else 1.0)
    for it in range(max_iters + 1):
        acc[:] = 0.0
        for j in range(n - 1, -1, -1):
            if t.op[j] == LEAF:
                continue
            e = error_of(t, err, j)
            if not unit[j]:
                e[:] = error_of(t, acc, j)
            send_errors(t, j, value, e, acc)
        energy[it] = _energy(t, err)
        residual[it] = _residual(t, err, acc, unit, out)
        if residual[it] <= threshold:
            return it, True
        if it == max_iters:
            break
        for j in range(n):
            if not unit[j] or j == out:
                continue
            e, a = error_of(t, err, j), error_of(t, acc, j)
            if schedule == JACOBI or t.op[j] == LEAF:
                e[:] = a
            else:
                e += eta * (a - e)
    return max_iters, False


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
    iterations, converged = relax_fixed(plan.table, plan.value, err, seed, plan.output, unit,
                                        code, float(eta), float(tol), int(max_iters), energy,
                                        residual)
    recorded = 1 if code == SWEEP else iterations + 1
    updated = int(np.count_nonzero(unit)) - 1
    info = RelaxInfo(schedule, iterations, converged, energy[:recorded].copy(),
                     residual[:recorded].copy(), depth, updated * max(iterations, 1),
                     float(eta), float(tol))
    return err, info
