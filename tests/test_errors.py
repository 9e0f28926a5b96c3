"""Every documented error, with the sentence that tells the user what to do."""
import warnings

import autograd
import autograd.numpy as anp
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
    with pytest.raises(TypeError,
                       match=r"scalar output \(or a one-element array.*shape \(3,\).*jacobian.*vjp"):
        pcgrad.grad(lambda x: x * 2.0)(X)


def test_value_and_grad_of_non_scalar_output_raises_type_error():
    with pytest.raises(TypeError, match="scalar output"):
        pcgrad.value_and_grad(lambda x: np.sin(x))(X)


def test_grad_of_one_element_array_output_is_the_gradient_of_its_element_as_in_autograd():
    ours = pcgrad.grad(lambda x: np.sum(np.sin(x), keepdims=True))(X)
    theirs = autograd.grad(lambda x: anp.sum(anp.sin(x), keepdims=True))(X)
    onp.testing.assert_allclose(ours, theirs, rtol=1e-12)


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
        pcgrad.grad(lambda x: np.sum(x) * float(np.sum(x)))(X)


@pytest.mark.parametrize("convert", [lambda s: s.item(), float, int],
                         ids=["item", "float", "int"])
def test_converting_a_differentiable_traced_value_to_a_number_raises_type_error(convert):
    with pytest.raises(TypeError, match=r"of a traced value would drop its derivative.*"
                                        r"stop_gradient"):
        pcgrad.grad(lambda x: np.sum(x) * convert(np.sum(x)))(X)


def test_item_of_an_input_element_raises_type_error_naming_item():
    with pytest.raises(TypeError, match=r"x\.item\(\) of a traced value would drop"):
        pcgrad.grad(lambda x: np.sum(x) * x[0].item())(X)


def test_item_of_a_stop_gradient_value_is_its_number_and_the_rest_is_differentiated():
    g = pcgrad.grad(lambda x: np.sum(x ** 2) * np.stop_gradient(np.sum(x)).item())(X)
    onp.testing.assert_allclose(g, 2.0 * X * onp.sum(X), rtol=1e-14)


def test_int_of_a_comparison_can_steer_python_code():
    g = pcgrad.grad(lambda x: np.sum(x[:int(np.sum(x) > 0) + 1] ** 2))(X)
    onp.testing.assert_allclose(g, [2 * X[0], 2 * X[1], 0.0], rtol=1e-14)


def test_item_under_jit_raises_type_error_pointing_to_grad():
    f = lambda x: np.sum(x) * np.stop_gradient(np.sum(x)).item()
    with pytest.raises(TypeError, match=r"pcgrad\.jit would freeze.*pcgrad\.grad without"):
        pcgrad.jit(pcgrad.grad(f))(X)


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


def test_on_nonconvergence_other_than_raise_warn_or_ignore_raises_value_error():
    with pytest.raises(ValueError, match="on_nonconvergence must be 'raise', 'warn' or 'ignore'"):
        pcgrad.grad(deep, schedule="euler", on_nonconvergence="silent")


@pytest.mark.parametrize("schedule", ["jacobi", "euler", "strict"])
def test_negative_tol_raises_value_error(schedule):
    with pytest.raises(ValueError, match=r"tol must be a non-negative number; got -1e-06"):
        pcgrad.grad(deep, schedule=schedule, tol=-1e-6)


@pytest.mark.parametrize("given, named", [({"tol": 1e-8}, "tol"), ({"max_iters": 10}, "max_iters"),
                                          ({"tol": 0.0, "max_iters": 1}, "tol and max_iters")])
def test_tol_or_max_iters_given_to_sweep_raises_value_error_saying_it_is_exact(given, named):
    with pytest.raises(ValueError, match=rf"'sweep' schedule is exact in one pass, so it takes "
                                         rf"no {named}\..*'jacobi', 'euler' or 'strict'"):
        pcgrad.grad(deep, **given)


@pytest.mark.parametrize("max_iters", [0, -3, 2.5, True], ids=["zero", "negative", "fraction",
                                                               "bool"])
def test_max_iters_that_is_not_a_positive_integer_raises_value_error(max_iters):
    with pytest.raises(ValueError, match="max_iters must be a positive integer"):
        pcgrad.grad(deep, schedule="euler", max_iters=max_iters)


def test_unknown_option_to_vjp_raises_type_error_listing_the_options():
    with pytest.raises(TypeError, match=r"Unknown option 'step'; the relaxation options are "
                                        r"schedule, eta, tol"):
        pcgrad.vjp(lambda x: x * 2.0, X, step=0.1)


def test_precisions_that_are_not_a_dict_raise_type_error():
    with pytest.raises(TypeError, match="precisions must be a dict mapping pc_node names"):
        pcgrad.grad(deep, precisions=[1.0])


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


def test_convergence_error_info_is_measured_as_with_return_info():
    # without return_info the relaxation skips measuring; one that fails is rerun, measured
    with pytest.raises(pcgrad.ConvergenceError) as caught:
        pcgrad.grad(deep, schedule="euler", eta=0.1, max_iters=5)(X)
    _, info = pcgrad.grad(deep, schedule="euler", eta=0.1, max_iters=5, return_info=True,
                          on_nonconvergence="warn")(X)
    onp.testing.assert_array_equal(caught.value.info.residual, info.residual)
    onp.testing.assert_array_equal(caught.value.info.squared_errors, info.squared_errors)


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


def test_missing_pcgrad_numpy_linalg_function_raises_attribute_error_naming_the_docs():
    with pytest.raises(AttributeError, match=r"pcgrad\.numpy\.linalg has no 'eig'.*"
                                             r"docs/numpy-support\.md"):
        np.linalg.eig


