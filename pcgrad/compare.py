"""Compare pcgrad's gradients with other engines': one function, several engines.

Write the function once with its numpy module as a keyword argument whose
default is ``pcgrad.numpy``::

    import pcgrad.numpy as pnp

    def loss(w, x, np=pnp):
        return np.sum(np.tanh(x @ w) ** 2)

``pcgrad.grad(loss)`` runs it as it is; ``pcgrad.compare(loss, w, x)`` also
runs it with ``np=autograd.numpy`` under autograd and ``np=jax.numpy`` under
JAX, and reports, for each input leaf and schedule, how pcgrad's gradient
differs from theirs, with timings. ``python -m pcgrad compare
module:function --args ...`` does the same from the command line.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence, TextIO

import numpy as np

from .api import _argnums, grad
from .pytree import leaf_paths

ENGINES = ("autograd", "jax")


class _Stdout:
    """compare's default file: sys.stdout when it prints, not when this module
    was imported, so that redirect_stdout and captured output see the report."""

    def __repr__(self) -> str:
        return "sys.stdout"


STDOUT: Any = _Stdout()
INSTALL = {"autograd": "pip install autograd", "jax": 'pip install "jax[cpu]"'}


@dataclass
class Row:
    """pcgrad's gradient at one input leaf, by one schedule, against one reference.

    ``max_rel`` is max|g - ref| / max|ref|; ``cosine`` the cosine of the angle
    between them (1 when both are zero); ``agree``: max|g - ref| <= atol +
    rtol max|ref|."""
    input: str
    schedule: str
    reference: str
    max_abs: float
    max_rel: float
    cosine: float
    iterations: int
    agree: bool


@dataclass
class Timing:
    """Seconds per call of one engine: the first call (tracing, compiling) and
    the best of the later ones."""
    engine: str
    first: float
    per_call: float


@dataclass
class Comparison:
    """What ``compare`` found: ``rows`` (one per input leaf, schedule and
    reference), ``timings``, and ``skipped`` (engine -> why it did not run).
    ``ok`` is True when there was something to compare and all of it agreed.
    ``str()`` is the printed report."""
    title: str
    rows: list[Row] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    rtol: float = 1e-6

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(row.agree for row in self.rows)

    def __str__(self) -> str:
        lines = [self.title]
        lines += [f"  {engine}: skipped ({why})" for engine, why in self.skipped.items()]
        if self.rows:
            lines.append(f"\ngradients (max rel = max|g - ref| / max|ref|; agree: within "
                         f"rtol {self.rtol:g}):")
            width = max(len("input"), *(len(row.input) for row in self.rows))
            refs = max(len("reference"), *(len(row.reference) for row in self.rows))
            lines.append(f"  {'input':<{width}}  {'schedule':<8}  {'reference':<{refs}}  "
                         f"{'max abs':>8}  {'max rel':>8}  {'cosine':>12}  {'iters':>6}  agree")
            for row in self.rows:
                lines.append(
                    f"  {row.input:<{width}}  {row.schedule:<8}  {row.reference:<{refs}}  "
                    f"{row.max_abs:8.1e}  {row.max_rel:8.1e}  {row.cosine:12.10f}  "
                    f"{row.iterations:6d}  {'yes' if row.agree else 'NO: MISMATCH'}")
        if self.timings:
            lines.append("\ntime per call (first call: tracing and compiling included; "
                         "then the best of the next calls):")
            width = max(len("engine"), *(len(t.engine) for t in self.timings))
            lines.append(f"  {'engine':<{width}}  {'first call':>10}  {'per call':>10}")
            lines += [f"  {t.engine:<{width}}  {_duration(t.first):>10}  "
                      f"{_duration(t.per_call):>10}" for t in self.timings]
        verdict = ("all gradients agree" if self.ok else
                   "MISMATCH: some gradients differ" if self.rows else "nothing to compare")
        return "\n".join(lines + [f"\n{verdict}"])


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} \u00b5s"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _timed(call: Callable[[], Any], repeat: int) -> tuple[Any, float, float]:
    """(first result, first call's seconds, best of ``repeat`` later calls)."""
    start = time.perf_counter()
    result = call()
    first = time.perf_counter() - start
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return result, first, float(best)


def _takes_numpy(f: Callable[..., Any]) -> bool:
    """Whether f has a parameter ``np`` (its numpy module)."""
    try:
        return "np" in inspect.signature(f).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def _aligned(template: Any, tree: Any) -> list[np.ndarray]:
    """The leaves of ``tree`` in the order of ``template``'s (pcgrad's
    flatten order), looked up by position and key: an engine may rebuild
    dicts with their keys sorted."""
    if isinstance(template, (tuple, list)):
        return [leaf for t, x in zip(template, tree) for leaf in _aligned(t, x)]
    if isinstance(template, dict):
        return [leaf for key, t in template.items() for leaf in _aligned(t, tree[key])]
    if template is None:
        return []
    return [np.asarray(tree, dtype=np.float64)]


def _row(name: str, schedule: str, reference: str, g: np.ndarray, ref: np.ndarray,
         iterations: int, rtol: float, atol: float) -> Row:
    g, ref = np.ravel(g), np.ravel(ref)
    if g.shape != ref.shape:
        raise ValueError(f"The {reference!r} gradient of {name} has {ref.size} elements; "
                         f"pcgrad's has {g.size}. A reference must return the gradient of "
                         "the same arguments, in the same structure.")
    gap = float(np.max(np.abs(g - ref), initial=0.0))
    scale = float(np.max(np.abs(ref), initial=0.0))
    norms = float(np.linalg.norm(g) * np.linalg.norm(ref))
    cosine = float(np.dot(g, ref) / norms) if norms > 0 else \
        (1.0 if not np.any(g) and not np.any(ref) else 0.0)
    return Row(name, schedule, reference, gap, gap / scale if scale > 0 else
               (0.0 if gap == 0 else np.inf), cosine, iterations,
               bool(gap <= atol + rtol * scale))


def _engine(name: str, f: Callable[..., Any], args: tuple[Any, ...],
            nums: tuple[int, ...]) -> tuple[Callable[[], Any], Any]:
    """(a call returning the engine's gradient of the differentiated
    arguments as a tuple, a context manager the calls run in)."""
    engine = importlib.import_module(name)  # ImportError: not installed

    def restricted(module: Any) -> Callable[..., Any]:
        def on_differentiated(diff: tuple[Any, ...]) -> Any:
            full = list(args)
            for n, value in zip(nums, diff):
                full[n] = value
            return f(*full, np=module)
        return on_differentiated

    diff = tuple(args[n] for n in nums)
    if name == "autograd":
        gradient = engine.grad(restricted(importlib.import_module("autograd.numpy")))
        return (lambda: gradient(diff)), nullcontext()
    jitted = engine.jit(engine.grad(restricted(importlib.import_module("jax.numpy"))))

    def call() -> Any:
        return engine.tree_util.tree_map(lambda x: np.asarray(x), jitted(diff))
    return call, _x64(engine)


def _x64(jax: Any) -> Any:
    """A context in which JAX computes in float64, as pcgrad does."""
    try:
        return jax.enable_x64(True)
    except (AttributeError, TypeError):  # older JAX
        return importlib.import_module("jax.experimental").enable_x64()


def compare(f: Callable[..., Any], *args: Any,
            against: Iterable[str | tuple[str, Callable[..., Any]]] = ENGINES,
            schedules: Sequence[str] = ("sweep", "jacobi", "euler"), argnums: Any = 0,
            rtol: float = 1e-6, atol: float = 1e-12, repeat: int = 5,
            file: TextIO | None = STDOUT, **options: Any) -> Comparison:
    """Compare pcgrad's gradient of ``f`` at ``args`` with other engines'.

    ``f`` is a scalar function written with its numpy module as the keyword
    argument ``np`` (default ``pcgrad.numpy``); each engine named in
    ``against`` calls it with its own: "autograd" (``autograd.numpy``) and
    "jax" (``jax.numpy``, under ``jax.jit`` and in float64). An item may
    also be a pair ``(name, function)``: ``function(*args)`` returns a
    reference gradient in the structure ``pcgrad.grad(f, argnums)`` returns.
    An engine that is not installed, or an ``f`` without an ``np``
    parameter, is skipped with a note. ``schedules`` and ``options``
    (eta, tol, units, ...) are pcgrad's relaxation options.

    Prints (to ``file``, by default ``sys.stdout`` as it is when called;
    None prints nothing) and returns a Comparison: for
    each input leaf, schedule and reference, max abs and rel difference,
    cosine and iterations; each engine's first call and time per call (best
    of ``repeat``).

    >>> import numpy, pcgrad, pcgrad.numpy as pnp
    >>> def f(x, np=pnp):
    ...     return np.sum(np.sin(x) ** 2)
    >>> result = pcgrad.compare(f, numpy.ones(3), against=[("exact", lambda x: numpy.sin(2 * x))],
    ...                         file=None)
    >>> result.ok, [row.schedule for row in result.rows]
    (True, ['sweep', 'jacobi', 'euler'])
    """
    nums, many = _argnums(argnums, len(args))
    names = [name for n in nums for name in leaf_paths(args[n], f"args[{n}]")]
    template = tuple(args[n] for n in nums)
    shapes = ", ".join(f"{np.asarray(a).dtype.name}{list(np.shape(a))}"
                       for n in nums for a in _aligned(args[n], args[n]))
    result = Comparison(f"pcgrad.compare: {getattr(f, '__name__', 'f')} with respect to "
                        f"{', '.join(f'args[{n}]' for n in nums)} ({shapes})", rtol=rtol)

    references: list[tuple[str, list[np.ndarray]]] = []
    reference_timings = []
    for item in against:
        label, call, context = _reference(item, f, args, nums, many, result.skipped)
        if call is None:
            continue
        with context:
            gradient, first, per_call = _timed(call, repeat)
        references.append((label, _aligned(template, gradient)))
        reference_timings.append(Timing(label, first, per_call))

    for schedule in schedules:
        g_fn = grad(f, argnums=argnums, schedule=schedule, return_info=True, **options)
        (g, info), first, per_call = _timed(lambda: g_fn(*args), repeat)
        result.timings.append(Timing(f"pcgrad {schedule}", first, per_call))
        leaves = _aligned(template, g if many else (g,))
        for label, ref in references:
            result.rows.extend(_row(name, schedule, label, mine, theirs, info.iterations,
                                    rtol, atol)
                               for name, mine, theirs in zip(names, leaves, ref))
    result.timings += reference_timings
    result.rows.sort(key=lambda row: names.index(row.input))
    if file is not None:
        print(result, file=sys.stdout if file is STDOUT else file)
    return result


def _reference(item: str | tuple[str, Callable[..., Any]], f: Callable[..., Any],
               args: tuple[Any, ...], nums: tuple[int, ...], many: bool,
               skipped: dict[str, str]) -> tuple[str, Callable[[], Any] | None, Any]:
    """(label, a call returning the reference gradient as a tuple over the
    differentiated arguments, its context); the call is None when skipped."""
    if not isinstance(item, str):
        label, function = item
        return label, (lambda: function(*args) if many else (function(*args),)), nullcontext()
    if item not in ENGINES:
        raise ValueError(f"compare knows the engines {', '.join(map(repr, ENGINES))}; got "
                         f"{item!r}. Pass other references as (name, function) pairs.")
    if not _takes_numpy(f):
        skipped[item] = (f"{getattr(f, '__name__', 'f')} has no np parameter; write it as "
                         "def f(..., np=pcgrad.numpy) to run it under other engines")
        return item, None, None
    try:
        call, context = _engine(item, f, args, nums)
    except ImportError:
        skipped[item] = f"not installed: {INSTALL[item]}"
        return item, None, None
    return ("jax (jit)" if item == "jax" else item), call, context


def load(spec: str) -> Callable[..., Any]:
    """The function named by ``module:function`` or ``path/to/file.py:function``."""
    module_name, _, name = spec.rpartition(":")
    if not module_name or not name:
        raise ValueError(f"Name the function as module:function or file.py:function; got "
                         f"{spec!r}.")
    if module_name.endswith(".py"):
        loader = importlib.util.spec_from_file_location(
            module_name.rsplit("/", 1)[-1][:-3], module_name)
        if loader is None or loader.loader is None:
            raise FileNotFoundError(f"No Python file {module_name!r}.")
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    try:
        return getattr(module, name)
    except AttributeError:
        raise ValueError(f"{module_name} has no function {name!r}.") from None
