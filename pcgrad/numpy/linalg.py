"""pcgrad.numpy.linalg: norms composed from pcgrad primitives."""
import numpy as _np

__all__ = ["norm"]


def norm(x, ord=None, axis=None, keepdims=False):
    """numpy.linalg.norm: vector p-norms (any p, inf, -inf) and the Frobenius norm."""
    from . import abs, max, min, power, sqrt, sum, shape
    ndim = len(shape(x))
    if ord in (None, "fro", "f") and (axis is None or isinstance(axis, tuple) and len(axis) == 2
                                      or ord is None):
        if ord in ("fro", "f") and not (ndim == 2 or isinstance(axis, tuple)):
            raise ValueError("The Frobenius norm needs a 2-D input or a pair of axes.")
        return sqrt(sum(x * x, axis=axis, keepdims=keepdims))
    if axis is None and ndim > 2:
        raise ValueError("Improper number of dimensions to norm.")
    if isinstance(axis, tuple) and len(axis) == 2 or (axis is None and ndim == 2):
        raise NotImplementedError(
            f"pcgrad.numpy.linalg.norm supports vector norms and the Frobenius norm; "
            f"matrix norm ord={ord!r} is not available.")
    if ord == _np.inf:
        return max(abs(x), axis=axis, keepdims=keepdims)
    if ord == -_np.inf:
        return min(abs(x), axis=axis, keepdims=keepdims)
    if ord == 2:
        return sqrt(sum(x * x, axis=axis, keepdims=keepdims))
    if ord == 1:
        return sum(abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        raise NotImplementedError("norm with ord=0 counts nonzeros: it has no derivative.")
    return power(sum(power(abs(x), float(ord)), axis=axis, keepdims=keepdims), 1.0 / ord)


def __getattr__(name):
    from . import _missing
    raise _missing("pcgrad.numpy.linalg", name)
