"""The networkx DiGraph is the graph that is relaxed (issue 9, the NetworkX DAG):
built once per new structure, pruned and measured by networkx algorithms,
never touched on a cache hit, and returned by pcgrad.trace(...).nx."""
import autograd
import autograd.numpy as anp
import networkx as nx
import numpy
import pytest

import pcgrad
import pcgrad.numpy as np
from pcgrad.plan import _cache

X = numpy.array([0.5, -1.0, 2.0])


@pytest.fixture
def constructions(monkeypatch):
    """A list that grows by one for every networkx.DiGraph constructed."""
    made = []
    original = nx.DiGraph.__init__

    def counting(self, *args, **kwargs):
        made.append(type(self))
        original(self, *args, **kwargs)
    monkeypatch.setattr(nx.DiGraph, "__init__", counting)
    return made


def f(x):
    h = pcgrad.pc_node(np.tanh(x * 1.5), name="h")
    return np.sum(np.sin(h) * h + np.cos(x) ** 2)


TRANSFORMS = {
    "sweep": lambda f: pcgrad.grad(f),
    "jacobi": lambda f: pcgrad.grad(f, schedule="jacobi"),
    "jacobi-marked": lambda f: pcgrad.grad(f, schedule="jacobi", units="marked"),
    "euler": lambda f: pcgrad.grad(f, schedule="euler", tol=1e-12),
    "strict": lambda f: pcgrad.grad(f, schedule="strict"),
    "jacobian": lambda f: pcgrad.jacobian(lambda x: f(x) * x),
    "jit": lambda f: pcgrad.jit(pcgrad.grad(f)),
}


# a length per test: a structure no other test traces (reshape's params hold it)
SIZES = {"sweep": 31, "jacobi": 37, "jacobi-marked": 41, "euler": 43, "strict": 47,
         "jacobian": 53, "jit": 59}


def f_of_size(size):
    """f, as a structure of its own: pruning does not depend on shapes, a
    reshape's parameters do."""
    return lambda x: f(np.reshape(x, (1, size)))


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_one_digraph_per_new_structure_and_none_on_repeated_calls(name, constructions):
    transformed = TRANSFORMS[name](f_of_size(SIZES[name]))
    transformed(numpy.ones(SIZES[name]))
    assert len(constructions) == 1
    for k in range(5):
        transformed(numpy.linspace(-1.0, 1.0, SIZES[name]) * k)
    assert len(constructions) == 1


def test_every_schedule_shares_one_digraph_per_structure(constructions):
    x = numpy.ones(23)
    for schedule in ("sweep", "jacobi", "euler", "strict"):
        for units in ("all", "marked"):
            pcgrad.grad(f, schedule=schedule, units=units)(x)
    pcgrad.jacobian(lambda x: f(x) * x)(x)
    assert len(constructions) == 2  # f's structure, then jacobian's f(x) * x


def test_a_structure_at_new_shapes_builds_no_digraph_and_keeps_its_gradient(constructions):
    g = lambda x: f(x) + 1.0  # a structure no other test traces, at every size
    for size in (61, 62, 63):
        x = numpy.linspace(-1.0, 1.0, size)
        numpy.testing.assert_allclose(pcgrad.grad(g)(x), autograd.grad(f_autograd)(x),
                                      rtol=1e-12)
    assert len(constructions) == 1


def test_nx_of_a_structure_met_at_other_shapes_describes_its_own_shapes(constructions):
    g = lambda x: f(x) - 1.0  # a structure no other test traces, at two sizes
    pcgrad.grad(g)(numpy.ones(67))
    graph = pcgrad.trace(g, numpy.ones(71))
    assert len(constructions) == 1  # no DiGraph until one is asked for
    shapes = set(dict(graph.nx.nodes(data="shape")).values())
    assert (71,) in shapes and (67,) not in shapes
    assert graph.nodes == list(nx.topological_sort(graph.nx))


def f_autograd(x):
    h = anp.tanh(x * 1.5)
    return anp.sum(anp.sin(h) * h + anp.cos(x) ** 2)


