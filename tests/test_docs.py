"""The examples in the README and in the docstrings run and say what they show."""
import doctest
import importlib
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = ["pcgrad", "pcgrad.api", "pcgrad.jit", "pcgrad.pc", "pcgrad.optim", "pcgrad.testing", "pcgrad.numpy",
           "pcgrad.numpy.linalg", "pcgrad.graph", "pcgrad.viz", "pcgrad.compare",
           "pcgrad.scipy.linalg", "pcgrad.lax", "pcgrad.nn", "pcgrad.custom", "pcgrad.extend",
           "pcgrad.scipy.integrate", "pcgrad.scipy.signal"]


def test_readme_python_examples_run():
    namespace = {}
    for block in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["info"].iterations == 3
    assert abs(namespace["g_y0"] - -11.370532) < 1e-6


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
