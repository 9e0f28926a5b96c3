"""The documentation site: every example on every page runs and prints what the
page says, the pictures it shows are the ones its code makes, the API
reference covers every public name, and ``mkdocs build --strict`` passes.

Each page's ```python blocks run in order, in one namespace, inside a
temporary directory; a ```text block right after a python block is its
output (docs/page_examples.py).
"""
import functools
import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import tempfile

import matplotlib
import pytest

import pcgrad

matplotlib.use("Agg")

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p.name for p in DOCS.glob("*.md"))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


examples = _load("page_examples")


@functools.lru_cache(maxsize=None)
def ran(page):
    """(namespace, [(code, stated, printed)], files written) of a page, run once."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix="pcgrad-docs-"))
    namespace, results = examples.run(DOCS / page, directory)
    return namespace, results, {p.name for p in directory.iterdir()}


@pytest.mark.parametrize("page", PAGES)
def test_every_example_runs_and_prints_what_the_page_says(page):
    _, results, _ = ran(page)
    for code, stated, printed in results:
        if stated is not None:
            assert examples.same_output(printed, stated), (
                f"{page}: the block\n{code.strip()}\nprinted\n{printed}but the page says\n"
                f"{stated}")


def test_the_output_check_compares_numbers_and_words():
    assert examples.same_output("x = 1.0000001  [2 3]\n", "x = 1.0  [2 3]")
    assert not examples.same_output("x = 1.01", "x = 1.0")
    assert not examples.same_output("y = 1.0", "x = 1.0")
    assert not examples.same_output("x = 1.0 2.0", "x = 1.0")


def test_the_pages_teach_with_examples_and_outputs():
    for page in ("quickstart.md", "tutorial.md", "schedules.md", "strict-pc.md",
                 "comparison.md"):
        found = examples.examples((DOCS / page).read_text())
        assert len(found) >= 4 and sum(stated is not None for _, stated in found) >= 3, page


def figures_shown(page):
    return re.findall(r"\]\(figures/([^)]+)\)", (DOCS / page).read_text())


def test_every_figure_shown_is_checked_in_and_made_by_the_pages_code():
    generator = _load("generate_figures")
    made = set().union(*(ran(page)[2] for page in generator.PAGES))
    for page in PAGES:
        for name in figures_shown(page):
            assert (DOCS / "figures" / name).stat().st_size > 1000, name
            if not name.startswith(("demo/", "experiments/")):  # made by their scripts
                assert name in made, f"{page} shows figures/{name}, which no page's code writes"


def test_the_checked_in_animations_have_one_frame_per_iteration():
    from PIL import Image

    namespace = ran("tutorial.md")[0]
    movie = Image.open(DOCS / "figures" / "millidge-jacobi.gif")
    assert movie.n_frames == namespace["info"].iterations + 1
    page = (DOCS / "figures" / "millidge-jacobi.html").read_text()
    assert "https://" not in page and "http://" not in page


def test_the_tutorial_derives_millidges_gradient():
    namespace, results, _ = ran("tutorial.md")
    assert abs(namespace["g_y0"] - -11.370532) < 1e-6
    assert namespace["info"].iterations == namespace["info"].depth == 4
    hand = namespace["theta"] * namespace["d1"] + 2 * namespace["y0"] * namespace["d3"]
    assert abs(hand - namespace["g_y0"]) < 1e-12  # the chain rule by hand is the relaxation


def test_the_strict_page_shows_the_error_linear_in_beta_and_the_divergence_message():
    namespace, results, _ = ran("strict-pc.md")
    printed = "".join(p for _, _, p in results)
    assert abs(namespace["exact"] - -11.370532) < 1e-6
    assert "beta=1  dy0=-3.413608" in printed  # Millidge et al.'s standard PC
    assert "eta=1 is too large" in printed and "Try eta=0.25" in printed
    lines = re.findall(r"beta=([\d.e-]+) .*error/beta=([\d.]+)", printed)
    assert [beta for beta, _ in lines] == ["1", "0.1", "0.01", "0.001", "0.0001"]
    assert 1.8 < float(lines[-1][1]) < 1.9


def test_the_predictive_coding_pages_do_not_refer_outside_the_repository():
    for page in PAGES:
        text = (DOCS / page).read_text()
        assert "DESIGN.md" not in text
        assert "missing from `info.values`" not in text


def test_the_api_reference_covers_every_public_name():
    listed = set(re.findall(r"^::: (pcgrad\.[\w.]+)", (DOCS / "api.md").read_text(), re.M))
    assert {f"pcgrad.{name}" for name in pcgrad.__all__} <= listed


def test_the_navigation_lists_every_page():
    config = (ROOT / "mkdocs.yml").read_text()
    for page in PAGES:
        assert re.search(rf":\s+{re.escape(page)}$", config, re.M), page


def test_the_numpy_table_page_is_the_generated_one():
    generator = _load("generate_numpy_table")
    assert (DOCS / "numpy-support.md").read_text() == generator.table()


def test_mkdocs_builds_the_site_strictly_and_it_loads_nothing_from_the_web(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra is not installed")
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert result.returncode == 0, result.stderr
    for page in ("index.html", "tutorial/index.html", "api/index.html"):
        assert (site / page).exists()
    api = (site / "api" / "index.html").read_text()
    for name in pcgrad.__all__:
        assert f'id="pcgrad.{name}"' in api, name
    for html in site.rglob("*.html"):
        text = html.read_text()
        assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=\"(https?:)?//", text), html
        assert not re.search(r"<link[^>]*\shref=\"(https?:)?//", text), html
    assert (site / "figures" / "millidge-jacobi.gif").exists()

