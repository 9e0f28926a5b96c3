"""pcgrad.compare: one function, written once, run under pcgrad and other engines.

The references are autograd (an independent engine) and hand-made wrong
gradients, whose differences from the right one are known in closed form.
"""
import contextlib
import importlib.util
import io
import sys

import autograd
import autograd.numpy as anp
import numpy as onp
import pytest

import pcgrad
import pcgrad.numpy as pnp
from pcgrad.compare import Comparison


def mlp(params, x, np=pnp):
    W, b = params["W"], params["b"]
    return np.sum(np.tanh(x @ W + b) ** 2) / x.shape[0]


RNG = onp.random.default_rng(0)
PARAMS = {"W": RNG.normal(size=(3, 4)), "b": RNG.normal(size=4)}
X = RNG.normal(size=(5, 3))


def exact_gradient():
    return autograd.grad(lambda p: mlp(p, X, np=anp))(PARAMS)


def test_agreement_with_autograd_is_reported_for_each_input_and_schedule():
    out = io.StringIO()
    result = pcgrad.compare(mlp, PARAMS, X, against=["autograd"], file=out)
    assert isinstance(result, Comparison) and result.ok
    assert [(r.input, r.schedule) for r in result.rows] == [
        (name, s) for name in ("args[0]['W']", "args[0]['b']")
        for s in ("sweep", "jacobi", "euler")]
    assert all(r.reference == "autograd" and r.cosine == pytest.approx(1.0) for r in result.rows)
    assert max(r.max_rel for r in result.rows if r.schedule != "euler") < 1e-12
    assert max(r.max_rel for r in result.rows) < 1e-6  # euler settles to its tol
    text = out.getvalue()
    assert "args[0]['W']" in text and "all gradients agree" in text and "MISMATCH" not in text


def test_a_wrong_reference_is_reported_as_a_mismatch_with_its_numbers():
    g = exact_gradient()
    wrong = lambda p, x: {"W": -g["W"], "b": 2 * g["b"]}  # noqa: E731
    out = io.StringIO()
    result = pcgrad.compare(mlp, PARAMS, X, against=[("wrong", wrong)], schedules=["jacobi"],
                            file=out)
    assert not result.ok
    w, b = result.rows
    assert not w.agree and not b.agree
    # -g: |g - (-g)| = 2|g|, relative to max|g|: 2; opposite directions
    assert w.max_rel == pytest.approx(2.0) and w.cosine == pytest.approx(-1.0)
    assert w.max_abs == pytest.approx(2 * onp.abs(g["W"]).max())
    # 2g: |g - 2g| / max|2g| = 1/2; same direction
    assert b.max_rel == pytest.approx(0.5) and b.cosine == pytest.approx(1.0)
    assert "NO: MISMATCH" in out.getvalue() and "MISMATCH: some gradients differ" in out.getvalue()


def test_references_are_matched_by_key_not_by_order():
    g = exact_gradient()
    reordered = lambda p, x: {"b": g["b"], "W": g["W"]}  # noqa: E731 (as JAX sorts dict keys)
    assert pcgrad.compare(mlp, PARAMS, X, against=[("reordered", reordered)], file=None).ok


def test_several_arguments_are_compared_leaf_by_leaf():
    f = lambda w, x, np=pnp: np.sum(np.sin(x @ w))  # noqa: E731
    w, x = RNG.normal(size=(3, 2)), RNG.normal(size=(4, 3))
    result = pcgrad.compare(f, w, x, argnums=(0, 1), against=["autograd"],
                            schedules=["sweep"], file=None)
    assert result.ok and [r.input for r in result.rows] == ["args[0]", "args[1]"]


