"""pcgrad.scipy.integrate.odeint and pcgrad.scipy.signal.convolve against
scipy (forward), autograd and central differences (derivatives)."""
import autograd
import autograd.numpy as anp
import numpy
import pytest
import scipy.integrate
import scipy.signal
from autograd.builtins import tuple as ag_tuple
from autograd.scipy.integrate import odeint as ag_odeint
from autograd.scipy.signal import convolve as ag_convolve

import pcgrad
import pcgrad.numpy as pnp
from pcgrad.scipy.integrate import odeint
from pcgrad.scipy.signal import convolve
from test_numpy_functions import AUTOGRAD_RTOL, SCHEDULES, _assert_close

# --- odeint ---------------------------------------------------------------------------------
A = numpy.array([[-0.1, 2.0], [-2.0, -0.1]])
B = numpy.array([0.1, -0.2])
Y0 = numpy.array([1.0, 0.5])
T = numpy.linspace(0.0, 1.0, 5)
# Each iterative step of jacobi or euler hands the rule a part of the error; the
# adjoint solves of those parts add up to the whole one's to the solver's tolerance.
ODE_RTOL = {"sweep": 1e-12, "jacobi": 1e-12, "euler": 1e-5}


def _dynamics(np):
    return lambda y, t, a, b: np.dot(y ** 3, a) + b * np.sin(t)


def _ode_loss(np, solve, pack=tuple):
    return lambda y0, t, a, b: np.sum(np.tanh(solve(_dynamics(np), y0, t, pack((a, b)))))


def test_odeint_value_is_scipys():
    numpy.testing.assert_array_equal(
        odeint(_dynamics(pnp), Y0, T, (A, B)),
        scipy.integrate.odeint(_dynamics(numpy), Y0, T, args=(A, B)))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_odeint_gradients_in_y0_t_and_args_match_autograd(schedule):
    got = pcgrad.grad(_ode_loss(pnp, odeint), argnums=(0, 1, 2, 3), schedule=schedule,
                      **SCHEDULES[schedule])(Y0, T, A, B)
    want = autograd.grad(_ode_loss(anp, ag_odeint, ag_tuple), argnum=(0, 1, 2, 3))(Y0, T, A, B)
    for g, w in zip(got, want):
        _assert_close(g, w, ODE_RTOL[schedule])


def test_odeint_gradient_matches_central_differences():
    loss = _ode_loss(pnp, lambda *a: odeint(*a, rtol=1e-12, atol=1e-12))
    g = pcgrad.grad(loss, argnums=(0, 2))(Y0, T, A, B)
    h = 1e-5
    for k, x in enumerate((Y0, A)):
        for i in numpy.ndindex(x.shape):
            step = numpy.zeros_like(x)
            step[i] = h
            args = [Y0, T, A, B]
            up, down = list(args), list(args)
            up[2 * k] = x + step
            down[2 * k] = x - step
            numeric = (loss(*up) - loss(*down)) / (2 * h)
            assert abs(g[k][i] - numeric) < 1e-6 * (1 + abs(numeric))


def test_odeint_takes_a_pytree_of_parameters():
    def net(y, t, params):
        for w, b in params:
            y = pnp.tanh(pnp.dot(y, w) + b)
        return y

    def ag_net(y, t, params):
        for w, b in params:
            y = anp.tanh(anp.dot(y, w) + b)
        return y

    rng = numpy.random.default_rng(0)
    params = [(rng.normal(size=(2, 3)), rng.normal(size=3)), (rng.normal(size=(3, 2)),
                                                              rng.normal(size=2))]
    got = pcgrad.grad(lambda p: pnp.sum(odeint(net, Y0, T, (p,)) ** 2))(params)
    want = autograd.grad(lambda p: anp.sum(ag_odeint(ag_net, Y0, T, ag_tuple((p,))) ** 2))(params)
    for (gw, gb), (ww, wb) in zip(got, want):
        _assert_close(gw, ww, 1e-12)
        _assert_close(gb, wb, 1e-12)


