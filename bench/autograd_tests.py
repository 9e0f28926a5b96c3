"""Run autograd's own test files with their imports pointed at pcgrad, and count.

autograd's sdist ships tests/ (test_numpy.py, test_linalg.py, ...) written
against ``autograd.test_util.check_grads``. This script copies that folder
twice, runs pytest on each copy, once under real autograd (the baseline) and
once with a conftest that maps ``autograd`` to pcgrad in sys.modules before
collection (the mapping of bench/autograd_examples.py, plus an
``autograd.test_util`` whose check_grads/combo_check compare pcgrad's vjp (and
for order 2 the vjp of the vjp) and pcgrad.jvp with central differences in
random directions, the way autograd's test_util does), and prints per file
passed / failed / errors and the commonest failure reasons.

    python bench/autograd_tests.py --tests /tmp/agx/autograd-1.9.1/tests
    python bench/autograd_tests.py --tests DIR test_graphs.py --engine pcgrad

Each file runs in its own pytest process under ``timeout`` (``--timeout``
seconds); results are streamed to a JSON-lines file as tests finish, so a
timed-out file still reports the tests it got through.
"""
import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = ["test_numpy.py", "test_linalg.py", "test_graphs.py", "test_scipy.py",
         "test_systematic.py"]

# autograd.test_util's tolerances
TOL = RTOL = EPS = 1e-6


# --- check_grads over pcgrad ----------------------------------------------------------------------
def _leaves(tree):
    from pcgrad.pytree import flatten
    return flatten(tree)


def _as_array(x):
    import numpy
    x = numpy.asarray(x)
    return x if numpy.iscomplexobj(x) else x.astype(float)


def _randn_like(tree):
    """autograd's vspace(x).randn(): standard normals (complex parts for complex leaves)."""
    import numpy
    leaves, unflatten = _leaves(tree)
    out = []
    for leaf in leaves:
        shape = numpy.shape(leaf)
        r = numpy.asarray(numpy.random.randn(*shape))
        if numpy.iscomplexobj(leaf):
            r = r + 1j * numpy.random.randn(*shape)
        out.append(r if shape else r[()])
    return unflatten(out)


def _inner(a, b):
    import numpy
    la, lb = _leaves(a)[0], _leaves(b)[0]
    assert len(la) == len(lb), f"structure mismatch: {len(la)} vs {len(lb)} leaves"
    return float(sum(numpy.real(numpy.vdot(numpy.asarray(x), numpy.asarray(y)))
                     for x, y in zip(la, lb)))


def _axpy(a, x, y):
    """y + a * x over two trees of the same structure."""
    import numpy
    lx, unflatten = _leaves(x)
    ly = _leaves(y)[0]
    return unflatten([_as_array(q) + a * numpy.asarray(p) for p, q in zip(lx, ly)])


def _scalar_close(a, b):
    return abs(a - b) < TOL or abs(a - b) / abs(a + b) < RTOL


def _numerical_jvp(f, x):
    def jvp(v):
        plus, minus = f(_axpy(EPS / 2, v, x)), f(_axpy(-EPS / 2, v, x))
        return _axpy(-1.0, minus, plus), 1.0 / EPS
    return jvp


def _name(f):
    return getattr(f, "__name__", repr(f))


def _vjp(f, x):
    """(y, vjp) with pcgrad: vjp(cotangent) is the cotangent on x (same structure)."""
    import numpy
    import pcgrad
    import pcgrad.numpy as pnp
    y = f(x)
    leaves, _ = _leaves(y)
    if not isinstance(y, (tuple, list, dict)) or len(leaves) == 0:
        _, fn = pcgrad.vjp(f, x)
        return y, (lambda g: fn(g)[0])
    # pcgrad.vjp takes one output array: a tuple/list/dict output goes in raveled and joined
    flat = lambda x: pnp.concatenate([pnp.ravel(leaf) for leaf in _leaves(f(x))[0]])  # noqa
    _, fn = pcgrad.vjp(flat, x)
    return y, (lambda g: fn(numpy.concatenate([numpy.ravel(leaf)
                                               for leaf in _leaves(g)[0]]))[0])


def _jvp(f, x, v):
    """pcgrad.jvp over x's leaves (jvp takes arrays, one per primal)."""
    import numpy
    import pcgrad
    import pcgrad.numpy as pnp
    leaves, unflatten = _leaves(x)
    tangents = _leaves(v)[0]
    y = f(x)
    out, rebuild = _leaves(y)
    if not isinstance(y, (tuple, list, dict)) or len(out) == 0:
        return pcgrad.jvp(lambda *ls: f(unflatten(list(ls))), tuple(leaves), tuple(tangents))
    # pcgrad.jvp takes one output array: a tuple/list/dict output goes in raveled and joined
    flat = lambda *ls: pnp.concatenate([pnp.ravel(leaf)  # noqa: E731
                                        for leaf in _leaves(f(unflatten(list(ls))))[0]])
    _, t = pcgrad.jvp(flat, tuple(leaves), tuple(tangents))
    sizes = numpy.cumsum([numpy.size(leaf) for leaf in out])[:-1]
    return y, rebuild([numpy.reshape(part, numpy.shape(leaf))
                       for part, leaf in zip(numpy.split(numpy.asarray(t), sizes), out)])


