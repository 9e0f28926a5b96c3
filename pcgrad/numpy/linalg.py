"""pcgrad.numpy.linalg: numpy.linalg with exact derivatives.

``inv``, ``slogdet``, ``cholesky``, ``eigh``, ``svd`` and ``qr`` are primitives
(pcgrad/primitives/linalg.py: LAPACK computes the value, the error rule is
the matrix-calculus identity); ``det``, ``solve``, ``pinv``, ``lstsq``,
``norm``, ``matrix_power``, ``trace`` and ``multi_dot`` are compositions of
them with pcgrad.numpy. Stacked matrices (leading ``...`` axes) work where
numpy allows them.

As in autograd and JAX, the derivative of eigenvectors (and singular
vectors) is undefined where eigenvalues (singular values) repeat: the
terms that couple two equal ones are left out, which is exact for
functions that do not depend on the basis chosen inside a repeated
eigenspace (the eigenvalues themselves, norms, ...). Factorizations fix
vectors only up to sign; differentiate functions that do not depend on it.

>>> import numpy, pcgrad
>>> import pcgrad.numpy as np
>>> a = numpy.array([[2.0, 1.0], [0.5, 3.0]])
>>> pcgrad.grad(lambda a: np.linalg.slogdet(a)[1])(a)   # inv(a).T
array([[ 0.54545455, -0.09090909],
       [-0.18181818,  0.36363636]])
"""
import functools
from collections import namedtuple

import numpy as _np

from ..primitives import PRIMITIVES as _P
from ..primitives.linalg import unpack_eigh as _unpack_eigh
from ..primitives.linalg import unpack_qr as _unpack_qr
from ..primitives.linalg import unpack_svd as _unpack_svd

__all__ = ["LinAlgError", "cholesky", "det", "eigh", "eigvalsh", "inv", "lstsq",
           "matrix_power", "matrix_transpose", "multi_dot", "norm", "pinv", "qr", "slogdet",
           "solve", "svd", "svdvals", "trace"]

LinAlgError = _np.linalg.LinAlgError
SlogdetResult = namedtuple("SlogdetResult", "sign logabsdet")
EighResult = namedtuple("EighResult", "eigenvalues eigenvectors")
SVDResult = namedtuple("SVDResult", "U S Vh")
QRResult = namedtuple("QRResult", "Q R")


def _pnp():
    from .. import numpy
    return numpy


def _matrices(a, name):
    """The shape of ``a``, which must hold matrices in its last two axes."""
    shape = _pnp().shape(a)
    if len(shape) < 2:
        raise LinAlgError(f"{name} needs an array of at least two dimensions (a matrix or a "
                          f"stack of matrices); got shape {shape}.")
    return shape


def _square(a, name):
    """The shape of ``a``, which must hold square matrices in its last two axes."""
    shape = _matrices(a, name)
    if shape[-1] != shape[-2]:
        raise LinAlgError(f"{name} needs square matrices in the last two axes; got shape "
                          f"{shape}.")
    return shape


def matrix_transpose(x):
    """numpy.linalg.matrix_transpose: swap the last two axes.

    >>> matrix_transpose(_np.ones((2, 3))).shape
    (3, 2)
    """
    return _pnp().swapaxes(x, -1, -2)


