"""Strict predictive coding: values relax, predictions are recomputed, the output is nudged.

Without the fixed prediction assumption the settled error at an input,
divided by beta, is the derivative of the settled energy F*(beta) / beta:
within O(beta) of the gradient. On Millidge et al.'s toy graph the relative
error is about 1.86 beta (with the target clamped) and 70% at beta = 1.
"""
import autograd.numpy as anp
import pytest

import pcgrad
import pcgrad.numpy as np
from pc_models import (LSTM_PARAMS, LSTM_Y, MILLIDGE_DY0, MLP_LABELS, MLP_PARAMS, MLP_X, MLP_Y,
                       THETA, Y0, lstm, millidge, millidge_loss,
                       millidge_settled_energy_derivative, mlp, no_mark, reference_grad,
                       relative_error)

BETAS = (1e-1, 1e-2, 1e-3, 1e-4)


def strict_dy0(f, beta, **options):
    """(dF/dy0 estimate, RelaxInfo) of strict PC on Millidge's graph, vertices marked."""
    (g_y0, _), info = pcgrad.grad(f, argnums=(0, 1), schedule="strict", beta=beta,
                                  units="marked", return_info=True, **options)(Y0, THETA)
    return g_y0, info


def clamped_error(beta):
    """Relative error of strict PC with the target y4 = 1 clamped by the squared energy."""
    g_y0, _ = strict_dy0(millidge, beta, target=1.0, energy="squared")
    return abs(g_y0 / MILLIDGE_DY0 - 1.0)


def loss_output_error(beta):
    """Relative error of strict PC on the scalar loss L = 1/2 (1 - y4)^2 (no target)."""
    g_y0, _ = strict_dy0(millidge_loss, beta)
    return abs(g_y0 / MILLIDGE_DY0 - 1.0)


# --- Millidge's toy graph -------------------------------------------------------------------

def test_strict_with_the_target_fully_clamped_gives_millidges_minus_3_4136():
    g_y0, info = strict_dy0(millidge, 1.0, target=1.0)
    assert info.converged
    assert g_y0 == pytest.approx(-3.4136, abs=1e-4)


def test_strict_with_the_target_fully_clamped_is_70_percent_off_the_exact_derivative():
    assert clamped_error(1.0) == pytest.approx(0.70, abs=0.005)


@pytest.mark.parametrize("beta", [1e-3, 1e-4])
def test_strict_relative_error_over_beta_approaches_1_86_on_millidges_graph(beta):
    assert 1.80 < clamped_error(beta) / beta < 1.90


def test_strict_relative_error_falls_tenfold_per_decade_of_beta():
    errors = [clamped_error(beta) for beta in BETAS]
    for coarse, fine in zip(errors, errors[1:]):
        assert 8.0 < coarse / fine < 12.0


def test_strict_with_a_scalar_loss_output_has_an_error_linear_in_beta():
    errors = [loss_output_error(beta) for beta in BETAS]
    for coarse, fine in zip(errors, errors[1:]):
        assert 8.0 < coarse / fine < 12.0
    assert errors[-1] / BETAS[-1] == pytest.approx(errors[-2] / BETAS[-2], rel=0.01)


def test_strict_values_start_at_the_feedforward_pass():
    _, info = strict_dy0(millidge, 0.1, target=1.0)
    for name in ("y1", "y2", "y3"):
        assert info.node_errors[name][0] == 0.0
        assert info.node_errors[name][-1] > 0.0


def test_strict_energy_starts_at_beta_times_the_feedforward_output_energy():
    beta = 0.1
    y4 = float(millidge(Y0, THETA, anp, no_mark))
    _, info = strict_dy0(millidge, beta, target=1.0)
    assert info.energy[0] == pytest.approx(beta * 0.5 * (y4 - 1.0) ** 2, rel=1e-12)


@pytest.mark.parametrize("beta", [1e-1, 1e-3])
def test_strict_stops_when_the_residual_falls_below_tol_times_the_output_error(beta):
    y4 = float(millidge(Y0, THETA, anp, no_mark))
    threshold = 1e-8 * beta * abs(y4 - 1.0)  # tol * beta |dE/dmu| at the feed-forward output
    _, info = strict_dy0(millidge, beta, target=1.0, tol=1e-8)
    assert info.residual[-1] <= threshold < info.residual[-2]


def test_strict_relaxation_lowers_the_energy():
    _, info = strict_dy0(millidge, 0.1, target=1.0)
    assert info.energy[-1] < info.energy[0]


