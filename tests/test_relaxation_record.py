"""What a relaxation reports: the record of every iteration, the energy it
descends (strict) or not (the fixed prediction assumption), and its honesty
about non-finite slopes, convergence and divergence."""
import warnings

import autograd
import autograd.numpy as anp
import numpy as onp
import pytest

import pcgrad
import pcgrad.numpy as np
from pcgrad import relax as _relax_function  # noqa: F401  (pcgrad.relax is the function)
import sys

relax_module = sys.modules["pcgrad.relax"]
X = onp.array([0.5, -1.0, 2.0])


def mlp(w1, w2, x):
    h = pcgrad.pc_node(np.tanh(x @ w1), name="h")
    return np.sum(pcgrad.pc_node(h @ w2, name="out") ** 2)


def anp_mlp(w1, w2, x):
    return anp.sum(anp.dot(anp.tanh(anp.dot(x, w1)), w2) ** 2)


rng = onp.random.default_rng(1)
W1, W2, XB = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=(5, 3))
GRAPHS = {
    "chain": (lambda x: np.sum(np.sin(np.sin(x)) * x), (X,), {}),
    "mlp, marked units": (mlp, (W1, W2, XB), {"units": "marked"}),
    "millidge": (lambda y0, t: 0.5 * (1.0 - (np.tan(np.sqrt(y0 * t)) + np.sin(y0 ** 2))) ** 2,
                 (5.0, 2.0), {}),
}


# --- the record -------------------------------------------------------------------------

@pytest.mark.parametrize("schedule", ["sweep", "jacobi", "euler", "strict"])
def test_the_last_recorded_gradient_estimate_is_the_returned_gradient(schedule):
    f, args, options = GRAPHS["mlp, marked units"]
    extra = {"eta": 0.05, "beta": 0.01} if schedule == "strict" else {}
    (g1, g2), info = pcgrad.grad(f, argnums=(0, 1), schedule=schedule, return_info=True,
                                 record="errors", **options, **extra)(*args)
    record = info.record
    onp.testing.assert_array_equal(record.gradients[0][-1], g1)
    onp.testing.assert_array_equal(record.gradients[1][-1], g2)
    assert record.iterations[-1] == info.iterations


def test_the_record_keeps_every_units_error_and_its_norm_at_every_iteration():
    f, args, options = GRAPHS["chain"]
    _, info = pcgrad.grad(f, schedule="euler", eta=0.3, return_info=True, record="errors")(*args)
    record = info.record
    assert list(record.iterations) == list(range(info.iterations + 1))
    assert record.norms.shape == (info.iterations + 1, len(record.nodes))
    for k, errors in enumerate(record.errors):
        onp.testing.assert_allclose(onp.linalg.norm(errors.reshape(len(errors), -1), axis=1),
                                    record.norms[:, k], rtol=1e-12)
    assert set(record.nodes) <= set(pcgrad.trace(f, *args).nodes)


def test_jacobi_records_errors_arriving_one_unit_layer_per_iteration():
    f, args, _ = GRAPHS["chain"]
    graph = pcgrad.trace(f, *args)
    _, info = pcgrad.grad(f, schedule="jacobi", return_info=True, record="errors")(*args)
    record = info.record
    # a unit's error is nonzero from the iteration equal to its distance (in units) to the output
    import networkx as nx
    distance = nx.shortest_path_length(graph.nx.reverse(copy=True), graph.output)
    for k, node in enumerate(record.nodes):
        first = int(onp.flatnonzero(record.norms[:, k])[0])
        assert first == distance[node], node


def test_a_long_record_is_thinned_to_the_cap_keeping_the_first_and_last_iteration(monkeypatch):
    f, args, _ = GRAPHS["chain"]
    monkeypatch.setattr(relax_module, "RECORD_CAP", 400)
    g, info = pcgrad.grad(f, schedule="euler", eta=0.05, return_info=True, record="errors")(*args)
    record = info.record
    kept = list(record.iterations)
    assert kept[0] == 0 and kept[-1] == info.iterations
    assert record.errors is None  # 64 rows of every unit's error would not fit: norms only
    assert record.norms.size + sum(g.size for g in record.gradients) <= 400
    stride = kept[1] - kept[0]
    assert stride > 1 and all(k % stride == 0 for k in kept[:-1])
    onp.testing.assert_array_equal(record.gradients[0][-1], g)


