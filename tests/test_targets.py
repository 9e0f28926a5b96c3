"""Clamped targets: ``f`` returns a prediction; ``target=`` and ``energy=`` define the loss.

squared:       E = 1/2 sum (mu - y)^2      (times the output's precision, if it has one)
cross_entropy: E = -sum_rows y . log softmax(mu)   (softmax over the last axis; summed)

Under the fixed prediction schedules the result is exactly the gradient of E.
"""
import autograd
import autograd.numpy as anp
import numpy as onp
import pytest

import pcgrad
import pcgrad.numpy as np
from pc_models import (ENERGY_REFERENCE, MILLIDGE_DY0, MLP_LABELS, MLP_PARAMS, MLP_X, MLP_Y,
                       THETA, Y0, millidge, mlp, no_mark, reference_grad)

TOLERANCE = {"sweep": 1e-8, "jacobi": 1e-8, "euler": 1e-6}
TARGETS = {"squared": MLP_Y, "cross_entropy": MLP_LABELS}
SOFT_LABELS = onp.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.0, 1.0], [0.7, 0.3]])


def energy_of_mlp(energy, target):
    return ENERGY_REFERENCE[energy](mlp(*MLP_PARAMS, np=anp, mark=no_mark), target)


def assert_close(estimate, exact, tol):
    for e, x in zip(estimate, exact):
        onp.testing.assert_allclose(e, x, rtol=tol, atol=tol * onp.max(onp.abs(x)))


# --- the gradient is the energy's gradient -----------------------------------------------------

@pytest.mark.parametrize("energy", ["squared", "cross_entropy"])
@pytest.mark.parametrize("schedule", ["sweep", "jacobi", "euler"])
def test_clamped_target_gradient_equals_autograds_gradient_of_the_energy(schedule, energy):
    target = TARGETS[energy]
    g = pcgrad.grad(mlp, argnums=(0, 1), target=target, energy=energy,
                    schedule=schedule)(*MLP_PARAMS)
    assert_close(g, reference_grad(mlp, MLP_PARAMS, target, energy), TOLERANCE[schedule])


@pytest.mark.parametrize("schedule", ["sweep", "jacobi", "euler"])
def test_cross_entropy_with_soft_targets_equals_autograds_gradient(schedule):
    g = pcgrad.grad(mlp, argnums=(0, 1), target=SOFT_LABELS, energy="cross_entropy",
                    schedule=schedule)(*MLP_PARAMS)
    exact = reference_grad(mlp, MLP_PARAMS, SOFT_LABELS, "cross_entropy")
    assert_close(g, exact, TOLERANCE[schedule])


def test_the_default_energy_is_squared():
    g = pcgrad.grad(mlp, argnums=(0, 1), target=MLP_Y)(*MLP_PARAMS)
    assert_close(g, reference_grad(mlp, MLP_PARAMS, MLP_Y, "squared"), 1e-8)


def test_cross_entropy_takes_the_softmax_over_the_last_axis_of_a_3d_prediction():
    x = onp.random.default_rng(3).normal(size=(2, 3, 4))
    labels = onp.eye(4)[[[0, 1, 2], [3, 3, 0]]]
    g = pcgrad.grad(lambda x: np.sin(x) * 2.0, target=labels, energy="cross_entropy")(x)
    exact = autograd.grad(lambda x: ENERGY_REFERENCE["cross_entropy"](anp.sin(x) * 2.0,
                                                                      labels))(x)
    onp.testing.assert_allclose(g, exact, rtol=1e-10, atol=1e-12)


def test_a_scalar_prediction_clamped_to_1_gives_millidges_derivative():
    g_y0 = pcgrad.grad(millidge, target=1.0)(Y0, THETA)
    assert g_y0 == pytest.approx(MILLIDGE_DY0, rel=1e-10)


# --- value_and_grad returns the energy ----------------------------------------------------------

@pytest.mark.parametrize("energy", ["squared", "cross_entropy"])
@pytest.mark.parametrize("schedule", ["sweep", "jacobi", "euler", "strict"])
def test_value_and_grad_with_a_target_returns_the_energy_at_the_feedforward_output(
        schedule, energy):
    target = TARGETS[energy]
    value, _ = pcgrad.value_and_grad(mlp, argnums=(0, 1), target=target, energy=energy,
                                     schedule=schedule)(*MLP_PARAMS)
    assert value == pytest.approx(energy_of_mlp(energy, target), rel=1e-12)


def test_cross_entropy_is_summed_over_rows_not_averaged():
    one = pcgrad.value_and_grad(mlp, target=MLP_LABELS, energy="cross_entropy")
    two = pcgrad.value_and_grad(lambda w1, w2: mlp(w1, w2, onp.concatenate([MLP_X, MLP_X])),
                                target=onp.concatenate([MLP_LABELS, MLP_LABELS]),
                                energy="cross_entropy")
    assert two(*MLP_PARAMS)[0] == pytest.approx(2 * one(*MLP_PARAMS)[0], rel=1e-12)


def test_value_and_grad_with_a_target_and_has_aux_returns_the_energy_and_the_aux():
    f = lambda w1, w2: (mlp(w1, w2), "aux")
    (value, aux), g = pcgrad.value_and_grad(f, argnums=(0, 1), has_aux=True,
                                            target=MLP_Y)(*MLP_PARAMS)
    assert aux == "aux"
    assert value == pytest.approx(energy_of_mlp("squared", MLP_Y), rel=1e-12)


# --- the output's precision weights the squared energy ---------------------------------------

OUTPUT_PRECISION = onp.array([0.5, 3.0])  # one per output column, broadcast over rows


def weighted_net(precision=None):
    return lambda w1, w2: pcgrad.pc_node(mlp(w1, w2), name="out", precision=precision)


def weighted_energy(w1, w2):
    mu = mlp(w1, w2, np=anp, mark=no_mark)
    return 0.5 * anp.sum(OUTPUT_PRECISION * (mu - MLP_Y) ** 2)


@pytest.mark.parametrize("how", ["pc_node", "precisions"])
def test_output_precision_weights_the_squared_energy_and_its_gradient(how):
    net = weighted_net(OUTPUT_PRECISION if how == "pc_node" else None)
    given = {"precisions": {"out": OUTPUT_PRECISION}} if how == "precisions" else {}
    value, g = pcgrad.value_and_grad(net, argnums=(0, 1), target=MLP_Y, **given)(*MLP_PARAMS)
    assert value == pytest.approx(weighted_energy(*MLP_PARAMS), rel=1e-12)
    assert_close(g, autograd.grad(weighted_energy, (0, 1))(*MLP_PARAMS), 1e-10)


# --- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5,), (2,), (5, 3), (), (1, 5, 2)])
def test_a_target_of_another_shape_than_the_prediction_is_a_value_error(shape):
    with pytest.raises(ValueError, match=r"target has shape .* output has shape \(5, 2\)"):
        pcgrad.grad(mlp, target=onp.zeros(shape))(*MLP_PARAMS)


@pytest.mark.parametrize("energy", ["huber", "linear", "Squared"])
def test_an_unknown_energy_is_a_value_error(energy):
    with pytest.raises(ValueError, match="energy must be 'squared' or 'cross_entropy'"):
        pcgrad.grad(mlp, target=MLP_Y, energy=energy)(*MLP_PARAMS)
