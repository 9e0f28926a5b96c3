"""Fusion in pcgrad.jit: elementwise regions replay as one loop each, with the
gradients of the unfused replay (and autograd)."""
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import autograd
import autograd.numpy as anp
import numpy
import pytest

import pcgrad
import pcgrad.numpy as np
from pcgrad import fusion, kernels
from pcgrad.jit import FUSE_AFTER
from pcgrad.primitives.core import NARY, UNARY


def replay_of(compiled):
    (replay,) = compiled._replays.values()
    return replay


def fused_and_unfused(loss):
    fused = pcgrad.jit(pcgrad.grad(loss), fuse=True)
    unfused = pcgrad.jit(pcgrad.grad(loss), fuse=False)
    return fused, unfused


def random_graph(seed):
    """A random elementwise graph over a vector: unary and binary nodes on
    random earlier nodes (shared subexpressions), scalar constants, a reversal
    (a gather) that cuts the elementwise run, and a sum of an interior node
    (a value read both inside and outside a region)."""
    rng = numpy.random.default_rng(seed)
    steps = []
    for k in range(16):
        if k == 8:
            steps.append(("reverse", rng.integers(0, 100)))
        else:
            steps.append((rng.choice(["sin", "cos", "tanh", "gauss", "add", "sub", "mul",
                                      "scaled", "shifted", "max"]), rng.integers(0, 100),
                          rng.integers(0, 100)))

    def build(np_like):
        def loss(x):
            nodes = [x, np_like.sin(x)]
            for step in steps:
                kind, a = step[0], nodes[step[1] % len(nodes)]
                b = nodes[step[2] % len(nodes)] if len(step) > 2 else None
                nodes.append({
                    "reverse": lambda: a[::-1],
                    "sin": lambda: np_like.sin(a), "cos": lambda: np_like.cos(a),
                    "tanh": lambda: np_like.tanh(a), "gauss": lambda: np_like.exp(-a * a),
                    "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
                    "scaled": lambda: 0.7 * a, "shifted": lambda: 1.5 - a,
                    "max": lambda: np_like.maximum(a, b)}[kind]())
            return np_like.sum(nodes[-1]) + 0.5 * np_like.sum(nodes[len(nodes) // 2] ** 2)
        return loss
    return build


def scalar_chain(np_like, length=4):
    def loss(x):
        for _ in range(length):
            x = np_like.sin(x) * 1.01 + 0.1 * x ** 2
        return np_like.sum(x)
    return loss


def rosenbrock(np_like):
    def loss(x):
        return np_like.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    return loss


def assert_same(a, b, rtol=1e-12):
    numpy.testing.assert_allclose(a, b, rtol=rtol, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_fused_random_graph_matches_unfused_replay_and_autograd(seed):
    build = random_graph(seed)
    fused, unfused = fused_and_unfused(build(np))
    x = numpy.random.default_rng(seed).uniform(-1.0, 1.0, 9)
    got = fused(x)
    assert replay_of(fused).fused is not None
    assert_same(got, unfused(x))
    assert_same(got, autograd.grad(build(anp))(x), rtol=1e-10)


@pytest.mark.parametrize("workload, x", [
    (scalar_chain, 0.1 * numpy.linspace(-0.5, 0.5, 10)),
    (rosenbrock, numpy.linspace(-1.5, 1.5, 30)),
])
def test_fused_bench_workload_matches_unfused_replay_and_autograd(workload, x):
    fused, unfused = fused_and_unfused(workload(np))
    got = fused(x)
    assert replay_of(fused).fused is not None
    assert_same(got, unfused(x))
    assert_same(got, autograd.grad(workload(anp))(x), rtol=1e-10)


def test_fused_replay_refills_its_inputs_on_every_call():
    fused, unfused = fused_and_unfused(rosenbrock(np))
    for x in (numpy.linspace(-1.5, 1.5, 30), numpy.linspace(0.0, 2.0, 30)):
        assert_same(fused(x), unfused(x))


def test_nan_in_the_input_propagates_as_unfused():
    fused, unfused = fused_and_unfused(rosenbrock(np))
    x = numpy.linspace(-1.5, 1.5, 30)
    x[7] = numpy.nan
    got = fused(x)
    assert numpy.isnan(got).any() and not numpy.isnan(got).all()
    numpy.testing.assert_array_equal(got, unfused(x))


def test_infinite_derivative_warns_and_propagates_as_unfused():
    def loss(x):
        return np.sum(np.sqrt(x) * 2.0 + np.sin(x))
    fused, unfused = fused_and_unfused(loss)
    x = numpy.array([0.0, 0.5, 1.0, 2.0])
    fused(x + 1.0)
    assert replay_of(fused).fused is not None
    with pytest.warns(RuntimeWarning, match="derivative of sqrt is infinite"):
        got = fused(x)
    with pytest.warns(RuntimeWarning, match="derivative of sqrt is infinite"):
        expected = unfused(x)
    assert numpy.isinf(got[0])
    numpy.testing.assert_array_equal(got, expected)


def test_auto_fuses_in_the_background_after_a_few_unfused_calls():
    loss = rosenbrock(np)
    fast = pcgrad.jit(pcgrad.grad(loss))
    x = numpy.linspace(-1.5, 1.5, 30)
    expected = pcgrad.jit(pcgrad.grad(loss), fuse=False)(x)
    for call in range(FUSE_AFTER):
        assert_same(fast(x), expected)
        if call < FUSE_AFTER - 1:
            assert replay_of(fast).fused is None
    for thread in threading.enumerate():
        if thread.name == "pcgrad fusion":
            thread.join(timeout=600)
    assert replay_of(fast).fused is not None
    assert_same(fast(x), expected)


def test_fuse_false_never_fuses():
    fast = pcgrad.jit(pcgrad.grad(rosenbrock(np)), fuse=False)
    x = numpy.linspace(-1.5, 1.5, 30)
    for _ in range(FUSE_AFTER + 2):
        fast(x)
    assert replay_of(fast).fused is None and replay_of(fast).countdown is None


@pytest.mark.parametrize("options", [dict(return_info=True), dict(schedule="jacobi"),
                                     dict(target=numpy.ones(29), energy="squared")])
def test_replays_whose_semantics_fusion_would_change_stay_unfused(options):
    def terms(x):  # the vector output a target is compared with
        return 100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2
    loss = terms if "target" in options else rosenbrock(np)
    fast = pcgrad.jit(pcgrad.grad(loss, **options), fuse=True)
    fast(numpy.linspace(-1.5, 1.5, 30))
    assert replay_of(fast).fused is None


def test_fuse_must_be_auto_true_or_false():
    with pytest.raises(ValueError, match="fuse must be 'auto', True or False; got 'yes'"):
        pcgrad.jit(pcgrad.grad(rosenbrock(np)), fuse="yes")


def test_regions_hold_elementwise_nodes_of_one_size_with_scalar_constants():
    def loss(x, b):
        h = np.tanh(np.sin(x) * 2.0) + b  # b (3, 1) broadcasts: this add is not fused
        return np.sum(np.cos(h) * h - h)
    fast = pcgrad.jit(pcgrad.grad(loss), fuse=False)
    fast(numpy.ones((3, 4)), numpy.ones((3, 1)))
    replay = replay_of(fast)
    t = replay.plan.table
    found = fusion.regions(replay.plan, replay.relaxation.table.psend)
    fused = [[int(t.op[j]) for j in range(lo, hi) if t.pptr[j] < t.pptr[j + 1]]
             for lo, hi in found]
    assert fused == [[UNARY, NARY, UNARY], [UNARY, NARY, NARY]]  # sin * 2, tanh | cos * h - h
    for lo, hi in found:
        for j in range(lo, hi):
            parents = t.par[t.pptr[j]:t.pptr[j + 1]]
            assert all(t.size[p] in (t.size[j], 1) for p in parents)
            assert t.size[j] == t.size[lo]


def test_loops_with_sin_or_cos_call_libm_and_stay_exact_at_large_arguments():
    # a loop calling sin or cos does not vectorize (their fast bodies hold for
    # |x| <= TRIG_BOUND only), so it calls libm's forms; a tanh loop keeps
    # the vectorizable ones
    def build(np_like):
        def loss(x):
            h = np_like.sin(x) * 3.0 + x
            return np_like.sum(np_like.cos(h) * x + np_like.tanh(x * 0.5) * 2.0)
        return loss
    fused, unfused = fused_and_unfused(build(np))
    x = numpy.array([0.3, -2.5, 1e7, -3e8, 1e22, 4e5, 0.0, -0.0, 7.5, 2e6])
    got = fused(x)
    replay = replay_of(fused)
    assert replay.fused is not None
    assert_same(got, unfused(x))
    assert_same(got, autograd.grad(build(anp))(x), rtol=1e-10)
    forms = [line for line in fusion.source(replay.plan, replay.relaxation).splitlines()
             if line.startswith(("_U", "_N"))]
    assert forms and all("scalar_form(" in line for line in forms)  # (one region, with sin)
    tanh_only = pcgrad.jit(pcgrad.grad(lambda x: np.sum(np.tanh(np.tanh(x) * 2.0) * x)),
                           fuse=True)
    tanh_only(x[:4])
    replay = replay_of(tanh_only)
    text = fusion.source(replay.plan, replay.relaxation)
    assert "_Uf16 = UNARY_TABLE[16][2]" in text and "scalar_form(" not in text


def test_generated_code_is_named_by_the_kernel_digest(monkeypatch):
    text = "replay = None\n"
    first = fusion.source_name(text)
    monkeypatch.setattr(pcgrad.kernels, "source_digest", lambda: "0" * 64)
    assert fusion.source_name(text) != first


def test_a_program_that_exits_leaves_no_fusion_compile_running(tmp_path):
    mark = f"pcgrad-fusion-test-{uuid.uuid4()}"
    script = tmp_path / "exits.py"
    script.write_text(textwrap.dedent("""
        import time
        import numpy, pcgrad, pcgrad.numpy as np
        from pcgrad import fusion
        from pcgrad.jit import FUSE_AFTER
        def loss(x):
            for k in range(5):
                x = np.tanh(x) * 1.5 + x * x * 0.01
            return np.sum(x)
        fast = pcgrad.jit(pcgrad.grad(loss))
        for _ in range(FUSE_AFTER):
            fast(numpy.linspace(-1.0, 1.0, 5))
        deadline = time.monotonic() + 120
        while not fusion._children and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fusion._children, "no child compile started"
    """))  # exits while its child compiles (or loads the cache)
    env = dict(os.environ, PCGRAD_TEST_MARK=mark)
    subprocess.run([sys.executable, str(script)], env=env, check=True, timeout=600,
                   capture_output=True)

    def marked():
        found = []
        for environ in pathlib.Path("/proc").glob("[0-9]*/environ"):
            try:
                if mark.encode() in environ.read_bytes():
                    found.append(environ.parent.name)
            except OSError:
                pass
        return found

    deadline = time.monotonic() + 10
    while marked() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marked() == []


def test_a_long_fused_compile_is_announced_once_on_stderr(monkeypatch, capfd):
    from numba.core import event

    # the threshold lowered (each fused compile below takes about a second)
    # rather than the graphs made large; the notice is once per process, so
    # this process starts afresh
    monkeypatch.setattr(kernels, "NOTICE_AFTER", 0.1)
    monkeypatch.setattr(fusion, "_announced", threading.Event())

    def loss(x):
        return np.sum(np.tanh(x) * 1.5 + x * x * 0.01)
    twice = lambda x: loss(x) * 2.0  # noqa: E731
    pcgrad.jit(pcgrad.grad(twice), fuse=False)(numpy.ones(3))  # its kernels: no fused compile
    # a vector length no earlier run compiled: the generated loop bounds name it
    size = 1000 + uuid.uuid4().int % 10**6
    compiles = []
    for f, x in [(loss, numpy.linspace(-1.0, 1.0, size)), (twice, numpy.ones(size))]:
        with event.install_timer("numba:compile", compiles.append):
            pcgrad.jit(pcgrad.grad(f), fuse=True)(x)
    assert len(compiles) == 2 and min(compiles) > kernels.NOTICE_AFTER  # both outlast it
    err = capfd.readouterr().err
    assert err.count("pcgrad: compiling the fused replay of a") == 1, err


def test_the_loops_the_replay_calls_by_address_have_its_declared_signatures():
    from numba import types
    from numba.core.errors import TypingError

    from pcgrad import kernels
    from pcgrad.relax import forward_pass, settle_sweep
    assert kernels.address_of(forward_pass, fusion.FORWARD_PASS) != 0
    assert kernels.address_of(settle_sweep, fusion.SETTLE_SWEEP) != 0
    with pytest.raises(TypingError, match="mismatch of return type"):
        kernels.address_of(settle_sweep, types.none(*fusion.SETTLE_SWEEP.args))
