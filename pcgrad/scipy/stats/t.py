"""pcgrad.scipy.stats.t: Student's t distribution with df degrees of freedom."""
import numpy as _np

from ... import numpy as _pnp
from .. import special as _special
from ._support import standardize as _standardize

__all__ = ["logpdf", "pdf", "cdf", "logcdf", "sf"]


def logpdf(x, df, loc=0.0, scale=1.0):
    """scipy.stats.t.logpdf, differentiable in x, df, loc and scale.

    >>> round(float(logpdf(0.0, 1.0)), 12)   # Cauchy: -log(pi)
    -1.144729885849
    """
    z = _standardize(x, loc, scale)
    return (_special.gammaln(0.5 * (df + 1.0)) - _special.gammaln(0.5 * df)
            - 0.5 * _pnp.log(df * _np.pi) - _pnp.log(scale)
            - 0.5 * (df + 1.0) * _pnp.log1p(z * z / df))


def pdf(x, df, loc=0.0, scale=1.0):
    """scipy.stats.t.pdf."""
    return _pnp.exp(logpdf(x, df, loc, scale))


def _cdf(z, df):
    """The t distribution function of z: from I_{df/(df+z^2)}(df/2, 1/2) in
    the tails, from I_{z^2/(df+z^2)}(1/2, df/2) near 0 (no rounding of 1 - ...).
    At z = 0 exactly it is 1/2 + pdf(0) z, whose derivative is right where
    the betainc form's is 0 * inf."""
    zero = _pnp.equal(z, 0.0)
    at_zero = 0.5 + _pnp.exp(logpdf(0.0, df)) * z
    z = _pnp.where(zero, 1.0, z)
    z2 = z * z
    center = 0.5 + 0.5 * _pnp.sign(z) * _special.betainc(0.5, 0.5 * df, z2 / (df + z2))
    tail = 0.5 * _special.betainc(0.5 * df, 0.5, df / (df + z2))
    far = _pnp.where(_pnp.less(z, 0.0), tail, 1.0 - tail)
    return _pnp.where(zero, at_zero, _pnp.where(_pnp.less(z2, df), center, far))


def cdf(x, df, loc=0.0, scale=1.0):
    """scipy.stats.t.cdf, differentiable in x, loc and scale (df is a constant).

    >>> float(cdf(0.0, 3.0))
    0.5
    """
    return _cdf(_standardize(x, loc, scale), df)


def logcdf(x, df, loc=0.0, scale=1.0):
    """scipy.stats.t.logcdf: log(cdf)."""
    return _pnp.log(cdf(x, df, loc, scale))


def sf(x, df, loc=0.0, scale=1.0):
    """scipy.stats.t.sf: cdf(-z) by symmetry."""
    return _cdf(-_standardize(x, loc, scale), df)
