"""Precisions on pc_nodes: eps = Pi (mu - v).

Under the fixed prediction assumption the settled errors are the gradient
whatever the precisions (sweep and jacobi take unit steps; euler's rate per
node is eta * Pi, so eta * Pi = 1 settles fastest and eta * Pi >= 2 diverges).
In strict mode the precisions weight the energy being minimised, so they
change the result at finite beta.
"""
import numpy as onp
import pytest

import pcgrad
import pcgrad.numpy as np
from pc_models import (MILLIDGE_DY0, MLP_PARAMS, MLP_Y, THETA, Y0, millidge,
                       millidge_settled_energy_derivative, mlp, pc_mark)

DIAGONAL = onp.random.default_rng(2).uniform(0.3, 1.9, size=4)  # per hidden unit
EXACT_OPTIONS = {"sweep": {}, "jacobi": {}, "euler": {"tol": 1e-13}}


def gradient(net, schedule, units, **options):
    return pcgrad.grad(net, argnums=(0, 1), target=MLP_Y, schedule=schedule, units=units,
                       **EXACT_OPTIONS[schedule], **options)(*MLP_PARAMS)


def assert_unchanged(g, reference):
    for a, b in zip(g, reference):
        onp.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


# --- the FPA equilibrium does not depend on precisions ----------------------------------------

@pytest.mark.parametrize("units", ["all", "marked"])
@pytest.mark.parametrize("precision", [3.0, DIAGONAL], ids=["scalar", "diagonal"])
@pytest.mark.parametrize("schedule", ["sweep", "jacobi", "euler"])
def test_pc_node_precisions_leave_the_fpa_gradient_unchanged(schedule, precision, units):
    weighted = lambda w1, w2: mlp(w1, w2, mark=pc_mark(precision))
    assert_unchanged(gradient(weighted, schedule, units), gradient(mlp, schedule, units))


@pytest.mark.parametrize("units", ["all", "marked"])
@pytest.mark.parametrize("precision", [0.4, DIAGONAL], ids=["scalar", "diagonal"])
@pytest.mark.parametrize("schedule", ["sweep", "jacobi", "euler"])
def test_precisions_argument_leaves_the_fpa_gradient_unchanged(schedule, precision, units):
    g = gradient(mlp, schedule, units, precisions={"a": precision, "h": 2 * precision})
    assert_unchanged(g, gradient(mlp, schedule, units))


# --- euler: the rate of each node is eta * Pi ---------------------------------------------------

X = onp.array([0.3, -0.7, 1.1])


def chain(x, precision=None, length=4):
    """Four pc_nodes in a chain, h_k = 1.5 sin(h_{k-1}), all with ``precision``."""
    h = x
    for k in range(length):
        h = pcgrad.pc_node(1.5 * np.sin(h), name=f"h{k}", precision=precision)
    return np.sum(h)


def euler_iterations(precision, eta=0.5):
    _, info = pcgrad.grad(lambda x: chain(x, precision), schedule="euler", eta=eta,
                          units="marked", return_info=True)(X)
    assert info.converged
    return info.iterations


def test_euler_at_eta_half_converges_in_fewer_iterations_with_precision_2_than_1():
    assert euler_iterations(2.0) < euler_iterations(1.0)


def test_euler_with_eta_times_precision_1_settles_within_depth_plus_one_iterations():
    assert euler_iterations(2.0) <= 4 + 1  # four units in the chain, as jacobi


def test_euler_at_eta_half_takes_more_iterations_with_precision_half_than_1():
    assert euler_iterations(0.5) > euler_iterations(1.0)


def test_euler_iterations_scale_like_one_over_precision_for_small_rates():
    ratio = euler_iterations(0.25) / euler_iterations(0.5)
    assert 1.6 < ratio < 2.4


def test_precisions_argument_overrides_the_pc_nodes_own_precision():
    """Euler's iteration count tells which precision was used."""
    run = lambda net, **options: pcgrad.grad(net, schedule="euler", eta=0.5, units="marked",
                                             return_info=True, **options)(X)[1].iterations
    assert run(lambda x: chain(x, 0.5), precisions={f"h{k}": 2.0 for k in range(4)}) \
        == run(lambda x: chain(x, 2.0))


@pytest.mark.parametrize("precision", [4.0, 5.0, 8.0])
def test_euler_with_eta_times_precision_at_least_2_is_rejected_before_relaxing(precision):
    # each step multiplies a unit's distance from equilibrium by |1 - eta Pi| >= 1
    with pytest.raises(ValueError, match="eta times a unit's precision is 2 or more"):
        pcgrad.grad(lambda x: chain(x, precision), schedule="euler", eta=0.5,
                    units="marked")(X)


def test_euler_rejection_of_a_large_precision_says_which_eta_would_converge():
    with pytest.raises(ValueError, match=r"got eta=0.5 and a precision of 5\. Use eta < 0.4"):
        pcgrad.grad(lambda x: chain(x, 5.0), schedule="euler", eta=0.5, units="marked")(X)


def test_euler_with_eta_times_precision_between_1_and_2_oscillates_but_converges():
    # each step multiplies a unit's distance from equilibrium by 1 - 0.5 * 3.5 = -0.75
    g = pcgrad.grad(lambda x: chain(x, 3.5), schedule="euler", eta=0.5, units="marked")(X)
    onp.testing.assert_allclose(g, pcgrad.grad(lambda x: chain(x, 3.5))(X), rtol=1e-8)


def test_the_same_large_precision_converges_with_a_smaller_eta():
    assert euler_iterations(5.0, eta=0.1) > 0


