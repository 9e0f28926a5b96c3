"""pcgrad.scipy.stats.norm: the normal distribution N(loc, scale^2)."""
import numpy as _np

from ... import numpy as _pnp
from .. import special as _special
from ._support import standardize as _standardize

__all__ = ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf"]
_HALF_LOG_2PI = 0.5 * _np.log(2.0 * _np.pi)


def logpdf(x, loc=0.0, scale=1.0):
    """scipy.stats.norm.logpdf: -z^2/2 - log(scale) - log(2 pi)/2, z = (x - loc) / scale.

    >>> float(logpdf(0.0))
    -0.9189385332046727
    """
    z = _standardize(x, loc, scale)
    return -0.5 * z * z - _pnp.log(scale) - _HALF_LOG_2PI


def pdf(x, loc=0.0, scale=1.0):
    """scipy.stats.norm.pdf."""
    return _pnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0.0, scale=1.0):
    """scipy.stats.norm.cdf: ndtr(z)."""
    return _special.ndtr(_standardize(x, loc, scale))


def logcdf(x, loc=0.0, scale=1.0):
    """scipy.stats.norm.logcdf: log_ndtr(z), accurate far into the lower tail."""
    return _special.log_ndtr(_standardize(x, loc, scale))


def sf(x, loc=0.0, scale=1.0):
    """scipy.stats.norm.sf: 1 - cdf, as ndtr(-z)."""
    return _special.ndtr(-_standardize(x, loc, scale))


def logsf(x, loc=0.0, scale=1.0):
    """scipy.stats.norm.logsf: log_ndtr(-z)."""
    return _special.log_ndtr(-_standardize(x, loc, scale))


def ppf(q, loc=0.0, scale=1.0):
    """scipy.stats.norm.ppf: loc + scale ndtri(q)."""
    return loc + scale * _special.ndtri(q)


def isf(q, loc=0.0, scale=1.0):
    """scipy.stats.norm.isf: loc - scale ndtri(q)."""
    return loc - scale * _special.ndtri(q)
