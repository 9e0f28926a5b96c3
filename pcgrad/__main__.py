"""``python -m pcgrad``: the demo, and the ``compare`` and ``precompile`` commands.

    python -m pcgrad                   the demo: a network's gradient, relaxed three ways
    python -m pcgrad --plot DIR        the demo, plus its pictures and animation in DIR
    python -m pcgrad compare MODULE:FUNCTION --args EXPR [EXPR ...]
    python -m pcgrad precompile        compile the Numba kernels ahead of the first call
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time
from typing import Any, Callable, Iterable, Sequence

import numpy

import pcgrad
import pcgrad.numpy as pnp
from pcgrad.pytree import flatten

SCHEDULES = ("sweep", "jacobi", "euler")


def loss(params: Any, x: Any, y: Any, np: Any = pnp) -> Any:
    """The demo network's cross-entropy loss, in any numpy module ``np``."""
    W1, b1, W2 = params
    h = np.tanh(x @ W1 + b1)
    logits = h @ W2
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(y * logp, axis=1))


def problem() -> tuple[Any, numpy.ndarray, numpy.ndarray]:
    """The demo's parameters (W1, b1, W2), inputs x and one-hot labels y."""
    rng = numpy.random.default_rng(0)
    params = (rng.standard_normal((4, 8)) * 0.5, numpy.zeros(8),
              rng.standard_normal((8, 3)) * 0.5)
    x = rng.standard_normal((5, 4))
    y = numpy.eye(3)[rng.integers(0, 3, 5)]
    return params, x, y


def _flat(tree: Any) -> numpy.ndarray:
    return numpy.concatenate([numpy.ravel(leaf) for leaf in flatten(tree)[0]])


def reference(params: Any, x: Any, y: Any) -> tuple[numpy.ndarray, str]:
    """autograd's gradient if installed, else central differences (and its name)."""
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        flat, (_, unflatten) = _flat(params), flatten(params)
        shapes = [numpy.shape(p) for p in params]

        def f(v: numpy.ndarray) -> float:
            parts, start = [], 0
            for shape in shapes:
                size = int(numpy.prod(shape))
                parts.append(v[start:start + size].reshape(shape))
                start += size
            return float(loss(unflatten(parts), x, y, np=numpy))
        h = 1e-6
        g = numpy.array([(f(flat + h * e) - f(flat - h * e)) / (2 * h)
                         for e in numpy.eye(flat.size)])
        return g, "finite differences"
    return _flat(autograd.grad(loss)(params, x, y, np=anp)), "autograd"


def _duration(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} \u00b5s" if seconds < 1e-3 else f"{seconds * 1e3:.1f} ms"


def _steps(items: Sequence[Any], description: str) -> Iterable[Any]:
    """``items`` with a tqdm progress bar on stderr (none without tqdm)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=description, leave=False, file=sys.stderr)


def demo(plot: str | None = None) -> None:
    """Print the demo; with ``plot`` also write its pictures into that directory."""
    params, x, y = problem()
    print(pcgrad.trace(loss, params, x, y))
    want, name = reference(params, x, y)
    print(f"\ndL/dW2[0, :] by each schedule, beside {name} (first call: tracing and "
          "compiling included; then the best of 20 calls):")
    print(f"  {name:>18}: {numpy.array2string(want[40:43], precision=10)}")
    for schedule in SCHEDULES:
        g_fn = pcgrad.grad(loss, schedule=schedule, return_info=True)
        start = time.perf_counter()
        g_fn(params, x, y)
        first = time.perf_counter() - start
        best = numpy.inf
        for _ in range(20):
            start = time.perf_counter()
            g, info = g_fn(params, x, y)
            best = min(best, time.perf_counter() - start)
        error = numpy.max(numpy.abs(_flat(g) - want)) / numpy.max(numpy.abs(want))
        print(f"  {schedule:>18}: {numpy.array2string(g[2][0], precision=10)}  "
              f"{info.iterations:3d} iterations, max rel. diff {error:.1e}; first call "
              f"{_duration(first)}, then {_duration(best)}")
    g, info = pcgrad.grad(loss, schedule="euler", eta=0.2, tol=1e-10, return_info=True)(
        params, x, y)
    print(f"\neuler at eta=0.2: converged={info.converged} after {info.iterations} "
          f"iterations (depth {info.depth})\n"
          f"  residual max|dF/dv|:                  {info.residual[0]:.2e} -> "
          f"{info.residual[-1]:.2e}  (falls to tol: the curve to watch)\n"
          f"  squared errors 1/2 sum eps^T Pi^-1 eps: {info.squared_errors[0]:.4f} -> "
          f"{info.squared_errors[-1]:.4f}  (grows as the errors reach every unit)\n"
          f"  energy F: {_energy(info)}")
    if plot is not None:
        print()
        for path, shows in write_pictures(pathlib.Path(plot), params, x, y):
            print(f"  wrote {path}: {shows}")


def _energy(info: Any) -> str:
    if info.energy is None:
        return ("none under the fixed prediction assumption (sweep, jacobi, euler), which "
                "descends no fixed energy")
    return f"{info.energy[0]:.4f} -> {info.energy[-1]:.4f}"


def write_pictures(directory: pathlib.Path, params: Any, x: Any,
                   y: Any) -> list[tuple[pathlib.Path, str]]:
    """Write the demo's graph picture, relaxation plot and animation (GIF and
    HTML) into ``directory``; returns (path, what it shows) pairs."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pcgrad import viz

    directory.mkdir(parents=True, exist_ok=True)
    exact = pcgrad.grad(loss)(params, x, y)
    runs: dict[str, dict[str, Any]] = {"jacobi": {}, "euler, eta 0.5": dict(eta=0.5),
                                       "euler, eta 0.2": dict(eta=0.2)}
    infos = {}
    written = []

    def relax_all() -> None:
        for label, options in runs.items():
            schedule = label.split(",")[0]
            infos[label] = pcgrad.grad(loss, schedule=schedule, return_info=True,
                                       record="errors", **options)(params, x, y)[1]

    def graph() -> None:
        path = directory / "graph.png"
        drawing = viz.draw_graph(loss, params, x, y, argnums=0, info=infos["jacobi"])
        drawing.ax.figure.savefig(path, dpi=110)
        plt.close(drawing.ax.figure)
        written.append((path, "the demo network's graph, each unit coloured by its settled "
                              "error, the gradient at the inputs"))

    def curves() -> None:
        path = directory / "relaxation.png"
        figure = viz.plot_relaxation(list(infos.values()), labels=list(infos), reference=exact,
                                     graph=pcgrad.trace(loss, params, x, y, argnums=0))
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append((path, "residual, squared errors and gradient error against "
                              "iteration; per-unit error norms as heat maps"))

    def animation() -> None:
        paths = [directory / "relax.gif", directory / "relax.html"]
        viz.animate_relaxation(loss, params, x, y, schedule="jacobi", path=paths)
        written.append((paths[0], "the jacobi relaxation, one frame per iteration: errors "
                                  "flow from the output to the inputs, one layer a step"))
        written.append((paths[1], "the same animation as a self-contained web page with "
                                  "play, pause and step buttons"))

    steps: list[tuple[str, Callable[[], None]]] = [
        ("relaxing", relax_all), ("graph.png", graph), ("relaxation.png", curves),
        ("relax.gif, relax.html", animation)]
    for _, step in _steps(steps, "writing pictures"):
        step()
    return written