def test_trace_nx_is_the_graph_the_plan_was_built_from(constructions):
    x = numpy.ones(29)
    g = f_of_size(29)
    pcgrad.grad(g)(x)
    graph = pcgrad.trace(g, x)
    assert len(constructions) == 1
    entry = graph.plans
    assert graph.nx is entry.structure.nx
    plan = entry.plans[False]
    assert plan.nodes == graph.nodes and set(plan.nodes) == set(graph.nx)
    assert all(plan.index[parent] < plan.index[child] for parent, child in graph.nx.edges)


def test_pruned_nodes_are_the_networkx_input_output_paths_of_the_differentiable_subgraph():
    def f(x, y):
        dead = np.exp(x) * 2.0                      # off every path to the output
        mask = np.floor(x) + np.sin(y)              # no derivative: a constant
        return np.sum(np.tanh(x) * mask + y * y)
    graph = pcgrad.trace(f, X, X)
    full = graph.trace.nx                           # the whole recording
    differentiable = full.copy()
    differentiable.remove_edges_from([(p, c) for p, c in full.edges
                                      if full.nodes[c]["primitive"] == "floor"])
    reached = set(graph.inputs).union(*(nx.descendants(differentiable, i)
                                        for i in graph.inputs))
    on_paths = reached & (nx.ancestors(differentiable, graph.output) | {graph.output})
    units = {n for n, role in graph.nx.nodes(data="role") if role in ("input", "node")}
    assert units == on_paths
    assert not any(full.nodes[n]["primitive"] == "exp" for n in graph.nx)


def test_depth_is_the_networkx_longest_path_over_the_units():
    f = lambda x: np.sum(pcgrad.pc_node(np.sin(pcgrad.pc_node(np.cos(x) * x))) * x)
    graph = pcgrad.trace(f, X)
    errors = graph.nx.subgraph([n for n, r in graph.nx.nodes(data="role")
                                if r in ("input", "node")])
    assert graph.depth == nx.dag_longest_path_length(errors) == 7
    marked = [n for n, unit in graph.nx.nodes(data="unit") if "marked" in unit]
    longest = max((len([n for n in path[1:] if n in marked])
                   for path in nx.all_simple_paths(errors, graph.inputs[0], graph.output)))
    _, info = pcgrad.grad(f, schedule="jacobi", units="marked", return_info=True)(X)
    assert info.depth == longest == 3


@pytest.mark.parametrize("units, depth", [("all", 6), ("marked", 2)])
def test_jacobi_takes_the_depth_in_units_of_steps(units, depth):
    # x -> tanh -> multiply -> tanh -> pc_node -> square -> sum; marked: pc_node, sum
    f = lambda x: np.sum(pcgrad.pc_node(np.tanh(np.tanh(x) * 2.0)) ** 2)
    g, info = pcgrad.grad(f, schedule="jacobi", units=units, return_info=True)(X)
    assert info.iterations == info.depth == depth
    numpy.testing.assert_allclose(
        g, autograd.grad(lambda x: anp.sum(anp.tanh(anp.tanh(x) * 2.0) ** 2))(X), rtol=1e-12)


def test_jit_keeps_a_branch_only_read_by_a_comparison_as_recomputed_not_as_units():
    f = lambda x, y: np.sum(np.where(np.sin(x) > 0.0, x * y, -x))
    fast = pcgrad.jit(pcgrad.grad(f))
    numpy.testing.assert_allclose(
        fast(X, X), autograd.grad(lambda x, y: anp.sum(anp.where(anp.sin(x) > 0, x * y, -x)))(
            X, X), rtol=1e-12)
    (replay,) = fast._replays.values()
    # errors only on x, x * y, -x, where and sum (y is data): sin and the comparison are
    # recomputed
    assert numpy.count_nonzero(replay.plan.table.eoff >= 0) == 5


def test_a_cache_of_plans_over_its_byte_budget_drops_the_least_recently_used(monkeypatch):
    import pcgrad.plan as plan
    first = pcgrad.grad(lambda x: np.sum(x[::2] ** 2))
    first(numpy.ones(1001))
    entry = next(reversed(_cache.entries.values()))
    monkeypatch.setattr(plan, "CACHE_BYTES", entry.nbytes)
    pcgrad.grad(lambda x: np.sum(x[::3] ** 2))(numpy.ones(1003))
    assert not entry.cached and entry not in _cache.entries.values()
    assert _cache.nbytes == sum(e.nbytes for e in _cache.entries.values())
