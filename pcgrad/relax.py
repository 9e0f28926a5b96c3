"""Relaxation: prediction errors flow to equilibrium in one Numba function.

Units are the interior nodes and the inputs. Under the fixed prediction
assumption (FPA) the output's error is clamped to the seed (beta times the
cotangent) and every other unit relaxes toward

    eps_i = sum_{c in children(i)} J_ci^T eps_c        (= -dF/dv_i + eps_i)

which is the backprop recursion; at an input this sum is the read-out
gradient. Strict relaxation instead moves the values v down the energy
gradient and recomputes every prediction and Jacobian from them.
A node's error rule (J^T eps) and its prediction are kernels called by
address (``rules[j]``, ``forwards[j]``; see kernels.py), so the loops here
compile once, whatever primitives a graph uses; the schedules differ only in
the order of updates and their step.
"""
import contextlib
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from . import kernels
from .kernels import (OpTable, call_energy, call_forward, call_hook, call_rule, call_sweep,
                      helper, span)
from .options import DEFAULTS, ENERGIES, SCHEDULES
from .plan import edge_children, scratch
from .primitives.core import LEAF, accumulate, copy, error_of, fill, value_of, view

SWEEP, JACOBI, EULER, STRICT = range(4)  # indices of options.SCHEDULES
CONVERGED, MAX_ITERS, DIVERGED = range(3)
# Columns of the per-iteration history: the squared prediction-error sum, the
# residual, the free energy F (strict only), then the error norm of each
# named pc_node.
SQUARED, RESIDUAL, ENERGY, NAMED = range(4)
RECORD_CAP = 10_000_000  # floats a relaxation record keeps at most (record="errors")


class ConvergenceError(RuntimeError):
    """A relaxation did not reach equilibrium; ``.info`` is its RelaxInfo."""

    def __init__(self, message, info):
        super().__init__(message)
        self.info = info


@dataclass
class RelaxRecord:
    """The relaxation iteration by iteration (``record="errors"``).

    ``nodes``: trace node ids of the units, in topological order;
    ``iterations``: the iteration each row holds (0: before the first
    update, where only the output carries error; the last: the settled
    state). Every iteration is kept while the record holds at most
    RECORD_CAP floats; a longer relaxation keeps every 2nd, 4th, ...
    iteration (always the first and the last).
    ``norms``: (rows, units) the 2-norm of each unit's error;
    ``errors``: per unit, (rows,) + its shape, its error (None when the whole
    graph's errors would not fit in RECORD_CAP floats for 64 rows);
    ``values``: likewise the units' values, under ``strict`` only (None
    otherwise); ``inputs``: trace node ids of the differentiated inputs;
    ``gradients``: per input, (rows,) + its shape, the gradient estimate read
    out at that input (the last row is the returned gradient).
    """
    nodes: list
    iterations: np.ndarray
    norms: np.ndarray
    errors: list | None
    values: list | None
    inputs: list
    gradients: list


@dataclass
class RelaxInfo:
    """What a relaxation did.

    ``iterations``: synchronous updates (1 for ``sweep``). Per iteration
    (length iterations + 1, recorded before each update and after the last;
    1 for ``sweep``):
      * ``residual``: max |dF/dv| over units, i.e. how far the errors are
        from their equilibrium eps_i = sum_c J_ci^T eps_c;
      * ``squared_errors``: 1/2 sum_j eps_j^T Pi_j^-1 eps_j over non-input units;
      * ``energy``: under ``strict``, the free energy F (squared_errors plus
        beta times the output energy), which the relaxation descends; None
        under the fixed prediction assumption (sweep, jacobi, euler), whose
        error dynamics descend no fixed energy (see the documentation).
    ``converged``: whether every unit settled (see ``tol``); ``diverged``:
    whether a strict relaxation blew up. ``nonfinite``: some gradient
    element is inf or nan (an infinite slope, e.g. sqrt at 0).
    ``depth``: units on the longest input-to-output path, the number of
    steps ``jacobi`` takes; ``node_updates``: node updates performed.
    ``node_errors``: for each named ``pc_node``, the norm of its error at
    each recorded iteration; ``errors`` and ``values``: its settled error
    eps and value. ``record``: the RelaxRecord with ``record="errors"``.
    """
    schedule: str
    iterations: int
    converged: bool
    residual: np.ndarray
    squared_errors: np.ndarray
    energy: np.ndarray | None
    depth: int
    node_updates: int
    eta: float = 1.0
    tol: float = 0.0
    beta: float = 1.0
    max_iters: int = 1
    diverged: bool = False
    nonfinite: bool = False
    threshold: float = 0.0
    node_errors: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    record: RelaxRecord | None = None


# The relaxation loops address a node's elements o..o+k-1 of its buffers
# through these helpers, which make the views: a view made in the loops
# themselves, or a loop over o..o+k-1 there, would add code to them, and
# their compile time grows with their code. Loops over a view from 0
# vectorize (an index o + i might be negative as far as LLVM knows). The
# views are borrowed (kernels.span): no reference counting per view.
@helper
def _norm(x, o, k):
    """The 2-norm of x[o:o + k]."""
    v = span(x, o, k)
    total = 0.0
    for i in range(k):
        total += v[i] * v[i]
    return math.sqrt(total)


@helper
def _zero(x, o, k):
    """x[o:o + k] = 0."""
    fill(span(x, o, k), 0.0)


@helper
def _copy_at(dst, src, o, k):
    """dst[o:o + k] = src[o:o + k]."""
    copy(span(dst, o, k), span(src, o, k))


@helper
def _add_at(dst, src, o, k):
    """dst[o:o + k] += src[o:o + k]."""
    accumulate(span(dst, o, k), span(src, o, k))


# The squared prediction-error sum is reassociated so that it vectorizes.
@helper(fastmath={"reassoc"})
def _squares(err, precision, o, k):
    """1/2 e^T Pi^-1 e for the error e = err[o:o + k], its precisions at
    precision[o:o + k] (an empty ``precision`` for ones). It takes the
    buffers rather than a view and the op table: see _step on what each
    array argument of a call costs."""
    total = 0.0
    e = span(err, o, k)
    if precision.size:
        p = span(precision, o, k)
        for i in range(e.size):
            total += e[i] * e[i] / p[i]
    else:
        for i in range(e.size):
            total += e[i] * e[i]
    return 0.5 * total


@helper
def _max_abs(x):
    top = 0.0
    for i in range(x.size):
        top = max(top, abs(x[i]))
    return top


@kernels.entry
def forward_pass(t, value, forwards):
    """Recompute every node's value from the leaves with the forward kernels."""
    forward_span(t, value, forwards, 0, len(t.op))


@helper
def forward_span(t, value, forwards, lo, hi):
    """Recompute the values of nodes lo..hi-1 with the forward kernels."""
    for j in range(lo, hi):
        if t.op[j] != LEAF:
            call_forward(forwards[j], t, j, value, value_of(t, value, j))


# The output energies, one kernel each (index: options.ENERGIES), called by
# address: a loop calling them compiles only the one it uses, and none of
# their code becomes part of the loop's own.
@kernels.kernel
def _linear_energy(mu, target, precision, row, grad, scale):
    """E = g . mu, g the cotangent (in ``target``)."""
    total = 0.0
    for i in range(mu.size):
        grad[i] = target[i] * scale
        total += target[i] * mu[i]
    return scale * total


