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
from .api import elementwise_grad, grad, jacobian, trace, value_and_grad, vjp
from .graph import Graph
from .jit import jit
from .pc import PrecisionLearner, infer, pc_node
from .plan import Plan
from .precompile import precompile
from .relax import ConvergenceError, RelaxInfo, relax
from .tracing import Tracer
from . import optim, testing  # noqa: F401

__all__ = ["grad", "value_and_grad", "vjp", "jacobian", "elementwise_grad", "trace", "jit",
           "pc_node", "infer", "PrecisionLearner", "optim", "Graph", "Plan", "relax", "RelaxInfo", "ConvergenceError", "Tracer", "testing",
           "precompile"]
__version__ = "0.1.0"
