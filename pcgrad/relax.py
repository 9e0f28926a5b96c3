"""Relaxation: prediction errors flow to equilibrium in one Numba function.

Units are the interior nodes and the inputs. Under the fixed prediction
assumption (FPA) the output's error is clamped to the seed (beta times the
cotangent) and every other unit relaxes toward

    eps_i = sum_{c in children(i)} J_ci^T eps_c        (= -dF/dv_i + eps_i)

which is the backprop recursion; at an input this sum is the read-out
gradient. Strict relaxation instead moves the values v down the energy
gradient and recomputes every prediction and Jacobian from them.
``send_errors`` computes J^T eps for one node and ``predict`` its prediction,
both by dispatching on its opcode to the family kernels; the schedules differ
only in the order of updates and their step.
"""
import hashlib
import math
import pathlib
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .plan import scratch
from .primitives.core import (COPY, CUMSUM, EXTREMUM, GATHER, LEAF, MATMUL, NARY, PROD,
                              SCATTER, UNARY, OpTable, error_of, value_of)
from .primitives.elementwise import nary_forward, nary_vjp, unary_forward, unary_vjp
from .primitives.linalg import matmul_forward, matmul_vjp
from .primitives.reduction import (cumsum_forward, cumsum_vjp, extremum_forward, extremum_vjp,
                                   prod_forward, prod_vjp, scatter_forward, scatter_vjp)
from .primitives.structural import copy_forward, copy_vjp, gather_forward, gather_vjp

def _drop_stale_compiled_code():
    """Numba's on-disk cache keys a function by its own file only, but the
    functions here compile the kernels of pcgrad/primitives into themselves:
    when a kernel file changes, their cached code must go too."""
    here = pathlib.Path(__file__).parent
    sources = sorted(here.glob("primitives/*.py")) + [pathlib.Path(__file__)]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    cache = here / "__pycache__"
    stamp = cache / "relax.kernels.sha256"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        for old in cache.glob("relax.*.nb[ic]"):
            old.unlink()
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: numba then compiles in memory
        pass


_drop_stale_compiled_code()

SCHEDULES = ("sweep", "jacobi", "euler", "strict")
SWEEP, JACOBI, EULER, STRICT = range(4)
ENERGIES = ("linear", "squared", "cross_entropy")
CONVERGED, MAX_ITERS, DIVERGED = range(3)


class ConvergenceError(RuntimeError):
    """A relaxation did not reach equilibrium; ``.info`` is its RelaxInfo."""

    def __init__(self, message, info):
        super().__init__(message)
        self.info = info


@dataclass
class RelaxInfo:
    """What a relaxation did.

    ``iterations``: synchronous updates (1 for ``sweep``); ``energy`` and
    ``residual``: the energy F and max|dF/dv| over units, recorded before
    each update and after the last (length iterations + 1, or 1 for
    ``sweep``). Under the FPA, F is the prediction-error energy
    1/2 sum eps^T Pi^-1 eps; in ``strict`` it adds the output energy beta E.
    ``converged``: whether the residual fell to ``tol`` times the output
    error scale; ``diverged``: whether the relaxation blew up (strict, or a
    precision too large for eta). ``depth``: the units on the longest
    input-to-output path, the number of steps ``jacobi`` takes;
    ``node_updates``: node updates performed (a sweep is one per node;
    jacobi and euler update only what changed). ``node_errors``: for each
    named ``pc_node``, the norm of its error at each recorded iteration;
    ``errors`` and ``values``: its settled error eps and value.
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
    beta: float = 1.0
    diverged: bool = False
    node_errors: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)


@njit(cache=True)
def send_errors(t, j, value, prediction, e, acc):
    """acc[parents of j] += J_j^T e: node j's error rule, its Jacobian taken at
    the parents' values and its own prediction."""
    op = t.op[j]
    if op == UNARY:
        unary_vjp(t, j, value, prediction, e, acc)
    elif op == NARY:
        nary_vjp(t, j, value, prediction, e, acc)
    elif op == GATHER:
        gather_vjp(t, j, value, prediction, e, acc)
    elif op == COPY:
        copy_vjp(t, j, value, prediction, e, acc)
    elif op == SCATTER:
        scatter_vjp(t, j, value, prediction, e, acc)
    elif op == EXTREMUM:
        extremum_vjp(t, j, value, prediction, e, acc)
    elif op == PROD:
        prod_vjp(t, j, value, prediction, e, acc)
    elif op == CUMSUM:
        cumsum_vjp(t, j, value, prediction, e, acc)
    elif op == MATMUL:
        matmul_vjp(t, j, value, prediction, e, acc)


