"""Kernels are compiled when a plan first uses them, cached on disk, and never stale.

Each test runs a fresh Python process with its own empty Numba cache folder,
so it measures what a new user meets on a fresh install.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(code, cache, cwd=ROOT, check=True):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(cwd))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


FIRST_USE = """
    import json, sys, numpy
    import pcgrad, pcgrad.numpy as np
    from pcgrad import kernels
    w = numpy.array([[0.5, -1.0], [0.25, 2.0]])
    g = pcgrad.grad(lambda w: np.sum(np.tanh(w @ w)))(w)
    out = {"g": g.tolist(), "compiled": kernels.compiled(),
           "scipy.linalg": "scipy.linalg" in sys.modules,
           "imported": sorted(m for m in sys.modules if m.startswith("pcgrad."))}
    import pcgrad.scipy.special as special
    out["scipy.special"] = ["scipy.special" in sys.modules]
    out["erf"] = pcgrad.grad(lambda x: np.sum(special.erf(x)))(numpy.array([0.5])).tolist()
    out["scipy.special"].append("scipy.special" in sys.modules)
    from pcgrad.jit import FUSE_AFTER
    import pcgrad.compare
    out["attributes"] = {name: type(getattr(pcgrad, name)).__name__ for name in dir(pcgrad)
                         if not name.startswith("_")}
    out["all"] = pcgrad.__all__
    import scipy.linalg
    from numba.extending import get_cython_function_address
    out["dgemm"] = [kernels.blas_dgemm(),
                    get_cython_function_address("scipy.linalg.cython_blas", "dgemm")]
    out["cython_blas"] = scipy.linalg.cython_blas.__name__
    out["solve"] = scipy.linalg.solve(numpy.diag([2.0, 4.0]), numpy.ones(2)).tolist()
    print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """FIRST_USE run in a fresh process with an empty cache, then in a second
    process with the same cache: each run's output and the cache files (name:
    modification time) after it."""
    cache = tmp_path_factory.mktemp("two_processes") / "cache"
    runs = []
    for _ in range(2):
        result = run(FIRST_USE, cache)
        runs.append({"out": json.loads(result.stdout), "stderr": result.stderr, "cache": cache,
                     "files": {p.name: p.stat().st_mtime_ns for p in cache.rglob("*.nbc")}})
    return runs


@pytest.fixture(scope="module")
def first_use(two_processes):
    """FIRST_USE's output in the fresh process: its first gradient, of a matrix
    product, and what that imported; then a special function's gradient,
    pcgrad's attributes and scipy.linalg imported after."""
    return two_processes[0]["out"]


def test_a_fresh_process_compiles_only_the_kernels_its_graph_uses(first_use):
    # matmul, tanh and sum: their error rules; no forward kernel (no strict, no jit)
    assert first_use["compiled"] == [["rule", "matmul"], ["rule", "sum"], ["rule", "tanh"]]


def test_a_second_process_reuses_the_compiled_kernels_from_the_disk_cache(two_processes):
    first, second = two_processes
    assert first["files"]
    assert second["files"] == first["files"]  # nothing compiled anew, nothing rewritten
    assert second["out"]["g"] == first["out"]["g"]


def test_a_long_compile_is_announced_once_on_stderr(two_processes):
    first, second = two_processes
    assert first["stderr"].count("pcgrad: compiling Numba kernels") == 1
    assert "later calls and processes reuse them" in first["stderr"]
    assert "pcgrad: compiling" not in second["stderr"]


def test_compiles_within_one_announcing_context_count_together(monkeypatch, capfd):
    # a first gradient compiles its loop and kernels one after another, each
    # maybe under NOTICE_AFTER: the time counts from the first compile of the
    # outermost context (Relaxation.run's), and the notice names what the
    # inner contexts compiled so far
    import threading
    import time
    from numba import njit
    from pcgrad import kernels
    monkeypatch.setattr(kernels, "NOTICE_AFTER", 0.5)
    once = threading.Event()

    def compiles(value):  # a fresh function: one compile of well under 0.5 s
        njit(lambda x: x + 1)(value)

    compiles(0)  # (Numba's first compile in a process takes longer)
    with kernels.announcing("alone", once=once):
        compiles(1)
    assert capfd.readouterr().err == "" and not once.is_set()
    with kernels.announcing(None, once=once):
        with kernels.announcing("one", once=once):
            compiles(1)
        with kernels.announcing("two", once=once):
            time.sleep(0.6)  # no compile here: the outer context's timer runs on
    err = capfd.readouterr().err
    assert err.count("pcgrad: compiling Numba kernels on first use (one, two);") == 1
    with kernels.announcing(None, once=once):  # once per process (per event)
        compiles(2)
        time.sleep(0.6)
    assert capfd.readouterr().err == ""


