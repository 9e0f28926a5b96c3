"""Natural-gradient steps from predictive-coding precisions vs best-tuned SGD and Adam.

    python bench/natural_gradient.py          # ~20 s; writes bench/results/natural_gradient.md
    python bench/natural_gradient.py --quick  # one problem, small grids, ~1 s; writes
                                              # bench/results/natural_gradient_quick.md

Problem: linear regression with badly scaled inputs. x in R^8 (batch 64, fixed
seed), column k scaled by logspace(0, decades)[k]; y = x @ W_true + 0.1 noise;
W has shape (8, 3); full-batch loss L(W) = mean over rows of 1/2 ||x W - y||^2.
The input activity and the output x @ W are pc_nodes named "x" and "y":

    prediction = pc_node(pc_node(x, name="x") @ W, name="y")

Every gradient is pcgrad.value_and_grad(..., return_info=True) (schedule "sweep"). The
natural-gradient optimiser preconditions it with C_in from info.values["x"]
and C_err from a PrecisionLearner on the errors of "y" (under the fixed
prediction assumption its precision converges to the empirical Fisher of the
output activity, E[g g^T]). That C_err shrinks with the residuals, so the damping
acts as a trust region near the optimum; it is tuned with the learning rate.

Metric: the number of steps after which the loss stays within 5% of the noise
floor (the least-squares minimum) for ``HOLD`` consecutive steps; a run that
blows up (non-finite or 1e6 times its initial loss) has no count. Each
optimiser gets its best learning rate from a log grid (natural gradient: the
best (lr, damping) pair); an optimiser that never reaches the target within the
step budget is reported as "> budget".
"""
import argparse
import math
import pathlib
import platform
import sys
import time

import numpy

import pcgrad
import pcgrad.numpy as np
from pcgrad import optim

HOLD = 50
TARGET = 1.05  # times the noise floor
RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def problem(decades, features=8, outputs=3, batch=64, noise=0.1, seed=0):
    """(x, y, floor): badly scaled inputs, noisy linear targets, least-squares loss floor."""
    rng = numpy.random.default_rng(seed)
    x = rng.normal(size=(batch, features)) * numpy.logspace(0, decades, features)
    y = x @ rng.normal(size=(features, outputs)) + noise * rng.normal(size=(batch, outputs))
    w = numpy.linalg.lstsq(x, y, rcond=None)[0]
    return x, y, 0.5 * numpy.mean(numpy.sum((x @ w - y) ** 2, axis=1))


def loss(w, x, y):
    """Mean over rows of 1/2 ||x W - y||^2, with the input and output activities named."""
    prediction = pcgrad.pc_node(pcgrad.pc_node(x, name="x") @ w, name="y")
    return 0.5 * np.sum((prediction - y) ** 2) / x.shape[0]


# x is differentiated too: a pc_node on an argument that is not differentiated is
# pruned from the graph and would be missing from info.values.
loss_and_grad = pcgrad.value_and_grad(loss, argnums=(0, 1), return_info=True)


def sgd(lr):
    opt = optim.sgd(lr)
    return lambda w, g, state, info: opt.step(w, g, state), opt.init


def adam(lr):
    opt = optim.adam(lr)
    return lambda w, g, state, info: opt.step(w, g, state), opt.init


def natural(lr, damping, learner_lr=0.3):
    """natural_gradient with C_err from a PrecisionLearner on the output errors."""
    opt = optim.natural_gradient(lr, layers={0: ("x", "y")}, damping=damping)
    learner = pcgrad.PrecisionLearner(["y"], lr=learner_lr)

    def step(w, g, state, info):
        learner.update(info)
        return opt.step(w, g, state, info, learner.precisions)
    return step, opt.init


def steps_to_target(optimizer, x, y, floor, budget):
    """(steps, loss / floor at the end): steps until the loss stays within TARGET * floor
    for HOLD steps; steps is None if the run blows up, math.inf if ``budget`` runs out."""
    step, init = optimizer
    w = numpy.zeros((x.shape[1], y.shape[1]))
    state = init(w)
    first, start = None, None
    for t in range(budget + HOLD):
        value, (g, _), info = loss_and_grad(w, x, y)
        start = value if start is None else start
        if not math.isfinite(value) or value > 1e6 * start:
            return None, math.inf
        if value <= TARGET * floor:
            first = t if first is None else first
            if t - first + 1 >= HOLD:
                return first, value / floor
        else:
            first = None
            if t >= budget:
                break
        w, state = step(w, g, state, info)
    return math.inf, value / floor