def test_record_needs_return_info():
    with pytest.raises(ValueError, match=r"record='errors' keeps the relaxation in "
                       r"info.record; pass return_info=True too"):
        pcgrad.grad(lambda x: np.sum(x ** 2), record="errors")


def test_an_unknown_record_kind_is_rejected():
    with pytest.raises(ValueError, match="record must be None or 'errors'"):
        pcgrad.grad(lambda x: np.sum(x ** 2), return_info=True, record="values")


# --- which energy descends ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_strict_lowers_the_free_energy_at_every_step_for_a_small_eta(name):
    f, args, options = GRAPHS[name]
    if name == "chain":
        args = (X * 0.3,)
    _, info = pcgrad.grad(f, argnums=tuple(range(len(args))), schedule="strict", eta=0.02,
                          beta=0.1, return_info=True, **options)(*args)
    energy = info.energy
    assert info.converged and len(energy) > 10
    # F = squared errors + beta E never rises (beyond rounding)
    assert onp.all(onp.diff(energy) <= 1e-12 * onp.abs(energy[:-1]))
    assert energy[-1] < energy[0]


def test_strict_energy_is_the_squared_errors_plus_beta_times_the_output_energy():
    f, args, options = GRAPHS["millidge"]
    beta = 0.1
    _, info = pcgrad.grad(f, argnums=(0, 1), schedule="strict", eta=0.02, beta=beta,
                          return_info=True)(*args)
    # at iteration 0 only the output is nudged: F = beta * E(feed-forward output)
    assert info.squared_errors[0] == 0.0
    assert info.energy[0] == pytest.approx(beta * float(f(*args)), rel=1e-12)


@pytest.mark.parametrize("schedule", ["jacobi", "euler"])
def test_under_the_fpa_the_squared_errors_grow_while_the_residual_falls_to_zero(schedule):
    # the FPA error dynamics descend no energy: the errors fill the graph
    f, args, _ = GRAPHS["chain"]
    _, info = pcgrad.grad(f, schedule=schedule, return_info=True)(*args)
    assert info.energy is None
    assert info.squared_errors[-1] > info.squared_errors[0]
    assert info.residual[0] > 0 and info.residual[-1] <= 1e-10 * onp.max(onp.abs(
        pcgrad.grad(f)(*args))) * 10


# --- infinite slopes (issue: never a crash from a kernel) --------------------------------

