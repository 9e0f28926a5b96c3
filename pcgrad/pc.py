"""Predictive-coding constructs used inside traced functions."""
from .primitives import PRIMITIVES


def pc_node(x, name=None):
    """Mark ``x`` as a named predictive-coding unit (an identity in value).

    With ``units="marked"`` only inputs, the output and pc_nodes are units:
    the nodes between two of them pass errors on within one relaxation step,
    as the layers of a predictive-coding network do. ``name`` labels the node
    in the graph listing.

    >>> import pcgrad, pcgrad.numpy as np
    >>> f = lambda x: np.sum(pcgrad.pc_node(np.tanh(x), name="hidden") ** 2)
    >>> g, info = pcgrad.grad(f, schedule="jacobi", units="marked", return_info=True)(np.ones(2))
    >>> info.iterations
    2
    """
    return PRIMITIVES["pc_node"](x, name=name)
