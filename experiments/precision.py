"""Precision as attention: digits with distractor inputs, with and without noisy labels.

A softmax-linear classifier reads the 64 pixels (standardised) and 64
distractor features of pure noise with standard deviation ``NOISE`` (a
bias feature of ones besides). Its input activity and logits are pc_nodes
"x" and "y". Methods, same initialisation (zeros) and batches:

* backprop + SGD, backprop + Adam: autograd gradients;
* PC, no precisions: pcgrad gradients (sweep), SGD steps;
* PC, learned precisions: pcgrad gradients; a PrecisionLearner on "x" and
  "y"; pcgrad.optim.natural_gradient preconditions the weight gradient by
  the input activity's second moment and the learned output precision.

Each method takes its best learning rate from a small grid by final
training loss. Reported: test accuracy, and how the precisions learned on
the input node "x" rank real against distractor features (under the fixed
prediction assumption a node's precision converges to E[g^2], g the loss
gradient at that node, so it measures how much the trained network listens
to each input).
"""
import json

import autograd
import autograd.numpy as anp
import numpy
from tqdm import tqdm

import pcgrad
from pcgrad import nn, optim

NOISE = 3.0
CONFIGS = {"full": dict(steps=300, batch=64, grid=3), "quick": dict(steps=40, batch=64, grid=1)}
LRS = {"backprop + SGD": (3e-3, 1e-2, 3e-2), "backprop + Adam": (3e-3, 1e-2, 3e-2),
       "PC, no precisions": (3e-3, 1e-2, 3e-2), "PC, learned precisions": (0.3, 0.1, 1.0)}


def data(seed, noisy_labels):
    """Standardised digits plus distractors; 20% of training labels random if noisy."""
    from experiments.run import digits
    x_train, y_train, x_test, y_test = digits()
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-8
    rng = numpy.random.default_rng(100 + seed)

    def features(x):
        noise = NOISE * rng.standard_normal(x.shape)
        return numpy.hstack([(x - mean) / std, noise, numpy.ones((len(x), 1))])

    y_train = y_train.copy()
    if noisy_labels:
        flip = rng.random(len(y_train)) < 0.2
        y_train[flip] = rng.integers(0, 10, flip.sum())
    return features(x_train), y_train, features(x_test), y_test


def logits(w, x):
    return pcgrad.pc_node(pcgrad.pc_node(x, name="x") @ w, name="y")


def loss(w, x, labels):
    return nn.softmax_cross_entropy(logits(w, x), labels)


def reference_loss(w, x, labels):
    z = x @ w
    z = z - anp.max(z, axis=1, keepdims=True)
    logp = z - anp.log(anp.sum(anp.exp(z), axis=1, keepdims=True))
    return -anp.mean(anp.sum(logp * numpy.eye(10)[labels], axis=1))


# x differentiated too: its pc_node is then kept, with its value and error in info.
pc_value_and_grad = pcgrad.value_and_grad(loss, argnums=(0, 1), return_info=True)
backprop = autograd.value_and_grad(reference_loss)


def train(method, lr, x, y, seed, steps, batch):
    """(final weights, final training loss, learned precisions of "x" or None)."""
    w = numpy.zeros((x.shape[1], 10))
    rng = numpy.random.default_rng(seed)
    learner = pcgrad.PrecisionLearner(["x", "y"], lr=0.1)
    if method == "backprop + Adam":
        opt = optim.adam(lr)
    elif method == "PC, learned precisions":
        opt = optim.natural_gradient(lr, layers={0: ("x", "y")}, damping=0.1)
    else:
        opt = optim.sgd(lr)
    state = opt.init(w)
    for _ in range(steps):
        rows = rng.choice(len(x), batch, replace=False)
        if method.startswith("backprop"):
            value, g = backprop(w, x[rows], y[rows])
            w, state = opt.step(w, g, state)
            continue
        value, (g, _), info = pc_value_and_grad(w, x[rows], y[rows])
        learner.update(info)
        if method == "PC, learned precisions":
            w, state = opt.step(w, g, state, info, {"y": learner.precisions["y"]})
        else:
            w, state = opt.step(w, g, state)
    final = float(reference_loss(w, x, y))
    return w, final if numpy.isfinite(final) else numpy.inf, learner.precisions.get("x")