def inv(a):
    """numpy.linalg.inv; error rule -inv(a)^T eps inv(a)^T.

    >>> inv(_np.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    _square(a, "inv")
    return _P["inv"](a)


def solve(a, b):
    """numpy.linalg.solve: x with a @ x = b (b a vector, or matrices; stacks broadcast).

    >>> solve(_np.array([[2.0, 0.0], [0.0, 4.0]]), _np.array([1.0, 1.0]))
    array([0.5 , 0.25])
    """
    n = _square(a, "solve")[-1]
    b_shape = _pnp().shape(b)
    rows = b_shape[0] if len(b_shape) == 1 else (b_shape[-2] if len(b_shape) > 1 else None)
    if rows != n:
        raise ValueError(f"solve: b must have {n} rows to match a of shape "
                         f"{_pnp().shape(a)}; got b of shape {b_shape}.")
    try:
        inverse = _P["inv"](a)
    except LinAlgError:
        raise LinAlgError("solve: the matrix a is singular, so a x = b has no unique "
                          "solution; use pcgrad.numpy.linalg.lstsq for a least-squares "
                          "solution.") from None
    return _pnp().matmul(inverse, b)


def slogdet(a):
    """numpy.linalg.slogdet: (sign, log|det a|); the sign has no derivative
    and log|det a| has error rule eps inv(a)^T.

    >>> sign, logabsdet = slogdet(_np.array([[-2.0, 0.0], [0.0, 1.0]]))
    >>> float(sign), round(float(logabsdet), 12)
    (-1.0, 0.69314718056)
    """
    _square(a, "slogdet")
    packed = _P["slogdet"](a)
    return SlogdetResult(packed[..., 0], packed[..., 1])


def det(a):
    """numpy.linalg.det, as sign * exp(log|det a|): error rule eps det(a) inv(a)^T.

    >>> round(float(det(_np.array([[2.0, 1.0], [1.0, 3.0]]))), 12)
    5.0
    """
    sign, logabsdet = slogdet(a)
    return sign * _pnp().exp(logabsdet)


def cholesky(a, /, *, upper=False):
    """numpy.linalg.cholesky: lower-triangular L with a = L L^T (a's lower
    triangle is read); ``upper=True`` gives L^T. The derivative is the
    symmetric one, as autograd's.

    >>> cholesky(_np.array([[4.0, 2.0], [2.0, 2.0]]))
    array([[2., 0.],
           [1., 1.]])
    """
    _square(a, "cholesky")
    lower = _P["cholesky"](a)
    return matrix_transpose(lower) if upper else lower


def eigh(a, UPLO="L"):
    """numpy.linalg.eigh: eigenvalues (ascending) and eigenvectors (columns)
    of symmetric matrices, from the ``UPLO`` triangle. See the module
    docstring for repeated eigenvalues.

    >>> eigh(_np.array([[2.0, 0.0], [0.0, 1.0]])).eigenvalues
    array([1., 2.])
    """
    _square(a, "eigh")
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U'; got {UPLO!r}.")
    return EighResult(*_unpack_eigh(_P["eigh"](a, lower=UPLO == "L")))


def eigvalsh(a, UPLO="L"):
    """numpy.linalg.eigvalsh: the eigenvalues of symmetric matrices, ascending.

    >>> eigvalsh(_np.array([[2.0, 0.0], [0.0, 1.0]]))
    array([1., 2.])
    """
    return eigh(a, UPLO).eigenvalues


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """numpy.linalg.svd: U, S, Vh with a = U diag(S) Vh (the reduced
    factors: ``full_matrices=False``, or square matrices); with
    ``compute_uv=False`` the singular values alone. ``hermitian`` is
    accepted and the general SVD computed. See the module docstring for
    repeated singular values.

    >>> svd(_np.array([[3.0, 0.0], [0.0, -4.0]]), compute_uv=False)
    array([4., 3.])
    """
    m, n = _matrices(a, "svd")[-2:]
    if full_matrices and compute_uv and m != n:
        raise NotImplementedError(
            f"svd with full_matrices=True of a {m}x{n} matrix: the columns of U (or rows of "
            f"Vh) beyond the first {min(m, n)} are not determined by a, so they have no "
            f"derivative. Pass full_matrices=False.")
    u, s, vt = _unpack_svd(_P["svd"](a), m, n)
    return SVDResult(u, s, vt) if compute_uv else s


def svdvals(x, /):
    """numpy.linalg.svdvals: the singular values, descending.

    >>> svdvals(_np.array([[3.0, 0.0], [0.0, -4.0]]))
    array([4., 3.])
    """
    return svd(x, compute_uv=False)


def qr(a, mode="reduced"):
    """numpy.linalg.qr, modes 'reduced' (Q, R) and 'r' (R alone).

    >>> qr(_np.array([[3.0], [4.0]])).R
    array([[-5.]])
    """
    np = _pnp()
    shape = _matrices(a, "qr")
    if mode not in ("reduced", "r"):
        raise NotImplementedError(f"qr supports mode='reduced' and mode='r'; got "
                                  f"mode={mode!r}.")
    m, n = shape[-2:]
    if m >= n:
        q, r = _unpack_qr(_P["qr"](a), m, n)
    else:  # [x y] = q [r1 q^T y], with x the first m columns: its QR decides q
        q, r1 = _unpack_qr(_P["qr"](a[..., :m]), m, m)
        r = np.concatenate([r1, matrix_transpose(q) @ a[..., m:]], axis=-1)
    return r if mode == "r" else QRResult(q, r)


def _singular_values(a):
    from . import _value
    return _np.linalg.svd(_value(a), compute_uv=False)


def _rank_decided(a, name):
    """Refuse to decide the rank of traced ``a`` from its values under
    pcgrad.jit, which would freeze the decision at trace time."""
    from ..tracing import Tracer
    if isinstance(a, Tracer) and a._trace.compiling:
        raise TypeError(f"{name} decides the rank of a from its values, which pcgrad.jit "
                        f"would freeze at trace time. Call it without pcgrad.jit.")


def _cutoff(shape, rcond):
    return max(shape[-2:]) * _np.finfo(float).eps if rcond is None else rcond


def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """numpy.linalg.pinv. Of full rank: (a^T a)^-1 a^T (or a^T (a a^T)^-1),
    whose derivative is exact; else V diag(1/s) U^T over the singular values
    above ``rcond`` (default ``rtol``, max(m, n) eps) times the largest,
    whose derivative needs distinct singular values (and which pcgrad.jit
    refuses). ``hermitian`` is accepted and the general formula used.

    >>> pinv(_np.array([[2.0], [0.0]]))
    array([[0.5, 0. ]])
    """
    np = _pnp()
    shape = _matrices(a, "pinv")
    s = _singular_values(a)
    cut = _cutoff(shape, rcond if rcond is not None else rtol) * s.max(axis=-1, keepdims=True)
    if _np.all(s > cut):  # a later rank-deficient input gives inf or nan under pcgrad.jit
        t = matrix_transpose(a)
        return inv(t @ a) @ t if shape[-2] >= shape[-1] else t @ inv(a @ t)
    _rank_decided(a, "pinv of a rank-deficient matrix")
    u, s, vt = svd(a, full_matrices=False)
    kept = _np.asarray(np._value(s)) > cut
    scale = np.where(kept, 1.0 / (s + ~kept), 0.0)
    return matrix_transpose(vt) @ (np.expand_dims(scale, -1) * matrix_transpose(u))


def lstsq(a, b, rcond=None):
    """numpy.linalg.lstsq: (x, residuals, rank, s); x, the residuals and the
    singular values s are differentiable, the rank is an int (so pcgrad.jit
    refuses it, as it refuses argmax).

    >>> x, residuals, rank, s = lstsq(_np.array([[1.0], [1.0]]), _np.array([1.0, 3.0]))
    >>> x, residuals, rank
    (array([2.]), array([2.]), 1)
    """
    np = _pnp()
    shape = _matrices(a, "lstsq")
    if len(shape) != 2:
        raise LinAlgError(f"lstsq needs a 2-D matrix a; got shape {shape}.")
    m, n = shape
    b_shape = np.shape(b)
    if len(b_shape) not in (1, 2) or b_shape[0] != m:
        raise LinAlgError(f"lstsq: b must have {m} rows (as a has) and 1 or 2 dimensions; "
                          f"got b of shape {b_shape}.")
    _rank_decided(a, "lstsq")
    values = _singular_values(a)
    rank = int(_np.sum(values > _cutoff(shape, rcond) * values.max()))
    x = pinv(a, rcond=_cutoff(shape, rcond)) @ b
    if rank == n and m > n:
        residuals = np.sum((b - a @ x) ** 2, axis=0)
        if len(b_shape) == 1:
            residuals = np.reshape(residuals, (1,))
    else:
        residuals = _np.zeros(0)
    return x, residuals, rank, svd(a, compute_uv=False)


def matrix_power(a, n):
    """numpy.linalg.matrix_power by repeated squaring (inv first for n < 0).

    >>> matrix_power(_np.array([[1.0, 1.0], [0.0, 1.0]]), 3)
    array([[1., 3.],
           [0., 1.]])
    """
    shape = _square(a, "matrix_power")
    if int(n) != n:
        raise TypeError(f"matrix_power: the exponent must be an integer; got {n!r}.")
    n = int(n)
    if n == 0:
        return _np.broadcast_to(_np.eye(shape[-1]), shape).copy()
    if n < 0:
        a, n = inv(a), -n
    result = None
    while n:
        if n & 1:
            result = a if result is None else result @ a
        n >>= 1
        if n:
            a = a @ a
    return result


def trace(x, /, *, offset=0, dtype=None):
    """numpy.linalg.trace: the sum of the diagonal of the last two axes.

    >>> float(trace(_np.eye(3)))
    3.0
    """
    return _pnp().trace(x, offset, axis1=-2, axis2=-1)


def multi_dot(arrays, *, out=None):
    """numpy.linalg.multi_dot: the product of the matrices, left to right.

    >>> multi_dot([_np.eye(2), _np.ones((2, 3)), _np.ones(3)])
    array([3., 3.])
    """
    _pnp()._no_out(out, "multi_dot")
    return functools.reduce(_pnp().matmul, arrays)


# --- norms ------------------------------------------------------------------------------
def _vector_norm(x, ord, axis, keepdims):
    np = _pnp()
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order {ord!r} for vectors.")
    if ord is None or ord == 2:
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
    if ord == _np.inf:
        return np.max(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == -_np.inf:
        return np.min(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:  # counts nonzero elements: piecewise constant, a constant here
        return _np.linalg.norm(np._value(x), 0, axis, keepdims)
    if ord == 1:
        return np.sum(np.abs(x), axis=axis, keepdims=keepdims)
    return np.power(np.sum(np.power(np.abs(x), float(ord)), axis=axis, keepdims=keepdims),
                    1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):
    np = _pnp()
    row, col = axes
    if row == col:
        raise ValueError("norm: the two axes of a matrix norm must differ.")
    if ord in (2, -2, "nuc"):
        s = svd(np.moveaxis(x, (row, col), (-2, -1)), compute_uv=False)
        out = np.max(s, axis=-1) if ord == 2 else (
            np.min(s, axis=-1) if ord == -2 else np.sum(s, axis=-1))
    elif ord in (None, "fro", "f"):
        out = np.sqrt(np.sum(x * x, axis=axes))
    elif ord in (1, -1, _np.inf, -_np.inf):
        summed, other = (row, col) if ord in (1, -1) else (col, row)
        if other > summed:
            other -= 1
        extremum = np.max if ord in (1, _np.inf) else np.min
        out = extremum(np.sum(np.abs(x), axis=summed), axis=other)
    else:
        raise ValueError(f"Invalid norm order {ord!r} for matrices.")
    return np.expand_dims(out, tuple(sorted(axes))) if keepdims else out


def norm(x, ord=None, axis=None, keepdims=False):
    """numpy.linalg.norm: every vector and matrix ``ord`` numpy accepts
    (None, 'fro', 'nuc', inf, -inf, 0, 1, -1, 2, -2 and any other p for
    vectors), over ``axis`` (an int or a pair), with ``keepdims``. Matrix
    2-norms go through the singular values; ord=0 counts nonzero elements
    and is constant.

    >>> float(norm(_np.array([[3.0, 0.0], [0.0, 4.0]]), "nuc"))
    7.0
    """
    np = _pnp()
    ndim = len(np.shape(x))
    if axis is None:
        if ord is None:
            out = np.sqrt(np.sum(x * x))
            return np.reshape(out, (1,) * ndim) if keepdims else out
        if ndim == 1:
            axis = (0,)
        elif ndim == 2:
            axis = (0, 1)
        else:
            raise ValueError("Improper number of dimensions to norm.")
    axes = tuple(np._normalize_axis(axis if isinstance(axis, tuple) else (axis,), ndim))
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


def __getattr__(name):
    from . import _missing
    raise _missing("pcgrad.numpy.linalg", name)