@njit(cache=True)
def predict(t, j, value, out):
    """out = f_j(values of j's parents): node j's prediction."""
    op = t.op[j]
    if op == UNARY:
        unary_forward(t, j, value, out)
    elif op == NARY:
        nary_forward(t, j, value, out)
    elif op == GATHER:
        gather_forward(t, j, value, out)
    elif op == COPY:
        copy_forward(t, j, value, out)
    elif op == SCATTER:
        scatter_forward(t, j, value, out)
    elif op == EXTREMUM:
        extremum_forward(t, j, value, out)
    elif op == PROD:
        prod_forward(t, j, value, out)
    elif op == CUMSUM:
        cumsum_forward(t, j, value, out)
    elif op == MATMUL:
        matmul_forward(t, j, value, out)


@njit(cache=True)
def forward_pass(t, value):
    """Recompute every node's value from the leaves with the forward kernels."""
    for j in range(len(t.op)):
        if t.op[j] != LEAF:
            predict(t, j, value, value_of(t, value, j))


@njit(cache=True)
def output_energy(code, mu, target, precision, row, grad):
    """E(mu) of the output, writing dE/dmu into ``grad``.

    linear:        E = g . mu                      (target holds the cotangent g)
    squared:       E = 1/2 (mu - y)^T Pi (mu - y)
    cross_entropy: E = -sum_rows y . log softmax(mu)  (softmax over rows of ``row``)
    """
    total = 0.0
    if code == 0:
        for i in range(mu.size):
            grad[i] = target[i]
            total += target[i] * mu[i]
    elif code == 1:
        for i in range(mu.size):
            d = mu[i] - target[i]
            p = precision[i] if precision.size else 1.0
            grad[i] = p * d
            total += 0.5 * p * d * d
    else:
        for start in range(0, mu.size, row):
            top = -math.inf
            for i in range(start, start + row):
                top = max(top, mu[i])
            norm = 0.0
            for i in range(start, start + row):
                norm += math.exp(mu[i] - top)
            logz = top + math.log(norm)
            mass = 0.0
            for i in range(start, start + row):
                mass += target[i]
                total += target[i] * (logz - mu[i])
            for i in range(start, start + row):
                grad[i] = math.exp(mu[i] - logz) * mass - target[i]
    return total


@njit(inline="always")
def _precision(t, precision, j, i):
    """Precision of element i of node j (an empty buffer means all ones)."""
    return precision[t.eoff[j] + i] if precision.size else 1.0


@njit(cache=True)
def _log(history, it, energy, residual, t, err, record):
    """history[it] = (energy, residual, error norms of the recorded nodes),
    doubling history when it is full; returns history."""
    if it >= history.shape[0]:
        bigger = np.empty((2 * history.shape[0], history.shape[1]))
        bigger[:history.shape[0]] = history
        history = bigger
    history[it, 0] = energy
    history[it, 1] = residual
    for r in range(record.size):
        e = error_of(t, err, record[r])
        history[it, 2 + r] = math.sqrt(np.sum(e * e))
    return history


@njit(inline="always")
def _differ(a, b):
    return not (a == b or (a != a and b != b))  # NaN on both sides counts as settled