def test_no_notice_is_printed_within_unannounced_and_one_is_after_it(monkeypatch, capfd):
    # pcgrad.precompile compiles within unannounced: its progress bar says what
    # compiles, and the notice would tell the user to run precompile
    import threading
    import time
    from numba import njit
    from pcgrad import kernels
    monkeypatch.setattr(kernels, "NOTICE_AFTER", 0.2)
    monkeypatch.setattr(kernels, "_announced", threading.Event())

    def compiles_long(value):  # a fresh function's compile, then time passing
        njit(lambda x: x + 1)(value)
        time.sleep(0.4)

    with kernels.unannounced(), kernels.announcing("quiet"):
        compiles_long(1)
    assert capfd.readouterr().err == ""
    with kernels.announcing("after"):
        compiles_long(2)
    assert "pcgrad: compiling Numba kernels on first use (after);" in capfd.readouterr().err


# the smallest graph with a kernel: tanh's error rule, which inlines tanh_d from
# primitives/elementwise.py and helpers from primitives/core.py
TANH = """
    import json
    import pcgrad, pcgrad.numpy as np
    print(json.dumps(float(pcgrad.grad(np.tanh)(0.5))))
"""
TANH_D = "def tanh_d(x, y): return 1.0 - y * y"


@pytest.fixture(scope="module")
def edited_copy(tmp_path_factory):
    """A copy of the package, run in fresh processes on one cache folder, each
    computing TANH: compiled ("first"), reused ("second"), after an edit of
    primitives/core.py, which the kernels only inline from ("core edited"), and
    after an edit of tanh's derivative in primitives/elementwise.py ("tanh
    edited"). Each run's gradient and the cache files (path: modification time)
    after it, and whether the copy held TANH_D to edit."""
    folder = tmp_path_factory.mktemp("edited_copy")
    copy, cache = folder / "src", folder / "cache"
    shutil.copytree(ROOT / "pcgrad", copy / "pcgrad",
                    ignore=shutil.ignore_patterns("__pycache__"))

    def fresh_process():
        g = json.loads(run(TANH, cache, cwd=copy).stdout)
        return {"g": g, "files": {p: p.stat().st_mtime_ns for p in cache.rglob("*.nbc")}}
    runs = {"first": fresh_process(), "second": fresh_process()}
    core = copy / "pcgrad" / "primitives" / "core.py"
    core.write_text(core.read_text() + "\n# an edit\n")
    runs["core edited"] = fresh_process()
    source = copy / "pcgrad" / "primitives" / "elementwise.py"
    text = source.read_text()
    runs["held TANH_D"] = TANH_D in text
    source.write_text(text.replace(TANH_D, "def tanh_d(x, y): return 2.0 - y * y"))
    runs["tanh edited"] = fresh_process()
    return runs


def test_editing_a_kernel_source_never_leaves_stale_compiled_code_in_use(edited_copy):
    # the copy's tanh rule compiled, then its tanh derivative edited in a helper
    # file: the next process must compute with the edited rule
    assert edited_copy["held TANH_D"]
    before, after = edited_copy["core edited"]["g"], edited_copy["tanh edited"]["g"]
    # d/dx tanh(x) = 1 - tanh(x)^2: the edit adds 1
    assert after == pytest.approx(before + 1, rel=1e-12)


def test_editing_a_file_the_kernels_only_inline_from_drops_the_cached_code(edited_copy):
    # Numba keys cached code by its own file; the kernels also inline helpers
    # from primitives/core.py, so an edit there must drop what was compiled
    first = edited_copy["first"]["files"]
    assert edited_copy["second"]["files"] == first  # reused
    again = edited_copy["core edited"]["files"]
    assert again and all(again[p] > first.get(p, 0) for p in again)  # all compiled anew


def test_import_pcgrad_leaves_scipy_special_unimported_until_a_special_function_runs(
        first_use):
    assert first_use["scipy.special"] == [False, True]
    assert first_use["erf"][0] == pytest.approx(2 / numpy.pi ** 0.5 * numpy.exp(-0.25),
                                                rel=1e-12)


