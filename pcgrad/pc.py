"""Predictive-coding constructs used inside traced functions."""
from .primitives import PRIMITIVES


def pc_node(x, name=None, precision=None):
    """Mark ``x`` as a named predictive-coding unit (an identity in value).

    With ``units="marked"`` only inputs, the output and pc_nodes are units:
    the nodes between two of them pass errors on within one relaxation step,
    as the layers of a predictive-coding network do. ``name`` labels the node
    in the graph listing and keys ``precisions=`` and ``info.node_errors``.
    ``precision`` (a positive scalar, or an array broadcastable to x's shape:
    a diagonal precision) weights the node's error, eps = Pi (mu - v).

    >>> import pcgrad, pcgrad.numpy as np
    >>> f = lambda x: np.sum(pcgrad.pc_node(np.tanh(x), name="hidden") ** 2)
    >>> g, info = pcgrad.grad(f, schedule="jacobi", units="marked", return_info=True)(np.ones(2))
    >>> info.iterations
    2
    """
    return PRIMITIVES["pc_node"](x, name=name, precision=precision)
