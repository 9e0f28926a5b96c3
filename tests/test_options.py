"""Relaxation options have one home, pcgrad.options: every transformation
validates them there and fills in the same per-schedule defaults."""
import doctest

import numpy
import pytest

import pcgrad
import pcgrad.numpy as np
from pcgrad import options

X = numpy.array([0.5, -1.0, 2.0])


def f(x):
    return np.sum(np.sin(np.sin(x)))


TRANSFORMATIONS = {
    "grad": lambda **o: pcgrad.grad(f, **o)(X),
    "value_and_grad": lambda **o: pcgrad.value_and_grad(f, **o)(X),
    "vjp": lambda **o: pcgrad.vjp(f, X, **o),
    "jacobian": lambda **o: pcgrad.jacobian(f, **o)(X),
    "elementwise_grad": lambda **o: pcgrad.elementwise_grad(f, **o)(X),
    "jit": lambda **o: pcgrad.jit(pcgrad.grad(f, **o))(X),
    "infer": lambda **o: pcgrad.infer(lambda z: np.sin(z), {"z": X}, target=X,
                                      **{k: v for k, v in o.items() if k != "schedule"}),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMATIONS))
def test_every_transformation_rejects_a_negative_tol_with_the_same_message(name):
    with pytest.raises(ValueError, match=r"^tol must be a non-negative number; got -1\.0\.$"):
        TRANSFORMATIONS[name](schedule="strict", tol=-1.0)


@pytest.mark.parametrize("name", sorted(set(TRANSFORMATIONS) - {"infer"}))
def test_every_transformation_rejects_an_unknown_schedule_with_the_same_message(name):
    with pytest.raises(ValueError, match=r"^Unknown schedule 'newton'; choose one of 'sweep', "
                                         r"'jacobi', 'euler', 'strict'\.$"):
        TRANSFORMATIONS[name](schedule="newton")


@pytest.mark.parametrize("schedule", options.SCHEDULES)
def test_a_relaxation_runs_with_its_schedules_defaults(schedule):
    _, info = pcgrad.grad(f, schedule=schedule, return_info=True)(X)
    defaults = options.DEFAULTS[schedule]
    assert (info.schedule, info.eta, info.tol, info.beta) == (
        schedule, defaults.eta, defaults.tol, defaults.beta)
    assert info.iterations <= defaults.max_iters


def test_the_defaults_are_those_the_docs_promise():
    assert options.DEFAULTS["sweep"] == (1.0, 0.0, 1, 1.0)
    assert options.DEFAULTS["jacobi"].eta == 1.0 and options.DEFAULTS["jacobi"].tol == 0.0
    assert 0.0 < options.DEFAULTS["euler"].eta <= 1.0
    assert options.DEFAULTS["strict"].beta == 1e-3  # grad's docstring: "default 1e-3"


def test_relaxation_options_returns_every_option_name():
    assert set(options.relaxation_options("euler")) == set(options.NAMES)


def test_options_module_docstring_examples_run():
    assert doctest.testmod(options).failed == 0
