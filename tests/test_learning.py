"""Learning with predictive coding: learned precisions, optimisers, generative inference.

Under the fixed prediction assumption the settled error at a pc_node is the
gradient g of the loss with respect to that node's activity, whatever its
precision, so a PrecisionLearner's precision converges to the empirical
Fisher diag E[g g^T] (mean over the batch rows, over the stream of batches).
"""
import importlib.util
import math
import pathlib

import autograd
import autograd.numpy as anp
import numpy as onp
import pytest

import pcgrad
import pcgrad.numpy as np
from pcgrad import optim

ROOT = pathlib.Path(__file__).resolve().parents[1]
_rng = onp.random.default_rng(4)
W1, W2 = _rng.normal(size=(3, 4)), _rng.normal(size=(4, 2))
BATCH = 6
X, Y = _rng.normal(size=(BATCH, 3)), _rng.normal(size=(BATCH, 2))


def loss(w1, w2, x, y, np=np, mark=lambda h: pcgrad.pc_node(h, name="h")):
    """Mean over rows of 1/2 ||tanh(x w1) w2 - y||^2, the pre-activation h marked."""
    h = mark(x @ w1)
    return 0.5 * np.sum((np.tanh(h) @ w2 - y) ** 2) / x.shape[0]


def activity_gradient(x, y):
    """g = dL/dh per row, by autograd, with h an input of the rest of the network."""
    rest = lambda h: 0.5 * anp.sum((anp.tanh(h) @ W2 - y) ** 2) / x.shape[0]
    return autograd.grad(rest)(x @ W1)


def relaxation(x=X, y=Y, precisions=None, schedule="sweep"):
    """The RelaxInfo of one gradient of ``loss`` (w1, w2 differentiated)."""
    return pcgrad.grad(loss, argnums=(0, 1), precisions=precisions, schedule=schedule,
                       return_info=True)(W1, W2, x, y)[1]


# --- PrecisionLearner ---------------------------------------------------------------------

def test_the_settled_error_at_a_pc_node_is_the_loss_gradient_of_its_activity():
    onp.testing.assert_allclose(relaxation().errors["h"], activity_gradient(X, Y), rtol=1e-12)


@pytest.mark.parametrize("schedule", ["sweep", "jacobi"])
def test_precision_learner_on_one_batch_converges_to_the_mean_squared_activity_gradient(
        schedule):
    learner = pcgrad.PrecisionLearner(["h"], lr=0.5, damping=1e-8)
    for _ in range(80):
        learner.update(relaxation(precisions=learner.precisions, schedule=schedule))
    fisher = onp.mean(activity_gradient(X, Y) ** 2, axis=0) + 1e-8
    onp.testing.assert_allclose(learner.precisions["h"], fisher, rtol=1e-8)


def test_precision_learner_on_a_stream_of_batches_approaches_the_stream_fisher():
    rng = onp.random.default_rng(5)
    learner = pcgrad.PrecisionLearner(["h"], lr=0.02, damping=0.0)
    batch_fishers = []
    for _ in range(300):
        x, y = rng.normal(size=(64, 3)), rng.normal(size=(64, 2))
        learner.update(relaxation(x, y, precisions=learner.precisions))
        batch_fishers.append(onp.mean(activity_gradient(x, y) ** 2, axis=0))
    fisher = onp.mean(batch_fishers, axis=0)
    assert onp.max(onp.abs(learner.precisions["h"] / fisher - 1.0)) < 0.05


def test_the_first_update_sets_the_precision_to_the_batch_statistic():
    learner = pcgrad.PrecisionLearner(["h"], lr=0.1, damping=1e-3)
    learner.update(relaxation())
    onp.testing.assert_allclose(learner.precisions["h"],
                                onp.mean(activity_gradient(X, Y) ** 2, axis=0) + 1e-3,
                                rtol=1e-12)


def test_an_update_moves_the_precision_lr_of_the_way_to_the_batch_statistic():
    learner = pcgrad.PrecisionLearner(["h"], lr=0.25, damping=0.0)
    learner.precisions["h"] = onp.full(4, 2.0)
    learner.update(relaxation())
    stat = onp.mean(activity_gradient(X, Y) ** 2, axis=0)
    onp.testing.assert_allclose(learner.precisions["h"], 0.75 * 2.0 + 0.25 * stat,
                                rtol=1e-12)