@njit(cache=True)
def relax_fixed(t, value, err, seed, out, unit, precision, schedule, eta, tol, max_iters,
                history, record, ts, opens_ptr, opens, work):
    """Relax errors under the FPA into ``err``.

    Returns (iterations, node_updates, status, history), history holding
    (energy, residual, recorded error norms) per step (see ``_log``).

    sweep:  reverse topological Gauss-Seidel, unit step: exact in one pass.
    jacobi: eps <- sum_c J^T eps_c for all units at once, from the last step.
    euler:  eps <- eps + eta Pi (sum_c J^T eps_c - eps); inputs read out at once.

    The sweep uses ``ts``, the op table of Plan.sweep_layout, whose error
    buffers are reused once read and zeroed when opened (``opens``); the
    other schedules keep every error in ``t``'s layout (``err`` zeroed) and
    use ``work`` (twice err's size) for their running sums.
    Nodes that are not units (``unit[j]`` false) carry no state of their own:
    within a step their error is what their children send. jacobi and euler
    keep ``acc`` = sum_c J^T eps_c up to date incrementally, since the errors
    enter linearly: each step only units whose error differs from ``acc``
    update, and only their changes propagate (through non-units in reverse
    topological order). A step therefore costs what changed, not the graph.
    """
    n = len(t.op)
    if schedule == SWEEP:  # each error is complete when reached: sum in place
        total = 0.0
        for j in range(n, -1, -1):
            for q in range(opens_ptr[j], opens_ptr[j + 1]):
                error_of(ts, err, opens[q])[:] = 0.0
            if j == n:
                error_of(ts, err, out)[:] = seed
            elif ts.eoff[j] >= 0 and t.op[j] != LEAF:
                e = error_of(ts, err, j)
                send_errors(ts, j, value, value, e, err)
                if precision.size:
                    for i in range(e.size):
                        total += 0.5 * e[i] * e[i] / _precision(t, precision, j, i)
                else:
                    total += 0.5 * np.dot(e, e)
        history = _log(history, 0, total, 0.0, ts, err, record)
        return 1, n, CONVERGED, history
    err[:] = 0.0
    error_of(t, err, out)[:] = seed

    # acc: for a unit, sum_c J^T eps_c; for a non-unit, the change arriving
    # at it this step (it passes that change on and forgets it)
    acc = work[:err.size]
    acc[:] = 0.0
    outgoing = work[err.size:2 * err.size]  # this step's change of each updated unit
    pending = np.zeros(n, np.bool_)
    touched = np.zeros(n, np.bool_)
    candidates = np.empty(n, np.int64)
    ncand = 0
    updated = 0
    scale = np.max(np.abs(seed)) if seed.size else 0.0
    threshold = tol * (scale if scale > 0 else 1.0)
    lowest = np.inf
    total_energy = 0.0
    for i in range(seed.size):
        total_energy += 0.5 * seed[i] * seed[i] / _precision(t, precision, out, i)
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
                        pi = _precision(t, precision, j, i)
                        new = a[i] if (schedule == JACOBI or t.op[j] == LEAF) else \
                            e[i] + eta * pi * (a[i] - e[i])
                        d[i] = new - e[i]
                        if t.op[j] != LEAF:
                            total_energy += 0.5 * (new * new - e[i] * e[i]) / pi
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
                    send_errors(t, j, value, value, error_of(t, outgoing, j), acc)
                else:
                    d, e = error_of(t, acc, j), error_of(t, err, j)
                    if precision.size:
                        for i in range(e.size):
                            total_energy += 0.5 * ((e[i] + d[i]) ** 2 - e[i] * e[i]) / \
                                _precision(t, precision, j, i)
                    else:
                        total_energy += np.dot(e, d) + 0.5 * np.dot(d, d)
                    e += d
                    send_errors(t, j, value, value, d, acc)
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
        worst, unsettled = 0.0, False
        for c in range(ncand):
            p = candidates[c]
            touched[p] = False
            a, e = error_of(t, acc, p), error_of(t, err, p)
            if p != out:
                for i in range(a.size):
                    if _differ(a[i], e[i]):
                        gap = abs(a[i] - e[i])
                        if gap == gap:
                            worst = max(worst, gap)
                        else:  # NaN on one side only (NaN input): settles next step
                            unsettled = True
        history = _log(history, it, total_energy, worst, t, err, record)
        if worst <= threshold and not unsettled:
            return it, updated, CONVERGED, history
        lowest = min(lowest, worst) if worst > 0 else lowest
        if worst == np.inf or worst > 1e8 * lowest:  # eta * precision too large
            return it, updated, DIVERGED, history
    return max_iters, updated, MAX_ITERS, history