# --- convolve -------------------------------------------------------------------------------
SHAPES = [((5,), (3,)), ((3,), (5,)), ((4, 5), (2, 3)), ((2, 3), (4, 5)), ((3, 3), (3, 3)),
          ((2, 3, 4), (2, 2, 3))]
MODES = ("full", "valid", "same")


def _operands(sa, sb):
    rng = numpy.random.default_rng(len(sa) * 10 + sa[0])
    return rng.normal(size=sa), rng.normal(size=sb)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sa, sb", SHAPES)
def test_convolve_value_is_scipys(sa, sb, mode):
    a, b = _operands(sa, sb)
    numpy.testing.assert_allclose(convolve(a, b, mode), scipy.signal.convolve(a, b, mode),
                                  rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sa, sb", SHAPES)
def test_convolve_gradients_in_both_operands_match_autograd(sa, sb, mode, schedule):
    a, b = _operands(sa, sb)
    w = numpy.cos(numpy.arange(scipy.signal.convolve(a, b, mode).size)).reshape(
        scipy.signal.convolve(a, b, mode).shape)
    got = pcgrad.grad(lambda a, b: pnp.sum(pnp.sin(convolve(a, b, mode)) * w),
                      argnums=(0, 1), schedule=schedule, **SCHEDULES[schedule])(a, b)
    want = autograd.grad(lambda a, b: anp.sum(anp.sin(ag_convolve(a, b, mode=mode)) * w),
                         argnum=(0, 1))(a, b)
    for g, x in zip(got, want):
        _assert_close(g, x, AUTOGRAD_RTOL[schedule])


def test_convolve_gradient_matches_central_differences():
    a, b = _operands((4, 3), (2, 2))
    loss = lambda a, b: pnp.sum(pnp.sin(convolve(a, b, "same")))  # noqa: E731
    ga, gb = pcgrad.grad(loss, argnums=(0, 1))(a, b)
    h = 1e-6
    for g, x, k in ((ga, a, 0), (gb, b, 1)):
        for i in numpy.ndindex(x.shape):
            step = numpy.zeros_like(x)
            step[i] = h
            args_up, args_down = [a, b], [a, b]
            args_up[k], args_down[k] = x + step, x - step
            numeric = (loss(*args_up) - loss(*args_down)) / (2 * h)
            assert abs(g[i] - numeric) < 1e-8


@pytest.mark.parametrize("mode", ["full", "valid"])
def test_convolve_with_axes_and_dot_axes_matches_autograd(mode):
    rng = numpy.random.default_rng(1)
    a, b = rng.normal(size=(3, 4, 5)), rng.normal(size=(2, 4, 3))
    axes, dot_axes = ([0, 2], [0, 2]), ([1], [1])
    numpy.testing.assert_allclose(
        convolve(a, b, mode, axes, dot_axes),
        ag_convolve(a, b, axes=axes, dot_axes=dot_axes, mode=mode), rtol=1e-13, atol=1e-13)
    got = pcgrad.grad(lambda a, b: pnp.sum(convolve(a, b, mode, axes, dot_axes) ** 2),
                      argnums=(0, 1))(a, b)
    want = autograd.grad(lambda a, b: anp.sum(
        ag_convolve(a, b, axes=axes, dot_axes=dot_axes, mode=mode) ** 2), argnum=(0, 1))(a, b)
    for g, x in zip(got, want):
        _assert_close(g, x, 1e-12)


def test_convolve_with_an_unknown_mode_raises_value_error():
    with pytest.raises(ValueError, match=r"mode must be 'full', 'valid' or 'same'; got 'wrap'"):
        convolve(numpy.ones(3), numpy.ones(2), "wrap")


def test_convolve_valid_with_neither_operand_larger_raises_value_error():
    with pytest.raises(ValueError, match=r"needs one operand at least as large as the other "
                                         r"along every convolved axis; got sizes \[4, 2\] "
                                         r"and \[2, 4\]"):
        convolve(numpy.ones((4, 2)), numpy.ones((2, 4)), "valid")


def test_convolve_of_different_ranks_without_axes_raises_value_error():
    with pytest.raises(ValueError, match=r"same number of dimensions unless axes= pairs them"):
        convolve(numpy.ones((3, 2)), numpy.ones(2))
