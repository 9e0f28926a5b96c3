"""The public API's type hints: mypy passes over the typed modules (the files and
settings in pyproject.toml's [tool.mypy]), accepts typical typed use of pcgrad
and reports misuse."""
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

GOOD_USE = '''
    import numpy
    import pcgrad
    import pcgrad.numpy as np


    def loss(w: numpy.ndarray, x: numpy.ndarray) -> float:
        return np.sum(np.tanh(x @ w) ** 2)


    w, x = numpy.ones(3), numpy.ones((2, 3))
    gw, gx = pcgrad.grad(loss, argnums=(0, 1), schedule="jacobi", tol=None)(w, x)
    value, g = pcgrad.value_and_grad(loss, precisions={"h": 2.0})(w, x)
    fast = pcgrad.jit(pcgrad.grad(loss, argnums=[0]))
    jac = pcgrad.jacobian(lambda w: w * 2.0, eta=1.0)(w)
    graph: pcgrad.Graph = pcgrad.trace(loss, w, x)
    depth: int = graph.depth
    out, vjp_fn = pcgrad.vjp(lambda w: w * 2.0, w, schedule="sweep")
    h = pcgrad.pc_node(w, name="h", precision=numpy.full(3, 2.0))
    latents = pcgrad.infer(lambda z: z * 2.0, {"z": numpy.zeros(3)}, target=numpy.ones(3),
                           prior={"z": (0.0, 1.0)})
    learner = pcgrad.PrecisionLearner(["h"], lr=0.5, batch_axis=None)
    opt = pcgrad.optim.adam(0.1)
    params, state = opt.step(w, w, opt.init(w))
    pcgrad.testing.check_grads(loss, w, x, argnums=[0, 1], schedules=["sweep"])
    version: str = pcgrad.__version__
'''

# Each line misuses the API; mypy must report the error beside it.
MISUSE = [
    ("pcgrad.grad(numpy.ones(3))",
     'Argument 1 to "grad" has incompatible type "ndarray'),
    ("pcgrad.grad(lambda x: x, argnums='0')",
     'Argument "argnums" to "grad" has incompatible type "str"'),
    ("pcgrad.value_and_grad(lambda x: x, eta='fast')",
     'Argument "eta" to "value_and_grad" has incompatible type "str"'),
    ("pcgrad.jit(3)",
     'Argument 1 to "jit" has incompatible type "int"'),
    ("name: str = pcgrad.trace(lambda x: x, 1.0).depth",
     'Incompatible types in assignment (expression has type "int", variable has type "str")'),
    ("pcgrad.PrecisionLearner(['h']).update({'h': 1.0})",
     'Argument 1 to "update" of "PrecisionLearner" has incompatible type "dict[str, float]"; '
     'expected "RelaxInfo"'),
    ("pcgrad.pc_node(1.0, name=3)",
     'Argument "name" to "pc_node" has incompatible type "int"'),
    ("pcgrad.optim.sgd('0.1')",
     'Argument 1 to "sgd" has incompatible type "str"'),
]


def mypy(*paths):
    """mypy with pyproject.toml's settings (over its [tool.mypy] files when no paths
    are given), run from the checkout so that it reads this pcgrad."""
    return subprocess.run([sys.executable, "-m", "mypy", *map(str, paths)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_typed_public_modules_pass_mypy():
    result = mypy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found"), result.stdout


def test_typical_typed_use_passes_mypy(tmp_path):
    use = tmp_path / "good_use.py"
    use.write_text(textwrap.dedent(GOOD_USE))
    result = mypy(use)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def misuse_errors(tmp_path_factory):
    """mypy's errors for a file with one misuse per line, by line number."""
    use = tmp_path_factory.mktemp("typing") / "misuse.py"
    use.write_text("import numpy\nimport pcgrad\n" + "".join(f"{line}\n" for line, _ in MISUSE))
    result = mypy(use)
    errors = {}
    for number, message in re.findall(r"^[^:\n]*misuse\.py:(\d+): error: (.*)$",
                                       result.stdout, re.M):
        errors.setdefault(int(number), []).append(message)
    return errors


@pytest.mark.parametrize("k", range(len(MISUSE)), ids=[line for line, _ in MISUSE])
def test_mypy_reports_misuse_of_the_public_api(misuse_errors, k):
    line, expected = MISUSE[k]
    reported = misuse_errors.get(k + 3, [])
    assert any(message.startswith(expected) for message in reported), reported
