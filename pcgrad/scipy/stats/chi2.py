"""pcgrad.scipy.stats.chi2: the chi-squared distribution with df degrees of freedom."""
import numpy as _np

from ... import numpy as _pnp
from .. import special as _special
from ._support import on_support as _on_support
from ._support import standardize as _standardize

__all__ = ["logpdf", "pdf", "cdf", "logcdf", "sf"]
_LOG2 = _np.log(2.0)


def logpdf(x, df, loc=0.0, scale=1.0):
    """scipy.stats.chi2.logpdf, differentiable in x, df, loc and scale.

    >>> round(float(logpdf(1.0, 2.0)), 10)   # log(exp(-1/2) / 2)
    -1.1931471806
    """
    z = _standardize(x, loc, scale)
    z, put = _on_support(_pnp.greater_equal(z, 0.0), z, 1.0, -_np.inf)
    half = 0.5 * df
    return put(_special.xlogy(half - 1.0, z) - 0.5 * z - _special.gammaln(half)
               - half * _LOG2 - _pnp.log(scale))


def pdf(x, df, loc=0.0, scale=1.0):
    """scipy.stats.chi2.pdf."""
    return _pnp.exp(logpdf(x, df, loc, scale))


def cdf(x, df, loc=0.0, scale=1.0):
    """scipy.stats.chi2.cdf: gammainc(df/2, z/2), differentiable in x, loc and scale."""
    z = _pnp.maximum(_standardize(x, loc, scale), 0.0)
    return _special.gammainc(0.5 * df, 0.5 * z)


def logcdf(x, df, loc=0.0, scale=1.0):
    """scipy.stats.chi2.logcdf: log(cdf)."""
    return _pnp.log(cdf(x, df, loc, scale))


def sf(x, df, loc=0.0, scale=1.0):
    """scipy.stats.chi2.sf: gammaincc(df/2, z/2)."""
    z = _pnp.maximum(_standardize(x, loc, scale), 0.0)
    return _special.gammaincc(0.5 * df, 0.5 * z)