@pytest.mark.parametrize("beta", [1.0, 0.1])
def test_strict_estimate_is_the_settled_energys_derivative_over_beta(beta):
    g_y0, _ = strict_dy0(millidge, beta, target=1.0, tol=1e-12)
    assert g_y0 == pytest.approx(millidge_settled_energy_derivative(beta) / beta, rel=1e-7)


# --- networks: the error falls with beta --------------------------------------------------

def strict_errors(net, params, target, energy, **options):
    """Relative error vs autograd of strict PC at beta = 1e-1, 1e-2, 1e-3."""
    exact = reference_grad(net, params, target, energy)
    return [relative_error(pcgrad.grad(net, argnums=(0, 1), schedule="strict", target=target,
                                       energy=energy, beta=beta, **options)(*params), exact)
            for beta in BETAS[:3]]


@pytest.mark.parametrize("energy, target", [("squared", MLP_Y), ("cross_entropy", MLP_LABELS)])
def test_strict_error_on_a_tanh_mlp_falls_as_beta_falls(energy, target):
    errors = strict_errors(mlp, MLP_PARAMS, target, energy, units="marked")
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.02


def test_strict_error_on_a_tanh_mlp_with_every_primitive_a_unit_falls_as_beta_falls():
    errors = strict_errors(mlp, MLP_PARAMS, MLP_Y, "squared", units="all")
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.02


def test_strict_error_on_an_lstm_cell_falls_as_beta_falls():
    errors = strict_errors(lstm, LSTM_PARAMS, LSTM_Y, "squared", units="marked")
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.002


def test_strict_on_an_mlp_without_pc_nodes_and_marked_units_is_exact_at_once():
    """Only the inputs and the output are units: nothing between them relaxes."""
    plain = lambda w1, w2: np.tanh(MLP_X @ w1) @ w2
    g, info = pcgrad.grad(plain, argnums=(0, 1), schedule="strict", target=MLP_Y, beta=0.1,
                          units="marked", return_info=True)(*MLP_PARAMS)
    assert info.iterations == 0
    assert relative_error(g, reference_grad(mlp, MLP_PARAMS, MLP_Y, "squared")) < 1e-12



# --- divergence -------------------------------------------------------------------------------

def diverging_relaxation(eta=1.0):
    """Strict PC at eta on the tanh MLP with every primitive a unit: it blows up."""
    with pytest.raises(pcgrad.ConvergenceError) as caught:
        pcgrad.grad(mlp, argnums=(0, 1), schedule="strict", target=MLP_Y, eta=eta,
                    units="all")(*MLP_PARAMS)
    return caught.value


def test_strict_at_eta_1_on_a_tanh_mlp_raises_convergence_error_marked_diverged():
    assert diverging_relaxation().info.diverged


def test_strict_divergence_is_detected_within_a_few_dozen_iterations():
    assert diverging_relaxation().info.iterations < 30


def test_strict_divergence_message_says_eta_is_too_large_and_suggests_a_smaller_one():
    message = str(diverging_relaxation())
    assert "eta=1 is too large" in message
    assert "Try eta=0.25" in message


def test_strict_at_the_default_eta_converges_where_eta_1_diverges():
    _, info = pcgrad.grad(mlp, argnums=(0, 1), schedule="strict", target=MLP_Y, units="all",
                          return_info=True)(*MLP_PARAMS)
    assert info.converged and not info.diverged


def test_eta_above_1_is_rejected():
    with pytest.raises(ValueError, match="eta must be in"):
        pcgrad.grad(mlp, schedule="strict", target=MLP_Y, eta=2.0)(*MLP_PARAMS)


def test_beta_is_rejected_outside_the_strict_schedule():
    with pytest.raises(ValueError, match="strict"):
        pcgrad.grad(mlp, schedule="euler", target=MLP_Y, beta=0.1)


def test_a_slow_but_steady_strict_relaxation_is_not_reported_as_diverged():
    f = lambda x: np.sin(pcgrad.pc_node(np.tanh(x), name="h"))
    g, info = pcgrad.grad(f, target=1.0, schedule="strict", beta=0.1, eta=0.001,
                          units="marked", return_info=True)(2.0)
    assert info.converged


def test_strict_takes_a_read_only_target_as_a_writable_one():
    read_only = MLP_Y.copy()
    read_only.flags.writeable = False

    def strict_grad(target):
        return pcgrad.grad(mlp, argnums=(0, 1), schedule="strict", target=target,
                           energy="squared", beta=1e-2, units="marked")(*MLP_PARAMS)
    for got, expected in zip(strict_grad(read_only), strict_grad(MLP_Y.copy())):
        assert (got == expected).all()
