"""Write docs/numpy-support.md: every public name of pcgrad.numpy and
pcgrad.scipy, the primitives it is composed of, and how its derivative is tested.

    python docs/generate_numpy_table.py

The examples are the calls in tests/test_numpy_functions.py,
tests/test_numpy_tail.py, tests/test_linalg.py and tests/test_scipy.py. Each is traced
(pcgrad.tracing.Trace) with the function under test wrapped so that the nodes
recorded while it runs are its composition. The full trace is read, not the
pruned graph of pcgrad.trace: pruning drops what the derivative does not need,
such as the comparisons inside clip, and all of floor.
"""
import contextlib
import importlib
import pathlib
import sys

import numpy

import pcgrad.numpy as pnp
import pcgrad.scipy as pscipy
from pcgrad.tracing import Trace, Tracer

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "numpy-support.md"
TESTS = ("test_numpy_functions", "test_numpy_tail", "test_linalg", "test_scipy")
# functions of indices or of truth: tested for their plain numpy results
PLAIN_RESULTS = ("argmax", "argmin", "argsort", "allclose", "iscomplexobj", "isrealobj")


def load_tests():
    """The test modules (their parametrisation is the source), by name."""
    folder = str(ROOT / "tests")
    if folder not in sys.path:
        sys.path.insert(0, folder)  # they import each other's helpers
    return {name: importlib.import_module(name) for name in TESTS}


def numpy_names():
    return ([n for n in pnp.__all__ if n not in ("linalg", "lib")]
            + [f"linalg.{n}" for n in pnp.linalg.__all__ if n != "LinAlgError"]
            + ["lib.stride_tricks.sliding_window_view"])


def public_names():
    return numpy_names() + scipy_names()


def scipy_names():
    names = [f"special.{n}" for n in pscipy.special.__all__]
    names += [f"linalg.{n}" for n in pscipy.linalg.__all__]
    for dist in sorted(n for n in dir(pscipy.stats) if not n.startswith("_")):
        names += [f"stats.{dist}.{f}" for f in getattr(pscipy.stats, dist).__all__]
    return names


def _owner(root, name):
    """(object holding the attribute, attribute) of a dotted name under root."""
    *path, attr = name.split(".")
    for part in path:
        root = getattr(root, part)
    return root, attr


class _Recorded:
    """A stand-in for an indexable object (r_, c_) that records its calls."""

    def __init__(self, original, call):
        self._original, self._call = original, call

    def __getitem__(self, key):
        return self._call(lambda: self._original[key])


@contextlib.contextmanager
def recording(root, name, trace, calls):
    """Wrap root.<name> (and Tracer methods bound to it) so that each
    outermost call appends to ``calls`` the range of node ids it recorded in
    ``trace`` and whether it returned a traced array."""
    module, attr = _owner(root, name)
    original = getattr(module, attr)
    depth = 0

    def call(run):
        nonlocal depth
        start = len(trace)
        depth += 1
        try:
            result = run()
        finally:
            depth -= 1
        if depth == 0:
            traced = any(isinstance(r, Tracer) for r in
                         (result if isinstance(result, (list, tuple)) else [result]))
            calls.append((range(start, len(trace)), traced))
        return result

    if callable(original):
        def wrapper(*args, **kwargs):
            return call(lambda: original(*args, **kwargs))
    else:
        wrapper = _Recorded(original, call)
    targets = [(module, attr)] + [(Tracer, k) for k, v in list(vars(Tracer).items())
                                  if v is original]
    for owner, key in targets:
        setattr(owner, key, wrapper)
    try:
        yield
    finally:
        for owner, key in targets:
            setattr(owner, key, original)


def composition(root, name, fn, args, diff):
    """The primitive names recorded while ``fn(pcgrad.numpy, *args)`` runs
    root.<name>, and whether it ever returned a traced array."""
    calls, trace = [], Trace()
    with recording(root, name, trace, calls), trace, numpy.errstate(all="ignore"):
        fn(pnp, *[trace.leaf(numpy.asarray(a, float), f"x{i}") if i in diff else a
                  for i, a in enumerate(args)])
    nodes = trace.nx.nodes
    primitives = [nodes[n]["primitive"] for span, _ in calls for n in span
                  if nodes[n]["primitive"] != "constant"]
    return primitives, any(traced for _, traced in calls)


def examples(tests):
    """(name, fn, args, diff, references) for every example call in the tests."""
    zero = tests["test_numpy_functions"].ZERO_DERIVATIVE
    for module in tests.values():
        for c in module.CASES:
            references = [r for r, skip in (("autograd", c.no_autograd),
                                            ("finite differences", c.no_fd)) if not skip]
            if c.name in zero:
                references.append("exactly zero")
            yield c.name, c.fn, c.args, c.diff, references
    x = tests["test_numpy_functions"].off_integers(3, 4).sample(numpy.random.default_rng(0))
    for module in ("test_numpy_functions", "test_numpy_tail"):
        for name, fn in tests[module].PREDICATES.items():
            yield name.split("-")[0], fn, (x,), (0,), ["exactly zero"]
    yield "stop_gradient", lambda np, x: np.stop_gradient(x), (x,), (0,), ["exactly zero"]
    for name in PLAIN_RESULTS:
        yield name, lambda np, x, name=name: getattr(np, name)(x, x) if name == "allclose" \
            else getattr(np, name)(x), (x,), (0,), ["numpy (plain result)"]


REFERENCES = ("autograd", "finite differences", "exactly zero", "numpy (plain result)")


