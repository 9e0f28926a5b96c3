"""bench/fuzz.py, the differential fuzzer over fresh random programs, keeps
working: a short deterministic run in CI, and its check catches a wrong
gradient."""
import pathlib
import subprocess
import sys

import numpy
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import fuzz  # noqa: E402
import test_properties  # noqa: E402


def test_a_short_fuzz_run_with_a_fixed_seed_finds_no_mismatch():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz.py"), "--programs", "40",
                             "--seed", "0"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "seed 0: 40 programs, 0 mismatches" in result.stdout


@pytest.fixture
def program():
    x = numpy.array([[0.5, -1.0, 2.0], [0.3, 0.7, -0.2]])
    expr = test_properties.Node("sin(x0)", lambda np, xs: np.sin(xs[0]), [x.shape])
    return test_properties.Program(expr, numpy.ones(x.shape), (x,))


def test_the_fuzz_check_reports_a_wrong_gradient(program, monkeypatch):
    with numpy.errstate(divide="ignore", invalid="ignore"):
        assert fuzz.check(program) == []
    wrong = (lambda f, n: lambda *xs: tuple(numpy.zeros_like(x) for x in xs), 1e-8)
    monkeypatch.setitem(fuzz.CHECKS, "zero", wrong)
    (found,) = fuzz.check(program)
    assert found[0] == "zero" and "against autograd" in found[1]


def test_finite_differences_stand_in_where_autograd_is_not_finite():
    x = numpy.zeros((2, 2))  # prod of exact zeros: autograd divides by zero
    expr = test_properties.Node("prod(x0 - x0)", lambda np, xs: np.prod(xs[0] - xs[0], axis=1),
                                [x.shape])
    program = test_properties.Program(expr, numpy.ones(2), (x,))
    with numpy.errstate(divide="ignore", invalid="ignore"):
        reference = test_properties.reference(program.make, program.xs)[0]
    assert not numpy.all(numpy.isfinite(reference))
    numpy.testing.assert_array_equal(fuzz.finite_differences(program)[0], numpy.zeros((2, 2)))
    with numpy.errstate(divide="ignore", invalid="ignore"):
        assert fuzz.check(program) == []