def test_hasattr_on_pcgrad_numpy_linalg_is_false_for_missing_names():
    assert hasattr(np.linalg, "norm") and not hasattr(np.linalg, "eig")


@pytest.mark.parametrize("name", ["gammaln", "expit"])
def test_scipy_special_ufunc_on_a_traced_array_runs_as_its_pcgrad_counterpart(name):
    import autograd
    import autograd.scipy.special
    import scipy.special
    g = pcgrad.grad(lambda x: np.sum(getattr(scipy.special, name)(x)))(X + 2.0)
    expected = autograd.grad(lambda x: autograd.numpy.sum(
        getattr(autograd.scipy.special, name)(x)))(X + 2.0)
    onp.testing.assert_allclose(g, expected, rtol=1e-12)


def test_a_scipy_special_ufunc_pcgrad_lacks_names_the_missing_counterpart():
    import scipy.special
    with pytest.raises(TypeError, match=r"^scipy\.special\.spence was called on a traced "
                                        r"array; pcgrad\.scipy\.special\.spence does not "
                                        r"exist") as caught:
        pcgrad.grad(lambda x: np.sum(scipy.special.spence(x)))(X + 2.0)
    assert "numpy.spence" not in str(caught.value)


def test_numpy_sum_with_where_on_a_traced_array_gives_the_masked_sum_and_gradient():
    mask = onp.array([True, False, True])
    value, g = pcgrad.value_and_grad(lambda x: onp.sum(x ** 2, where=mask))(X)
    assert value == pytest.approx(onp.sum(X ** 2, where=mask), rel=1e-15)
    onp.testing.assert_allclose(g, onp.where(mask, 2.0 * X, 0.0), rtol=1e-15)


def test_numpy_max_with_initial_on_a_traced_array_follows_numpy():
    grad = pcgrad.grad(lambda x: onp.max(x, initial=1.0))
    onp.testing.assert_allclose(grad(X), [0.0, 0.0, 1.0], rtol=1e-15)   # 2.0 beats 1.0
    onp.testing.assert_allclose(grad(X - 3.0), onp.zeros(3), rtol=1e-15)  # initial wins


def test_numpy_reduction_into_out_raises_type_error_naming_pcgrad():
    with pytest.raises(TypeError, match=r"pcgrad\.numpy\.sum cannot write into out=: traced "
                                        r"arrays are never modified in place"):
        pcgrad.grad(lambda x: onp.sum(x, out=onp.zeros(())))(X)


def test_numpy_max_with_where_but_no_initial_raises_value_error_like_numpy():
    with pytest.raises(ValueError, match=r"numpy\.max with where= needs initial="):
        pcgrad.grad(lambda x: np.max(x, where=onp.array([True, False, True])))(X)


def test_numpy_ufunc_with_keywords_raises_type_error_naming_them():
    with pytest.raises(TypeError, match=r"numpy\.exp was called on a traced array with "
                                        r"where=, which pcgrad\.numpy\.exp does not support"):
        pcgrad.grad(lambda x: np.sum(onp.exp(x, where=onp.array([True, False, True]))))(X)


# --- arguments ----------------------------------------------------------------------------------

@pytest.mark.parametrize("argnums", [1, -2, (0, 1)], ids=["past-end", "negative", "in-tuple"])
def test_argnums_out_of_range_raises_value_error(argnums):
    with pytest.raises(ValueError, match=r"argnums .* out of range.*1 positional"):
        pcgrad.grad(lambda x: np.sum(x), argnums=argnums)(X)


@pytest.mark.parametrize("argnums, kind", [("0", "str"), (True, "bool"), (0.0, "float"),
                                           ((0, False), "bool"), (onp.bool_(True), "bool")])
def test_argnums_that_are_not_integers_raise_type_error_naming_the_type(argnums, kind):
    with pytest.raises(TypeError, match=rf"argnums must be an int or a tuple of ints; got .* "
                                        rf"of type {kind}"):
        pcgrad.grad(lambda x, y: np.sum(x * y), argnums=argnums)(X, X)


def test_has_aux_with_a_function_returning_one_scalar_says_it_expects_a_pair():
    with pytest.raises(TypeError, match=r"has_aux=True expects the function to return a pair "
                                        r"\(out, aux\); got one traced array of shape \(\)"):
        pcgrad.grad(lambda x: np.sum(x), has_aux=True)(X)


def test_has_aux_with_a_function_returning_a_vector_is_not_unpacked_silently():
    with pytest.raises(TypeError, match=r"pair \(out, aux\); got one traced array of shape "
                                        r"\(2,\)"):
        pcgrad.grad(lambda x: x[:2], has_aux=True)(X)


def test_has_aux_with_a_triple_names_its_length():
    with pytest.raises(TypeError, match=r"pair \(out, aux\); got a tuple of length 3"):
        pcgrad.grad(lambda x: (np.sum(x), 1, 2), has_aux=True)(X)


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

def test_a_value_escaped_from_its_trace_meeting_another_raises_type_error():
    escaped = []
    pcgrad.grad(lambda x: escaped.append(x) or np.sum(x))(X)
    with pytest.raises(TypeError, match="two different pcgrad traces met"):
        pcgrad.grad(lambda y: np.sum(y * escaped[0]))(X)


@pytest.mark.parametrize("transform", [pcgrad.grad, lambda f: pcgrad.jit(pcgrad.grad(f))],
                         ids=["grad", "jit"])
def test_none_leaf_in_a_pytree_is_passed_as_none_and_gets_a_none_gradient(transform):
    seen = []

    def f(p):
        seen.append(p[1])
        return p[0] * p[0]
    g = transform(f)((2.0, None))
    assert seen == [None]
    assert g[1] is None and g[0] == 4.0