def ranking(precision):
    """Mean precision on real and distractor inputs, and the fraction of
    (real, distractor) pairs in which the real input has the larger precision."""
    real, distractor = precision[:64], precision[64:128]
    pairs = numpy.mean(real[:, None] > distractor[None, :])
    return {"mean_real": float(real.mean()), "mean_distractor": float(distractor.mean()),
            "real_above_distractor": float(pairs)}


def run(args, output_path, environment):
    config = CONFIGS["quick" if args.quick else "full"]
    seeds = range(args.seeds)
    results = {}
    total = 2 * len(seeds) * sum(len(lrs[:config["grid"]]) for lrs in LRS.values())
    with tqdm(total=total, desc="precision", unit="run", disable=args.no_progress) as progress:
        for condition, noisy in (("distractors", False), ("distractors + 20% noisy labels", True)):
            rows = {method: [] for method in LRS}
            for seed in seeds:
                x, y, x_test, y_test = data(seed, noisy)
                for method, lrs in LRS.items():
                    best = None
                    for lr in lrs[:config["grid"]]:
                        w, final, precision = train(method, lr, x, y, seed, config["steps"],
                                                    config["batch"])
                        if best is None or final < best[1]:
                            best = (w, final, precision, lr)
                        progress.update(1)
                    w, final, precision, lr = best
                    row = {"seed": seed, "lr": lr, "train_loss": final,
                           "test_accuracy": float(numpy.mean(
                               numpy.argmax(x_test @ w, axis=1) == y_test)),
                           "weight_norm_real": float(numpy.linalg.norm(w[:64])),
                           "weight_norm_distractor": float(numpy.linalg.norm(w[64:128]))}
                    if precision is not None:
                        row["input_precisions"] = ranking(precision)
                    rows[method].append(row)
            results[condition] = rows
    summary = {condition: {method: {
        "test_accuracy_mean": float(numpy.mean([r["test_accuracy"] for r in rs])),
        "test_accuracy_std": float(numpy.std([r["test_accuracy"] for r in rs])),
        **({"real_above_distractor": float(numpy.mean(
            [r["input_precisions"]["real_above_distractor"] for r in rs])),
            "precision_real_over_distractor": float(numpy.mean(
                [r["input_precisions"]["mean_real"] / r["input_precisions"]["mean_distractor"]
                 for r in rs]))} if "input_precisions" in rs[0] else {})}
        for method, rs in rows.items()} for condition, rows in results.items()}
    result = {"experiment": "precision", "quick": args.quick, "config": config,
              "noise_std": NOISE, "learning_rates": LRS, "summary": summary, "runs": results,
              "environment": environment()}
    output_path("precision", args.quick, "json").write_text(json.dumps(result, indent=1))
    plot(summary, output_path("precision", args.quick, "png"))
    for condition, rows in summary.items():
        print(condition)
        for method, row in rows.items():
            print(f"  {method}: {row}")
    return result


def plot(summary, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 3.8))
    conditions = list(summary)
    methods = list(summary[conditions[0]])
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        means = [summary[c][method]["test_accuracy_mean"] for c in conditions]
        stds = [summary[c][method]["test_accuracy_std"] for c in conditions]
        ax.bar(numpy.arange(len(conditions)) + k * width, means, width, yerr=stds, label=method)
    ax.set_xticks(numpy.arange(len(conditions)) + 0.4 - width / 2, conditions)
    ax.set(ylabel="test accuracy", ylim=(0, 1), title="digits with 64 noise features")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