@njit(cache=True)
def relax_strict(t, value, prediction, err, out, unit, free, precision, energy_code, target,
                 row, beta, eta, tol, max_iters, history, record):
    """Strict predictive coding: values relax, predictions are recomputed.

    State: the values of units (other than the output, whose value is its
    prediction) and of free leaves (latents, whose prediction is their prior
    mean). Each step recomputes every prediction mu_j = f_j(v) with the
    forward kernels, the errors eps_j = Pi_j (mu_j - v_j), the output error
    beta dE/dmu_out, sends the errors through the Jacobians at the current
    values, and moves  v_i <- v_i - eta dF/dv_i,  dF/dv_i = -eps_i + sum_c J_ci^T eps_c.
    At a clamped input, sum_c J^T eps_c / beta estimates the gradient.
    Returns (iterations, node_updates, status, history), as relax_fixed.
    """
    n = len(t.op)
    acc = np.zeros_like(err)
    out_error = error_of(t, err, out)
    out_precision = error_of(t, precision, out) if precision.size else precision
    scale = 0.0
    rising, previous, previous_worst = 0, np.inf, np.inf
    for it in range(max_iters + 1):
        for j in range(n):
            if t.op[j] != LEAF:
                mu = value_of(t, prediction, j)
                predict(t, j, value, mu)
                if not unit[j] or j == out:
                    value_of(t, value, j)[:] = mu
        total = beta * output_energy(energy_code, value_of(t, prediction, out), target,
                                     out_precision, row, out_error)
        out_error *= beta
        if it == 0:
            scale = np.max(np.abs(out_error)) if out_error.size else 0.0
            scale = scale if scale > 0 else 1.0
        for j in range(n):
            if j != out and t.eoff[j] >= 0 and (free[j] or (unit[j] and t.op[j] != LEAF)):
                e = error_of(t, err, j)
                mu, v = value_of(t, prediction, j), value_of(t, value, j)
                for i in range(e.size):
                    gap = mu[i] - v[i]
                    pi = _precision(t, precision, j, i)
                    e[i] = pi * gap
                    total += 0.5 * pi * gap * gap
        acc[:] = 0.0
        for j in range(n - 1, -1, -1):
            if t.eoff[j] < 0:
                continue  # a constant, or a node recomputed without an error
            if t.op[j] == LEAF:
                if not free[j]:
                    error_of(t, err, j)[:] = error_of(t, acc, j)
                continue
            e = error_of(t, err, j)
            if not unit[j]:
                e[:] = error_of(t, acc, j)
            send_errors(t, j, value, prediction, e, acc)
        worst = 0.0
        for j in range(n):
            if j != out and t.eoff[j] >= 0 and (free[j] or (unit[j] and t.op[j] != LEAF)):
                e, a = error_of(t, err, j), error_of(t, acc, j)
                for i in range(e.size):
                    worst = max(worst, abs(a[i] - e[i]))
        history = _log(history, it, total, worst, t, err, record)
        if not (math.isfinite(total) and math.isfinite(worst)):
            return it, it * n, DIVERGED, history
        # gradient descent on F with a small enough step never rises: a blow-up
        # raises both F (beyond rounding) and the residual, step after step
        margin = 1e-12 * max(abs(total), abs(previous)) if previous < np.inf else 0.0
        grew = total > previous + margin and worst > previous_worst
        rising = rising + 1 if grew else 0
        previous, previous_worst = total, worst
        if rising >= 5:
            return it, it * n, DIVERGED, history
        if worst <= tol * scale:
            return it, it * n, CONVERGED, history
        if it == max_iters:
            break
        for j in range(n):
            if j != out and t.eoff[j] >= 0 and (free[j] or (unit[j] and t.op[j] != LEAF)):
                v, e, a = value_of(t, value, j), error_of(t, err, j), error_of(t, acc, j)
                v += eta * (e - a)
    return max_iters, max_iters * n, MAX_ITERS, history


