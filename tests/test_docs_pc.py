"""The examples in docs/predictive-coding.md run, in order, in one namespace, and print
what the page says they print."""
import pathlib
import re

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "predictive-coding.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
NEEDS_MATPLOTLIB = [i for i, block in enumerate(BLOCKS) if "import matplotlib" in block]


def run(blocks, tmp_path, monkeypatch):
    """Execute ``blocks`` in one namespace inside tmp_path (the plot is saved there)."""
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), namespace)
    return namespace


def test_the_page_has_python_examples():
    assert len(BLOCKS) >= 8


def test_the_python_examples_without_matplotlib_run(tmp_path, monkeypatch, capsys):
    blocks = [b for i, b in enumerate(BLOCKS) if i not in NEEDS_MATPLOTLIB]
    namespace = run(blocks, tmp_path, monkeypatch)
    printed = capsys.readouterr().out
    assert abs(namespace["exact"] - -11.370532) < 1e-6
    assert "beta=1  dy0=-3.413608" in printed
    assert "eta=1 is too large" in printed and "Try eta=0.25" in printed
    assert namespace["info"].iterations + 1 == len(namespace["info"].node_errors["y1"])


def test_the_plotting_example_runs_and_saves_the_figure(tmp_path, monkeypatch):
    first = NEEDS_MATPLOTLIB[0]
    run(BLOCKS[:first] + [BLOCKS[first]], tmp_path, monkeypatch)
    assert (tmp_path / "relaxation.png").stat().st_size > 0