def best(make, grid, x, y, floor, budget):
    """(steps, loss / floor, setting) of the best setting in ``grid``.

    A run stops as soon as it can no longer beat the best so far, so the grid
    is cheap once one setting has finished. If none finishes, the setting with
    the lowest loss at the budget is reported, with steps math.inf."""
    found = (None, math.inf, None)
    for setting in grid:
        limit = budget if found[0] in (None, math.inf) else min(budget, found[0])
        steps, ratio = steps_to_target(make(*setting), x, y, floor, limit)
        if steps is None:
            continue
        if (found[0] is None or steps < found[0]
                or (steps == found[0] == math.inf and ratio < found[1])):
            found = (steps, ratio, setting)
    return found


def grids(quick=False):
    """Log grids of the settings tried for each optimiser."""
    lrs = lambda a, b, per_decade: [float(v) for v in numpy.logspace(
        a, b, int(round(abs(b - a) * per_decade)) + 1)]
    if quick:
        return {"sgd": [(lr,) for lr in lrs(-1, -3, 4)],
                "adam": [(lr,) for lr in lrs(0, -2, 2)],
                "natural gradient": [(lr, 0.1) for lr in lrs(-1.5, 0, 2)]}
    return {"sgd": [(lr,) for lr in lrs(0, -6, 4)],   # largest first: see best()
            "adam": [(lr,) for lr in lrs(1, -3, 4)],
            "natural gradient": [(lr, d) for d in (1e-2, 1e-1, 1.0) for lr in lrs(-3, 1, 2)]}


MAKERS = {"sgd": sgd, "adam": adam, "natural gradient": natural}


def compare(decades, budget, quick=False):
    """{optimiser: (steps, loss / floor, setting)}, inputs scaled over ``decades``."""
    x, y, floor = problem(decades)
    return {name: best(MAKERS[name], grid, x, y, floor, budget)
            for name, grid in grids(quick).items()}


def describe(steps, ratio, budget):
    if steps is None:
        return "diverged"
    return f"> {budget} (loss {ratio:.3g} x floor)" if steps == math.inf else str(steps)


def table(rows, budget):
    lines = ["| input scales | cond(x^T x) | optimiser | steps to 1.05 x floor | best setting |",
             "|---|---|---|---|---|"]
    for decades, cond, results in rows:
        for name, (steps, ratio, setting) in results.items():
            shown = ("—" if setting is None else
                     ", ".join(f"{k}={v:.3g}" for k, v in zip(("lr", "damping"), setting)))
            lines.append(f"| logspace(0, {decades:g}) | {cond:.3g} | {name} | "
                         f"{describe(steps, ratio, budget)} | {shown} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one problem, small grids")
    parser.add_argument("--budget", type=int, default=10000, help="step budget per run")
    args = parser.parse_args(argv)
    decades_list = (1.0,) if args.quick else (1.0, 1.5, 2.0)
    began = time.time()
    rows = []
    for decades in decades_list:
        x, _, _ = problem(decades)
        rows.append((decades, numpy.linalg.cond(x.T @ x), compare(decades, args.budget,
                                                                  args.quick)))
    text = table(rows, args.budget)
    print(text)
    seconds = time.time() - began
    print(f"\n{seconds:.1f} s")
    grid_lines = [f"- {name}: " + ", ".join(
        "(" + ", ".join(f"{v:.3g}" for v in setting) + ")" for setting in grid)
        for name, grid in grids(args.quick).items()]
    out = RESULTS / ("natural_gradient_quick.md" if args.quick else "natural_gradient.md")
    RESULTS.mkdir(exist_ok=True)
    command = "python bench/natural_gradient.py" + (" --quick" if args.quick else "")
    out.write_text("\n".join([
        "# Natural gradient from predictive-coding precisions vs tuned SGD and Adam", "",
        f"Produced by `{command}`; problem and metric in the script's docstring.",
        "Regression, x in R^8 with columns scaled by logspace(0, decades), W (8, 3), batch 64",
        "(the full data set), noise 0.1. Steps until the loss stays within "
        f"{TARGET} x the least-squares floor",
        f"for {HOLD} steps; budget {args.budget} steps per run. Natural gradient: "
        "`pcgrad.optim.natural_gradient`",
        "with C_in from the recorded input activity and C_err from "
        "`PrecisionLearner(['y'], lr=0.3)`.", "",
        text, "",
        "Settings tried (lr[, damping]):", *grid_lines, "",
        f"python {platform.python_version()}, numpy {numpy.__version__}, pcgrad "
        f"{pcgrad.__version__}; {seconds:.1f} s.", ""]))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