def test_batch_axis_none_keeps_a_precision_per_element():
    learner = pcgrad.PrecisionLearner(["h"], lr=1.0, damping=0.0, batch_axis=None)
    learner.update(relaxation())
    onp.testing.assert_allclose(learner.precisions["h"], activity_gradient(X, Y) ** 2,
                                rtol=1e-12)


def test_update_without_recorded_errors_of_a_name_is_a_value_error_naming_it():
    learner = pcgrad.PrecisionLearner(["h", "missing"])
    with pytest.raises(ValueError, match=r"\['missing'\].*return_info=True"):
        learner.update(relaxation())


@pytest.mark.parametrize("lr", [0.0, -0.1, 1.5])
def test_a_learning_rate_outside_0_1_is_a_value_error(lr):
    with pytest.raises(ValueError, match="lr must be in"):
        pcgrad.PrecisionLearner(["h"], lr=lr)


# --- sgd and adam ------------------------------------------------------------------------------

PARAMS = {"w": onp.array([[1.0, -2.0], [0.5, 3.0]]), "b": (onp.array([0.1, 0.2]), 4.0)}
GRADS = {"w": onp.array([[0.5, 1.0], [-2.0, 0.0]]), "b": (onp.array([-1.0, 3.0]), 0.5)}


def leaves(tree):
    return [onp.asarray(v, float) for v in (tree["w"], *tree["b"])]


def test_sgd_step_subtracts_lr_times_the_gradient_leaf_by_leaf():
    opt = optim.sgd(0.1)
    params, state = opt.step(PARAMS, GRADS, opt.init(PARAMS))
    for p, p0, g in zip(leaves(params), leaves(PARAMS), leaves(GRADS)):
        onp.testing.assert_allclose(p, p0 - 0.1 * g, rtol=1e-15)
    assert state["count"] == 1


def test_sgd_step_keeps_the_params_pytree_structure():
    opt = optim.sgd(0.1)
    params, _ = opt.step(PARAMS, GRADS, opt.init(PARAMS))
    assert set(params) == {"w", "b"} and isinstance(params["b"], tuple)


def test_adam_first_step_moves_each_parameter_by_lr_against_its_gradients_sign():
    opt = optim.adam(0.01)
    params, _ = opt.step(PARAMS, GRADS, opt.init(PARAMS))
    for p, p0, g in zip(leaves(params), leaves(PARAMS), leaves(GRADS)):
        onp.testing.assert_allclose(p, p0 - 0.01 * g / (onp.abs(g) + 1e-8), rtol=1e-12)


def test_adam_two_steps_follow_the_bias_corrected_moment_estimates():
    lr, b1, b2, eps = 0.05, 0.8, 0.9, 1e-6
    opt = optim.adam(lr, b1, b2, eps)
    second = {"w": -GRADS["w"] * 0.5, "b": (GRADS["b"][0] + 1.0, 2.0)}
    params, state = opt.step(PARAMS, GRADS, opt.init(PARAMS))
    params, state = opt.step(params, second, state)
    for p, p0, g1, g2 in zip(leaves(params), leaves(PARAMS), leaves(GRADS), leaves(second)):
        expected = p0.copy()
        m = v = 0.0
        for t, g in ((1, g1), (2, g2)):
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            expected = expected - lr * (m / (1 - b1 ** t)) / (onp.sqrt(v / (1 - b2 ** t)) + eps)
        onp.testing.assert_allclose(p, expected, rtol=1e-12)
    assert state["count"] == 2


# --- natural gradient -----------------------------------------------------------------------------

_rng = onp.random.default_rng(6)
INPUTS = _rng.normal(size=(16, 3)) * onp.array([1.0, 5.0, 0.2])
GRAD_W = _rng.normal(size=(3, 2))


def test_precondition_with_a_diagonal_error_precision_is_cin_inverse_g_cerr_inverse():
    pi, d = onp.array([0.5, 4.0]), 1e-3
    c_in = INPUTS.T @ INPUTS / 16
    expected = onp.linalg.inv(c_in + d * onp.eye(3)) @ GRAD_W @ onp.linalg.inv(
        onp.diag(pi) + d * onp.eye(2))
    onp.testing.assert_allclose(optim.precondition(GRAD_W, INPUTS, pi, d), expected,
                                rtol=1e-10)


