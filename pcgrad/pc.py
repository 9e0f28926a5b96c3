"""Predictive-coding constructs used inside traced functions."""
from typing import Any, Callable, Iterable, Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .api import _Linearized, _check_target
from .options import check_energy, relaxation_options
from .primitives import PRIMITIVES
from .relax import RelaxInfo
from .tracing import bind_with_arrays, lift


def pc_node(x: ArrayLike, name: str | None = None, precision: ArrayLike | None = None) -> Any:
    """Mark ``x`` as a named predictive-coding unit (an identity in value).

    With ``units="marked"`` only inputs, the output and pc_nodes are units:
    the nodes between two of them pass errors on within one relaxation step,
    as the layers of a predictive-coding network do. ``name`` labels the node
    in the graph listing and keys ``precisions=`` and ``info.node_errors``.
    ``precision`` (a positive scalar, or an array broadcastable to x's shape:
    a diagonal precision) weights the node's error, eps = Pi (mu - v). A
    pc_node on a non-differentiated value (e.g. a data batch) is recorded
    too: its value appears in ``info.values``, its error is zero.

    >>> import pcgrad, pcgrad.numpy as np
    >>> f = lambda x: np.sum(pcgrad.pc_node(np.tanh(x), name="hidden") ** 2)
    >>> g, info = pcgrad.grad(f, schedule="jacobi", units="marked", return_info=True)(np.ones(2))
    >>> info.iterations
    2
    """
    if precision is None or type(precision) in (int, float):
        return PRIMITIVES["pc_node"](lift(x), name=name, precision=precision)
    return bind_with_arrays(PRIMITIVES["pc_node"], (lift(x),),
                            {"name": name, "precision": np.asarray(precision, dtype=float)})


def infer(f: Callable[..., Any], free: Mapping[str, ArrayLike],
          clamped: Mapping[str, Any] | None = None, *, target: ArrayLike,
          energy: str = "squared", prior: Mapping[str, tuple[ArrayLike, ArrayLike]] | None = None,
          eta: float = 0.1, tol: float = 1e-10, max_iters: int = 100_000, units: str = "marked",
          precisions: Mapping[str, ArrayLike] | None = None, return_info: bool = False,
          on_nonconvergence: str = "raise") -> Any:
    """Generative inference: relax free inputs (latents) to explain a clamped observation.

    ``f(**free, **clamped)`` returns the prediction of the observation
    ``target``. The free inputs relax with the rest of the network (the
    strict schedule, the observation fully clamped: beta = 1) to minimise

        F = sum_units 1/2 (v - mu)^T Pi (v - mu) + E(mu_out, target)
            + sum_latents 1/2 (z - m)^T P (z - m)

    where ``prior[name] = (m, P)`` is a latent's Gaussian prior (mean and
    precision; default: flat). The units are the latents, the output and the
    pc_nodes (``units="marked"``, so the primitives of ``f`` between them are
    deterministic, as in a generative PC network; ``units="all"`` gives every
    primitive its own unit-precision error). Returns a dict of the inferred
    latents (and the RelaxInfo with ``return_info``). For a linear-Gaussian
    model the result is the exact posterior mode.

    >>> import numpy, pcgrad
    >>> W = numpy.array([[1.0, 0.5], [0.0, 2.0], [1.0, 1.0]])
    >>> z = pcgrad.infer(lambda z: W @ z, {"z": numpy.zeros(2)}, target=numpy.ones(3),
    ...                  prior={"z": (0.0, 1.0)})["z"]
    >>> numpy.allclose(z, numpy.linalg.solve(numpy.eye(2) + W.T @ W, W.T @ numpy.ones(3)))
    True
    """
    check_energy(energy)
    names = list(free)
    unknown = set(prior or {}) - set(names)
    if unknown:
        raise ValueError(f"prior names {sorted(unknown)}, which are not free inputs "
                         f"({', '.join(names)}).")
    clamped = dict(clamped or {})
    lin = _Linearized(lambda *latents: f(**dict(zip(names, latents)), **clamped),
                      tuple(free[name] for name in names), tuple(range(len(names))), False,
                      keep_values=True)
    options = relaxation_options("strict", eta, tol, max_iters, units, 1.0, precisions,
                                 on_nonconvergence)
    priors = {k: (prior or {}).get(name, (0.0, 0.0)) for k, name in enumerate(names)}
    _, info, value, _ = lin.pullback(_check_target(lin.out, target), options, energy,
                                  free=priors, want_info=return_info)
    plan, inferred = lin.plan("strict")[0], {}
    for k, name in enumerate(names):
        i = plan.inputs[k]
        o, n = plan.table.voff[i], plan.table.size[i]
        inferred[name] = value[o:o + n].reshape(plan.shapes[i]).astype(
            lin.graph.trace.values[lin.graph.inputs[k]].dtype)
    return (inferred, info) if return_info else inferred


class PrecisionLearner:
    """Learns diagonal precisions of named pc_nodes from a stream of relaxations.

    After each relaxation (run with ``return_info=True``) call
    ``update(info)``: for every named node the precision moves toward the
    batch statistics of its settled (precision-weighted) errors,

        Pi <- (1 - lr) Pi + lr (mean_batch eps^2 + damping),

    the diagonal of Bogacz's (2017) fixed point E[eps eps^T] = Pi, i.e.
    Sigma = 1/Pi = E[(v - mu)^2]. Written for Pi rather than Sigma, the
    update stays stable when the errors are precision-independent, as they
    are under the fixed prediction assumption: there eps is the gradient g
    of the loss with respect to the node's activity, so Pi converges to the
    empirical Fisher diag E[g g^T]. ``batch_axis`` (default 0; None for no
    batch) is averaged over; ``precisions`` is the dict to pass as
    ``precisions=`` to the next relaxation.

    >>> import numpy, pcgrad, pcgrad.numpy as np
    >>> learner = pcgrad.PrecisionLearner(["h"], lr=0.5, damping=0.0)
    >>> f = lambda w, x: np.sum(pcgrad.pc_node(x @ w, name="h") ** 2)
    >>> x = numpy.ones((4, 2))
    >>> for _ in range(60):
    ...     g, info = pcgrad.grad(f, precisions=learner.precisions,
    ...                           return_info=True)(numpy.ones((2, 3)), x)
    ...     _ = learner.update(info)
    >>> learner.precisions["h"]
    array([16., 16., 16.])
    """

    def __init__(self, names: Iterable[str], lr: float = 0.1, damping: float = 1e-8,
                 batch_axis: int | None = 0) -> None:
        if not 0.0 < lr <= 1.0:
            raise ValueError(f"lr must be in (0, 1]; got {lr}.")
        self.names, self.lr, self.damping, self.batch_axis = list(names), lr, damping, batch_axis
        self.precisions: dict[str, NDArray[np.float64]] = {}

    def update(self, info: RelaxInfo) -> dict[str, NDArray[np.float64]]:
        """Move each named node's precision toward its error statistics in ``info``."""
        missing = [name for name in self.names if name not in info.errors]
        if missing:
            raise ValueError(f"The relaxation recorded no errors for {missing}: name these "
                             "pc_nodes and run it with return_info=True.")
        for name in self.names:
            eps = np.asarray(info.errors[name])
            squares = eps ** 2
            stat = (squares if self.batch_axis is None else
                    np.mean(squares, axis=self.batch_axis)) + self.damping
            old = self.precisions.get(name)
            self.precisions[name] = stat if old is None else (1 - self.lr) * old + self.lr * stat
        return self.precisions
