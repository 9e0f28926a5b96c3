"""Millidge, Tschantz & Buckley 2020, section 5.1: the toy computation graph.

    y1 = y0 * theta,  y2 = sqrt(y1),  y3 = y0^2,  y4 = tan(y2) + sin(y3)
    y0 = 5, theta = 2, L = 1/2 (1 - y4)^2,  dL/dy0 = -11.370532

The paper's vertices y1..y4 are marked with pcgrad.pc_node; with
units="marked" they are the only predictive-coding units between the inputs
and the output, so an exact synchronous (jacobi) relaxation takes 3 steps.
"""
import warnings

import autograd
import autograd.numpy as anp
import networkx as nx
import numpy as onp
import pytest

import pcgrad
import pcgrad.numpy as np

Y0, THETA = 5.0, 2.0
DL_DY0 = -11.370532


def net(y0, theta):
    y1 = pcgrad.pc_node(y0 * theta, name="y1")
    y2 = pcgrad.pc_node(np.sqrt(y1), name="y2")
    y3 = pcgrad.pc_node(y0 ** 2, name="y3")
    return pcgrad.pc_node(np.tan(y2) + np.sin(y3), name="y4")


def loss(y0, theta):
    return 0.5 * (1.0 - net(y0, theta)) ** 2


def reference_loss(y0, theta):
    y4 = anp.tan(anp.sqrt(y0 * theta)) + anp.sin(y0 ** 2)
    return 0.5 * (1.0 - y4) ** 2


DL_DTHETA = autograd.grad(reference_loss, 1)(Y0, THETA)


def pullback(**options):
    """(gradients, info) of the paper's relaxation: output error y4 - 1 at y4."""
    y4, vjp_fn = pcgrad.vjp(net, Y0, THETA, units="marked", return_info=True, **options)
    return vjp_fn(y4 - 1.0)


def test_reference_derivative_agrees_with_the_paper():
    assert autograd.grad(reference_loss, 0)(Y0, THETA) == pytest.approx(DL_DY0, rel=1e-7)


def test_forward_value_of_y4():
    y4, _ = pcgrad.vjp(net, Y0, THETA)
    assert y4 == pytest.approx(onp.tan(onp.sqrt(10.0)) + onp.sin(25.0), rel=1e-15)


@pytest.mark.parametrize("schedule", ["sweep", "jacobi"])
def test_exact_schedules_give_the_papers_derivatives(schedule):
    (g_y0, g_theta), info = pullback(schedule=schedule)
    assert g_y0 == pytest.approx(DL_DY0, rel=1e-7)
    assert g_theta == pytest.approx(DL_DTHETA, rel=1e-12)


def test_jacobi_with_marked_vertices_converges_in_exactly_three_iterations():
    _, info = pullback(schedule="jacobi")
    assert info.converged
    assert info.iterations == 3
    assert info.depth == 3


def test_jacobi_with_marked_vertices_is_not_settled_after_two_iterations():
    with pytest.warns(RuntimeWarning, match="did not converge"):
        (g_y0, _), info = pullback(schedule="jacobi", max_iters=2, on_nonconvergence="warn")
    assert not info.converged
    assert g_y0 != pytest.approx(DL_DY0, rel=1e-3)


def test_euler_at_eta_002_is_within_1e_4_after_500_iterations():
    with pytest.warns(RuntimeWarning, match="500 iterations"):
        (g_y0, g_theta), info = pullback(schedule="euler", eta=0.02, max_iters=500,
                                         on_nonconvergence="warn")
    assert info.iterations == 500
    assert not info.converged
    assert g_y0 == pytest.approx(DL_DY0, rel=1e-4)
    assert g_theta == pytest.approx(DL_DTHETA, rel=1e-3)  # theta's path is slower to settle


def test_euler_at_eta_002_is_still_visibly_approximate_after_500_iterations():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        (g_y0, _), _ = pullback(schedule="euler", eta=0.02, max_iters=500,
                                on_nonconvergence="warn")
    assert abs(g_y0 / DL_DY0 - 1.0) > 1e-7


def test_euler_residual_decreases_geometrically_at_eta_002():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, info = pullback(schedule="euler", eta=0.02, max_iters=500, on_nonconvergence="warn")
    assert len(info.residual) == 501
    assert info.residual[-1] < 1e-3 * info.residual[0]
    assert onp.all(onp.diff(info.residual[100:]) <= 0)


@pytest.mark.parametrize("schedule, options", [
    ("sweep", {}), ("jacobi", {}), ("euler", {"eta": 0.5, "tol": 1e-13})])
def test_loss_inside_the_function_gives_the_papers_derivatives(schedule, options):
    g_y0, g_theta = pcgrad.grad(loss, argnums=(0, 1), schedule=schedule, units="marked",
                                **options)(Y0, THETA)
    assert g_y0 == pytest.approx(DL_DY0, rel=1e-6)
    assert g_theta == pytest.approx(DL_DTHETA, rel=1e-6)


def test_loss_inside_the_function_adds_the_loss_as_one_more_jacobi_step():
    _, info = pcgrad.grad(loss, argnums=(0, 1), schedule="jacobi", units="marked",
                          return_info=True)(Y0, THETA)
    assert info.iterations == info.depth == 4


def longest_input_output_path(graph):
    """Edges on the longest path through non-constant nodes, computed by networkx."""
    live = [n for n, role in graph.nx.nodes(data="role") if role != "constant"]
    return nx.dag_longest_path_length(graph.nx.subgraph(live))


def test_with_every_primitive_a_unit_jacobi_takes_depth_iterations():
    _, info = pcgrad.grad(loss, argnums=(0, 1), schedule="jacobi", units="all",
                          return_info=True)(Y0, THETA)
    assert info.iterations == info.depth


def test_depth_with_every_primitive_a_unit_is_the_longest_input_to_output_path():
    graph = pcgrad.trace(loss, Y0, THETA)
    _, info = pcgrad.grad(loss, argnums=(0, 1), schedule="jacobi", units="all",
                          return_info=True)(Y0, THETA)
    assert info.depth == graph.depth == longest_input_output_path(graph)


def test_every_primitive_a_unit_takes_more_jacobi_steps_than_marked_vertices():
    run = lambda units: pcgrad.grad(loss, argnums=(0, 1), schedule="jacobi", units=units,
                                    return_info=True)(Y0, THETA)[1]
    assert run("all").iterations > run("marked").iterations


def test_marked_vertices_are_named_in_the_graph_listing():
    listing = str(pcgrad.trace(net, Y0, THETA))
    for name in ("y1", "y2", "y3", "y4"):
        assert f"name='{name}'" in listing