def compare_command(spec: str, args: Sequence[str], argnums: Sequence[int],
                    against: Sequence[str], schedules: Sequence[str], repeat: int) -> int:
    """``python -m pcgrad compare``: 0 when every gradient agrees, else 1."""
    from pcgrad.compare import load

    sys.path.insert(0, ".")
    f = load(spec)
    values = [eval(expression, {"numpy": numpy, "np": numpy}) for expression in args]
    result = pcgrad.compare(f, *values, argnums=tuple(argnums) if len(argnums) > 1
                            else argnums[0], against=against, schedules=schedules,
                            repeat=repeat)
    return 0 if result.ok else 1


def precompile_command() -> int:
    precompile = getattr(pcgrad, "precompile", None)
    if precompile is None:
        print("This version of pcgrad has no pcgrad.precompile: its kernels compile on the "
              "first gradient call (python -m pcgrad runs one).", file=sys.stderr)
        return 1
    start = time.perf_counter()
    precompile()
    print(f"pcgrad's kernels are compiled and cached ({time.perf_counter() - start:.1f} s).")
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m pcgrad", description="pcgrad: automatic differentiation by "
        "predictive coding. Without a command, runs the demo.")
    main.add_argument("--plot", metavar="DIR", help="also write the demo's pictures "
                      "(graph, relaxation plot, animation as GIF and HTML) into DIR")
    commands = main.add_subparsers(dest="command", title="commands",
                                   metavar="{demo,compare,precompile}")
    demo_parser = commands.add_parser("demo", help="the demo: a gradient relaxed three "
                                      "ways, beside autograd's (the default command)")
    demo_parser.add_argument("--plot", metavar="DIR", default=argparse.SUPPRESS,
                             help="also write the pictures into DIR")
    compare = commands.add_parser(
        "compare", help="compare pcgrad's gradient of a function with autograd's and JAX's",
        description="Compare pcgrad's gradient of FUNCTION with autograd's and JAX's. "
        "FUNCTION is module:name or path/to/file.py:name; it takes its numpy module as the "
        "keyword argument np (default pcgrad.numpy). Exits with 1 if a gradient differs.")
    compare.add_argument("function", metavar="FUNCTION")
    compare.add_argument("--args", nargs="+", required=True, metavar="EXPR",
                         help="the arguments, one Python expression each (numpy is "
                         "imported as numpy), e.g. 'numpy.ones(3)' 2.0")
    compare.add_argument("--argnums", nargs="+", type=int, default=[0],
                         help="the differentiated arguments (default 0)")
    compare.add_argument("--against", nargs="+", default=["autograd", "jax"],
                         choices=["autograd", "jax"], help="reference engines")
    compare.add_argument("--schedules", nargs="+", default=list(SCHEDULES),
                         choices=["sweep", "jacobi", "euler", "strict"])
    compare.add_argument("--repeat", type=int, default=5,
                         help="timed calls after the first (default 5)")
    commands.add_parser("precompile", help="compile pcgrad's Numba kernels now (cached on "
                        "disk) instead of on the first gradient call")
    return main


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    if options.command == "compare":
        return compare_command(options.function, options.args, options.argnums,
                               options.against, options.schedules, options.repeat)
    if options.command == "precompile":
        return precompile_command()
    demo(options.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
