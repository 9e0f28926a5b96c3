"""pcgrad.scipy.stats.poisson: the Poisson distribution with mean mu."""
import numpy as _np

from ... import numpy as _pnp
from .. import special as _special
from ._support import on_support as _on_support

__all__ = ["logpmf", "pmf", "cdf", "logcdf", "sf"]


def logpmf(k, mu, loc=0):
    """scipy.stats.poisson.logpmf: k log(mu) - mu - log(k!) at integers k >= 0,
    -inf elsewhere; differentiable in mu.

    >>> round(float(logpmf(2, 1.0)), 10)   # log(exp(-1) / 2)
    -1.6931471806
    """
    k = _pnp.stop_gradient(k - loc)
    inside = _pnp.logical_and(_pnp.greater_equal(k, 0.0), _pnp.equal(k, _pnp.floor(k)))
    k, put = _on_support(inside, k, 0.0, -_np.inf)
    return put(_special.xlogy(k, mu) - mu - _special.gammaln(k + 1.0))


def pmf(k, mu, loc=0):
    """scipy.stats.poisson.pmf."""
    return _pnp.exp(logpmf(k, mu, loc))


def cdf(k, mu, loc=0):
    """scipy.stats.poisson.cdf: gammaincc(floor(k) + 1, mu) (0 below k = 0);
    its derivative in mu is -pmf(floor(k), mu)."""
    k = _pnp.floor(_pnp.stop_gradient(k - loc))
    inside = _pnp.greater_equal(k, 0.0)
    k, put = _on_support(inside, k, 0.0, 0.0)
    return put(_special.gammaincc(_pnp.stop_gradient(k + 1.0), mu))


def logcdf(k, mu, loc=0):
    """scipy.stats.poisson.logcdf: log(cdf)."""
    return _pnp.log(cdf(k, mu, loc))


def sf(k, mu, loc=0):
    """scipy.stats.poisson.sf: gammainc(floor(k) + 1, mu) (1 below k = 0)."""
    k = _pnp.floor(_pnp.stop_gradient(k - loc))
    inside = _pnp.greater_equal(k, 0.0)
    k, put = _on_support(inside, k, 0.0, 1.0)
    return put(_special.gammainc(_pnp.stop_gradient(k + 1.0), mu))
