"""pcgrad.scipy.stats.multivariate_normal: the multivariate normal N(mean, cov)."""
import numpy as _np

from ... import numpy as _pnp
from ...numpy import _value
from ...tracing import Tracer as _Tracer

__all__ = ["logpdf", "pdf"]
_LOG_2PI = _np.log(2.0 * _np.pi)


def _whitening(cov, dim, allow_singular):
    """(W, log pseudo-determinant, rank) of a constant covariance, with
    W W^T = pinv(cov): the eigendecomposition scipy's multivariate_normal uses."""
    cov = _np.asarray(cov, dtype=float)
    if cov.ndim == 0:
        cov = cov * _np.eye(dim)
    elif cov.ndim == 1:
        cov = _np.diag(cov)
    s, u = _np.linalg.eigh(cov)
    eps = 1e6 * _np.finfo(float).eps * _np.max(_np.abs(s))
    if _np.min(s) < -eps:
        raise ValueError("the input matrix must be positive semidefinite")
    keep = s > eps
    if not _np.all(keep) and not allow_singular:
        raise _np.linalg.LinAlgError("When `allow_singular is False`, the input matrix must "
                                     "be symmetric positive definite.")
    return u[:, keep] / _np.sqrt(s[keep]), _np.sum(_np.log(s[keep])), int(_np.sum(keep))


def logpdf(x, mean=None, cov=1, allow_singular=False):
    """scipy.stats.multivariate_normal.logpdf, differentiable in x, mean and
    cov; x holds points along its last axis (or is one point). A traced
    covariance goes through pcgrad.numpy.linalg (slogdet and solve), so it
    must be a positive definite matrix; a constant one may be singular with
    ``allow_singular``, as in scipy.

    >>> import numpy
    >>> round(float(logpdf(numpy.zeros(2), cov=numpy.eye(2))), 12)   # -log(2 pi)
    -1.837877066409
    """
    if isinstance(cov, _Tracer):
        return _traced_cov_logpdf(x, mean, cov)
    cov_shape = _np.shape(cov)
    dim = cov_shape[0] if cov_shape else (1 if mean is None else int(_np.size(_value(mean))))
    x_shape = _np.shape(_value(x))
    if dim == 1 and (len(x_shape) == 0 or x_shape[-1] != 1):
        x = _pnp.reshape(x, x_shape + (1,))  # scalars or a vector of 1-d points
    whitening, log_det, rank = _whitening(cov, dim, allow_singular)
    deviation = x if mean is None else x - mean
    white = _pnp.matmul(deviation, whitening) if len(_np.shape(_value(deviation))) > 1 else \
        _pnp.matmul(whitening.T, deviation)
    return -0.5 * (rank * _LOG_2PI + log_det + _pnp.sum(white * white, axis=-1))


def _traced_cov_logpdf(x, mean, cov):
    """logpdf with a traced (d, d) covariance: -1/2 (d log 2 pi + log det cov
    + (x - mean)^T cov^-1 (x - mean)) for each point."""
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError("multivariate_normal.logpdf differentiates a covariance given as a "
                         f"(d, d) matrix; got a traced covariance of shape {cov.shape}. Build "
                         "the matrix (e.g. pcgrad.numpy.diag(variances)) first.")
    dim = cov.shape[0]
    deviation = x if mean is None else x - mean
    shape = _np.shape(_value(deviation))
    if dim == 1 and (len(shape) == 0 or shape[-1] != 1):
        shape = shape + (1,)  # scalars or a vector of 1-d points
    points = _pnp.reshape(deviation, (-1, dim))
    solved = _pnp.linalg.solve(cov, _pnp.transpose(points))
    quadratic = _pnp.sum(points * _pnp.transpose(solved), axis=-1)
    log_det = _pnp.linalg.slogdet(cov)[1]
    return _pnp.reshape(-0.5 * (dim * _LOG_2PI + log_det + quadratic), shape[:-1])


def pdf(x, mean=None, cov=1, allow_singular=False):
    """scipy.stats.multivariate_normal.pdf."""
    return _pnp.exp(logpdf(x, mean, cov, allow_singular))
