"""pcgrad.scipy.stats.dirichlet: the Dirichlet distribution with concentrations alpha."""
import numpy as _np

from ... import numpy as _pnp
from ...numpy import _value
from .. import special as _special

__all__ = ["logpdf", "pdf"]


def _simplex(x, alpha):
    """x with its components along the first axis, as scipy takes it: K
    components, or K - 1 (the last is then 1 minus their sum)."""
    k = _np.shape(_value(alpha))[0]
    if _np.shape(_value(x))[0] == k - 1:
        x = _pnp.concatenate([x, 1.0 - _pnp.sum(x, axis=0, keepdims=True)], axis=0)
    values = _np.asarray(_value(x))
    if values.shape[0] != k:
        raise ValueError(f"dirichlet: x has {values.shape[0]} components along its first "
                         f"axis; alpha has {k}.")
    if _np.any(values < 0) or _np.any(values > 1) or _np.any(
            _np.abs(_np.sum(values, axis=0) - 1.0) > 1e-9):
        raise ValueError("dirichlet: the input vector 'x' must lie within the normal simplex.")
    return x


def logpdf(x, alpha):
    """scipy.stats.dirichlet.logpdf: sum((alpha - 1) log x) - log B(alpha),
    components along x's first axis; differentiable in x and alpha.

    >>> import numpy
    >>> round(float(logpdf(numpy.array([0.2, 0.8]), numpy.array([1.0, 1.0]))), 12)
    0.0
    """
    x = _simplex(x, alpha)
    alpha_column = _pnp.reshape(alpha, (-1,) + (1,) * (len(_np.shape(_value(x))) - 1))
    log_beta = _pnp.sum(_special.gammaln(alpha)) - _special.gammaln(_pnp.sum(alpha))
    return _pnp.sum(_special.xlogy(alpha_column - 1.0, x), axis=0) - log_beta


def pdf(x, alpha):
    """scipy.stats.dirichlet.pdf."""
    return _pnp.exp(logpdf(x, alpha))