def test_jacobi_and_euler_read_their_inputs_out_with_the_sweeps_compiled_code(two_processes,
                                                                               tmp_path):
    # the read-out calls settle_sweep by address: the signature it asks for must
    # be the one a sweep gradient compiles, or the sweep would compile twice
    code = """
        import importlib, json, numpy
        import pcgrad, pcgrad.numpy as np
        relax = importlib.import_module("pcgrad.relax")
        w = numpy.array([[0.5, -1.0], [0.25, 2.0]])
        grads = [pcgrad.grad(lambda w: np.sum(np.tanh(w @ w)), schedule=schedule)(w).tolist()
                 for schedule in ("jacobi", "euler", "sweep")]
        print(json.dumps({"grads": grads, "sweeps": len(relax.settle_sweep.signatures)}))
    """
    cache = tmp_path / "cache"
    shutil.copytree(pathlib.Path(two_processes[0]["cache"]), cache)  # the kernels, compiled
    out = json.loads(run(code, cache).stdout)
    w = numpy.array([[0.5, -1.0], [0.25, 2.0]])
    dy = 1 - numpy.tanh(w @ w) ** 2  # d/dw sum(tanh(w w)) = dy w.T + w.T dy
    for g in out["grads"]:
        numpy.testing.assert_allclose(g, dy @ w.T + w.T @ dy, rtol=1e-8)
    assert out["sweeps"] == 1


def test_a_first_gradient_through_a_matrix_product_leaves_scipy_linalg_unimported(first_use):
    assert ["rule", "matmul"] in first_use["compiled"]  # it called BLAS dgemm
    assert first_use["scipy.linalg"] is False
    w = numpy.array([[0.5, -1.0], [0.25, 2.0]])
    dy = 1 - numpy.tanh(w @ w) ** 2  # d/dw sum(tanh(w w)) = dy w.T + w.T dy
    assert first_use["g"] == pytest.approx(dy @ w.T + w.T @ dy, rel=1e-12)


def test_blas_dgemm_is_the_address_numba_finds_for_scipys_dgemm(first_use):
    address, numbas = first_use["dgemm"]
    assert address == numbas != 0


def test_scipy_linalg_imported_after_a_first_gradient_works_as_usual(first_use):
    assert first_use["cython_blas"] == "scipy.linalg.cython_blas"
    assert first_use["solve"] == [0.5, 0.25]


def test_a_first_gradient_imports_none_of_the_modules_it_does_not_need(first_use):
    unneeded = {"pcgrad." + m for m in ("compare", "custom", "distributed", "extend", "fusion",
                                        "jit", "lax", "nn", "optim", "pc", "scipy", "testing",
                                        "viz", "primitives.custom")}
    assert unneeded.isdisjoint(first_use["imported"])


def test_the_modules_imported_on_first_use_are_attributes_of_pcgrad(first_use):
    # imported as modules first (from pcgrad.jit import ...), pcgrad.jit and
    # pcgrad.compare stay the functions
    kinds = first_use["attributes"]
    assert {kinds[name] for name in ("jit", "compare", "precompile", "pc_node", "infer")} == {
        "function"}
    assert kinds["custom_vjp"] == kinds["PrecisionLearner"] == "type"
    assert {kinds[name] for name in ("custom", "distributed", "extend", "fusion", "lax", "nn",
                                     "optim", "pc", "scipy", "testing", "viz")} == {"module"}
    assert set(kinds) >= set(first_use["all"])


def test_blas_dgemm_falls_back_to_importing_scipy_linalg_where_the_file_is_not_found(monkeypatch):
    from numba.extending import get_cython_function_address
    from pcgrad import kernels

    def not_found():
        raise ImportError("no scipy.linalg.cython_blas extension file")
    monkeypatch.setattr(kernels, "_cython_blas", not_found)
    monkeypatch.setattr(kernels, "_dgemm", [])
    assert kernels.blas_dgemm() == get_cython_function_address("scipy.linalg.cython_blas", "dgemm")


# Two processes save kernels of one family (two unary functions' error rules)
# at the same moment: Numba reads a function's index, picks a data-file name,
# writes the index, then the data. They meet at a barrier just before reading
# the index (NUMBA_RACE_BARRIER), and each waits a little before writing it
# back, so that two processes saving to one index would both read it as it was
# (the lock of kernels._LazyCache keeps them apart; each kernel now also has an
# index of its own, see kernels.distinct).
RACING = """
    import json, os, pathlib, sys, time, numpy
    from numba.core import caching
    barrier = pathlib.Path(os.environ["NUMBA_RACE_BARRIER"])
    save, save_index = caching.IndexDataCacheFile.save, caching.IndexDataCacheFile._save_index

    def racing(self, key, data):
        if "_unary_rule" in self._index_path:
            (barrier / str(os.getpid())).touch()
            until = time.monotonic() + 3.0  # the other is held up by a lock, if any
            while len(list(barrier.iterdir())) < 2 and time.monotonic() < until:
                time.sleep(0.01)
        return save(self, key, data)

    def slow_index(self, overloads):
        if "_unary_rule" in self._index_path:
            time.sleep(0.5)
        return save_index(self, overloads)

    caching.IndexDataCacheFile.save, caching.IndexDataCacheFile._save_index = racing, slow_index
    import pcgrad, pcgrad.numpy as np
    f = getattr(np, sys.argv[1])
    print(json.dumps(pcgrad.grad(lambda x: np.sum(f(x)))(numpy.array([0.3, 0.7])).tolist()))
"""