def test_precondition_with_a_full_error_precision_is_cin_inverse_g_cerr_inverse():
    c_err, d = onp.array([[2.0, 0.5], [0.5, 1.0]]), 0.1
    c_in = INPUTS.T @ INPUTS / 16
    expected = onp.linalg.inv(c_in + d * onp.eye(3)) @ GRAD_W @ onp.linalg.inv(
        c_err + d * onp.eye(2))
    onp.testing.assert_allclose(optim.precondition(GRAD_W, INPUTS, c_err, d), expected,
                                rtol=1e-10)


def test_precondition_flattens_leading_batch_axes_of_the_inputs():
    stacked = INPUTS.reshape(4, 4, 3)
    onp.testing.assert_allclose(optim.precondition(GRAD_W, stacked, onp.ones(2), 1e-3),
                                optim.precondition(GRAD_W, INPUTS, onp.ones(2), 1e-3))


def layer_loss(w, b, x, y):
    """A dense layer with named input and output activities; b is a plain leaf."""
    out = pcgrad.pc_node(pcgrad.pc_node(x, name="x") @ w, name="y") + b
    return 0.5 * np.sum((out - y) ** 2) / x.shape[0]


LAYER_Y = _rng.normal(size=(16, 2))


def layer_gradient():
    """((g_w, g_b), info); x is differentiated too so that its pc_node is kept."""
    (g_w, g_b, _), info = pcgrad.grad(layer_loss, argnums=(0, 1, 2), return_info=True)(
        GRAD_W, onp.zeros(2), INPUTS, LAYER_Y)
    return (g_w, g_b), info


def test_natural_gradient_step_preconditions_the_layer_with_the_given_output_precision():
    (g_w, g_b), info = layer_gradient()
    opt = optim.natural_gradient(0.5, layers={0: ("x", "y")}, damping=1e-2)
    pi = onp.array([0.3, 2.0])
    (w, b), _ = opt.step((GRAD_W, onp.zeros(2)), (g_w, g_b), opt.init(None), info, {"y": pi})
    onp.testing.assert_allclose(w, GRAD_W - 0.5 * optim.precondition(g_w, INPUTS, pi, 1e-2),
                                rtol=1e-12)
    onp.testing.assert_allclose(b, -0.5 * g_b, rtol=1e-12)  # not a layer: a plain step


def test_natural_gradient_without_precisions_uses_the_batch_second_moment_of_the_errors():
    (g_w, g_b), info = layer_gradient()
    opt = optim.natural_gradient(0.5, layers={0: ("x", "y")}, damping=1e-2)
    (w, _), _ = opt.step((GRAD_W, onp.zeros(2)), (g_w, g_b), opt.init(None), info)
    eps = info.errors["y"]
    onp.testing.assert_allclose(
        w, GRAD_W - 0.5 * optim.precondition(g_w, INPUTS, eps.T @ eps * 16, 1e-2), rtol=1e-12)


def test_natural_gradient_with_an_unrecorded_pc_node_is_a_value_error_naming_it():
    (g_w, g_b), info = layer_gradient()
    opt = optim.natural_gradient(0.5, layers={0: ("x", "hidden")})
    with pytest.raises(ValueError, match="'hidden'"):
        opt.step((GRAD_W, onp.zeros(2)), (g_w, g_b), opt.init(None), info)


def test_a_named_pc_node_on_a_data_argument_is_recorded_in_info_values():
    _, info = pcgrad.grad(layer_loss, argnums=(0, 1), return_info=True)(
        GRAD_W, onp.zeros(2), INPUTS, LAYER_Y)
    onp.testing.assert_allclose(info.values["x"], INPUTS)


