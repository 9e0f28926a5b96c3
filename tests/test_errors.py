"""Every documented error, with the sentence that tells the user what to do."""
import warnings

import numpy as onp
import pytest

import pcgrad
import pcgrad.numpy as np

X = onp.array([0.5, -1.0, 2.0])


def deep(x):
    for _ in range(20):
        x = np.sin(x)
    return np.sum(x)


# --- what grad can differentiate ---------------------------------------------------------

def test_grad_of_non_scalar_output_raises_type_error_pointing_to_jacobian_and_vjp():
    with pytest.raises(TypeError, match=r"scalar output; got shape \(3,\).*jacobian.*vjp"):
        pcgrad.grad(lambda x: x * 2.0)(X)


def test_value_and_grad_of_non_scalar_output_raises_type_error():
    with pytest.raises(TypeError, match="scalar output"):
        pcgrad.value_and_grad(lambda x: np.sin(x))(X)


def test_grad_of_one_element_array_output_still_requires_a_scalar():
    with pytest.raises(TypeError, match=r"got shape \(1,\)"):
        pcgrad.grad(lambda x: np.sum(x, keepdims=True))(X)


@pytest.mark.parametrize("arg", [3, onp.arange(3), onp.int32(2)], ids=["int", "int-array",
                                                                      "numpy-int"])
def test_integer_argument_raises_type_error_asking_for_floats(arg):
    with pytest.raises(TypeError, match="float arguments.*int"):
        pcgrad.grad(lambda x: np.sum(x * 1.0))(arg)


@pytest.mark.parametrize("arg", [True, onp.array([True, False])], ids=["bool", "bool-array"])
def test_boolean_argument_raises_type_error_asking_for_floats(arg):
    with pytest.raises(TypeError, match="float arguments.*bool"):
        pcgrad.grad(lambda x: np.sum(x * 1.0))(arg)


def test_integer_leaf_inside_a_pytree_raises_type_error():
    with pytest.raises(TypeError, match="float arguments"):
        pcgrad.grad(lambda p: np.sum(p["w"]) * p["n"])({"w": X, "n": 2})


def test_integer_argument_not_in_argnums_is_fine():
    g = pcgrad.grad(lambda x, n: np.sum(x) * n, argnums=0)(X, 3)
    onp.testing.assert_array_equal(g, onp.full(3, 3.0))


def test_in_place_assignment_in_a_traced_function_raises_type_error_with_alternative():
    def f(x):
        x[0] = 1.0
        return np.sum(x)
    with pytest.raises(TypeError, match=r"modified in place.*where"):
        pcgrad.grad(f)(X)


def test_in_place_assignment_error_mentions_concatenate():
    def f(x):
        x[1:] = 0.0
        return np.sum(x)
    with pytest.raises(TypeError, match="concatenate"):
        pcgrad.grad(f)(X)


def test_float_error_message_points_at_control_flow_on_comparisons():
    with pytest.raises(TypeError, match=r"control flow works on comparisons"):
        pcgrad.grad(lambda x: np.sum(x) * float(np.stop_gradient(np.sum(x))))(X)


# --- options ----------------------------------------------------------------------------

def test_unknown_schedule_raises_value_error_listing_the_schedules():
    with pytest.raises(ValueError, match=r"Unknown schedule 'newton'.*'sweep'.*'jacobi'.*'euler'"):
        pcgrad.grad(deep, schedule="newton")


@pytest.mark.parametrize("eta", [0.0, -0.5, 1.5], ids=["zero", "negative", "above-one"])
def test_euler_eta_outside_zero_one_raises_value_error(eta):
    with pytest.raises(ValueError, match=r"eta must be in \(0, 1\]"):
        pcgrad.grad(deep, schedule="euler", eta=eta)


def test_euler_eta_of_exactly_one_is_allowed():
    _, info = pcgrad.grad(deep, schedule="euler", eta=1.0, return_info=True)(X)
    assert info.converged


def test_jacobi_with_eta_other_than_one_raises_value_error_pointing_to_euler():
    with pytest.raises(ValueError, match=r"unit steps.*euler"):
        pcgrad.grad(deep, schedule="jacobi", eta=0.5)


def test_invalid_options_are_rejected_when_grad_is_called_not_later():
    with pytest.raises(ValueError):
        pcgrad.value_and_grad(deep, schedule="euler", eta=2.0)
    with pytest.raises(ValueError):
        pcgrad.jacobian(deep, schedule="nope")
    with pytest.raises(ValueError):
        pcgrad.elementwise_grad(deep, schedule="nope")


def test_invalid_options_to_vjp_raise_value_error():
    with pytest.raises(ValueError, match="Unknown schedule"):
        pcgrad.vjp(lambda x: x * 2.0, X, schedule="nope")


@pytest.mark.parametrize("schedule", ["sweep", "jacobi", "euler"])
def test_units_other_than_all_or_marked_raises_value_error(schedule):
    with pytest.raises(ValueError, match=r"units must be 'all' or 'marked'"):
        pcgrad.grad(deep, schedule=schedule, units="every")(X)