def test_iterations_and_first_call_are_reported_apart():
    result = pcgrad.compare(mlp, PARAMS, X, against=["autograd"], schedules=["jacobi"],
                            repeat=2, file=None)
    depth = pcgrad.grad(mlp, schedule="jacobi", return_info=True)(PARAMS, X)[1].depth
    assert {r.iterations for r in result.rows} == {depth}
    assert [t.engine for t in result.timings] == ["pcgrad jacobi", "autograd"]
    assert all(t.first > 0 and t.per_call > 0 for t in result.timings)
    assert "first call" in str(result) and "per call" in str(result)


def test_the_report_goes_to_sys_stdout_as_it_is_when_compare_prints():
    # pcgrad.compare is imported (above) before stdout is redirected
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = pcgrad.compare(mlp, PARAMS, X, schedules=("sweep",), repeat=1,
                                against=[("autograd", lambda p, x: exact_gradient())])
    assert printed.getvalue() == f"{result}\n"


def test_a_missing_engine_is_skipped_with_a_one_line_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # import jax now raises ImportError
    out = io.StringIO()
    result = pcgrad.compare(mlp, PARAMS, X, against=["autograd", "jax"], schedules=["sweep"],
                            file=out)
    assert result.ok and {r.reference for r in result.rows} == {"autograd"}
    assert "not installed" in result.skipped["jax"]
    notes = [line for line in out.getvalue().splitlines() if line.strip().startswith("jax:")]
    assert notes == ['  jax: skipped (not installed: pip install "jax[cpu]")']


def test_every_installed_engine_agrees():
    result = pcgrad.compare(mlp, PARAMS, X, schedules=["sweep"], file=None)
    for engine in ("autograd", "jax"):
        ran = any(r.reference.startswith(engine) for r in result.rows)
        assert ran == (importlib.util.find_spec(engine) is not None)
        assert ran != (engine in result.skipped)
    assert result.ok


def test_a_function_without_an_np_parameter_runs_under_pcgrad_only():
    f = lambda x: pnp.sum(pnp.exp(x))  # noqa: E731
    result = pcgrad.compare(f, onp.ones(2), against=["autograd"], file=None)
    assert result.rows == [] and not result.ok
    assert "no np parameter" in result.skipped["autograd"]
    assert len(result.timings) == 3  # pcgrad's schedules still ran
    assert "nothing to compare" in str(result)


def test_an_unknown_engine_is_an_error():
    with pytest.raises(ValueError, match="knows the engines 'autograd', 'jax'"):
        pcgrad.compare(mlp, PARAMS, X, against=["torch"], file=None)


def test_a_reference_of_another_shape_is_an_error():
    with pytest.raises(ValueError, match="must return the gradient of the same arguments"):
        pcgrad.compare(lambda x, np=pnp: np.sum(x), onp.ones(3),
                       against=[("short", lambda x: onp.ones(2))], file=None)


# --- another engine's traced values in pcgrad.numpy -------------------------------------

def test_a_pcgrad_numpy_function_refuses_an_autograd_box():
    f = lambda x: pnp.sum(pnp.tanh(x) ** 2)  # noqa: E731
    with pytest.raises(TypeError, match="another engine's traced value"):
        autograd.grad(f)(onp.array([0.5, 1.0]))


def test_a_pcgrad_numpy_function_refuses_a_box_inside_a_list():
    f = lambda x: pnp.sum(pnp.stack([x, x]))  # noqa: E731
    with pytest.raises(TypeError, match="autograd.numpy"):
        autograd.grad(f)(onp.array([0.5, 1.0]))


def test_a_function_written_with_np_runs_under_autograd_with_its_numpy():
    x = onp.array([0.5, 1.0])
    g = autograd.grad(lambda x: mlp({"W": onp.eye(2), "b": onp.zeros(2)}, x[None], np=anp))(x)
    t = onp.tanh(x)
    assert onp.allclose(g, 2 * t * (1 - t ** 2))


def test_plain_numpy_inputs_still_work_and_other_type_errors_are_numpys():
    assert pnp.sum(pnp.tanh(onp.zeros(3))) == 0.0
    with pytest.raises(TypeError, match="not supported for the input types"):
        pnp.tanh("text")