def describe(root, name, primitives, traced, references):
    """Notes: an alias, numpy's own object, a constant, the identity, a zero derivative."""
    fn = getattr(*_owner(root, name))
    module, attr = _owner(root, name)
    notes = []
    own_name = getattr(fn, "__name__", attr)
    if own_name != attr and own_name in getattr(module, "__all__", ()):
        notes.append(f"alias of `{own_name}`")
    if getattr(numpy, name, None) is fn:
        notes.append("numpy's own, re-exported")
    if "numpy (plain result)" in references:
        notes.append("no derivative: a plain numpy result")
    elif references and not traced:
        notes.append("constant: no derivative")
    elif traced and not primitives:
        notes.append("returns its argument")
    elif "exactly zero" in references:
        notes.append("zero derivative")
    return "; ".join(notes)


def rows(root, names, found):
    """The table rows of ``names`` under ``root``; ``found`` is keyed by (root, name)
    (pcgrad.numpy.linalg and pcgrad.scipy.linalg share names)."""
    out = []
    for name in names:
        primitives, traced, references = found.get((root, name), ([], False, set()))
        references = [r for r in REFERENCES if r in references]
        out.append((name, ", ".join(f"`{p}`" for p in primitives) or "—",
                    ", ".join(references) or "—",
                    describe(root, name, primitives, traced, references)))
    return out


def table():
    tests = load_tests()
    found = {}
    numpy_side, scipy_side = numpy_names(), scipy_names()
    for name, fn, args, diff, references in examples(tests):
        if name in numpy_side:
            root = pnp
        elif name.startswith("scipy."):  # pcgrad.scipy.linalg's cases
            root, name = pscipy, name[len("scipy."):]
        elif name in scipy_side or f"special.{name}" in scipy_side:
            root, name = pscipy, name if name.startswith("stats.") else f"special.{name}"
        else:  # Tracer operators and methods are listed below the tables
            continue
        primitives, traced, refs = found.get((root, name), ([], False, set()))
        new, returned_traced = composition(root, name, fn, args, diff)
        primitives += [p for p in dict.fromkeys(new) if p not in primitives]
        found[root, name] = primitives, traced or returned_traced, refs | set(references)
    numpy_rows, scipy_rows = rows(pnp, numpy_side, found), rows(pscipy, scipy_side, found)
    tested = [r for r in numpy_rows if r[2] != "—"]
    others = [f"`{r[0]}`" for r in numpy_rows if r[2] == "—"]
    header = ["| name | composed of | derivative tested against | notes |", "|---|---|---|---|"]
    lines = [
        "# pcgrad.numpy and pcgrad.scipy: supported functions",
        "",
        f"**{len(tested)} supported functions** in pcgrad.numpy and **{len(scipy_rows)}** in "
        "pcgrad.scipy, each with its derivative tested in tests/test_numpy_functions.py, "
        "tests/test_numpy_tail.py, tests/test_linalg.py and tests/test_scipy.py. "
        f"The {len(others)} other public "
        f"names of pcgrad.numpy are numpy's own, re-exported: {', '.join(others)}.",
        "",
        "Generated by `python docs/generate_numpy_table.py` from the examples in those tests "
        "(tests/test_docs_table.py keeps it current). *Composed of*: the primitives recorded "
        "while the function runs on those examples. *Derivative tested against*: autograd "
        "(rtol 1e-8 on the exact schedules, 1e-6 on euler), 4-point central finite "
        "differences (1e-8 of the gradient's scale), exactly zero, or numpy's own result "
        "for functions without a derivative; on every schedule.",
        "",
        "Functions of indices and of truth have no derivative: `argmax`, `argmin`, "
        "`argsort` and `allclose` return plain numpy results (as in autograd), and so does "
        "`x.astype(int)`; the predicates (`isfinite`, `isnan`, `isinf`, `isclose`, `all`, "
        "`any`, the comparisons) are traced with a zero derivative, so that compiled replay "
        "recomputes them. Complex numbers are not supported: `real`, `imag` and `conj` "
        "take real arrays, and complex input raises a TypeError.",
        "",
        "## pcgrad.numpy",
        "",
    ] + header
    lines += [f"| `{name}` | {prims} | {refs} | {notes} |"
              for name, prims, refs, notes in numpy_rows]
    methods = sorted({c.label for module in tests.values() for c in module.CASES
                      if c.name == "Tracer"})
    lines += ["", "Traced arrays' operators and methods tested the same way: "
              + ", ".join(f"`{m}`" for m in methods) + ".", ""]
    lines += [
        "## pcgrad.scipy",
        "",
        "`pcgrad.scipy.special`, `pcgrad.scipy.linalg` and the distributions of "
        "`pcgrad.scipy.stats` (each a "
        "module with scipy.stats' function names and arguments). The special functions' "
        "scalars (pcgrad/primitives/special.py) are compared with scipy.special on more than "
        "100,000 points each in tests/test_scipy.py. `gammainc`, `gammaincc` and `betainc` "
        "(and so the distribution functions of t, gamma, beta and chi2) are differentiable in "
        "x only; a traced shape parameter raises a TypeError. `multivariate_normal` is "
        "differentiable in x, mean and a (d, d) covariance matrix (through slogdet and solve). "
        "`pcgrad.scipy.integrate.odeint` and `pcgrad.scipy.signal.convolve` are tested "
        "against autograd and central differences in tests/test_integrate_signal.py "
        "(see [Custom derivatives](custom-derivatives.md)).",
        "",
    ] + header
    lines += [f"| `{name}` | {prims} | {refs} | {notes} |"
              for name, prims, refs, notes in scipy_rows]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    DOC.write_text(table())
    print(f"wrote {DOC.relative_to(ROOT)}")
