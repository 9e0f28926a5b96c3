"""Natural gradient from predictive-coding precisions on correlated linear regression.

x ~ N(0, S) in R^8 with S = Q diag(logspace(0, 2)) Q^T (condition number 100,
Q a random rotation), 256 rows, y = x W_true exactly (W (8, 3)); loss
L(W) = mean over rows of 1/2 ||x W - y||^2, which has minimum 0. For this
Gaussian model the Fisher is C_in (x) I with C_in = x^T x / rows, so the
exact natural gradient is F^-1 g = C_in^-1 g.

The precision-weighted update is pcgrad.optim.natural_gradient's:
(C_in + d I)^-1 g (C_err + d I)^-1, C_in from the recorded input activity
(pc_node "x"), C_err the precision a PrecisionLearner learns on the output
errors (pc_node "y"). Reported: its cosine with F^-1 g along the natural
gradient run, and the steps until the loss is below 1e-6 for natural
gradient, SGD and Adam, each with its best learning rate from a grid.
"""
import json
import math

import numpy
from tqdm import tqdm

import pcgrad
import pcgrad.numpy as np
from pcgrad import optim

TARGET = 1e-6
CONFIGS = {"full": dict(budget=5000, grid=9), "quick": dict(budget=300, grid=2)}
# (learning rate, damping); the damping only matters to natural gradient. The
# learned output precision shrinks with the errors, so the damping bounds the step.
GRIDS = {"natural gradient": [(lr * d, d) for d in (1e-3, 1e-2, 1e-1) for lr in (1.0, 0.5, 0.25)],
         "SGD": [(lr, 0.0) for lr in (0.03, 0.01, 0.02, 0.005, 0.015, 0.003, 0.001, 0.002,
                                      0.0005)],
         "Adam": [(lr, 0.0) for lr in (0.1, 0.03, 0.3, 0.01, 0.05, 0.003, 0.2, 0.02, 0.005)]}


def problem(seed=0, rows=256, features=8, outputs=3):
    rng = numpy.random.default_rng(seed)
    q, _ = numpy.linalg.qr(rng.standard_normal((features, features)))
    scales = numpy.sqrt(numpy.logspace(0, 2, features))
    x = rng.standard_normal((rows, features)) * scales @ q.T
    return x, x @ rng.standard_normal((features, outputs))


def loss(w, x, y):
    prediction = pcgrad.pc_node(pcgrad.pc_node(x, name="x") @ w, name="y")
    return 0.5 * np.sum((prediction - y) ** 2) / x.shape[0]


loss_and_grad = pcgrad.value_and_grad(loss, argnums=(0, 1), return_info=True)


def run_one(method, lr, damping, x, y, budget):
    """(steps to TARGET or math.inf, cosines of the NG update with F^-1 g)."""
    w = numpy.zeros((x.shape[1], y.shape[1]))
    c_in = x.T @ x / len(x)
    learner = pcgrad.PrecisionLearner(["y"], lr=0.3)
    opt = {"natural gradient": lambda: optim.natural_gradient(lr, {0: ("x", "y")}, damping),
           "SGD": lambda: optim.sgd(lr), "Adam": lambda: optim.adam(lr)}[method]()
    state, cosines = opt.init(w), []
    for step in range(budget):
        value, (g, _), info = loss_and_grad(w, x, y)
        if not math.isfinite(value) or value > 1e8:
            return math.inf, cosines
        if value < TARGET:
            return step, cosines
        if method == "natural gradient":
            learner.update(info)
            update = optim.precondition(g, x, learner.precisions["y"], damping)
            exact = numpy.linalg.solve(c_in, g)
            cosines.append(float(numpy.sum(update * exact) / (
                numpy.linalg.norm(update) * numpy.linalg.norm(exact))))
            w, state = opt.step(w, g, state, info, learner.precisions)
        else:
            w, state = opt.step(w, g, state)
    return math.inf, cosines


def run(args, output_path, environment):
    config = CONFIGS["quick" if args.quick else "full"]
    x, y = problem()
    results = {}
    with tqdm(total=len(GRIDS) * config["grid"], desc="natural-gradient", unit="run",
              disable=args.no_progress) as progress:
        for method, grid in GRIDS.items():
            tried = []
            for lr, damping in grid[:config["grid"]]:
                steps, cosines = run_one(method, lr, damping, x, y, config["budget"])
                tried.append({"lr": lr, "damping": damping, "steps": steps, "cosines": cosines})
                progress.update(1)
            best = min(tried, key=lambda t: t["steps"])
            results[method] = {"best_lr": best["lr"], "best_damping": best["damping"],
                               "steps_to_1e-6": best["steps"],
                               "tried": [{k: t[k] for k in ("lr", "damping", "steps")}
                                         for t in tried]}
            if method == "natural gradient":
                results[method]["cosine_with_exact_natural_gradient"] = {
                    "min": min(best["cosines"]), "mean": float(numpy.mean(best["cosines"])),
                    "per_step": best["cosines"]}
    result = {"experiment": "natural-gradient", "quick": args.quick, "config": config,
              "condition_number": float(numpy.linalg.cond(x.T @ x)),
              "results": results, "environment": environment()}
    text = json.dumps(result, indent=1).replace("Infinity", '"inf"')
    output_path("natural_gradient", args.quick, "json").write_text(text)
    plot(results, output_path("natural_gradient", args.quick, "png"))
    for method, row in results.items():
        print(method, row["best_lr"], row["steps_to_1e-6"])
    return result


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    cos = results["natural gradient"]["cosine_with_exact_natural_gradient"]["per_step"]
    left.plot(cos)
    left.set(xlabel="step", ylabel="cosine", title="precision-weighted update vs F^-1 g")
    names = list(results)
    steps = [results[n]["steps_to_1e-6"] for n in names]
    shown = [s if math.isfinite(s) else 0 for s in steps]
    bars = right.bar(names, shown)
    for bar, s in zip(bars, steps):
        right.annotate("not reached" if not math.isfinite(s) else str(s),
                       (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                       ha="center", va="bottom")
    right.set(ylabel="steps to loss < 1e-6", title="best learning rate of each")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
