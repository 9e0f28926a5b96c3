"""pcgrad.scipy.stats.gamma: the gamma distribution with shape a."""
import numpy as _np

from ... import numpy as _pnp
from .. import special as _special
from ._support import on_support as _on_support
from ._support import standardize as _standardize

__all__ = ["logpdf", "pdf", "cdf", "logcdf", "sf"]


def logpdf(x, a, loc=0.0, scale=1.0):
    """scipy.stats.gamma.logpdf, differentiable in x, a, loc and scale (-inf below 0).

    >>> float(logpdf(1.0, 1.0))
    -1.0
    """
    z = _standardize(x, loc, scale)
    z, put = _on_support(_pnp.greater_equal(z, 0.0), z, 1.0, -_np.inf)
    return put(_special.xlogy(a - 1.0, z) - z - _special.gammaln(a) - _pnp.log(scale))


def pdf(x, a, loc=0.0, scale=1.0):
    """scipy.stats.gamma.pdf."""
    return _pnp.exp(logpdf(x, a, loc, scale))


def cdf(x, a, loc=0.0, scale=1.0):
    """scipy.stats.gamma.cdf: gammainc(a, z), differentiable in x, loc and scale."""
    z = _pnp.maximum(_standardize(x, loc, scale), 0.0)
    return _special.gammainc(a, z)


def logcdf(x, a, loc=0.0, scale=1.0):
    """scipy.stats.gamma.logcdf: log(cdf)."""
    return _pnp.log(cdf(x, a, loc, scale))


def sf(x, a, loc=0.0, scale=1.0):
    """scipy.stats.gamma.sf: gammaincc(a, z)."""
    z = _pnp.maximum(_standardize(x, loc, scale), 0.0)
    return _special.gammaincc(a, z)
