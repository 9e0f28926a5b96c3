"""pcgrad.numpy.lib.stride_tricks: sliding windows of traced arrays."""
import numpy as _np

from ... import numpy as _pnp
from .. import _shape

__all__ = ["sliding_window_view"]


def sliding_window_view(x, window_shape, axis=None, *, subok=False, writeable=False):
    """numpy.lib.stride_tricks.sliding_window_view, as a copy: each window's
    elements gathered from x (a window element's derivative flows back to the
    element it copies).

    >>> import numpy
    >>> sliding_window_view(numpy.arange(4.0), 2)
    array([[0., 1.],
           [1., 2.],
           [2., 3.]])
    """
    if writeable:
        raise ValueError("Traced arrays cannot be written to; sliding_window_view of a traced "
                         "array is a copy.")
    shape = _shape(x)
    positions = _np.arange(_np.prod(shape, dtype=int)).reshape(shape)
    index = _np.lib.stride_tricks.sliding_window_view(positions, window_shape, axis)
    return _pnp.ravel(x)[_np.ascontiguousarray(index)]
