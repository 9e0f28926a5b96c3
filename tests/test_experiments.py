"""Every experiment's --quick run (experiments/run.py) trains and shows what it should:
losses fall, accuracy beats chance, PC gradients match backprop's within each
schedule's tolerance, learned precisions rank distractor inputs below real ones."""
import json
import math
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments import run  # noqa: E402

# How close each schedule's gradient must be to backprop's (relative error)
# during training: the exact schedules to rounding, converged euler to its
# tolerance, strict to O(beta), the fixed budget to what 100 steps reach on
# these shallow networks of marked layers.
TOLERANCE = {"sweep": 1e-12, "jacobi": 1e-12, run.EULER: 1e-4, run.STRICT: 1e-3,
             run.EULER_100: 0.05}
MODELS = ["mlp", "cnn", "lstm", "transformer"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Each experiment's --quick result, run once, written to a temporary directory."""
    cache = {}

    def result(name):
        if name not in cache:
            run.RESULTS = tmp_path_factory.mktemp("results")
            cache[name] = run.main([name, "--quick", "--no-progress"])[name]
            cache[name]["written"] = sorted(p.name for p in run.RESULTS.iterdir())
        return cache[name]
    return result


def assert_gradients_match_backprop(summary):
    for label, tolerance in TOLERANCE.items():
        if "max_relative_error" in summary[label]:
            assert summary[label]["max_relative_error"] < tolerance, label


@pytest.mark.parametrize("name", MODELS + ["mnist"])
def test_quick_run_writes_json_and_a_plot(results, name):
    assert results(name)["written"] == [f"{name}_quick.json", f"{name}_quick.png"]


@pytest.mark.parametrize("name", MODELS)
def test_pc_gradients_match_backprop_during_training(results, name):
    summary = results(name)["summary"]
    assert set(TOLERANCE) <= {label for label in summary if "max_relative_error" in summary[label]}
    assert_gradients_match_backprop(summary)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_trains_with_every_schedule(results, name):
    runs = results(name)["runs"]
    assert set(runs) == set(run.BASE)
    for label, seeds in runs.items():
        assert seeds and all(r["trained"] for r in seeds), label


@pytest.mark.parametrize("name", MODELS + ["mnist"])
def test_training_loss_falls_with_every_method_trained_for_all_the_steps(results, name):
    # (a method trained for fewer steps is compared with backprop at its step)
    result = results(name)
    for label, seeds in result["runs"].items():
        for r in seeds:
            if r["steps"] == result["config"]["steps"]:
                loss = r["train_loss"]
                assert sum(loss[-2:]) / 2 < loss[0], label


@pytest.mark.parametrize("name", ["lstm", "transformer"])
def test_a_method_trained_for_fewer_steps_is_compared_with_backprop_at_its_step(results, name):
    result = results(name)
    row = result["summary"][run.STRICT]
    assert row["steps"] == result["config"]["limited"][run.STRICT] < result["config"]["steps"]
    backprop = result["runs"]["backprop (autograd)"][0]
    assert row["backprop_at_same_step"]["test_loss"]["mean"] == run.at_step(
        backprop, row["steps"])["test_loss"]
    assert math.isclose(row["test_loss"]["mean"], row["backprop_at_same_step"]["test_loss"]["mean"],
                        abs_tol=1e-3)
    assert [len(r["train_loss"]) for r in result["runs"][run.STRICT]] == [row["steps"]]


def test_mnist_sample_is_read_without_the_network(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("the MNIST sample must not be downloaded")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    x_train, y_train, x_test, y_test = run.mnist()
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert sorted(set(y_test)) == list(range(10))


def test_mnist_small_beta_strict_follows_the_gradient_and_standard_pc_does_not(results):
    summary = results("mnist")["summary"]
    assert summary[run.STRICT]["max_relative_error"] < TOLERANCE[run.STRICT]
    # beta = 1 clamps the output to the target: a descent direction, not the gradient
    assert summary[run.PCX]["max_relative_error"] > 10 * TOLERANCE[run.STRICT]
    assert summary[run.PCX]["min_cosine"] > 0.5


@pytest.mark.parametrize("name, margin", [("mlp", 0.5), ("mnist", 0.3)])  # mnist: 6 steps
def test_mlps_beat_chance_by_a_margin_with_every_method(results, name, margin):
    for label, row in results(name)["summary"].items():
        assert row["test_accuracy"]["mean"] > margin, label  # chance: 0.1


def test_exact_schedules_train_exactly_like_backprop(results):
    summary = results("mlp")["summary"]
    backprop = summary["backprop (autograd)"]["test_loss"]["mean"]
    for label in ("sweep", "jacobi"):
        assert math.isclose(summary[label]["test_loss"]["mean"], backprop, rel_tol=1e-9)


@pytest.mark.parametrize("name", ["lstm", "transformer"])
def test_language_models_beat_the_uniform_guess(results, name):
    vocabulary = len(run.ALPHABET) + 1
    result = results(name)
    for label, row in result["summary"].items():
        if row["steps"] == result["config"]["steps"]:
            assert row["test_loss"]["mean"] < math.log(vocabulary) - 0.1, label


def test_learned_precisions_rank_distractor_inputs_below_real_ones(results):
    for condition, rows in results("precision")["summary"].items():
        for method in ("PC, no precisions", "PC, learned precisions"):
            assert rows[method]["real_above_distractor"] > 0.6, (condition, method)
            assert rows[method]["precision_real_over_distractor"] > 1.0, (condition, method)


def test_precision_experiment_accuracies_beat_chance(results):
    for condition, rows in results("precision")["summary"].items():
        for method, row in rows.items():
            assert row["test_accuracy_mean"] > 0.4, (condition, method)


def test_natural_gradient_reaches_the_target_before_sgd_and_adam(results):
    found = results("natural-gradient")["results"]
    steps = found["natural gradient"]["steps_to_1e-6"]
    assert math.isfinite(steps)
    assert all(steps < found[name]["steps_to_1e-6"] for name in ("SGD", "Adam"))


def test_precision_weighted_update_points_along_the_natural_gradient(results):
    cosine = results("natural-gradient")["results"]["natural gradient"][
        "cosine_with_exact_natural_gradient"]
    assert cosine["mean"] > 0.9


def test_a_diverging_strict_step_is_retried_with_half_the_step():
    import numpy
    task = run.Task("transformer", run.CONFIGS["transformer"]["quick"])
    params = task.init(numpy.random.default_rng(0))
    x, y = task.batch(numpy.random.default_rng(1000))
    strict = run.gradient_function(task, {**run.METHODS[run.STRICT], "eta": 0.4})
    _, grads = strict(params, x, y)
    assert strict.halvings >= 1  # 0.4 is past 2 / the largest curvature
    exact = run.gradient_function(task, None)(params, x, y)[1]
    assert run.compare(grads, exact, 0)["relative_error"] < TOLERANCE[run.STRICT]


def test_a_run_stopped_after_a_seed_keeps_that_seeds_result(tmp_path, monkeypatch):
    trained = run.train

    def train(task, label, seed, *rest):
        if seed == 1:
            raise KeyboardInterrupt  # stopped during the second seed
        return trained(task, label, seed, *rest)
    monkeypatch.setattr(run, "RESULTS", tmp_path)
    monkeypatch.setattr(run, "train", train)
    with pytest.raises(KeyboardInterrupt):
        run.main(["mlp", "--quick", "--seeds", "2", "--methods", "sweep", "--no-progress"])
    result = json.loads((tmp_path / "mlp_quick.json").read_text())
    assert result["seeds"] == [0]
    assert [r["seed"] for r in result["runs"]["sweep"]] == [0]
    assert result["summary"]["sweep"]["steps"] == result["config"]["steps"]


def test_a_method_run_on_fewer_seeds_is_compared_with_backprop_on_its_seeds():
    def one(seed, accuracy):
        return {"seed": seed, "trained": True, "steps": 2, "test_accuracy": accuracy,
                "test_loss": 1.0 - accuracy, "gradient_checks": [], "gradient_seconds": 1.0}
    runs = {"backprop (autograd)": [one(0, 0.5), one(1, 0.9), one(2, 0.7)],
            "sweep": [one(0, 0.5), one(1, 0.9)]}
    task = run.Task("mlp", {**run.CONFIGS["mlp"]["quick"], "steps": 2})
    row = run.summarise(runs, task, steps_per_epoch=1)["sweep"]
    assert row["seeds"] == [0, 1]
    assert row["backprop_on_same_seeds"]["test_accuracy"] == {"mean": 0.7, "std": 0.2}
    assert "backprop_on_same_seeds" not in run.summarise(runs, task, 1)["backprop (autograd)"]
    result = {"experiment": "mlp", "summary": {"sweep": row}}
    assert "(seeds 0, 1 only; backprop on them: 0.7000 ± 0.2000)" in run.report.model_table(result)
