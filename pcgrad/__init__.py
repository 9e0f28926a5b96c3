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
from . import numpy  # noqa: F401  (attaches Tracer operators)
from ._version import __version__
from .api import (elementwise_grad, grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, trace,
                  value_and_grad, vjp)
from .graph import Graph
from .jit import jit
from .pc import PrecisionLearner, infer, pc_node
from .plan import Plan
from .precompile import precompile
from .relax import ConvergenceError, RelaxInfo, RelaxRecord, relax
from .tracing import Tracer
from .compare import compare
from .custom import custom_vjp
from . import extend, lax, nn, optim, testing, viz  # noqa: F401  (viz imports matplotlib only when called)

__all__ = ["grad", "value_and_grad", "vjp", "jacobian", "elementwise_grad", "hessian", "hvp",
           "jvp", "jacfwd", "jacrev", "trace", "jit",
           "lax", "pc_node", "infer", "PrecisionLearner", "nn", "optim", "Graph", "Plan", "relax", "RelaxInfo", "ConvergenceError", "Tracer", "testing",
           "compare", "viz", "precompile", "RelaxRecord", "custom_vjp", "extend"]