AFTER_THE_RACE = """
    import json, numpy
    from numba.core import event
    import pcgrad, pcgrad.numpy as np
    with event.install_recorder("numba:compile") as recorded:
        x = numpy.array([0.3, 0.7])
        grads = {name: pcgrad.grad(lambda x: np.sum(getattr(np, name)(x)))(x).tolist()
                 for name in ("cosh", "arcsinh")}
    names = [e.data["dispatcher"].py_func.__qualname__ for _, e in recorded.buffer
             if e.is_start]
    print(json.dumps({"grads": grads, "compiled": names}))
"""


def test_processes_saving_kernels_of_one_family_at_once_keep_each_its_own_code(
        two_processes, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(pathlib.Path(two_processes[0]["cache"]), cache)  # sum's rule, the sweep
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT),
               NUMBA_RACE_BARRIER=str(barrier))
    racers = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(RACING), name], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for name in ("cosh", "arcsinh")]
    outs = [racer.communicate(timeout=600) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), [err for _, err in outs]
    assert len(list(barrier.iterdir())) == 2  # both saved a unary rule
    after = json.loads(run(AFTER_THE_RACE, cache).stdout)
    x = numpy.array([0.3, 0.7])
    numpy.testing.assert_allclose(after["grads"]["cosh"], numpy.sinh(x), rtol=1e-12)
    numpy.testing.assert_allclose(after["grads"]["arcsinh"], 1 / numpy.sqrt(x * x + 1),
                                  rtol=1e-12)
    assert not [name for name in after["compiled"]  # both loaded from the cache
                if name.startswith("_unary_rule.<locals>.rule")]


# Numba names compiled code after the function's qualified name and a counter
# of the process compiling it. After a first process has cached what every
# gradient here needs but the functions' own pieces, two processes each
# compile one n-ary function's pieces first (so at the same count); a third
# loads both from the cache, then asks for one's address again (a
# broadcasting kernel of it): a lookup by a shared name would find the other's.
ALIKE = """
    import json, numpy
    import pcgrad, pcgrad.numpy as np
    from pcgrad.primitives import elementwise
    a = numpy.array([3.0, 4.0])
    ops = {"hypot": lambda a: np.sum(np.hypot(a, a)),
           "multiply": lambda a: np.sum(a) * 10.0, "divide": lambda a: np.sum(a) / 10.0,
           "divide (broadcast)": lambda a: np.sum(a) / numpy.array([10.0])}
    grads = {name: pcgrad.grad(ops[name])(a).tolist() for name in NAMES}
    codes = {row[0]: i for i, row in enumerate(elementwise.NARY_TABLE) if row[0] in NAMES}
    rules = {name: int(elementwise.PIECES[3 * i + 1]) for name, i in codes.items()}
    symbols = {name: elementwise._pieces_of(i)[1].get_compile_result(
        elementwise.PIECE_RULE).fndesc.llvm_func_name for name, i in codes.items()}
    print(json.dumps({"grads": grads, "rules": rules, "symbols": symbols}))
"""


def test_functions_compiled_alike_in_two_processes_keep_their_own_code_in_a_third(tmp_path):
    cache = tmp_path / "cache"
    for name in ("hypot", "multiply", "divide"):
        run(f"NAMES = [{name!r}]" + textwrap.dedent(ALIKE), cache)
    out = json.loads(run('NAMES = ["divide", "multiply", "divide (broadcast)"]'
                         + textwrap.dedent(ALIKE), cache).stdout)
    assert out["grads"] == {"divide": [0.1, 0.1], "multiply": [10.0, 10.0],
                            "divide (broadcast)": [0.1, 0.1]}
    assert out["rules"]["divide"] != out["rules"]["multiply"]
    # what the JIT finds them by (which of two alike it found was left to chance)
    assert out["symbols"]["divide"] != out["symbols"]["multiply"]