def test_on_nonconvergence_other_than_raise_or_warn_raises_value_error():
    with pytest.raises(ValueError, match="on_nonconvergence must be 'raise' or 'warn'"):
        pcgrad.grad(deep, schedule="euler", on_nonconvergence="ignore")


# --- non-convergence ----------------------------------------------------------------------

def test_euler_that_cannot_converge_in_max_iters_raises_convergence_error():
    with pytest.raises(pcgrad.ConvergenceError, match=r"did not converge in 5 iterations"):
        pcgrad.grad(deep, schedule="euler", eta=0.1, max_iters=5)(X)


def test_convergence_error_carries_the_relax_info():
    with pytest.raises(pcgrad.ConvergenceError) as caught:
        pcgrad.grad(deep, schedule="euler", eta=0.1, max_iters=5)(X)
    info = caught.value.info
    assert isinstance(info, pcgrad.RelaxInfo)
    assert not info.converged
    assert info.iterations == 5
    assert info.residual[-1] > info.tol


def test_convergence_error_is_a_runtime_error():
    assert issubclass(pcgrad.ConvergenceError, RuntimeError)


def test_nonconvergence_with_warn_gives_a_runtime_warning_and_a_result():
    with pytest.warns(RuntimeWarning, match="did not converge"):
        g, info = pcgrad.grad(deep, schedule="euler", eta=0.1, max_iters=5,
                              on_nonconvergence="warn", return_info=True)(X)
    assert g.shape == (3,) and onp.all(onp.isfinite(g))
    assert not info.converged


def test_nonconvergence_warning_points_at_the_remedies():
    with pytest.warns(RuntimeWarning, match=r"Raise max_iters, raise eta \(now 0.1, at most 1\), "
                      "or loosen tol"):
        pcgrad.grad(deep, schedule="euler", eta=0.1, max_iters=5, on_nonconvergence="warn")(X)


def test_jacobi_cut_short_of_the_depth_raises_convergence_error():
    with pytest.raises(pcgrad.ConvergenceError):
        pcgrad.grad(deep, schedule="jacobi", max_iters=10)(X)


def test_jacobi_given_exactly_the_depth_converges():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, info = pcgrad.grad(deep, schedule="jacobi", max_iters=21, return_info=True)(X)
    assert info.converged and info.iterations == 21


def test_vjp_nonconvergence_raises_when_vjp_fn_is_called():
    _, vjp_fn = pcgrad.vjp(lambda x: np.sin(np.sin(np.sin(x))), X, schedule="euler",
                           eta=0.01, max_iters=3)
    with pytest.raises(pcgrad.ConvergenceError):
        vjp_fn(onp.ones(3))


# --- the numpy surface ------------------------------------------------------------------------

def test_unsupported_pcgrad_numpy_attribute_raises_attribute_error_naming_the_docs():
    with pytest.raises(AttributeError, match=r"'fft'.*docs/numpy-support\.md"):
        np.fft


def test_unsupported_pcgrad_numpy_function_raises_attribute_error():
    with pytest.raises(AttributeError, match="pcgrad.numpy has no 'lexsort'"):
        np.lexsort


def test_hasattr_on_pcgrad_numpy_is_false_for_missing_names():
    assert not hasattr(np, "fft")


# --- arguments ----------------------------------------------------------------------------------

@pytest.mark.parametrize("argnums", [1, -2, (0, 1)], ids=["past-end", "negative", "in-tuple"])
def test_argnums_out_of_range_raises_value_error(argnums):
    with pytest.raises(ValueError, match=r"argnums .* out of range.*1 positional"):
        pcgrad.grad(lambda x: np.sum(x), argnums=argnums)(X)


def test_non_integer_argnums_raises_value_error():
    with pytest.raises(ValueError, match="argnums"):
        pcgrad.grad(lambda x: np.sum(x), argnums=0.0)(X)


def test_jacobian_argnums_out_of_range_raises_value_error():
    with pytest.raises(ValueError, match="out of range"):
        pcgrad.jacobian(lambda x: x * 2.0, argnums=3)(X)


def test_vjp_fn_with_wrongly_shaped_cotangent_raises_value_error_with_both_shapes():
    _, vjp_fn = pcgrad.vjp(lambda x: x * 2.0, X)
    with pytest.raises(ValueError, match=r"cotangent has shape \(2,\).*output has shape \(3,\)"):
        vjp_fn(onp.ones(2))


def test_vjp_fn_does_not_broadcast_a_scalar_cotangent():
    _, vjp_fn = pcgrad.vjp(lambda x: x * 2.0, X)
    with pytest.raises(ValueError, match="cotangent has shape"):
        vjp_fn(1.0)


# --- nesting ------------------------------------------------------------------------------------

def test_grad_of_a_traced_argument_raises_not_implemented_mentioning_higher_order():
    def f(x):
        return np.sum(pcgrad.grad(lambda c: np.sum(c ** 3))(x))
    with pytest.raises(NotImplementedError, match="Higher-order derivatives"):
        pcgrad.grad(f)(X)


def test_none_leaf_in_a_pytree_is_never_traced_as_a_nan_float():
    seen = []

    def f(p):
        seen.append(p[1])
        return p[0] * p[0]
    try:
        pcgrad.grad(f)((2.0, None))
    except TypeError:
        return
    assert seen[0] is None