CASES = {
    "sqrt at 0": (lambda x: np.sum(np.sqrt(x)), onp.array([0.0, 4.0]), "sqrt"),
    "log at 0": (lambda x: np.sum(np.log(x)), onp.array([0.0, 2.0]), "log"),
    "1/x at 0": (lambda x: np.sum(1.0 / x), onp.array([0.0, 2.0]), "divide"),
    "cbrt at 0": (lambda x: np.sum(np.cbrt(x)), onp.array([0.0, 8.0]), "cbrt"),
    "arcsin at 1": (lambda x: np.sum(np.arcsin(x)), onp.array([1.0, 0.5]), "arcsin"),
    "x ** 0.5 at 0": (lambda x: np.sum(x ** 0.5), onp.array([0.0, 4.0]), "power"),
    "reciprocal at 0": (lambda x: np.sum(np.reciprocal(x)), onp.array([0.0, 2.0]),
                        "reciprocal"),
    "norm of zeros": (lambda x: np.linalg.norm(x), onp.zeros(3), "sqrt"),
    "std of a constant": (lambda x: np.std(x), onp.full(3, 2.0), "sqrt"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_infinite_slope_gives_the_same_inf_or_nan_gradient_on_every_schedule(case):
    f, x, name = CASES[case]
    results = []
    for schedule in ("sweep", "jacobi", "euler"):
        with pytest.warns(RuntimeWarning, match=f"derivative of {name} is infinite"):
            results.append(pcgrad.grad(f, schedule=schedule)(x))
    with pytest.warns(RuntimeWarning, match=f"derivative of {name} is infinite"):
        results.append(pcgrad.jit(pcgrad.grad(f))(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        anp_f = {"sqrt at 0": lambda v: anp.sum(anp.sqrt(v)),
                 "log at 0": lambda v: anp.sum(anp.log(v)),
                 "1/x at 0": lambda v: anp.sum(1.0 / v),
                 "cbrt at 0": None,  # autograd has no cbrt derivative: 1/3 x^(-2/3)
                 "arcsin at 1": lambda v: anp.sum(anp.arcsin(v)),
                 "x ** 0.5 at 0": lambda v: anp.sum(v ** 0.5),
                 "reciprocal at 0": lambda v: anp.sum(anp.reciprocal(v)),
                 "norm of zeros": lambda v: anp.sqrt(anp.sum(v * v)),
                 "std of a constant": lambda v: anp.std(v)}[case]
        expected = autograd.grad(anp_f)(x) if anp_f else onp.abs(x) ** (-2.0 / 3.0) / 3.0
    assert not onp.all(onp.isfinite(expected))
    for g in results:  # the same inf and nan; euler's finite elements to its tolerance
        onp.testing.assert_allclose(g, expected, rtol=1e-8)


def test_a_nan_input_gives_a_nan_gradient_without_blaming_a_primitive():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = pcgrad.grad(lambda x: np.sum(x * 2.0))(onp.array([onp.nan, 1.0]))
    onp.testing.assert_array_equal(g, [2.0, 2.0])


# --- jacobi never reports a false divergence -----------------------------------------------

@pytest.mark.parametrize("f, x", [
    (lambda x: np.sum(np.sqrt(np.exp(x))), onp.array([19.0])),
    (lambda x: np.sum(1e-10 * (np.sin(x) * 1e10)), onp.array([0.3, 1.0])),
], ids=["large gradient", "tiny times huge"])
def test_jacobi_reaches_the_exact_gradient_where_it_used_to_report_divergence(f, x):
    g, info = pcgrad.grad(f, schedule="jacobi", return_info=True)(x)
    assert info.converged and not info.diverged
    onp.testing.assert_allclose(g, pcgrad.grad(f)(x), rtol=1e-12)


# --- messages that are true -------------------------------------------------------------------

def test_a_strict_relaxation_that_stops_early_reports_a_residual_above_its_threshold():
    f, args, _ = GRAPHS["millidge"]
    with pytest.warns(RuntimeWarning) as caught:
        _, info = pcgrad.grad(f, argnums=(0, 1), schedule="strict", eta=0.02, max_iters=5,
                              return_info=True, on_nonconvergence="warn")(*args)
    message = str(caught[0].message)
    assert "did not converge in 5 iterations" in message
    assert info.residual[-1] > info.threshold
    assert f"is {info.residual[-1]:.3g}, above tol times the first output error " \
           f"({info.threshold:.3g})" in message


def test_jacobi_cut_short_says_how_many_steps_it_needs():
    f, args, _ = GRAPHS["chain"]
    with pytest.raises(pcgrad.ConvergenceError,
                       match=r"takes depth\(graph\) = 4 steps to settle; raise max_iters to "
                             r"at least 4"):
        pcgrad.grad(f, schedule="jacobi", max_iters=2)(*args)


# --- the inputs: read out after the last step ---------------------------------------------

def _relaxed(f, args, options, schedule, budget, **extra):
    argnums = tuple(range(len(args)))
    return pcgrad.grad(f, argnums=argnums, schedule=schedule, max_iters=budget,
                       on_nonconvergence="ignore", return_info=True, **options, **extra)(*args)


@pytest.mark.parametrize("schedule", ["jacobi", "euler"])
@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_the_inputs_read_out_the_same_gradient_with_and_without_a_record_at_every_budget(
        graph, schedule):
    # without a record the inputs are sent to once, after the last step; a record reads
    # them at every step: the gradient, the steps and the updates agree at every budget
    f, args, options = GRAPHS[graph]
    depth = _relaxed(f, args, options, schedule, 1)[1].depth
    for budget in range(1, depth + 2):
        plain, info = _relaxed(f, args, options, schedule, budget)
        recorded, recorded_info = _relaxed(f, args, options, schedule, budget, record="errors")
        for a, b in zip(plain, recorded):
            onp.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
        assert (info.iterations, info.node_updates, info.converged) == (
            recorded_info.iterations, recorded_info.node_updates, recorded_info.converged)


def test_euler_reads_the_inputs_out_at_once():
    # at eta 1 an euler step is exact: sum(sin(sin(x)) * x) settles when the inner sine
    # has its error (step 3), and x reads its sum in that same step
    f, args, _ = GRAPHS["chain"]
    (x,) = args
    (g,), info = _relaxed(f, args, {}, "euler", 100, eta=1.0)
    exact = autograd.grad(lambda x: anp.sum(anp.sin(anp.sin(x)) * x))(x)
    onp.testing.assert_allclose(g, exact, rtol=1e-14, atol=0)
    assert info.converged and info.iterations == info.depth - 1 == 3


def test_jacobi_cut_short_reads_out_only_the_paths_shorter_than_its_steps():
    # sum(sin(sin(x)) * x): the direct path x -> * -> sum reaches x at step 2, the path
    # through both sines at step 4; in between x reads out d/dx of the product alone
    f, args, _ = GRAPHS["chain"]
    (x,) = args
    for budget, expected in ((1, 0.0 * x), (2, onp.sin(onp.sin(x))), (3, onp.sin(onp.sin(x))),
                             (4, autograd.grad(lambda x: anp.sum(anp.sin(anp.sin(x)) * x))(x))):
        (g,), _ = _relaxed(f, args, {}, "jacobi", budget)
        onp.testing.assert_allclose(g, expected, rtol=1e-14, atol=0)


def test_jacobi_steps_an_input_even_when_the_change_reaching_it_is_zero():
    # w -> C @ w -> tanh -> sum with C = 0: w's read-out is exactly zero, and it still
    # takes its step, so jacobi settles in depth steps
    c = onp.zeros((2, 3))
    g, info = pcgrad.grad(lambda w: np.sum(np.tanh(c @ w)), schedule="jacobi",
                          return_info=True)(onp.ones((3, 4)))
    onp.testing.assert_array_equal(g, onp.zeros((3, 4)))
    assert info.iterations == info.depth == 3 and info.converged


def test_euler_under_the_fpa_is_an_affine_map_that_is_no_gradient_flow():
    # x -> y1 = sin(x) -> y2 = sin(y1) -> out = sum(y2): with the output's error
    # clamped to 1, each euler step maps the interior errors (e1, e2) by
    #   e2 <- (1 - eta) e2 + eta * 1,   e1 <- (1 - eta) e1 + eta cos(y1) e2,
    # i.e. e <- M e + c with M = (1 - eta) I + eta A, A = [[0, cos y1], [0, 0]].
    # M has the double eigenvalue 1 - eta but is not diagonalizable (A != 0), so
    # no metric G makes G (I - M) symmetric: the dynamics are the gradient flow
    # of no energy. The recorded trajectory must follow exactly this map.
    x, eta = onp.array([0.7]), 0.5
    f = lambda v: np.sum(np.sin(np.sin(v)))  # noqa: E731
    _, info = pcgrad.grad(f, schedule="euler", eta=eta, return_info=True, record="errors")(x)
    graph = pcgrad.trace(f, x)
    names = {node: graph.nx.nodes[node]["primitive"] for node in info.record.nodes}
    sines = [k for k, node in enumerate(info.record.nodes) if names[node] == "sin"]
    e1, e2 = (info.record.errors[k][:, 0] for k in sines)  # topological order: y1, y2
    jacobian = onp.cos(onp.sin(x[0]))
    M = onp.array([[1 - eta, eta * jacobian], [0.0, 1 - eta]])
    for t in range(1, 4):  # from the first step on, every unit is updated
        expected = M @ onp.array([e1[t], e2[t]]) + onp.array([0.0, eta])
        onp.testing.assert_allclose([e1[t + 1], e2[t + 1]], expected, rtol=1e-14)
    assert onp.linalg.matrix_rank(M - (1 - eta) * onp.eye(2)) == 1  # a Jordan block
