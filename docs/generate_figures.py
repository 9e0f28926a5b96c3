"""Make the pictures the documentation shows, from the real code.

    python docs/generate_figures.py [DIR]        (default DIR: docs/figures)

The pages that draw (the quickstart and the tutorial) save their pictures
into the current directory; this script runs their Python examples inside
DIR, so the pictures shown are exactly what the pages' code makes. It also
writes the demo's pictures (what ``python -m pcgrad --plot DIR/demo``
writes) into DIR/demo.
"""
import importlib.util
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")

HERE = pathlib.Path(__file__).resolve().parent
FIGURES = HERE / "figures"
PAGES = ["quickstart.md", "tutorial.md"]  # the pages whose code writes pictures


def _page_examples():
    spec = importlib.util.spec_from_file_location("page_examples", HERE / "page_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate(directory=FIGURES):
    """Write every picture into ``directory``; returns the paths written."""
    from pcgrad import __main__ as demo

    directory = pathlib.Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    before = {p: p.stat().st_mtime for p in directory.rglob("*") if p.is_file()}
    runner = _page_examples()
    for page in PAGES:
        runner.run(HERE / page, directory)
    params, x, y = demo.problem()
    demo.write_pictures(directory / "demo", params, x, y)
    return sorted(p for p in directory.rglob("*")
                  if p.is_file() and before.get(p) != p.stat().st_mtime)


if __name__ == "__main__":
    for path in generate(sys.argv[1] if len(sys.argv) > 1 else FIGURES):
        print(path)
