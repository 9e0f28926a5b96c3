"""The tables of docs/experiments.md, from the JSON results of experiments/run.py.

    python experiments/report.py        # prints Markdown for every result present
"""
import json
import math
import pathlib

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def _load(stem):
    path = RESULTS / f"{stem}.json"
    return json.loads(path.read_text()) if path.exists() else None


def model_table(result):
    """One row per method: test metric (mean ± std over seeds) after its steps,
    gradient agreement with backprop during training, gradient time relative
    to backprop. A method trained for fewer steps (or seeds) than the others
    shows backprop's metric at its step (on its seeds) beside its own."""
    accuracy = result["experiment"] in ("mlp", "mnist", "cnn")
    key = "test_accuracy" if accuracy else "test_loss"
    lines = [f"| method | steps | {'test accuracy' if accuracy else 'test cross-entropy (nats/char)'} "
             "| min cosine to backprop | max relative error | gradient time / backprop |",
             "|---|---|---|---|---|---|"]
    for label, row in result["summary"].items():
        if "error" in row:
            lines.append(f"| {label} | {row['steps']} | {row['error'].split(' (')[0]} "
                         "| — | — | — |")
            continue
        metric = row[key]
        shown = f"{metric['mean']:.4f} ± {metric['std']:.4f}"
        if "backprop_at_same_step" in row:
            same = row["backprop_at_same_step"][key]
            shown += f" (backprop at step {row['steps']}: {same['mean']:.4f} ± {same['std']:.4f})"
        if "backprop_on_same_seeds" in row:
            same = row["backprop_on_same_seeds"][key]
            seeds = ", ".join(str(seed) for seed in row["seeds"])
            many = len(row["seeds"]) > 1
            shown += (f" (seed{'s' if many else ''} {seeds} only; backprop on "
                      f"{'them' if many else 'it'}: {same['mean']:.4f} ± {same['std']:.4f})")
        cosine = f"{row['min_cosine']:.10f}" if "min_cosine" in row else "(reference)"
        error = f"{row['max_relative_error']:.1e}" if "max_relative_error" in row else "—"
        lines.append(f"| {label} | {row['steps']} | {shown} | {cosine} | {error} | "
                     f"{row['time_relative_to_backprop']:.2f} |")
    return "\n".join(lines)


def test_curve(result, label="backprop (autograd)"):
    """``label``'s test metric (mean over seeds) at each evaluated step: how
    close to convergence the runs end."""
    accuracy = result["experiment"] in ("mlp", "mnist", "cnn")
    key = "test_accuracy" if accuracy else "test_loss"
    runs = result["runs"][label]
    steps = [point["step"] for point in runs[0]["test_curve"]]
    means = [sum(r["test_curve"][k][key] for r in runs) / len(runs) for k in range(len(steps))]
    shown = ", ".join(f"{step}: {mean:.4f}" for step, mean in zip(steps, means))
    return f"{label}, test {'accuracy' if accuracy else 'cross-entropy'} by step: {shown}"


def precision_table(result):
    lines = ["| condition | method | test accuracy | real > distractor precision (pairs) "
             "| mean precision real / distractor |", "|---|---|---|---|---|"]
    for condition, rows in result["summary"].items():
        for method, row in rows.items():
            ranked = (f"{row['real_above_distractor']:.3f} | "
                      f"{row['precision_real_over_distractor']:.2f}"
                      if "real_above_distractor" in row else "— | —")
            lines.append(f"| {condition} | {method} | {row['test_accuracy_mean']:.4f} ± "
                         f"{row['test_accuracy_std']:.4f} | {ranked} |")
    return "\n".join(lines)


def natural_gradient_table(result):
    lines = ["| optimiser | best learning rate | steps to loss < 1e-6 |", "|---|---|---|"]
    for method, row in result["results"].items():
        steps = row["steps_to_1e-6"]
        shown = f"not reached in {result['config']['budget']}" if (
            steps == "inf" or (isinstance(steps, float) and math.isinf(steps))) else steps
        damping = f" (damping {row['best_damping']:g})" if row.get("best_damping") else ""
        lines.append(f"| {method} | {row['best_lr']:g}{damping} | {shown} |")
    cosine = result["results"]["natural gradient"]["cosine_with_exact_natural_gradient"]
    lines.append("")
    lines.append(f"Cosine of the precision-weighted update with F^-1 g over the natural-gradient "
                 f"run: mean {cosine['mean']:.4f}, min {cosine['min']:.4f} (condition number "
                 f"of x^T x: {result['condition_number']:.0f}).")
    return "\n".join(lines)


def dask_table():
    lines = ["| gradients computed | gradient seconds per epoch (sweep) |", "|---|---|"]
    found = False
    for stem, label in (("mlp", "in process (the mlp run, mean of 3 seeds)"),
                        ("mlp_dask_1", "dask, 1 worker"), ("mlp_dask_2", "dask, 2 workers")):
        result = _load(stem)
        if result:
            found = True
            seconds = result["summary"]["sweep"]["gradient_seconds_per_epoch"]
            lines.append(f"| {label} | {seconds:.2f} |")
    return "\n".join(lines) if found else ""


def markdown():
    parts = []
    for stem in ("mlp", "mnist", "cnn", "lstm", "transformer"):
        result = _load(stem)
        if result:
            parts += [f"### {stem}", "", model_table(result), ""]
            if "test_curve" in result["runs"]["backprop (autograd)"][0]:
                parts += [test_curve(result), ""]
    for stem, table in (("precision", precision_table),
                        ("natural_gradient", natural_gradient_table)):
        result = _load(stem)
        if result:
            parts += [f"### {stem}", "", table(result), ""]
    dask = dask_table()
    if dask:
        parts += ["### dask", "", dask, ""]
    return "\n".join(parts)


if __name__ == "__main__":
    print(markdown())
