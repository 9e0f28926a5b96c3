"""pcgrad.scipy.stats.beta: the beta distribution with shapes a and b."""
import numpy as _np

from ... import numpy as _pnp
from .. import special as _special
from ._support import on_support as _on_support
from ._support import standardize as _standardize

__all__ = ["logpdf", "pdf", "cdf", "logcdf", "sf"]


def logpdf(x, a, b, loc=0.0, scale=1.0):
    """scipy.stats.beta.logpdf, differentiable in x, a, b, loc and scale.

    >>> round(float(logpdf(0.5, 2.0, 2.0)), 12)   # log(6 / 4)
    0.405465108108
    """
    z = _standardize(x, loc, scale)
    inside = _pnp.logical_and(_pnp.greater_equal(z, 0.0), _pnp.less_equal(z, 1.0))
    z, put = _on_support(inside, z, 0.5, -_np.inf)
    return put(_special.xlogy(a - 1.0, z) + _special.xlog1py(b - 1.0, -z)
               - _special.betaln(a, b) - _pnp.log(scale))


def pdf(x, a, b, loc=0.0, scale=1.0):
    """scipy.stats.beta.pdf."""
    return _pnp.exp(logpdf(x, a, b, loc, scale))


def cdf(x, a, b, loc=0.0, scale=1.0):
    """scipy.stats.beta.cdf: betainc(a, b, z), differentiable in x, loc and scale."""
    z = _pnp.clip(_standardize(x, loc, scale), 0.0, 1.0)
    return _special.betainc(a, b, z)


def logcdf(x, a, b, loc=0.0, scale=1.0):
    """scipy.stats.beta.logcdf: log(cdf)."""
    return _pnp.log(cdf(x, a, b, loc, scale))


def sf(x, a, b, loc=0.0, scale=1.0):
    """scipy.stats.beta.sf: betainc(b, a, 1 - z)."""
    z = _pnp.clip(_standardize(x, loc, scale), 0.0, 1.0)
    return _special.betainc(b, a, 1.0 - z)