@njit(cache=True)
def settle(t, value, err, target, energy_code, row, out, unit, free, readout, precision,
           prior_mean, schedule, beta, eta, tol, max_iters, history, record, forward,
           sweep_eoff, sweep_psend, opens_ptr, opens, work):
    """One relaxation from a value buffer, in one compiled call.

    With ``forward`` the values are first recomputed from the leaves
    (compiled replay). The sweep's op table is ``t`` with its own error
    offsets and psend (Plan.sweep_layout); it is put together here because
    every array passed in costs time on each call. Returns (iterations,
    node_updates, status, history, E), E the output energy at the
    feed-forward output.
    """
    ts = OpTable(t.op, t.code, t.size, t.voff, sweep_eoff, t.pptr, t.par, sweep_psend, t.iptr,
                 t.ints)
    if forward:
        forward_pass(t, value)
    mu_out = value_of(t, value, out)
    seed = np.zeros(mu_out.size)
    out_precision = error_of(t, precision, out) if precision.size else precision
    output = output_energy(energy_code, mu_out, target, out_precision, row, seed)
    if schedule != STRICT:
        iterations, updates, status, history = relax_fixed(
            t, value, err, seed, out, unit, precision, schedule, eta, tol, max_iters, history,
            record, ts, opens_ptr, opens, work)
        return iterations, updates, status, history, output
    err[:] = 0.0
    prediction = value.copy()
    for i in range(len(t.op)):
        if free[i]:  # a latent: predicted by its prior mean
            value_of(t, prediction, i)[:] = value_of(t, prior_mean, i)
    iterations, updates, status, history = relax_strict(
        t, value, prediction, err, out, unit, free, precision, energy_code, target, row, beta,
        eta, tol, max_iters, history, record)
    for i in range(len(t.op)):
        if readout[i]:
            error_of(t, err, i)[:] /= beta
    return iterations, updates, status, history, output