def check_vjp(f, x):
    y, vjp = _vjp(f, x)
    x_v, y_v = _randn_like(x), _randn_like(y)
    vjp_y = vjp(y_v)
    exact = _inner(x_v, vjp_y)
    diff, scale = _numerical_jvp(f, x)(x_v)
    numeric = _inner(y_v, diff) * scale
    assert _scalar_close(numeric, exact), (
        f"Derivative (VJP) check of {_name(f)} failed with arg {x}:\n"
        f"analytic: {exact}\nnumeric:  {numeric}")


def check_jvp(f, x):
    x_v = _randn_like(x)
    _, exact = _jvp(f, x, x_v)
    diff, scale = _numerical_jvp(f, x)(x_v)
    v = _randn_like(exact)
    a, b = _inner(exact, v), _inner(diff, v) * scale
    assert _scalar_close(a, b), f"Value mismatch (JVP) of {_name(f)}:\nx: {a}\ny: {b}"


def _unary_check(f, x, modes, order):
    assert all(m in ["fwd", "rev"] for m in modes)
    if "fwd" in modes:
        check_jvp(f, x)
        if order > 1:
            grad_f = lambda x, v: _jvp(f, x, v)[1]  # noqa: E731
            grad_f.__name__ = f"jvp_{_name(f)}"
            check_grads(grad_f, (0, 1), modes, order=order - 1)(x, _randn_like(x))
    if "rev" in modes:
        check_vjp(f, x)
        if order > 1:
            grad_f = lambda x, v: _vjp(f, x)[1](v)  # noqa: E731
            grad_f.__name__ = f"vjp_{_name(f)}"
            check_grads(grad_f, (0, 1), modes, order=order - 1)(x, _randn_like(f(x)))


def check_grads(fun, argnum=0, modes=["fwd", "rev"], order=2):  # noqa: B006
    """autograd.test_util.check_grads (unary_to_nary: x is args[argnum], or a tuple of them).
    With AUTOGRAD_SHIM_MODES=rev in the environment (``--modes rev``) only reverse mode
    is checked, whatever the test asks."""
    only = os.environ.get("AUTOGRAD_SHIM_MODES")
    if only:
        modes = [m for m in modes if m in only.split(",")]

    def nary(*args, **kwargs):
        def unary(x):
            new = list(args)
            if isinstance(argnum, int):
                new[argnum] = x
            else:
                for n, xn in zip(argnum, x):
                    new[n] = xn
            return fun(*new, **kwargs)
        unary.__name__ = _name(fun)
        x = args[argnum] if isinstance(argnum, int) else tuple(args[n] for n in argnum)
        return _unary_check(unary, x, modes, order)
    return nary


def combo_check(fun, *args, **kwargs):
    from itertools import product
    _check = lambda f: check_grads(f, *args, **kwargs)  # noqa: E731

    def _combo_check(*args, **kwargs):
        kwarg_key_vals = [[(k, x) for x in xs] for k, xs in kwargs.items()]
        for _args in product(*args):
            for _kwargs in product(*kwarg_key_vals):
                _check(fun)(*_args, **dict(_kwargs))
    return _combo_check


# --- the shim -------------------------------------------------------------------------------------
def install():
    """autograd -> pcgrad in sys.modules (bench/autograd_examples.py's mapping, plus
    autograd.scipy.linalg and this file's test_util)."""
    import types
    sys.path.insert(0, HERE)
    import autograd_examples
    autograd_examples.install_shim(iters=10 ** 9)
    modules = {"autograd.test_util": types.ModuleType("autograd.test_util")}
    modules["autograd.test_util"].__dict__.update(
        check_grads=check_grads, combo_check=combo_check, check_vjp=check_vjp,
        check_jvp=check_jvp, scalar_close=_scalar_close)
    try:
        import pcgrad.scipy.linalg
        modules["autograd.scipy.linalg"] = pcgrad.scipy.linalg
    except ImportError:
        pass
    # samplers (rvs) are not differentiated: autograd's are scipy's; fill in the missing ones
    import scipy.stats
    import pcgrad.scipy.stats
    for name in dir(pcgrad.scipy.stats):
        sub, real = getattr(pcgrad.scipy.stats, name), getattr(scipy.stats, name, None)
        if isinstance(sub, types.ModuleType) and real is not None and not hasattr(sub, "rvs") \
                and hasattr(real, "rvs"):
            sub.rvs = real.rvs
    top = sys.modules["autograd"]
    import builtins
    # autograd's differentiable containers; pcgrad traces through plain ones
    top.tuple, top.list, top.dict = builtins.tuple, builtins.list, builtins.dict
    for name, value in modules.items():
        sys.modules[name] = value
        parent, _, child = name.rpartition(".")
        setattr(sys.modules[parent], child, value)


