"""Write docs/numpy-support.md: every public name of pcgrad.numpy, the primitives
it is composed of, and how its derivative is tested.

    python docs/generate_numpy_table.py

The examples are the calls in tests/test_numpy_functions.py. Each is traced
(pcgrad.tracing.Trace) with the function under test wrapped so that the nodes
recorded while it runs are its composition. The full trace is read, not the
pruned graph of pcgrad.trace: pruning drops what the derivative does not need,
such as the comparisons inside clip, and all of floor.
"""
import contextlib
import importlib.util
import pathlib
import sys

import numpy

import pcgrad.numpy as pnp
from pcgrad.tracing import Trace, Tracer

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "numpy-support.md"


def load_tests():
    """tests/test_numpy_functions.py as a module (its parametrisation is the source)."""
    path = ROOT / "tests" / "test_numpy_functions.py"
    spec = importlib.util.spec_from_file_location("numpy_support_examples", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def public_names():
    return [n for n in pnp.__all__ if n != "linalg"] + ["linalg.norm"]


def _owner(name):
    return (pnp.linalg, "norm") if name == "linalg.norm" else (pnp, name)


@contextlib.contextmanager
def recording(name, trace, calls):
    """Wrap pcgrad.numpy.<name> (and Tracer methods bound to it) so that each
    outermost call appends to ``calls`` the range of node ids it recorded in
    ``trace`` and whether it returned a traced array."""
    module, attr = _owner(name)
    original = getattr(module, attr)
    depth = 0

    def wrapper(*args, **kwargs):
        nonlocal depth
        start = len(trace.nx)
        depth += 1
        try:
            result = original(*args, **kwargs)
        finally:
            depth -= 1
        if depth == 0:
            traced = any(isinstance(r, Tracer) for r in
                         (result if isinstance(result, (list, tuple)) else [result]))
            calls.append((range(start, len(trace.nx)), traced))
        return result

    targets = [(module, attr)] + [(Tracer, k) for k, v in list(vars(Tracer).items())
                                  if v is original]
    for owner, key in targets:
        setattr(owner, key, wrapper)
    try:
        yield
    finally:
        for owner, key in targets:
            setattr(owner, key, original)


def composition(name, fn, args, diff):
    """The primitive names recorded while ``fn(pcgrad.numpy, *args)`` runs ``name``,
    and whether ``name`` ever returned a traced array."""
    calls, trace = [], Trace()
    with recording(name, trace, calls), trace, numpy.errstate(all="ignore"):
        fn(pnp, *[trace.leaf(numpy.asarray(a, float), f"x{i}") if i in diff else a
                  for i, a in enumerate(args)])
    nodes = trace.nx.nodes
    primitives = [nodes[n]["primitive"] for span, _ in calls for n in span
                  if nodes[n]["primitive"] != "constant"]
    return primitives, any(traced for _, traced in calls)


def examples(tests):
    """(name, fn, args, diff, references) for every example call in the tests."""
    for c in tests.CASES:
        references = [r for r, skip in (("autograd", c.no_autograd), ("finite differences",
                                                                      c.no_fd)) if not skip]
        if c.name in tests.ZERO_DERIVATIVE:
            references.append("exactly zero")
        yield c.name, c.fn, c.args, c.diff, references
    x = tests.off_integers(3, 4).sample(numpy.random.default_rng(0))
    for name, fn in tests.PREDICATES.items():
        yield name, fn, (x,), (0,), ["exactly zero"]
    yield "stop_gradient", lambda np, x: np.stop_gradient(x), (x,), (0,), ["exactly zero"]


REFERENCES = ("autograd", "finite differences", "exactly zero")


def describe(name, primitives, traced, references):
    """Notes: an alias, numpy's own object, a constant, the identity, a zero derivative."""
    fn = getattr(*_owner(name))
    notes = []
    if name != "linalg.norm" and fn.__name__ != name and fn.__name__ in pnp.__all__:
        notes.append(f"alias of `{fn.__name__}`")
    if getattr(numpy, name, None) is fn:
        notes.append("numpy's own, re-exported")
    if references and not traced:
        notes.append("constant: no derivative")
    elif traced and not primitives:
        notes.append("returns its argument")
    elif "exactly zero" in references:
        notes.append("zero derivative")
    return "; ".join(notes)


def table():
    tests = load_tests()
    found, names = {}, public_names()
    for name, fn, args, diff, references in examples(tests):
        if name not in names:  # Tracer operators and methods are listed below the table
            continue
        primitives, traced, refs = found.get(name, ([], False, set()))
        new, returned_traced = composition(name, fn, args, diff)
        primitives += [p for p in dict.fromkeys(new) if p not in primitives]
        found[name] = primitives, traced or returned_traced, refs | set(references)
    rows = []
    for name in names:
        primitives, traced, references = found.get(name, ([], False, set()))
        references = [r for r in REFERENCES if r in references]
        rows.append((name, ", ".join(f"`{p}`" for p in primitives) or "—",
                     ", ".join(references) or "—",
                     describe(name, primitives, traced, references)))
    tested = [r for r in rows if r[2] != "—"]
    others = [f"`{r[0]}`" for r in rows if r[2] == "—"]
    lines = [
        "# pcgrad.numpy: supported functions",
        "",
        f"**{len(tested)} supported functions**, each with its derivative tested in "
        f"tests/test_numpy_functions.py. The {len(others)} other public names are numpy's "
        f"own, re-exported: {', '.join(others)}.",
        "",
        "Generated by `python docs/generate_numpy_table.py` from the examples in "
        "tests/test_numpy_functions.py (tests/test_docs_table.py keeps it current). "
        "*Composed of*: the primitives recorded while the function runs on those examples. "
        "*Derivative tested against*: autograd (rtol 1e-8 on the exact schedules, 1e-6 on "
        "euler), 4-point central finite differences (1e-8 of the gradient's scale), or "
        "exactly zero; on every schedule.",
        "",
        "| name | composed of | derivative tested against | notes |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{name}` | {prims} | {refs} | {notes} |" for name, prims, refs, notes in rows]
    methods = sorted({c.label for c in tests.CASES if c.name == "Tracer"})
    lines += ["", "Traced arrays' operators and methods tested the same way: "
              + ", ".join(f"`{m}`" for m in methods) + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    DOC.write_text(table())
    print(f"wrote {DOC.relative_to(ROOT)}")
