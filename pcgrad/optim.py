"""Optimisers on pytrees: sgd, momentum, adam, and natural-gradient steps from precisions.

Each optimiser is an object with ``init(params) -> state`` and
``step(params, grads, state, ...) -> (params, state)``; params and grads are
pytrees of the same structure.
"""
from typing import Any, Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .pytree import flatten
from .relax import RelaxInfo


class _Optimizer:
    def init(self, params: Any) -> dict[str, Any]:
        return {"count": 0}


class sgd(_Optimizer):
    """Plain gradient descent: p <- p - lr g.

    >>> import numpy, pcgrad
    >>> opt = pcgrad.optim.sgd(0.1)
    >>> params, state = opt.step(numpy.ones(2), numpy.ones(2), opt.init(numpy.ones(2)))
    >>> params
    array([0.9, 0.9])
    """

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def step(self, params: Any, grads: Any, state: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        leaves, unflatten = flatten(params)
        return unflatten([p - self.lr * g for p, g in zip(leaves, flatten(grads)[0])]), \
            {"count": state["count"] + 1}


class momentum(_Optimizer):
    """Gradient descent with momentum (heavy ball): v <- mu v + g, p <- p - lr v;
    with ``nesterov=True`` the step looks ahead along the velocity,
    p <- p - lr (g + mu v) (Sutskever et al. 2013, as in PyTorch's SGD).

    >>> import numpy, pcgrad
    >>> opt = pcgrad.optim.momentum(0.1, mu=0.9)
    >>> p, state = numpy.ones(2), opt.init(numpy.ones(2))
    >>> for _ in range(2):
    ...     p, state = opt.step(p, numpy.ones(2), state)
    >>> p  # 1 - 0.1 * 1 - 0.1 * (0.9 + 1)
    array([0.71, 0.71])
    """

    def __init__(self, lr: float, mu: float = 0.9, nesterov: bool = False) -> None:
        if not 0.0 <= mu < 1.0:
            raise ValueError(f"momentum mu must be in [0, 1); got {mu}.")
        self.lr, self.mu, self.nesterov = lr, mu, nesterov

    def init(self, params: Any) -> dict[str, Any]:
        return {"count": 0, "velocity": [np.zeros_like(p, dtype=float)
                                         for p in flatten(params)[0]]}

    def step(self, params: Any, grads: Any, state: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        leaves, unflatten = flatten(params)
        g = flatten(grads)[0]
        velocity = [self.mu * v + gi for v, gi in zip(state["velocity"], g)]
        direction = [gi + self.mu * v for gi, v in zip(g, velocity)] if self.nesterov \
            else velocity
        return unflatten([p - self.lr * d for p, d in zip(leaves, direction)]), \
            {"count": state["count"] + 1, "velocity": velocity}


class adam(_Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction.

    >>> import numpy, pcgrad
    >>> opt = pcgrad.optim.adam(0.1)
    >>> params, state = opt.step(numpy.ones(2), numpy.array([1.0, -2.0]), opt.init(numpy.ones(2)))
    >>> params
    array([0.9, 1.1])
    """

    def __init__(self, lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps

    def init(self, params: Any) -> dict[str, Any]:
        leaves = flatten(params)[0]
        return {"count": 0, "m": [np.zeros_like(p, dtype=float) for p in leaves],
                "v": [np.zeros_like(p, dtype=float) for p in leaves]}

    def step(self, params: Any, grads: Any, state: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        leaves, unflatten = flatten(params)
        count = state["count"] + 1
        m = [self.b1 * m + (1 - self.b1) * g for m, g in zip(state["m"], flatten(grads)[0])]
        v = [self.b2 * v + (1 - self.b2) * g * g for v, g in zip(state["v"], flatten(grads)[0])]
        new = [p - self.lr * (mi / (1 - self.b1 ** count)) /
               (np.sqrt(vi / (1 - self.b2 ** count)) + self.eps)
               for p, mi, vi in zip(leaves, m, v)]
        return unflatten(new), {"count": count, "m": m, "v": v}


def precondition(grad_W: ArrayLike, inputs: ArrayLike, error_precision: ArrayLike,
                 damping: float) -> NDArray[np.float64]:
    """(C_in + d I)^-1 grad_W (C_err + d I)^-1 for a dense layer y = x @ W.

    ``inputs`` are the presynaptic activities x (batch, in): C_in = x^T x / batch.
    ``error_precision`` is the precision of the layer output's errors (diagonal,
    shape (out,), or full (out, out)): C_err, the Fisher of the output
    activity that a PrecisionLearner estimates. This is the K-FAC-like
    natural-gradient direction of PredProp (Ofner et al. 2021).
    """
    x = np.asarray(inputs, dtype=float).reshape(-1, np.shape(grad_W)[0])
    c_in = x.T @ x / x.shape[0] + damping * np.eye(x.shape[1])
    c_err = np.asarray(error_precision, dtype=float)
    c_err = np.diag(c_err) if c_err.ndim == 1 else c_err
    c_err = c_err + damping * np.eye(c_err.shape[0])
    return np.linalg.solve(c_in, np.linalg.solve(c_err.T, np.asarray(grad_W).T).T)


class natural_gradient(_Optimizer):
    """Natural-gradient steps for dense layers, from precisions.

    ``layers`` maps a parameter's leaf index (its position in the flattened
    params pytree) to ``(input_name, output_name)``: the pc_nodes holding the
    layer's input activity x and its output x @ W. At each step the layer's
    gradient is preconditioned by ``precondition`` with C_in from the
    recorded input values and C_err from ``precisions[output_name]`` (a
    PrecisionLearner's), falling back to the batch estimate of the output
    errors' second moment. Other leaves take plain gradient steps.

    Pass the RelaxInfo of the gradient's relaxation (``return_info=True``):
    ``params, state = opt.step(params, grads, state, info, precisions)``.
    """

    def __init__(self, lr: float, layers: Mapping[int, tuple[str, str]],
                 damping: float = 1e-3) -> None:
        self.lr, self.layers, self.damping = lr, dict(layers), damping

    def step(self, params: Any, grads: Any, state: dict[str, Any], info: RelaxInfo,
             precisions: Mapping[str, ArrayLike] | None = None) -> tuple[Any, dict[str, Any]]:
        leaves, unflatten = flatten(params)
        new = []
        for k, (p, g) in enumerate(zip(leaves, flatten(grads)[0])):
            if k in self.layers:
                x_name, y_name = self.layers[k]
                for name in (x_name, y_name):
                    if name not in info.values:
                        raise ValueError(f"natural_gradient needs the pc_node {name!r} in the "
                                         "relaxation's info: name it and use return_info=True.")
                errors = np.asarray(info.errors[y_name]).reshape(-1, np.shape(g)[1])
                c_err = (precisions or {}).get(y_name)
                if c_err is None:
                    c_err = errors.T @ errors * errors.shape[0]
                g = precondition(g, info.values[x_name], c_err, self.damping)
            new.append(p - self.lr * g)
        return unflatten(new), {"count": state["count"] + 1}