@kernels.kernel
def _squared_energy(mu, target, precision, row, grad, scale):
    """E = 1/2 (mu - y)^T Pi (mu - y), y the target."""
    total = 0.0
    for i in range(mu.size):
        d = mu[i] - target[i]
        p = precision[i] if precision.size else 1.0
        grad[i] = p * d * scale
        total += 0.5 * p * d * d
    return scale * total


@kernels.kernel
def _cross_entropy_energy(mu, target, precision, row, grad, scale):
    """E = -sum_rows y . log softmax(mu), the softmax over rows of ``row``
    elements, y the target."""
    total = 0.0
    for r in range(mu.size // row if row > 0 else 0):
        start, stop = r * row, (r + 1) * row
        top = -math.inf
        for i in range(start, stop):
            if mu[i] > top:  # (no max(): its overloads compile per error model)
                top = mu[i]
        norm = 0.0
        for i in range(start, stop):
            norm += math.exp(mu[i] - top)
        logz = top + math.log(norm)
        mass = 0.0
        for i in range(start, stop):
            mass += target[i]
            total += target[i] * (logz - mu[i])
        for i in range(start, stop):
            grad[i] = (math.exp(mu[i] - logz) * mass - target[i]) * scale
    return scale * total


ENERGY_KERNELS = tuple(kernels.Kernel(name, "energy", fn) for name, fn in zip(
    ENERGIES, (_linear_energy, _squared_energy, _cross_entropy_energy)))


def output_energy(kind, mu, target, precision, row, grad):
    """E(mu) of the output, writing dE/dmu into ``grad``; ``kind`` indexes
    ENERGIES (see ENERGY_KERNELS), ``precision`` is empty or mu's, and a
    cross-entropy's softmax runs over rows of ``row`` elements."""
    return _run_energy(ENERGY_KERNELS[kind].address(), _buffer(mu), _buffer(target), precision,
                       row, grad)


def _buffer(x):
    """``x`` as the kernels take an array: flat, C-contiguous float64, and
    writable (Numba types a read-only array apart, and kernels take one type)."""
    x = np.ascontiguousarray(x, dtype=np.float64).ravel()
    return x if x.flags.writeable else x.copy()


@kernels.entry
def _run_energy(address, mu, target, precision, row, grad):
    """The energy kernel at ``address`` run from Python."""
    return call_energy(address, mu, target, precision, row, grad, 1.0)


@helper
def _log(history, width, it, squared, residual, energy, eoff, size, err, named):
    """Row ``it`` of ``history`` (flat, rows of ``width``) = (squared errors,
    residual, energy, error norms of the named nodes), doubling history when
    it is full; returns history."""
    if (it + 1) * width > history.size:
        bigger = np.empty(2 * history.size)
        _copy_at(bigger, history, 0, history.size)
        history = bigger
    row = it * width
    history[row + SQUARED] = squared
    history[row + RESIDUAL] = residual
    history[row + ENERGY] = energy
    for r in range(named.size):
        history[row + NAMED + r] = _norm(err, eoff[named[r]], size[named[r]])
    return history


@helper
def _keep(trail, kept, state, it, final, t, err, value, units, segments):
    """Record iteration ``it`` as a row of ``trail`` (flat, one row per entry
    of ``kept``; see RelaxRecord): the error norm of each of ``units``, then
    the ``segments`` (rows of (0 for err or 1 for value, offset, length))
    copied. ``state`` = (rows used, stride): when ``trail`` is full every
    other row is dropped and the stride doubles, so it keeps every
    stride-th iteration and the last."""
    rows = kept.size
    if rows == 0:
        return
    width = trail.size // rows
    count, stride = state[0], state[1]
    if count > 0 and kept[count - 1] == it:
        count -= 1  # the same iteration again (the last): overwrite it
    elif it % stride != 0 and not final:
        return
    if count == rows:
        half = count // 2
        for r in range(1, half):
            copy(trail[r * width:(r + 1) * width], trail[2 * r * width:(2 * r + 1) * width])
            kept[r] = kept[2 * r]
        count, stride = half, 2 * stride
        state[1] = stride
        if it % stride != 0 and not final:
            state[0] = count
            return
    row = trail[count * width:(count + 1) * width]
    for u in range(units.size):
        row[u] = _norm(err, t.eoff[units[u]], t.size[units[u]])
    c = units.size
    for s in range(segments.size // 3):
        source = err if segments[3 * s] == 0 else value
        n = segments[3 * s + 2]
        copy(row[c:c + n], source[segments[3 * s + 1]:segments[3 * s + 1] + n])
        c += n
    kept[count] = it
    state[0] = count + 1


@helper
def _nonfinite(t, err, inputs):
    """Whether any read-out gradient element is inf or nan. Counted without
    an early exit, so that the scan vectorises (4x faster when all are finite)."""
    count = 0
    for k in range(inputs.size):
        g = error_of(t, err, inputs[k])
        for i in range(g.size):
            count += not abs(g[i]) < math.inf
    return count > 0


ROUNDING = 8.9e-16  # relative gap within which an error counts as at its target (_differ)


@njit(inline="always")  # inlined in Numba IR: the loops calling it must vectorize
def _differ(a, b):
    """Whether an error ``b`` still differs from its target ``a``. Within a
    few rounding units counts as settled (else a step of eta Pi near 2 can
    cycle between the two neighbours of a target forever), and so does NaN
    on both sides. Bitwise, not short-circuit, operators: no branches, so the
    loops calling it vectorize."""
    gap = abs(a - b)
    return not ((a == b) | ((gap <= ROUNDING * max(abs(a), abs(b))) & (gap < math.inf))
                | ((a != a) & (b != b)))


# Inlined into the loop (Numba IR): a helper's call updates the reference
# count of each array it is passed, on entry and on exit, atomically: with
# _open's calls, a sixth of the samples of jacobi on the bench LSTM (perf)
@njit(inline="always")
def _step(err, work, precision, o, k, m, rate, exact):
    """One unit's update where its error e = err[o:o+k] differs from a =
    work[o:o+k] = sum_c J^T eps_c: e <- a if ``exact``, else e + rate p (a - e)
    (p its precisions, an empty ``precision`` for ones); the change goes to
    d = work[m+o:m+o+k] (0 where e stays). Returns how many elements changed."""
    e, a, d = span(err, o, k), span(work, o, k), span(work, m + o, k)
    changed = 0
    if exact:  # no rounding tolerance (_differ's keeps euler from cycling): twice as fast
        for i in range(k):
            x, y = a[i], e[i]
            moves = not ((x == y) | ((x != x) & (y != y)))  # (NaN on both sides stays)
            d[i] = x - y if moves else 0.0
            e[i] = x if moves else y
            changed += moves
        return changed
    p = span(precision, o, k) if precision.size else precision
    for i in range(k):
        x, y = a[i], e[i]
        moves = _differ(x, y)
        pi = p[i] if p.size else 1.0
        new = y + rate * pi * (x - y)
        d[i] = new - y if moves else 0.0
        e[i] = new if moves else y
        changed += moves
    return changed


@helper(fastmath={"reassoc"})
def _squares_stepped(err, work, precision, o, k, m):
    """1/2 e^T Pi^-1 e - 1/2 (e - d)^T Pi^-1 (e - d): the change of a unit's
    squared error by the step d = work[m+o:m+o+k] that ended at e =
    err[o:o+k] (as in ``_step``)."""
    e, d = span(err, o, k), span(work, m + o, k)
    p = span(precision, o, k) if precision.size else precision
    total = 0.0
    for i in range(k):
        pi = p[i] if p.size else 1.0
        total += d[i] * (2.0 * e[i] - d[i]) / pi if d[i] != 0.0 else 0.0
    return 0.5 * total


@helper
def _residual(acc, err, o, k, first):
    """(gap, size, lopsided) of a unit, its sum a = acc[o:o + k] (sum_c J^T
    eps_c) and its error e = err[o:o + k]: max |a - e| over the elements that
    differ, the max-norm of its finite elements of a and e, and whether an
    element is NaN on one side only (a NaN input: it settles next step).
    With ``first`` it returns at the first element that differs, which tells
    whether the unit settled under tol 0 (gap > 0 or lopsided) at the cost
    of an element or two."""
    a, e = span(acc, o, k), span(err, o, k)
    if not first:
        # a pass that runs 3x faster, its maxima taken over every element; it
        # is the answer unless an element is inf or NaN, or no difference
        # exceeds rounding (some may not count), when the exact pass decides
        size, gap, nans = 0.0, 0.0, 0
        for i in range(k):
            difference = abs(a[i] - e[i])
            size = max(size, max(abs(a[i]), abs(e[i])))
            gap = max(gap, difference)
            nans += difference != difference
        if size < math.inf and nans == 0 and (gap == 0.0 or gap > ROUNDING * size):
            return gap, size, False
    gap, size, lopsided = 0.0, 0.0, False
    for i in range(k):
        x, y = a[i], e[i]
        moves = _differ(x, y)
        difference = abs(x - y)
        nan = difference != difference
        gap = max(gap, difference if moves & (not nan) else 0.0)
        lopsided |= moves & nan
        size = max(size, abs(x) if abs(x) < math.inf else 0.0)
        size = max(size, abs(y) if abs(y) < math.inf else 0.0)
        if first and moves:
            break
    return gap, size, lopsided


@helper
def _open(eoff, size, err, acc, j, opened):
    """Zero node j's error and running sum the first time the relaxation reaches it."""
    if not opened[j]:
        opened[j] = 1
        _zero(err, eoff[j], size[j])
        _zero(acc, eoff[j], size[j])


@helper
def _read_out(sweep, t, value, err, acc, seed, out, readouts, reads_eoff, reads_ptr, reads,
              rules, inputs, opened, trail, kept, state, units, segments):
    """The clamped inputs (jacobi's, euler's) read out what their children
    send from the errors reached so far: a sweep (settle_sweep at address
    ``sweep``, compiled for the first gradient anyway) along ``readouts``,
    t's psend on only the edges into them, over ``reads_eoff``, t's error
    offsets kept only for the nodes with such an edge, the inputs and the
    output (the sweep skips the others), after opening the inputs' errors
    (``reads_ptr``, ``reads``: they open before its first step). A node the
    relaxation has not reached carries no error: opened (zeroed) first.
    Returns whether a read-out gradient holds inf or nan."""
    for j in range(len(t.op)):
        if t.eoff[j] >= 0 and not opened[j]:
            _open(t.eoff, t.size, err, acc, j, opened)
    return call_sweep(sweep, t, value, err, seed, out, err[:0], reads_eoff, readouts, reads_ptr,
                      reads, rules, inputs, np.int64(0), trail, kept, state, units, segments)[1]


# Three entry points, one per kind of relaxation, so that a first gradient
# compiles only the loop it runs. The fixed-prediction ones start from the
# output error ``seed`` (dE/dmu at the feed-forward output); each also
# reports whether a read-out gradient holds inf or nan.
@kernels.entry
def settle_fixed(t, value, err, seed, out, unit, precision, schedule, eta, tol, max_iters,
                 history, named, work, marks, readouts, reads_eoff, reads_ptr, reads, sweep, rules,
                 inputs, measure, hook, trail, kept, state, units, segments):
    """Relax errors under the FPA into ``err`` (jacobi or euler, ``schedule``).

    Returns (iterations, node_updates, status, history, nonfinite), history
    holding one row per step (see ``_log``).

    jacobi: eps <- sum_c J^T eps_c for all units at once, from the last step.
    euler:  eps <- eps + eta Pi (sum_c J^T eps_c - eps); inputs read out at once.

    Every error has its place in ``t``'s layout; ``work`` (twice err's size)
    holds the running sums, ``marks`` (4 zeros per node) the loop's marks. A
    node's error and sum are zeroed when the relaxation first reaches it (the
    errors of nodes it never reaches at the end), so a step never pays for
    the parts of the graph it does not touch.
    Nodes that are not units (``unit[j]`` false) carry no state of their own:
    within a step their error is what their children send. jacobi and euler
    keep ``acc`` = sum_c J^T eps_c up to date incrementally, since the errors
    enter linearly: each step only units whose error differs from ``acc``
    update, and only their changes propagate (through non-units in reverse
    topological order). A step therefore costs what changed, not the graph.

    A unit has settled when its residual max|acc - eps| is at most ``tol``
    times the size of its error (max(|acc|, |eps|), its max-norm): the test
    is relative per unit, so small gradients are as accurate as large ones.
    Without ``measure`` the history's residual and squared errors are NaN,
    and a step stops testing units at the first one that has not settled.

    The clamped inputs are read-outs, outside the residual: under jacobi an
    input steps (eps <- its sum) the step after a child's change reaches it,
    whatever that change; under euler it reads its sum at once. Only the
    read-out of the last step is returned (and, with a hook, of each step
    the record shows), so ``t`` (Relaxation's table) sends nothing to the
    inputs and ``_read_out`` sweeps along ``readouts`` (psend on only the
    edges into them) from the errors then: one send per node instead of one
    per change, which is most of the work where a matmul sends to its
    weights at every change of its error (an unrolled LSTM, an MLP under
    euler). The sweep's compiled code (at address ``sweep``) does it, so
    this loop compiles no read-out of its own.
    """
    n, m = len(t.op), err.size
    op, size, eoff = t.op, t.size, t.eoff
    pptr, par, psend = t.pptr, t.par, t.psend
    # acc = work[:m], at the errors' offsets: for a unit, sum_c J^T eps_c;
    # for a non-unit, the change arriving at it this step (it passes that
    # change on and forgets it); work[m:] holds this step's change of each
    # updated unit (at m + its offset)
    acc = work
    # node j is opened where marks[j], pending where marks[pending + j],
    # touched where marks[touched + j]; marks[queue:] lists the candidates
    pending, touched, queue = n, 2 * n, 3 * n
    if hook != 0:  # the record reads every unit's error from the start
        for j in range(n):
            if eoff[j] >= 0:
                _open(eoff, size, err, acc, j, marks)
    for r in range(named.size):  # the history reads their errors from the start
        _open(eoff, size, err, acc, named[r], marks)
    marks[out] = 1
    total_energy = 0.0
    for i in range(seed.size):
        o = eoff[out] + i
        err[o] = seed[i]
        work[m + o] = seed[i]
        total_energy += 0.5 * seed[i] * seed[i] / (precision[o] if precision.size else 1.0)
    ncand = 0
    updated = 0
    nonfinite = False
    marks[pending + out] = 1
    hi = out
    unsettled = out  # the unit the last residual test found unsettled (out: none)
    quick = tol == 0.0 and not measure  # a unit settles when no element differs
    jacobi = schedule == JACOBI  # (its inputs step a step behind; euler's read at once)
    for it in range(max_iters + 1):
        if it > 0:
            if jacobi and (hook != 0 or it == max_iters):  # the inputs' step
                nonfinite = _read_out(sweep, t, value, err, acc, seed, out, readouts, reads_eoff,
                                      reads_ptr, reads, rules, inputs, marks, trail, kept, state,
                                      units, segments)
            # update every unit whose error differs from what its children send
            hi = -1
            ncand_next = 0
            for c in range(ncand):
                j = marks[queue + c]
                if op[j] == LEAF:  # a jacobi input's step (_read_out sets its error)
                    updated += 1
                elif _step(err, work, precision, eoff[j], size[j], m, eta, jacobi):
                    if measure:
                        total_energy += _squares_stepped(err, work, precision, eoff[j], size[j],
                                                         m)
                    updated += 1
                    if not jacobi:  # (a jacobi step settles a unit until its sum changes)
                        marks[queue + ncand_next] = j
                        ncand_next += 1
                    marks[pending + j] = 1
                    hi = j if j > hi else hi
            ncand = ncand_next
            for c in range(ncand):
                marks[touched + marks[queue + c]] = 1
        # propagate the changes in reverse topological order
        j = hi
        while j >= 0:
            if marks[pending + j]:
                marks[pending + j] = 0
                for q in range(pptr[j], pptr[j + 1]):
                    if psend[q] != 0 and not marks[par[q]]:  # (a call costs, see _step)
                        _open(eoff, size, err, acc, par[q], marks)
                o, k = eoff[j], size[j]
                sent = m + o  # a unit sends its change of this step
                if not unit[j]:  # a non-unit passes on the change that arrived
                    sent = o
                    _add_at(err, acc, o, k)
                    if measure:  # (the change d lies at acc[o:o + k])
                        total_energy += _squares_stepped(err, acc, precision, o, k, 0)
                    updated += 1
                call_rule(rules[j], t, j, value, value, span(work, sent, k), acc)
                if not unit[j]:
                    _zero(acc, o, k)
                for q in range(pptr[j], pptr[j + 1]):
                    p = par[q]
                    if psend[q] == 0 and not (jacobi and readouts[q] != 0):
                        continue
                    if unit[p]:
                        if not marks[touched + p]:
                            marks[touched + p] = 1
                            marks[queue + ncand] = p
                            ncand += 1
                    else:
                        marks[pending + p] = 1
            j -= 1
        if hook != 0 and not jacobi:  # the record shows euler's inputs at once
            nonfinite = _read_out(sweep, t, value, err, acc, seed, out, readouts, reads_eoff,
                                  reads_ptr, reads, rules, inputs, marks, trail, kept, state,
                                  units, segments)
        # the changes reach the units; measure the residual
        worst, settled = 0.0, True
        # without measure the test stops at the first unsettled unit; the one
        # found last step usually still is, so it is tested first
        first = -1 if measure or unsettled == out or not marks[touched + unsettled] else unsettled
        if first >= 0:
            gap, scale, lopsided = _residual(acc, err, eoff[first], size[first], quick)
            settled = not (lopsided or gap > tol * scale)
        for c in range(ncand):
            p = marks[queue + c]
            marks[touched + p] = 0
            if op[p] == LEAF:  # a jacobi input takes its step next
                settled = False
            elif p != out and p != first and (measure or settled):
                gap, scale, lopsided = _residual(acc, err, eoff[p], size[p], quick)
                worst = gap if gap > worst else worst
                if lopsided or gap > tol * scale:
                    settled = False
                    unsettled = p
        history = _log(history, NAMED + named.size, it,
                       total_energy if measure else math.nan, worst if measure else math.nan,
                       math.nan, eoff, size, err, named)
        if hook != 0:
            call_hook(hook, trail, kept, state, it, settled or it == max_iters, t, err, value,
                      units, segments)
        if settled or it == max_iters:
            break
    if hook == 0 and not (jacobi and it == max_iters):  # (then read at its start)
        nonfinite = _read_out(sweep, t, value, err, acc, seed, out, readouts, reads_eoff,
                              reads_ptr, reads, rules, inputs, marks, trail, kept, state,
                              units, segments)
    # (every path read the inputs out last, after opening every node)
    return it, updated, CONVERGED if settled else MAX_ITERS, history, nonfinite


@njit(inline="always")
def open_errors(ts, err, opens_ptr, opens, j):
    """Zero the error buffers the sweep opens at step j (Plan.sweep_layout)."""
    for q in range(opens_ptr[j], opens_ptr[j + 1]):
        _zero(err, ts.eoff[opens[q]], ts.size[opens[q]])


@njit(inline="always")
def send_error(ts, value, err, rules, j):
    """The sweep's step at node j: its error rule, if it carries an error
    (whether it does)."""
    if ts.eoff[j] >= 0 and ts.op[j] != LEAF:
        call_rule(rules[j], ts, j, value, value, span(err, ts.eoff[j], ts.size[j]), err)
        return True
    return False


@helper
def sweep_span(ts, value, err, rules, opens_ptr, opens, hi, lo):
    """The sweep's steps hi-1 down to lo (see settle_sweep), for a replay
    that settles the other steps itself (fusion.py)."""
    for j in range(hi - 1, lo - 1, -1):
        open_errors(ts, err, opens_ptr, opens, j)
        send_error(ts, value, err, rules, j)


@kernels.entry
def settle_sweep(t, value, err, seed, out, precision, sweep_eoff, sweep_psend, opens_ptr,
                 opens, rules, inputs, hook, trail, kept, state, units, segments):
    """The sweep: reverse topological Gauss-Seidel with unit steps under the
    FPA, exact in one pass (reverse-mode AD). Each error is complete when its
    node is reached, so it is summed in place. Its op table is ``t`` with its
    own error offsets and psend (Plan.sweep_layout), put together here
    because every array passed in costs time on each call; its error buffers
    are reused once read and zeroed when opened (``opens``). Returns (squared
    prediction-error sum, nonfinite)."""
    ts = OpTable(t.op, t.code, t.size, t.voff, sweep_eoff, t.pptr, t.par, sweep_psend, t.iptr,
                 t.ints)
    n = len(t.op)
    total = 0.0
    for j in range(n, -1, -1):
        open_errors(ts, err, opens_ptr, opens, j)
        if j == n:
            copy(error_of(ts, err, out), seed)
        elif send_error(ts, value, err, rules, j):
            total += _squares(err, precision, ts.eoff[j], ts.size[j])
        if hook != 0 and (j == n or j == 0):  # the record's rows: before and after the pass
            call_hook(hook, trail, kept, state, 1 if j == 0 else 0, j == 0, ts, err, value,
                      units, segments)
    return total, _nonfinite(ts, err, inputs)


@helper
def _prediction_error(err, prediction, value, precision, eo, vo, k):
    """A strict unit's error eps = Pi (mu - v) into err[eo:eo + k], from its
    prediction mu and value v at vo; returns 1/2 (mu - v)^T Pi (mu - v)."""
    e, mu, v = err[eo:eo + k], prediction[vo:vo + k], value[vo:vo + k]
    p = precision[eo:eo + k] if precision.size else precision
    squared = 0.0
    for i in range(k):
        gap = mu[i] - v[i]
        pi = p[i] if p.size else 1.0
        e[i] = pi * gap
        squared += 0.5 * pi * gap * gap
    return squared


@helper
def _largest_gap(acc, err, o, k):
    """max |acc - err| over elements o..o+k-1 (a strict unit's |dF/dv|)."""
    a, e = acc[o:o + k], err[o:o + k]
    worst = 0.0
    for i in range(k):
        worst = max(worst, abs(a[i] - e[i]))
    return worst


@helper
def _descend(value, err, acc, vo, eo, k, eta):
    """A strict unit's step v <- v - eta dF/dv = v + eta (eps - sum_c J^T eps_c)."""
    v, e, a = value[vo:vo + k], err[eo:eo + k], acc[eo:eo + k]
    for i in range(k):
        v[i] += eta * (e[i] - a[i])


def strict_layout(t, unit, free, out, every):
    """What a strict iteration must recompute: (varies, needed, live, rest, closes).

    Clamped leaves never move, so a node all of whose ancestors are clamped
    keeps its prediction (``varies`` false: computed once). A node's sum
    sum_c J^T eps_c is ``needed`` every iteration when it moves (a unit, a
    latent) or passes errors on to one (a non-unit between units); the sums
    at clamped inputs and at the parameter-only nodes above them are read
    once, after the last iteration. ``live`` is t's psend masked to the edges
    into needed nodes (an iteration's sends), ``rest`` to the other edges
    (the closing pass's); ``closes``: nodes with an edge in ``rest``.
    ``every``: a hook reads every node's error at every iteration, so every
    sum is needed (and ``rest`` is empty). Computed in Python, once per
    Relaxation: the strict loop need not compile it."""
    n = len(t.op)
    op, pptr, par, psend = t.op.tolist(), t.pptr.tolist(), t.par.tolist(), t.psend.tolist()
    unit, free = unit.tolist(), free.tolist()
    varies, moves, needed = [False] * n, [False] * n, [False] * n
    for j in range(n):
        if op[j] == LEAF:
            moves[j] = free[j]
            needed[j] = free[j] or every
            continue
        edges = range(pptr[j], pptr[j + 1])
        varies[j] = any(moves[par[q]] for q in edges)
        moves[j] = varies[j] or (unit[j] and j != out)
        needed[j] = every or unit[j] or any(psend[q] != 0 and needed[par[q]] for q in edges)
    needed = np.array(needed, np.bool_)
    into_needed = needed[t.par]
    live = np.where(into_needed, t.psend, 0)
    rest = np.where(into_needed, 0, t.psend)
    closes = np.zeros(n, np.bool_)
    closes[edge_children(t.pptr)[rest != 0]] = True
    return np.array(varies, np.bool_), needed, live, rest, closes


@helper
def _close(t, value, prediction, err, acc, rules, unit, needed, rest, closes):
    """After the last iteration: the errors of the non-units it summed in
    place (``acc``), then the sends it left out (see strict_layout), in the
    same order and from the same values and errors, so the clamped inputs
    read out what a full send at every iteration gives."""
    n = len(t.op)
    op = t.op
    size = t.size
    eoff = t.eoff
    for j in range(n):
        o = eoff[j]
        if o < 0:
            continue
        if not needed[j]:
            _zero(acc, o, size[j])  # the sums this pass makes
        elif op[j] != LEAF and not unit[j]:
            _copy_at(err, acc, o, size[j])
    t_rest = OpTable(t.op, t.code, t.size, t.voff, t.eoff, t.pptr, t.par, rest, t.iptr, t.ints)
    for j in range(n - 1, -1, -1):
        o, k = eoff[j], size[j]
        if o < 0 or (needed[j] and not closes[j]):
            continue
        if not needed[j]:  # its error is what its children sent (a clamped leaf's: its read-out)
            _copy_at(err, acc, o, k)
        if op[j] != LEAF:
            own = prediction if unit[j] else value  # where the forward pass put j's prediction
            call_rule(rules[j], t_rest, j, value, own, view(err, o, k), acc)


@helper
def _divide_at(x, o, k, d):
    """x[o:o + k] /= d."""
    v = x[o:o + k]
    for i in range(k):
        v[i] /= d


@kernels.entry
def settle_strict(t, value, prediction, err, acc, target, energy, row, out, unit, free,
                  relaxing, varies, needed, rest, closes, precision, beta, eta, tol,
                  max_iters, history, named, rules, forwards, readouts, inputs, hook, trail, kept,
                  state, units, segments):
    """Strict predictive coding: values (``value`` itself) relax, predictions
    are recomputed (into ``prediction``, a copy of ``value`` with the latents'
    prior means; ``err`` and ``acc``, zeros of the error buffer's size, hold
    the errors and the sums sum_c J^T eps_c).

    State: the values of units (other than the output, whose value is its
    prediction) and of free leaves (latents, whose prediction is their prior
    mean): ``relaxing``, in topological order. Each step recomputes every
    prediction mu_j = f_j(v) with the forward kernels, the errors
    eps_j = Pi_j (mu_j - v_j), the output error beta dE/dmu_out (``energy``:
    the address of the output energy's kernel, ENERGY_KERNELS), sends the
    errors through the Jacobians at the current values, and moves
    v_i <- v_i - eta dF/dv_i,  dF/dv_i = -eps_i + sum_c J_ci^T eps_c.
    At a clamped input, sum_c J^T eps_c / beta estimates the gradient. Only
    that read-out uses the clamped inputs' sums, so the iterations leave out
    the sends to them (and the predictions of nodes computed from clamped
    leaves alone, which never change) and ``_close`` makes those sends once,
    at the end (see ``strict_layout``, which gives varies .. closes, and the
    psend of ``t``, masked to the iterations' sends; a hook reads every
    error at every iteration, so with one everything is sent each
    iteration). ``readouts``: the clamped inputs, whose sums are
    divided by beta. Converged when max |dF/dv| <= tol times the first output
    error's max-norm (history's threshold). Returns (iterations,
    node_updates, status, history, E, nonfinite, threshold), E the output
    energy at the feed-forward pass.
    """
    n = len(t.op)
    op = t.op
    size = t.size
    voff = t.voff
    eoff = t.eoff
    threshold = first_output = 0.0
    rising, previous, previous_worst = 0, np.inf, np.inf
    status, iterations = MAX_ITERS, max_iters
    for it in range(max_iters + 1):
        for j in range(n):
            if op[j] != LEAF and (it == 0 or varies[j]):
                # a non-unit's value is its prediction: computed in place
                mu = prediction if unit[j] or j == out else value
                call_forward(forwards[j], t, j, value, view(mu, voff[j], size[j]))
                if j == out:
                    _copy_at(value, prediction, voff[j], size[j])
        output = call_energy(energy, view(prediction, voff[out], size[out]), target,
                             view(precision, eoff[out], size[out]) if precision.size else
                             precision, row, view(err, eoff[out], size[out]), beta)
        if it == 0:
            scale = _max_abs(view(err, eoff[out], size[out]))
            threshold = tol * (scale if scale > 0 else 1.0)
            first_output = output / beta
        squared = 0.0
        for q in range(relaxing.size):
            j = relaxing[q]
            squared += _prediction_error(err, prediction, value, precision, eoff[j], voff[j],
                                         size[j])
        for j in range(n):  # the other sums are zeroed before closing
            if needed[j] and eoff[j] >= 0:
                _zero(acc, eoff[j], size[j])
        for j in range(n - 1, -1, -1):
            o, k = eoff[j], size[j]
            if o < 0 or not needed[j]:
                continue  # a constant, a node recomputed without an error, or read at the end
            if op[j] == LEAF:
                if not free[j]:
                    _copy_at(err, acc, o, k)
                continue
            # a non-unit's error is the sum its children sent, read in place
            # (copied to its error only for a hook, which reads it)
            if hook != 0 and not unit[j]:
                _copy_at(err, acc, o, k)
            own = prediction if unit[j] else value
            sent = err if unit[j] else acc
            call_rule(rules[j], t, j, value, own, view(sent, o, k), acc)
        worst = 0.0
        for q in range(relaxing.size):
            j = relaxing[q]
            worst = max(worst, _largest_gap(acc, err, eoff[j], size[j]))
        total = squared + output
        history = _log(history, NAMED + named.size, it, squared, worst, total, eoff, size, err,
                       named)
        finite = math.isfinite(total) and math.isfinite(worst)
        # gradient descent on F with a small enough step never rises: a blow-up
        # raises both F (beyond rounding) and the residual, step after step
        margin = 1e-12 * max(abs(total), abs(previous)) if previous < np.inf else 0.0
        grew = total > previous + margin and worst > previous_worst
        rising = rising + 1 if grew else 0
        previous, previous_worst = total, worst
        diverged = not finite or rising >= 5
        done = diverged or worst <= threshold or it == max_iters
        if hook != 0:
            call_hook(hook, trail, kept, state, it, done, t, err, value, units, segments)
        if done:  # one exit: each exit of the loop repeats the release of every array in it
            status = DIVERGED if diverged else (CONVERGED if worst <= threshold else MAX_ITERS)
            iterations = it
            break
        for q in range(relaxing.size):
            j = relaxing[q]
            _descend(value, err, acc, voff[j], eoff[j], size[j], eta)
    _close(t, value, prediction, err, acc, rules, unit, needed, rest, closes)
    for q in range(readouts.size):
        _divide_at(err, eoff[readouts[q]], size[readouts[q]], beta)
    return (iterations, iterations * n, status, history, first_output,
            _nonfinite(t, err, inputs), threshold)


RECORDER = kernels.Kernel("record", "hook", _keep)


_QUIET = contextlib.nullcontext()  # (reusable: it holds no state)


def _first_call(loop, name):
    """On ``loop``'s first call in a process, announce a long compile of it."""
    return _QUIET if loop.overloads else kernels.announcing(name)


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
    prior (mean, precision); ``named`` lists pc_node names whose error norms
    are recorded; ``record="errors"`` keeps the whole relaxation (RelaxRecord).
    """

    def __init__(self, plan, schedule="sweep", eta=None, tol=None, max_iters=None,
                 units="all", energy="linear", beta=None, precisions=None, free=None,
                 named=(), record=None):
        # the options come validated (options.relaxation_options); None: the default
        defaults = DEFAULTS[schedule]
        self._first_run = True
        self.plan, self.schedule = plan, schedule
        self.schedule_id = SCHEDULES.index(schedule)
        self.eta = float(defaults.eta if eta is None else eta)
        self.tol = float(defaults.tol if tol is None else tol)
        self.max_iters = int(defaults.max_iters if max_iters is None else max_iters)
        self.beta = float(defaults.beta if beta is None else beta)
        t = plan.table
        self.unit, self.depth = plan.units_for(units)
        self.precision = plan.precision_buffer(precisions)
        self.free = np.zeros(len(t.op), np.bool_)
        # value-buffer layout; read only at latents (an empty one without them)
        self.prior_mean = np.zeros(plan.value_size if free else 0)
        if free and not self.precision.size:
            self.precision = np.ones(plan.error_size)
        for k, (mean, prior_precision) in (free or {}).items():
            i = plan.inputs[k]
            self.free[i] = True
            self.prior_mean[t.voff[i]:t.voff[i] + t.size[i]] = np.broadcast_to(
                mean, plan.shapes[i]).ravel()
            self.precision[t.eoff[i]:t.eoff[i] + t.size[i]] = np.broadcast_to(
                prior_precision, plan.shapes[i]).ravel()
        if self.schedule_id == EULER:
            self._check_euler_step()
        if self.schedule_id in (JACOBI, EULER):  # they read the inputs out (settle_fixed)
            into_inputs = (t.op[t.par] == LEAF) & (t.psend != 0)
            self.fixed_table = t._replace(psend=np.where(into_inputs, 0, t.psend))
            # the read-out's sweep (_read_out): psend on those edges only,
            # error offsets only where it sends or reads out (elsewhere -1:
            # skipped), the inputs they reach opened before its first step
            self.into_inputs = into_inputs.astype(np.int64)
            self.reads = np.unique(t.par[into_inputs]).astype(np.int64)
            sends = np.zeros(len(t.op), bool)
            sends[edge_children(t.pptr)[into_inputs]] = True
            sends[self.reads] = sends[plan.inputs] = sends[plan.output] = True
            self.reads_eoff = np.where(sends, t.eoff, -1)
            self.reads_ptr = np.zeros(len(t.op) + 2, np.int64)
            self.reads_ptr[-1] = self.reads.size
        self.named = list(named)
        self.named_index = np.array([plan.named[name] for name in named], np.int64)
        self.row = int(plan.output_shape[-1]) if plan.output_shape else 1
        self.energy_kind = ENERGIES.index(energy)
        self.recording = record == "errors"
        if self.schedule_id == SWEEP and not self.recording:
            self.table, (self.opens_ptr, self.opens), self.error_size = plan.sweep_layout()
        else:  # every error keeps its own place (a recorded sweep opens them all at once)
            self.table, self.error_size = t, plan.error_size
            self.opens = np.flatnonzero(t.eoff >= 0).astype(np.int64)
            self.opens_ptr = np.zeros(len(t.op) + 2, np.int64)
            self.opens_ptr[-1] = self.opens.size
        self._record_layout()
        eoff, size = self.table.eoff.tolist(), self.table.size.tolist()
        # (start, stop, shape) of each input's error: the read-out of every call
        self._input_places = [(eoff[i], eoff[i] + size[i], plan.shapes[i])
                              for i in plan.inputs.tolist()]
        # (start, stop) of the one stretch of the buffer the inputs' errors
        # tile, if they do (else None): copied out in one piece
        places = sorted((start, stop) for start, stop, _ in self._input_places)
        self.input_span = (places[0][0], places[-1][1]) if places and all(
            a[1] == b[0] for a, b in zip(places, places[1:])) else None
        if self.schedule_id == STRICT:
            self._strict_layout()

    def _strict_layout(self):
        """What every strict run reads besides the options: the relaxing
        state (see settle_strict), what an iteration recomputes
        (strict_layout), the latents' places and the read-out nodes."""
        t, plan = self.plan.table, self.plan
        self.relaxing = np.flatnonzero(
            (np.arange(len(t.op)) != plan.output) & (t.eoff >= 0)
            & (self.free | (self.unit & (t.op != LEAF)))).astype(np.int64)
        varies, needed, live, rest, closes = strict_layout(t, self.unit, self.free, plan.output,
                                                           self.recording)
        # the table the iterations send along (their rules read psend)
        self.strict_table = t._replace(psend=live)
        self.layout = varies, needed, rest, closes
        # value-buffer places of the latents, predicted by their prior mean
        self.latents = [(int(t.voff[i]), int(t.voff[i] + t.size[i]))
                        for i in np.flatnonzero(self.free)]
        self.readouts = np.unique(plan.inputs[~self.free[plan.inputs]]).astype(np.int64)

    def _check_euler_step(self):
        """Euler's error dynamics are linear with rates 1 - eta Pi: they
        converge exactly when every eta Pi lies in (0, 2)."""
        largest = float(self.precision.max()) if self.precision.size else 1.0
        if self.eta * largest >= 2.0:
            raise ValueError(
                f"schedule='euler' diverges when eta times a unit's precision is 2 or more "
                f"(each step multiplies that unit's distance from equilibrium by "
                f"|1 - eta Pi|); got eta={self.eta:g} and a precision of {largest:g}. Use "
                f"eta < {2.0 / largest:g}, or smaller precisions.")

    def _record_layout(self):
        """What ``record="errors"`` copies each iteration: the error norm of
        every unit, then its error (and under strict its value) when the
        whole record fits in RECORD_CAP floats for 64 rows, else only the
        inputs' read-out."""
        t = self.table
        self.record_units = np.flatnonzero(self.unit & (t.eoff >= 0)).astype(np.int64)
        self._no_record = (0, np.zeros(0), np.zeros(0, np.int64), np.zeros(2, np.int64),
                           self.record_units, np.zeros(0, np.int64))
        if not self.recording:
            self.segments, self.record_full = np.zeros(0, np.int64), False
            return
        strict = self.schedule_id == STRICT
        full = [(0, t.eoff[u], t.size[u]) for u in self.record_units]
        if strict:
            full += [(1, t.voff[u], t.size[u]) for u in self.record_units if t.voff[u] >= 0]
        width = self.record_units.size + sum(n for _, _, n in full)
        self.record_full = 64 * width <= RECORD_CAP
        chosen = full if self.record_full else [(0, t.eoff[i], t.size[i])
                                                 for i in self.plan.inputs]
        self.segments = np.array(chosen, np.int64).ravel()  # (buffer, offset, length) each

    def error_of(self, err, i):
        """Node i's settled error in a buffer ``run`` returned (None if it has none)."""
        o = self.table.eoff[i]
        return err[o:o + self.table.size[i]] if o >= 0 else None

    def input_errors(self, err, copy=False):
        """The settled errors at the plan's inputs in a buffer ``run`` returned,
        each in its input's shape: views of ``err``, or with ``copy`` of a copy
        of the part of it they occupy."""
        if copy:
            if self.input_span is None:
                return [err[start:stop].reshape(shape).copy()
                        for start, stop, shape in self._input_places]
            lo, hi = self.input_span
            err = err[lo:hi].copy()
            return [err[start - lo:stop - lo].reshape(shape)
                    for start, stop, shape in self._input_places]
        return [err[start:stop].reshape(shape) for start, stop, shape in self._input_places]

    def _record_buffers(self):
        """(hook, trail, kept, state, units, segments): what the loops record
        (no hook and empty buffers, shared by every call, when not recording)."""
        if not self.recording:
            return self._no_record
        width = self.record_units.size + int(self.segments[2::3].sum())
        rows = max(4, RECORD_CAP // max(width, 1)) // 2 * 2
        needed = 2 if self.schedule_id == SWEEP else self.max_iters + 1
        rows = min(rows, needed + needed % 2)
        return (RECORDER.address(), np.empty(rows * width), np.zeros(rows, np.int64),
                np.array([0, 1], np.int64), self.record_units, self.segments)

    def run(self, value, target, forward=False, err=None, work=None, want_info=True,
            warn_nonfinite=True):
        """Relax from ``value`` (strict relaxes a copy; replay with ``forward``
        recomputes it first). Returns (errors, values, RelaxInfo, E); the
        RelaxInfo is None when not ``want_info`` and the relaxation converged
        with finite gradients.

        ``errors`` is the flat error buffer (read it with ``error_of``); at
        clamped inputs it holds the read-out gradient (already divided by
        beta). E is the output energy at the feed-forward output.
        """
        if self._first_run:  # what it compiles (kernels, loops) is announced as one
            self._first_run = False
            with kernels.announcing(None):
                return self._run(value, target, forward, err, work, want_info, warn_nonfinite)
        return self._run(value, target, forward, err, work, want_info, warn_nonfinite)

    def _run(self, value, target, forward, err, work, want_info, warn_nonfinite):
        t, plan = self.plan.table, self.plan
        err = np.empty(self.error_size) if err is None else err
        target = _buffer(target)
        width = NAMED + self.named_index.size
        rules = kernel_addresses(plan, "rule")
        if forward or self.schedule_id == STRICT:
            forwards = kernel_addresses(plan, "forward")
            if forward:
                with _first_call(forward_pass, "the forward pass"):
                    forward_pass(t, value, forwards)
        record = self._record_buffers()
        relaxed, threshold, output = value, self.tol, None
        if self.schedule_id == STRICT:
            relaxed = value if forward else value.copy()
            prediction = relaxed.copy()
            for start, stop in self.latents:
                prediction[start:stop] = self.prior_mean[start:stop]
            err.fill(0.0)
            with _first_call(settle_strict, "the strict loop"):
                energy = ENERGY_KERNELS[self.energy_kind].address()
                (iterations, updates, status, history, output, nonfinite,
                 threshold) = settle_strict(
                    self.strict_table, relaxed, prediction, err, np.zeros(self.error_size),
                    target, energy, self.row, plan.output, self.unit, self.free,
                    self.relaxing, *self.layout, self.precision, self.beta, self.eta, self.tol,
                    self.max_iters, np.empty(64 * width), self.named_index, rules, forwards,
                    self.readouts, plan.inputs, *record)
        else:
            seed, output = self._seed(value, target)
            if self.schedule_id == SWEEP:
                with _first_call(settle_sweep, "the sweep loop"):
                    squared, nonfinite = settle_sweep(
                        t, value, err, seed, plan.output, self.precision, self.table.eoff,
                        self.table.psend, self.opens_ptr, self.opens, rules, plan.inputs,
                        *record)
                if not (want_info or nonfinite):
                    return err, relaxed, None, output
                iterations, updates, status = 1, len(plan), CONVERGED
                history = np.array((squared, 0.0, np.nan) + tuple(
                    np.linalg.norm(self.error_of(err, i)) for i in self.named_index))
            else:
                work = np.empty(2 * self.error_size) if work is None else \
                    work[:2 * self.error_size]
                with _first_call(settle_fixed, "the jacobi/euler loop"):
                    # without want_info the residual is not measured past the first
                    # unsettled unit; a relaxation whose RelaxInfo is needed after
                    # all (it did not settle) runs again, measured
                    for measure in (want_info or self.recording, True):
                        iterations, updates, status, history, nonfinite = settle_fixed(
                            self.fixed_table, value, err, seed, plan.output, self.unit,
                            self.precision, self.schedule_id, self.eta, self.tol,
                            self.max_iters, np.empty(64 * width), self.named_index, work,
                            np.zeros(4 * len(t.op), np.int64), self.into_inputs,
                            self.reads_eoff, self.reads_ptr, self.reads, sweep_address(), rules,
                            plan.inputs, measure, *record)
                        if measure or (status == CONVERGED and not nonfinite):
                            break
        if nonfinite and warn_nonfinite:
            self._warn_nonfinite(value, target)
        if not want_info and status == CONVERGED and not nonfinite:
            return err, relaxed, None, output
        history = history.reshape(-1, width)[:1 if self.schedule_id == SWEEP else iterations + 1]
        info = RelaxInfo(
            self.schedule, iterations, status == CONVERGED, history[:, RESIDUAL].copy(),
            history[:, SQUARED].copy(),
            history[:, ENERGY].copy() if self.schedule_id == STRICT else None, self.depth,
            updates, self.eta, self.tol, self.beta, self.max_iters, status == DIVERGED,
            nonfinite, threshold,
            {name: history[:, NAMED + r].copy() for r, name in enumerate(self.named)})
        if self.recording:
            info.record = self._record(*record[1:4])
        return err, relaxed, info, output

    def _seed(self, value, target):
        """(dE/dmu at the feed-forward output, E there; None for the linear
        energy, whose gradient is the cotangent ``target`` itself)."""
        t, out = self.plan.table, self.plan.output
        if self.energy_kind == 0:
            return target, None
        mu = value[t.voff[out]:t.voff[out] + t.size[out]]
        precision = self.precision[t.eoff[out]:t.eoff[out] + t.size[out]] if \
            self.precision.size else self.precision
        seed = np.empty(mu.size)
        return seed, output_energy(self.energy_kind, mu, target, precision, self.row, seed)

    def _record(self, trail, kept, state):
        """The RelaxRecord from the rows ``_keep`` wrote."""
        plan, t = self.plan, self.table
        rows, units = int(state[0]), self.record_units
        trail = trail.reshape(kept.size, -1)[:rows]
        shapes = [plan.shapes[u] for u in units]
        columns, start = [], units.size
        for n in self.segments[2::3]:
            columns.append(trail[:, start:start + n])
            start += n
        errors = values = None
        if self.record_full:
            errors = [c.reshape((rows,) + s) for c, s in zip(columns, shapes)]
            if self.schedule_id == STRICT:
                stored = [s for u, s in zip(units, shapes) if t.voff[u] >= 0]
                values = [c.reshape((rows,) + s) for c, s in zip(columns[units.size:], stored)]
            position = {u: k for k, u in enumerate(units)}
            gradients = [errors[position[i]] for i in plan.inputs]
        else:
            gradients = [c.reshape((rows,) + plan.shapes[i])
                         for c, i in zip(columns, plan.inputs)]
        gradients = [g / self.beta for g in gradients]
        return RelaxRecord([plan.nodes[u] for u in units], kept[:rows].copy(),
                           trail[:, :units.size].copy(), errors, values,
                           [plan.nodes[i] for i in plan.inputs], gradients)

    def _warn_nonfinite(self, value, target):
        """Warn once, naming the primitives whose error rule turned finite
        errors into inf or nan (an infinite slope: sqrt or log at 0, ...)."""
        t = self.plan.table
        names = sorted({kernels.get("rule", int(t.op[j]), int(t.code[j])).name.split(" (")[0]
                        for j in self._nonfinite_sources(value, target)})
        if not names:  # non-finite values came in (a nan input): nothing to blame
            return
        which = " and ".join(names)
        warnings.warn(
            f"The derivative of {which} is infinite or undefined at some elements of its "
            f"input, so the gradient holds inf or nan there (as numpy and autograd give).",
            RuntimeWarning, stacklevel=5)

    def _nonfinite_sources(self, value, target):
        """Nodes whose error rule, given finite errors and finite parent
        values, sends a non-finite error."""
        plan, t = self.plan, self.plan.table
        exact = Relaxation(plan, "sweep", energy=ENERGIES[self.energy_kind], record="errors")
        err, values, _, _ = exact.run(value, target, warn_nonfinite=False)
        rules = kernel_addresses(plan, "rule")
        found = []
        for j in np.flatnonzero((t.op != LEAF) & (t.eoff >= 0)):
            e = exact.error_of(err, j)
            parents = t.par[t.pptr[j]:t.pptr[j + 1]]
            if not np.all(np.isfinite(e)) or not all(
                    np.all(np.isfinite(values[t.voff[p]:t.voff[p] + t.size[p]]))
                    for p in parents if t.voff[p] >= 0):
                continue
            if not rules[j]:
                continue
            probe = np.zeros_like(err)
            _run_rule(rules[j], t, j, values, values, np.ascontiguousarray(e), probe)
            if not np.all(np.isfinite(probe)):
                found.append(j)
        return found


@kernels.entry
def _run_rule(address, t, j, value, prediction, e, acc):
    """The rule kernel at ``address`` run from Python (kernels have no
    Python entry point of their own)."""
    call_rule(address, t, j, value, prediction, e, acc)


def convergence_message(info):
    """Why a relaxation did not settle, and what to do, for its schedule."""
    first, last = info.residual[0], info.residual[-1]
    if info.schedule == "strict" and info.diverged:
        return (f"The 'strict' relaxation diverged at iteration {info.iterations} (energy F "
                f"{info.energy[0]:.4g} -> {info.energy[-1]:.4g}, residual max|dF/dv| "
                f"{last:.3g}): eta={info.eta:g} is too large for this graph and its "
                f"precisions. Try eta={info.eta / 4:g}.")
    if info.schedule == "strict":
        return (f"The 'strict' relaxation did not converge in {info.iterations} iterations: the "
                f"residual max|dF/dv| is {last:.3g}, above tol times the first output error "
                f"({info.threshold:.3g}). Raise max_iters or loosen tol; a larger eta is faster "
                f"if it does not diverge (eta={info.eta:g}).")
    if info.schedule == "jacobi":
        return (f"The 'jacobi' relaxation did not converge in {info.iterations} iterations: it "
                f"takes depth(graph) = {info.depth} steps to settle; raise max_iters to at "
                f"least {info.depth}.")
    faster = "" if info.eta >= 1.0 else f", raise eta (now {info.eta:g}, at most 1)"
    return (f"The 'euler' relaxation did not converge in {info.iterations} iterations: the "
            f"residual max|dF/dv| fell from {first:.3g} to {last:.3g}, and every unit's "
            f"residual must reach tol={info.tol:g} times the size of its own error. Raise "
            f"max_iters{faster}, or loosen tol.")


def kernel_addresses(plan, kind):
    """The addresses of the ``kind`` ("rule" or "forward") kernels of every
    node of ``plan`` (0 where none is needed), compiling kernels on first use;
    kept on the plan. Rules are needed by nodes that carry an error, forward
    kernels by every non-leaf node."""
    key = ("kernels", kind)
    found = plan.relaxations.get(key)
    if found is None:
        t = plan.table
        needed = (t.op != LEAF) & ((t.eoff >= 0) if kind == "rule" else True)
        found = plan.relaxations[key] = kernels.addresses(kind, t.op, t.code, needed)
    return found


_sweep_address: list[int] = []


def sweep_address():
    """The address of settle_sweep's compiled code, through which the
    jacobi/euler loop reads its inputs out (compiled, or loaded from Numba's
    cache, unless a sweep gradient has run already)."""
    if not _sweep_address:
        with _first_call(settle_sweep, "the sweep loop"):
            _sweep_address.append(kernels.address_of(settle_sweep, kernels.SWEEP))
    return _sweep_address[0]


def _relaxation(plan, schedule, options):
    """A Relaxation of ``plan``, kept on the plan for options without arrays
    (it holds no state of a run, so calls and threads can share it)."""
    if options.get("precisions") is not None or options.get("free") is not None:
        return Relaxation(plan, schedule, **options)
    key = (schedule, tuple(options.items()))  # (lists come as tuples, see relax)
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
    ``options`` are Relaxation's, hashable (``named`` a tuple) unless they
    hold precisions or free inputs.
    """
    relaxation = _relaxation(plan, schedule, options)
    err = work = None
    if pooled:
        err = scratch("error", relaxation.error_size)
        if relaxation.schedule_id in (JACOBI, EULER):  # the others need no work buffer
            work = scratch("work", 2 * relaxation.error_size)
    return relaxation.run(value, target, err=err, work=work,
                          want_info=want_info) + (relaxation,)
