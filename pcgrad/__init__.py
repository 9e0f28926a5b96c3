"""pcgrad: automatic differentiation by predictive coding.

A function written with ``pcgrad.numpy`` is traced into a computation graph
(a networkx DiGraph); every node becomes a predictive-coding unit with a
value, a prediction and a prediction error; a Numba-compiled scheduler relaxes
the errors to equilibrium, and the settled errors at the inputs are the
derivatives.

>>> import pcgrad, pcgrad.numpy as np
>>> pcgrad.grad(lambda x: np.sum(np.tanh(x) ** 2))(np.array([0.5, -1.0]))
array([ 0.72686198, -0.63970001])
"""
import importlib as _importlib
import sys as _sys
import types as _types
from typing import TYPE_CHECKING as _TYPE_CHECKING, Any as _Any

from . import numpy  # noqa: F401  (attaches Tracer operators)
from ._version import __version__
from .api import (elementwise_grad, grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, trace,
                  value_and_grad, vjp)
from .graph import Graph
from .plan import Plan
from .precompile import precompile
from .relax import ConvergenceError, RelaxInfo, RelaxRecord, relax
from .tracing import Tracer

if _TYPE_CHECKING:  # the names imported on first use (below), for type checkers and the docs
    from . import custom, distributed, extend, fusion, lax, nn, optim, pc, scipy, testing, viz
    from .compare import compare
    from .custom import custom_vjp
    from .jit import jit
    from .pc import PrecisionLearner, infer, pc_node

# Imported on first use, as attributes of pcgrad: a gradient needs none of
# them, and a new process pays for every module it imports.
# attribute -> (submodule, its attribute, or None for the submodule itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "jit": ("jit", "jit"), "compare": ("compare", "compare"),
    "custom_vjp": ("custom", "custom_vjp"), "pc_node": ("pc", "pc_node"),
    "infer": ("pc", "infer"), "PrecisionLearner": ("pc", "PrecisionLearner")}
_LAZY.update((name, (name, None)) for name in (
    "custom", "distributed", "extend", "fusion", "lax", "nn", "optim", "pc", "scipy", "testing",
    "viz"))


class _Package(_types.ModuleType):
    def __getattr__(self, name: str) -> _Any:
        if name not in _LAZY:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module, attribute = _LAZY[name]
        found = _importlib.import_module(f"{__name__}.{module}")
        value = found if attribute is None else getattr(found, attribute)
        setattr(self, name, value)
        return value

    def __setattr__(self, name: str, value: _Any) -> None:
        # Importing submodule pcgrad.jit makes it pcgrad's attribute "jit"; that
        # name stays the function (so for compare).
        if isinstance(value, _types.ModuleType) and _LAZY.get(name) == (name, name):
            value = getattr(value, name)
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(_LAZY))


_sys.modules[__name__].__class__ = _Package

__all__ = ["grad", "value_and_grad", "vjp", "jacobian", "elementwise_grad", "hessian", "hvp",
           "jvp", "jacfwd", "jacrev", "trace", "jit",
           "lax", "pc_node", "infer", "PrecisionLearner", "nn", "optim", "Graph", "Plan", "relax", "RelaxInfo", "ConvergenceError", "Tracer", "testing",
           "compare", "viz", "precompile", "RelaxRecord", "custom_vjp", "extend"]
