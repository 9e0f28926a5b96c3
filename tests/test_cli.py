"""``python -m pcgrad``: the demo, --plot, compare and precompile, end to end."""
import pathlib
import re
import subprocess
import sys

import numpy as onp
import pytest
from PIL import Image

import pcgrad
from pcgrad import __main__ as cli

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(*args, cwd=ROOT, check=True):
    result = subprocess.run([sys.executable, "-m", "pcgrad", *args], cwd=cwd,
                            capture_output=True, text=True, timeout=900)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_help_lists_the_commands():
    out = run("--help").stdout
    for command in ("demo", "compare", "precompile", "--plot DIR"):
        assert command in out


@pytest.fixture(scope="module")
def plotted(tmp_path_factory):
    """``python -m pcgrad --plot DIR``, run once: (DIR, what it printed). The demo
    tests read its output; the commands that lead to the demo are tested in-process."""
    directory = tmp_path_factory.mktemp("pictures")
    return directory, run("--plot", str(directory)).stdout


@pytest.fixture
def demo_calls(monkeypatch):
    """The arguments cli.main passes to the demo, which does not run."""
    calls = []
    monkeypatch.setattr(cli, "demo", lambda plot=None: calls.append(plot))
    return calls


def test_the_demo_is_the_default_command(demo_calls):
    assert cli.main([]) == 0 and cli.main(["demo"]) == 0
    assert demo_calls == [None, None]


def test_the_demo_prints_each_schedules_gradient_and_its_first_call_apart(plotted):
    out = plotted[1]
    for schedule in ("sweep", "jacobi", "euler"):
        line = next(line for line in out.splitlines() if line.strip().startswith(schedule + ":"))
        assert re.search(r"max rel\. diff \d\.\de-1[0-9]", line)  # agrees with autograd
        assert re.search(r"first call [\d.]+ [µm]?s, then [\d.]+ [µm]?s", line)
    assert "beside autograd" in out


def test_the_demo_reports_residual_squared_errors_and_energy_under_their_names(plotted):
    out = plotted[1]
    assert re.search(r"residual max\|dF/dv\|: +1\.00e\+00 -> \d\.\d\de-1[01]", out)
    assert "squared errors 1/2 sum eps^T Pi^-1 eps: 0.5000 ->" in out
    assert "energy F: none under the fixed prediction assumption" in out


def test_plot_writes_the_pictures_and_prints_their_paths(plotted):
    directory, out = plotted
    for name in ("graph.png", "relaxation.png", "relax.gif", "relax.html"):
        path = directory / name
        assert path.stat().st_size > 5000
        assert f"wrote {path}" in out
    params, x, y = cli.problem()
    depth = pcgrad.grad(cli.loss, schedule="jacobi", return_info=True)(params, x, y)[1].depth
    assert Image.open(directory / "relax.gif").n_frames == depth + 1  # one per iteration
    page = (directory / "relax.html").read_text()
    assert "https://" not in page and page.count("data:image/png;base64,") == depth + 1
    assert Image.open(directory / "graph.png").size[0] > 1000


def test_plot_is_accepted_after_the_demo_command(demo_calls, tmp_path):
    assert cli.main(["demo", "--plot", str(tmp_path / "pictures")]) == 0
    assert cli.main(["--plot", str(tmp_path / "pictures")]) == 0
    assert demo_calls == [str(tmp_path / "pictures")] * 2


FUNCTIONS = '''
import pcgrad.numpy as pnp

def loss(w, x, np=pnp):
    return np.sum(np.tanh(x @ w) ** 2)

def differs(w, x, np=pnp):
    """The same under pcgrad, another function under the other engines."""
    return np.sum(np.tanh(x @ w) ** (2 if np is pnp else 3))
'''


def test_compare_runs_end_to_end_and_reports_agreement(tmp_path):
    (tmp_path / "functions.py").write_text(FUNCTIONS)
    result = run("compare", "functions.py:loss", "--args", "numpy.ones((3, 2))",
                 "numpy.linspace(-1, 1, 12).reshape(4, 3)", "--against", "autograd",
                 cwd=tmp_path)
    assert re.search(r"args\[0\] +sweep +autograd .* yes", result.stdout)
    assert "all gradients agree" in result.stdout


def test_compare_accepts_a_module_name_and_several_argnums(tmp_path):
    (tmp_path / "functions.py").write_text(FUNCTIONS)
    result = run("compare", "functions:loss", "--args", "numpy.ones((3, 2))",
                 "numpy.ones((4, 3))", "--argnums", "0", "1", "--against", "autograd",
                 "--schedules", "jacobi", cwd=tmp_path)
    assert "args[1]" in result.stdout and "all gradients agree" in result.stdout


def test_compare_exits_with_one_on_a_mismatch(tmp_path):
    (tmp_path / "functions.py").write_text(FUNCTIONS)
    result = run("compare", "functions.py:differs", "--args", "numpy.ones((3, 2))",
                 "numpy.ones((4, 3))", "--against", "autograd", cwd=tmp_path, check=False)
    assert result.returncode == 1 and "MISMATCH" in result.stdout


def test_precompile_calls_pcgrad_precompile(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(pcgrad, "precompile", lambda: calls.append(1), raising=False)
    assert cli.main(["precompile"]) == 0
    assert calls == [1] and "compiled" in capsys.readouterr().out


def test_precompile_without_pcgrad_precompile_says_so(monkeypatch, capsys):
    monkeypatch.delattr(pcgrad, "precompile", raising=False)
    assert cli.main(["precompile"]) == 1
    assert "has no pcgrad.precompile" in capsys.readouterr().err


def test_the_demo_reference_falls_back_to_finite_differences(monkeypatch):
    monkeypatch.setitem(sys.modules, "autograd", None)
    params, x, y = cli.problem()
    g, name = cli.reference(params, x, y)
    exact = onp.concatenate([onp.ravel(p) for p in pcgrad.grad(cli.loss)(params, x, y)])
    assert name == "finite differences" and onp.allclose(g, exact, atol=1e-8)