# --- strict: precisions change the result -------------------------------------------------------

def strict_dy0(precision, beta=0.1, **options):
    """Strict PC on Millidge's graph with ``precision`` on the vertices y1, y2, y3."""
    interior = {name: precision for name in ("y1", "y2", "y3")} if precision else None
    g_y0, _ = pcgrad.grad(millidge, argnums=(0, 1), target=1.0, schedule="strict", beta=beta,
                          units="marked", precisions=interior, **options)(Y0, THETA)
    return g_y0


def test_a_common_precision_on_every_unit_and_the_output_scales_the_strict_estimate_by_it():
    """F = Pi (interior + beta E): the same minimiser, the gradient of Pi E."""
    g_y0, _ = pcgrad.grad(lambda y0, theta: millidge(y0, theta, mark=pc_mark(2.0)),
                          argnums=(0, 1), target=1.0, schedule="strict", beta=0.1,
                          units="marked", tol=1e-12)(Y0, THETA)
    assert g_y0 == pytest.approx(2.0 * strict_dy0(None, tol=1e-12), rel=1e-8)


def test_strict_precisions_change_the_result_at_finite_beta():
    assert abs(strict_dy0(2.0) / strict_dy0(None) - 1.0) > 0.05


def test_strict_with_precision_2_settles_at_the_weighted_energys_derivative_over_beta():
    assert strict_dy0(2.0, tol=1e-12) == pytest.approx(
        millidge_settled_energy_derivative(0.1, precision=2.0) / 0.1, rel=1e-7)


def test_strict_with_precisions_still_approaches_the_gradient_as_beta_falls():
    errors = [abs(strict_dy0(2.0, beta) / MILLIDGE_DY0 - 1.0) for beta in (1e-2, 1e-3)]
    assert errors[1] < errors[0] / 8


# --- errors -------------------------------------------------------------------------------------

def test_an_unknown_name_in_precisions_is_a_value_error_listing_the_named_pc_nodes():
    with pytest.raises(ValueError, match=r"'z'.*named pc_nodes: a, h"):
        pcgrad.grad(mlp, argnums=(0, 1), target=MLP_Y, precisions={"z": 2.0})(*MLP_PARAMS)


@pytest.mark.parametrize("precision", [0.0, -1.0, onp.array([1.0, 0.0, 2.0, 1.0])],
                         ids=["zero", "negative", "one-zero-entry"])
def test_a_non_positive_pc_node_precision_is_a_value_error(precision):
    with pytest.raises(ValueError, match="must be positive"):
        pcgrad.grad(lambda w1, w2: mlp(w1, w2, mark=pc_mark(precision)), target=MLP_Y)(
            *MLP_PARAMS)


def test_a_non_positive_precision_in_precisions_is_a_value_error():
    with pytest.raises(ValueError, match="must be positive"):
        pcgrad.grad(mlp, target=MLP_Y, precisions={"h": -2.0})(*MLP_PARAMS)


# --- the relaxation record ------------------------------------------------------------------------

def recorded(schedule, **options):
    return pcgrad.grad(chain, schedule=schedule, units="marked", return_info=True,
                       **options)(X)[1]


@pytest.mark.parametrize("schedule", ["jacobi", "euler", "strict"])
def test_node_errors_holds_one_norm_per_recorded_iteration_for_every_named_pc_node(schedule):
    info = recorded(schedule)
    assert sorted(info.node_errors) == ["h0", "h1", "h2", "h3"]
    for norms in info.node_errors.values():
        assert norms.shape == (info.iterations + 1,)


def test_node_errors_of_a_sweep_holds_one_norm_per_node():
    info = recorded("sweep")
    assert all(norms.shape == (1,) for norms in info.node_errors.values())


@pytest.mark.parametrize("schedule", ["sweep", "jacobi", "euler", "strict"])
def test_the_last_recorded_norm_is_the_norm_of_the_settled_error(schedule):
    info = recorded(schedule)
    for name, norms in info.node_errors.items():
        assert norms[-1] == pytest.approx(onp.linalg.norm(info.errors[name]), rel=1e-12)


def test_jacobi_node_errors_reach_their_final_norm_one_node_per_step_from_the_output():
    info = recorded("jacobi")
    settle = {name: onp.flatnonzero(norms != norms[-1])[-1] + 1
              for name, norms in info.node_errors.items()}
    assert [settle[f"h{k}"] for k in (3, 2, 1, 0)] == [1, 2, 3, 4]


def test_settled_values_of_named_nodes_are_their_feedforward_values_under_the_fpa():
    info = recorded("jacobi")
    h = X
    for k in range(4):
        h = 1.5 * onp.sin(h)
        onp.testing.assert_allclose(info.values[f"h{k}"], h, rtol=1e-15)


def test_unnamed_pc_nodes_are_not_recorded():
    f = lambda x: np.sum(pcgrad.pc_node(np.sin(pcgrad.pc_node(x * 2.0)), name="named"))
    _, info = pcgrad.grad(f, schedule="jacobi", return_info=True)(X)
    assert list(info.node_errors) == ["named"]


def test_node_errors_is_empty_when_no_pc_node_is_named():
    _, info = pcgrad.grad(lambda x: np.sum(pcgrad.pc_node(np.sin(x)) ** 2), schedule="jacobi",
                          return_info=True)(X)
    assert info.node_errors == {} and info.errors == {} and info.values == {}


def test_without_return_info_grad_returns_the_gradient_alone():
    g = pcgrad.grad(chain, schedule="jacobi", units="marked")(X)
    assert isinstance(g, onp.ndarray) and g.shape == X.shape