def load_benchmark():
    spec = importlib.util.spec_from_file_location("natural_gradient_bench",
                                                  ROOT / "bench" / "natural_gradient.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_natural_gradient_reaches_the_loss_target_in_fewer_steps_than_best_tuned_sgd():
    """bench/natural_gradient.py, reduced: inputs scaled over one decade, small grids."""
    results = load_benchmark().compare(decades=1.0, budget=1000, quick=True)
    sgd_steps, natural_steps = results["sgd"][0], results["natural gradient"][0]
    assert sgd_steps is not None and math.isfinite(sgd_steps)
    assert natural_steps < sgd_steps / 10


# --- generative inference ---------------------------------------------------------------------

def linear_gaussian(latents, observations, seed):
    """(W, b, prior mean m, prior precision p, observation precision q, observation x);
    W is scaled so that the curvature of F in z leaves infer's default eta = 0.1 stable."""
    rng = onp.random.default_rng(seed)
    return (0.5 * rng.normal(size=(observations, latents)), rng.normal(size=observations),
            rng.normal(size=latents), rng.uniform(0.5, 2.0, size=latents),
            rng.uniform(0.5, 2.0, size=observations), rng.normal(size=observations))


def posterior_mode(w, m, p, q, x):
    """(diag(p) + W^T diag(q) W)^-1 (diag(p) m + W^T diag(q) x)."""
    return onp.linalg.solve(onp.diag(p) + w.T @ onp.diag(q) @ w,
                            p * m + w.T @ (q * x))


def observe(q):
    """The observation model, W and b clamped: the output pc_node carries q."""
    return lambda z, w, b: pcgrad.pc_node(w @ z + b, precision=q)


@pytest.mark.parametrize("latents, observations", [(2, 3), (3, 5), (4, 6)])
def test_infer_finds_the_linear_gaussian_posterior_mode(latents, observations):
    w, b, m, p, q, x = linear_gaussian(latents, observations, seed=latents)
    z = pcgrad.infer(observe(q), {"z": onp.zeros(latents)}, {"w": w, "b": b}, target=x,
                     prior={"z": (m, p)}, units="marked")["z"]
    onp.testing.assert_allclose(z, posterior_mode(w, m, p, q, x - b), rtol=1e-6, atol=1e-6)


def test_infer_without_a_prior_finds_the_weighted_least_squares_solution():
    w, b, _, _, q, x = linear_gaussian(2, 5, seed=7)
    z = pcgrad.infer(observe(q), {"z": onp.zeros(2)}, {"w": w, "b": b}, target=x,
                     units="marked")["z"]
    expected = onp.linalg.solve(w.T @ (q[:, None] * w), w.T @ (q * (x - b)))
    onp.testing.assert_allclose(z, expected, rtol=1e-6, atol=1e-6)


def test_infer_returns_only_the_free_inputs_with_their_dtype():
    w, b, m, p, q, x = linear_gaussian(2, 3, seed=8)
    inferred = pcgrad.infer(observe(q), {"z": onp.zeros(2)}, {"w": w, "b": b}, target=x,
                            prior={"z": (m, p)}, units="marked")
    assert list(inferred) == ["z"] and inferred["z"].dtype == onp.float64


def test_infer_with_return_info_reports_a_converged_relaxation():
    w, b, m, p, q, x = linear_gaussian(2, 3, seed=9)
    _, info = pcgrad.infer(observe(q), {"z": onp.zeros(2)}, {"w": w, "b": b}, target=x,
                           prior={"z": (m, p)}, units="marked", return_info=True)
    assert info.converged and info.schedule == "strict" and info.beta == 1.0


def test_infer_with_default_units_finds_the_linear_gaussian_posterior_mode():
    w, b, m, p, q, x = linear_gaussian(3, 5, seed=3)
    z = pcgrad.infer(observe(q), {"z": onp.zeros(3)}, {"w": w, "b": b}, target=x,
                     prior={"z": (m, p)})["z"]
    onp.testing.assert_allclose(z, posterior_mode(w, m, p, q, x - b), rtol=1e-6, atol=1e-6)


def test_infer_with_a_prior_for_an_unknown_name_is_a_value_error():
    w, b, m, p, q, x = linear_gaussian(2, 3, seed=10)
    with pytest.raises(ValueError, match=r"prior names \['u'\].*\(z\)"):
        pcgrad.infer(observe(q), {"z": onp.zeros(2)}, {"w": w, "b": b}, target=x,
                     prior={"u": (m, p)})
