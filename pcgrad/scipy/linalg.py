"""pcgrad.scipy.linalg: scipy.linalg's triangular and Cholesky solvers, traced.

``solve_triangular`` is a primitive (pcgrad/primitives/linalg.py);
``cholesky``, ``cho_factor`` and ``cho_solve`` compose it with
pcgrad.numpy.linalg.cholesky.

>>> import numpy, pcgrad
>>> from pcgrad.scipy.linalg import solve_triangular
>>> a = numpy.array([[2.0, 0.0], [1.0, 4.0]])
>>> solve_triangular(a, numpy.array([2.0, 5.0]), lower=True)
array([1., 1.])
>>> pcgrad.grad(lambda b: solve_triangular(a, b, lower=True)[1])(numpy.array([2.0, 5.0]))
array([-0.125,  0.25 ])
"""
import numpy as _np

from .. import numpy as _pnp
from ..numpy import linalg as _linalg
from ..primitives import PRIMITIVES as _P

__all__ = ["cho_factor", "cho_solve", "cholesky", "solve_triangular"]

_TRANS = {0: 0, 1: 1, 2: 1, "N": 0, "T": 1, "C": 1}  # real matrices: "C" is "T"


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    """scipy.linalg.solve_triangular: x with op(a) x = b, reading only the
    lower (or upper) triangle of a (ones on its diagonal if
    ``unit_diagonal``), op(a) = a^T for ``trans`` 1, 2, 'T' or 'C'. a may be
    a stack of matrices; b a vector or matrices. ``overwrite_b`` and
    ``check_finite`` are accepted and ignored.

    >>> solve_triangular(_np.array([[1.0, 1.0], [0.0, 2.0]]), _np.array([3.0, 2.0]))
    array([2., 1.])
    """
    if trans not in _TRANS:
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C'; got "
                         f"{trans!r}.")
    shape = _linalg._square(a, "solve_triangular")
    b_shape = _pnp.shape(b)
    vector = len(b_shape) == 1
    n = shape[-1]
    if not b_shape or (b_shape[0] if vector else b_shape[-2]) != n:
        raise ValueError(f"solve_triangular: b must have {n} rows to match a of shape "
                         f"{shape}; got b of shape {b_shape}.")
    if vector:
        b = _pnp.reshape(b, (n, 1))
    batch = _np.broadcast_shapes(shape[:-2], _pnp.shape(b)[:-2])
    if shape[:-2] != batch:
        a = _pnp.broadcast_to(a, batch + shape[-2:])
    if _pnp.shape(b)[:-2] != batch:
        b = _pnp.broadcast_to(b, batch + _pnp.shape(b)[-2:])
    x = _P["solve_triangular"](a, b, lower=bool(lower), trans=_TRANS[trans],
                               unit_diagonal=bool(unit_diagonal))
    return _pnp.reshape(x, batch + (n,)) if vector else x


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """scipy.linalg.cholesky: upper-triangular U with a = U^T U from a's
    upper triangle, or with ``lower`` L with a = L L^T from its lower one.

    >>> cholesky(_np.array([[4.0, 2.0], [2.0, 2.0]]))
    array([[2., 1.],
           [0., 1.]])
    """
    if lower:
        return _linalg.cholesky(a)
    return _linalg.matrix_transpose(_linalg.cholesky(_linalg.matrix_transpose(a)))


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """scipy.linalg.cho_factor: (c, lower) for cho_solve; c is the factor of
    ``cholesky`` (its other triangle zero, where scipy leaves arbitrary values).

    >>> cho_factor(_np.array([[4.0, 2.0], [2.0, 2.0]]), lower=True)[0]
    array([[2., 0.],
           [1., 1.]])
    """
    return cholesky(a, lower=lower), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """scipy.linalg.cho_solve: x with a x = b from cho_factor(a).

    >>> c = cho_factor(_np.array([[4.0, 2.0], [2.0, 2.0]]))
    >>> cho_solve(c, _np.array([6.0, 4.0]))
    array([1., 1.])
    """
    c, lower = c_and_lower
    # a = L L^T: L y = b, L^T x = y;  a = U^T U: U^T y = b, U x = y
    y = solve_triangular(c, b, trans=0 if lower else 1, lower=lower)
    return solve_triangular(c, y, trans=1 if lower else 0, lower=lower)
