"""The examples a course can hand out run, in their quick mode, and say what they show."""
import pathlib
import re
import runpy
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def run_here(name, *args):
    """Run an example as its own ``__main__`` in this process (a fresh
    interpreter per example would only add its start-up and imports); its
    exit status (what it prints goes to pytest's capture)."""
    saved = sys.argv
    sys.argv = [str(EXAMPLES / name), *args]
    try:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
        status = 0
    except SystemExit as stop:
        status = stop.code or 0
    finally:
        sys.argv = saved
    return status


@pytest.fixture
def run(capsys):
    def run(name, *args):
        status = run_here(name, "--quick", *args)
        out, err = capsys.readouterr()
        assert status == 0, err
        return out
    return run


def test_every_example_has_a_quick_mode_test():
    tested = {"gradient_vs_autograd.py", "jacobi_layers.py", "strict_beta.py", "precisions.py",
              "digits_mlp.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_gradient_vs_autograd_agrees_with_autograd_and_the_hand_derivation(run):
    out = run("gradient_vs_autograd.py")
    assert re.search(r"args\[0\] +sweep +autograd .* yes", out)
    assert re.search(r"args\[0\] +euler +by hand .* yes", out)
    assert "all gradients agree" in out


def test_jacobi_layers_settle_one_layer_per_iteration(run, tmp_path):
    out = run("jacobi_layers.py", "--gif", str(tmp_path / "relax.gif"))
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+\d+\s", line)]
    assert len(rows) == 5  # iterations 0..depth
    # the output's error is there from the start; each iteration one more layer settles
    settled = [sum(cell != "." for cell in row[1:]) for row in rows]
    assert settled[0] == 1 and all(b > a for a, b in zip(settled, settled[1:]))
    assert "the gradient (as a sweep computes it): True" in out
    assert (tmp_path / "relax.gif").stat().st_size > 0


def test_strict_beta_error_shrinks_with_beta_and_the_energy_falls(run):
    out = run("strict_beta.py")
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+[\d.]+\s+-", line)]
    errors = [float(row[2]) for row in rows]
    assert len(rows) == 3 and errors == sorted(errors, reverse=True)
    assert rows[0][1] == "-3.413608"  # beta = 1: Millidge et al.'s standard PC
    assert all(row[-1] == "True" for row in rows)


def test_precisions_leave_the_fpa_gradient_and_learn_the_fisher(run):
    out = run("precisions.py")
    assert out.count("same gradient: True") == 3 and "Pi = 5.0: eta Pi =  2.5, refused" in out
    assert "equal: True" in out


def test_digits_mlp_learns_with_a_progress_bar():
    # a program of its own: its jit fuses in a background compile, which ends with the program
    result = subprocess.run([sys.executable, str(EXAMPLES / "digits_mlp.py"), "--quick"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    before, after = map(float, re.findall(r"accuracy[^:]*: +([\d.]+)", result.stdout))
    assert before < 0.3 and after > 0.8
    assert "training" in result.stderr and "60/60" in result.stderr  # the tqdm bar


@pytest.mark.parametrize("name", ["gradient_vs_autograd.py", "jacobi_layers.py",
                                  "strict_beta.py", "precisions.py", "digits_mlp.py"])
def test_each_example_explains_itself(name, capsys):
    assert run_here(name, "--help") == 0 and "--quick" in capsys.readouterr().out