# --- result streaming (a pytest plugin, loaded by the copy's conftest) --------------------------
CONFTEST = '''
import json, os, sys
sys.path.insert(0, {here!r})
if {shim!r}:
    import autograd_tests
    autograd_tests.install()

_LOG = {log!r}


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        message = ""
        if report.outcome == "failed":
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else str(report.longrepr)[-400:]
        with open(_LOG, "a") as f:
            f.write(json.dumps(dict(id=report.nodeid, when=report.when,
                                    outcome=report.outcome, message=message)) + "\\n")


def pytest_collectreport(report):
    if report.failed:
        with open(_LOG, "a") as f:
            f.write(json.dumps(dict(id=report.nodeid, when="collect", outcome="failed",
                                    message=str(report.longrepr)[-400:])) + "\\n")
'''


def run_file(tests, name, engine, timeout, work, modes=None):
    copy = os.path.join(work, engine, "tests")
    if not os.path.exists(copy):
        shutil.copytree(tests, copy)
        with open(os.path.join(copy, "conftest.py"), "a") as f:
            f.write(CONFTEST.format(here=HERE, shim=engine == "pcgrad",
                                    log=os.path.join(copy, "results.jsonl")))
    log = os.path.join(copy, "results.jsonl")
    start = sum(1 for _ in open(log)) if os.path.exists(log) else 0
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    if modes and engine == "pcgrad":
        env["AUTOGRAD_SHIM_MODES"] = modes
    command = ["taskset", "-c", "0", "timeout", str(timeout), sys.executable, "-m", "pytest",
               "-q", "-p", "no:cacheprovider", "-W", "ignore", name]
    done = subprocess.run(command, cwd=copy, capture_output=True, text=True, env=env)
    records = []
    if os.path.exists(log):
        with open(log) as f:
            records = [json.loads(line) for line in f.readlines()[start:]]
    return records, done.returncode, done.stdout.strip().splitlines()[-1:] if done.stdout else []


def reason(message):
    """A failure's category: its first line, numbers and arrays blanked, cut short."""
    first = (message.strip().splitlines() or [""])[0]
    first = re.sub(r"array\(.*", "array(...)", first)
    first = re.sub(r"[-+]?\d+(\.\d*)?(e[-+]?\d+)?", "#", first)
    return first[:90]


def summarize(records):
    passed = sum(1 for r in records if r["when"] == "call" and r["outcome"] == "passed")
    skipped = sum(1 for r in records if r["outcome"] == "skipped")
    failed = [r for r in records if r["when"] == "call" and r["outcome"] == "failed"]
    errors = [r for r in records if r["when"] != "call" and r["outcome"] == "failed"]
    return passed, failed, errors, skipped


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", default=FILES)
    parser.add_argument("--tests", default="/tmp/agx/autograd-1.9.1/tests",
                        help="autograd's unpacked tests/ folder")
    parser.add_argument("--engine", choices=["both", "pcgrad", "autograd"], default="both")
    parser.add_argument("--timeout", type=int, default=400)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--modes", help="pcgrad runs: check only these modes (e.g. rev), "
                        "whatever the tests ask for (default: as the tests ask)")
    parser.add_argument("--work", help="where the copies go (default: a temporary folder)")
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="autograd-tests-")
    engines = ["autograd", "pcgrad"] if args.engine == "both" else [args.engine]
    reasons = collections.Counter()
    examples = {}
    rows = []
    for name in args.files:
        for engine in engines:
            records, code, tail = run_file(args.tests, name, engine, args.timeout, work,
                                             args.modes)
            passed, failed, errors, skipped = summarize(records)
            note = " (timed out)" if code == 124 else ""
            rows.append((name, engine, passed, len(failed), len(errors), skipped, note))
            print(f"{name:20s} {engine:9s} passed {passed:4d}  failed {len(failed):4d}  "
                  f"errors {len(errors):3d}  skipped {skipped:3d}{note}", flush=True)
            if engine == "pcgrad":
                for r in failed + errors:
                    key = reason(r["message"])
                    reasons[key] += 1
                    examples.setdefault(key, r["id"])
    if reasons:
        print(f"\nCommonest failure reasons under pcgrad (of {sum(reasons.values())}):")
        for key, count in reasons.most_common(args.top):
            print(f"{count:5d}  {key}\n       e.g. {examples[key]}")
    print(f"\nresults (JSON lines per engine) under {work}")


if __name__ == "__main__":
    main()