class Relaxation:
    """A relaxation of one Plan, prepared once and run on any value buffer.

    ``energy`` and the target passed to ``run`` define the output energy E
    (see ``output_energy``; for "linear" the target is the cotangent). Under
    the FPA schedules the output error is dE/dmu at the feed-forward output
    and ``beta`` is 1; ``strict`` nudges the output with ``beta`` and
    recomputes predictions (the plan must store all values). ``units`` is
    "all" or "marked" (only inputs, the output and ``pc_node``s are units).
    ``precisions`` maps pc_node names to precisions (else the node's own);
    ``free`` maps input numbers relaxed as latents (strict only) to their
    prior (mean, precision); ``record`` lists pc_node names whose error
    norms are recorded.
    """

    def __init__(self, plan, schedule="sweep", eta=1.0, tol=0.0, max_iters=10_000,
                 units="all", energy="linear", beta=1.0, precisions=None, free=None,
                 record=()):
        if schedule not in SCHEDULES:
            raise ValueError(f"Unknown schedule {schedule!r}; choose one of "
                             f"{', '.join(SCHEDULES)}.")
        self.plan, self.schedule = plan, schedule
        self.code = SCHEDULES.index(schedule)
        self.eta, self.tol, self.max_iters, self.beta = float(eta), float(tol), int(max_iters), \
            float(beta)
        t = plan.table
        self.unit, self.depth = plan.units_for(units)
        self.precision = plan.precision_buffer(precisions)
        self.free = np.zeros(len(t.op), np.bool_)
        self.prior_mean = np.zeros(plan.value_size)  # value-buffer layout
        if free and not self.precision.size:
            self.precision = np.ones(plan.error_size)
        for k, (mean, prior_precision) in (free or {}).items():
            i = plan.inputs[k]
            self.free[i] = True
            self.prior_mean[t.voff[i]:t.voff[i] + t.size[i]] = np.broadcast_to(
                mean, plan.shapes[i]).ravel()
            self.precision[t.eoff[i]:t.eoff[i] + t.size[i]] = np.broadcast_to(
                prior_precision, plan.shapes[i]).ravel()
        self.readout = np.zeros(len(t.op), np.bool_)
        self.readout[plan.inputs] = ~self.free[plan.inputs]
        self.record = list(record)
        self.record_index = np.array([plan.named[name] for name in record], np.int64)
        self.row = int(plan.output_shape[-1]) if plan.output_shape else 1
        self.energy_code = ENERGIES.index(energy)
        if self.code == SWEEP:
            self.table, (self.opens_ptr, self.opens), self.error_size = plan.sweep_layout()
        else:
            self.table, self.error_size = t, plan.error_size
            self.opens_ptr = self.opens = np.zeros(0, np.int64)

    def error_of(self, err, i):
        """Node i's settled error in a buffer ``run`` returned (None if it has none)."""
        o = self.table.eoff[i]
        return err[o:o + self.table.size[i]] if o >= 0 else None

    def run(self, value, target, forward=False, err=None, work=None, want_info=True):
        """Relax from ``value`` (strict relaxes a copy; replay with ``forward``
        recomputes it first). Returns (errors, values, RelaxInfo, E); the
        RelaxInfo is None when not ``want_info`` and the relaxation converged.

        ``errors`` is the flat error buffer (read it with ``error_of``); at
        clamped inputs it holds the read-out gradient (already divided by
        beta). E is the output energy at the feed-forward output.
        """
        t = self.plan.table
        err = np.empty(self.error_size) if err is None else err
        work_size = 2 * self.error_size if self.code in (JACOBI, EULER) else 0
        work = np.empty(work_size) if work is None else work[:work_size]
        target = np.ascontiguousarray(target, dtype=np.float64).ravel()
        relaxed = value if self.code != STRICT or forward else value.copy()
        history = np.empty((64, 2 + self.record_index.size))
        iterations, updates, status, history, output = settle(
            t, relaxed, err, target, self.energy_code, self.row, self.plan.output, self.unit,
            self.free, self.readout, self.precision, self.prior_mean, self.code, self.beta,
            self.eta, self.tol, self.max_iters, history, self.record_index, forward,
            self.table.eoff, self.table.psend, self.opens_ptr, self.opens, work)
        if not want_info and status == CONVERGED:
            return err, relaxed, None, output
        history = history[:1 if self.code == SWEEP else iterations + 1]
        info = RelaxInfo(self.schedule, iterations, status == CONVERGED, history[:, 0].copy(),
                         history[:, 1].copy(), self.depth, updates, self.eta, self.tol,
                         self.beta, status == DIVERGED,
                         {name: history[:, 2 + r].copy() for r, name in enumerate(self.record)})
        return err, relaxed, info, output


def _relaxation(plan, schedule, options):
    """A Relaxation of ``plan``, kept on the plan for options without arrays
    (it holds no state of a run, so calls and threads can share it)."""
    if options.get("precisions") or options.get("free"):
        return Relaxation(plan, schedule, **options)
    key = (schedule, tuple(options)) + tuple([tuple(v) if type(v) is list else v
                                              for v in options.values()])
    relaxation = plan.relaxations.get(key)
    if relaxation is None:
        relaxation = plan.relaxations[key] = Relaxation(plan, schedule, **options)
    return relaxation


def relax(plan, value, target, schedule="sweep", pooled=False, want_info=True, **options):
    """Relax a Plan's ``value`` buffer from output energy ``target`` once.

    Returns (errors, values, RelaxInfo, E, relaxation): read node i's error
    with ``relaxation.error_of(errors, i)``; E is the output energy at the
    feed-forward output. With ``pooled`` the errors live in
    this thread's scratch buffers: copy what you keep before the next call.
    Without ``want_info`` a converged relaxation returns no RelaxInfo.
    """
    relaxation = _relaxation(plan, schedule, options)
    err = work = None
    if pooled:
        err = scratch("error", relaxation.error_size)
        work = scratch("work", 2 * relaxation.error_size)
    return relaxation.run(value, target, err=err, work=work,
                          want_info=want_info) + (relaxation,)
