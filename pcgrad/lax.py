"""pcgrad.lax: convolution and pooling, in NCHW layout with OIHW weights.

``conv`` is one primitive (im2col and a BLAS matrix product, its error rule
the transposed convolution), so a convolutional layer is one predictive-coding
unit. ``conv_general_dilated`` takes the subset of ``jax.lax``'s signature
this layout allows. The pools gather each window onto a last axis and reduce
it (a max or a mean).

>>> import numpy, pcgrad, pcgrad.lax
>>> x, w = numpy.ones((1, 1, 4, 4)), numpy.ones((2, 1, 3, 3))
>>> pcgrad.lax.conv(x, w, padding=1)[0, 0]
array([[4., 6., 6., 4.],
       [6., 9., 9., 6.],
       [6., 9., 9., 6.],
       [4., 6., 6., 4.]])
"""
import numpy as np

from . import numpy as pnp
from .primitives import PRIMITIVES
from .primitives.conv import _windows

_SPATIAL = ("height", "width")


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _pair(value, what, name, low=1):
    """(a, b) from an int or a pair of ints, each at least ``low``."""
    pair = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= low for v in pair):
        raise ValueError(f"{what}: {name} must be an int or a pair of ints, each at least "
                         f"{low}; got {value!r}.")
    return int(pair[0]), int(pair[1])


def _padding(padding, what, size, kernel, stride, dilation):
    """((top, bottom), (left, right)) from an int, a pair, explicit pairs,
    'VALID' or 'SAME' (as jax.lax: the output has ceil(size / stride) rows)."""
    if isinstance(padding, str):
        if padding.upper() == "VALID":
            return (0, 0), (0, 0)
        if padding.upper() == "SAME":
            pads = []
            for a in range(2):
                extent = dilation[a] * (kernel[a] - 1) + 1
                total = max((-(-size[a] // stride[a]) - 1) * stride[a] + extent - size[a], 0)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"{what}: padding must be 'SAME', 'VALID', an int, a pair of ints or "
                         f"((top, bottom), (left, right)); got {padding!r}.")
    if np.ndim(padding) == 2:
        pairs = tuple(tuple(pair) for pair in padding)
        if len(pairs) != 2 or any(len(pair) != 2 for pair in pairs):
            raise ValueError(f"{what}: explicit padding is ((top, bottom), (left, right)); "
                             f"got {padding!r}.")
        return tuple(_pair(pair, what, "padding", low=0) for pair in pairs)
    return tuple((p, p) for p in _pair(padding, what, "padding", low=0))


def _check_input(x, what):
    shape = _shape(x)
    if len(shape) != 4:
        raise ValueError(f"{what} expects an input of shape (batch, channels, height, width); "
                         f"got shape {shape}. Add the missing axes with reshape (e.g. "
                         f"x[None, None] for one single-channel image).")
    return shape


def _check_output(what, size, kernel, padding, dilation):
    for a in range(2):
        extent = dilation[a] * (kernel[a] - 1) + 1
        padded = size[a] + sum(padding[a])
        if extent > padded:
            raise ValueError(f"{what}: the window spans {extent} along the {_SPATIAL[a]} but "
                             f"the padded input has only {padded}, so the output would be "
                             f"empty. Use a smaller kernel or dilation, or more padding.")


def conv(x, w, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in deep learning frameworks).

    ``x``: (batch, channels, height, width); ``w``: (out_channels,
    channels // groups, kernel_height, kernel_width). ``stride`` and
    ``dilation``: an int or a pair; ``padding``: an int, a pair,
    ((top, bottom), (left, right)), 'VALID' or 'SAME'; ``groups`` splits the
    channels into that many independent convolutions. Returns (batch,
    out_channels, out_height, out_width), as ``torch.nn.functional.conv2d``.

    >>> import numpy, pcgrad, pcgrad.lax, pcgrad.numpy as np
    >>> x = numpy.arange(16.0).reshape(1, 1, 4, 4)
    >>> g = pcgrad.grad(lambda w: np.sum(pcgrad.lax.conv(x, w, stride=2)))(numpy.ones((1, 1, 2, 2)))
    >>> g[0, 0]
    array([[20., 24.],
           [36., 40.]])
    """
    what = "pcgrad.lax.conv"
    shape = _check_input(x, what)
    kernel_shape = _shape(w)
    if len(kernel_shape) != 4:
        raise ValueError(f"{what} expects weights of shape (out_channels, channels // groups, "
                         f"kernel_height, kernel_width); got shape {kernel_shape}.")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{what}: groups must be a positive int; got {groups!r}.")
    if shape[1] != kernel_shape[1] * groups:
        raise ValueError(f"{what}: the input has {shape[1]} channels but the weights of shape "
                         f"{kernel_shape} with groups={groups} expect {kernel_shape[1]} x "
                         f"{groups} = {kernel_shape[1] * groups}.")
    if kernel_shape[0] % groups:
        raise ValueError(f"{what}: the {kernel_shape[0]} output channels (weights' first axis) "
                         f"must divide into groups={groups} equal groups.")
    stride = _pair(stride, what, "stride")
    dilation = _pair(dilation, what, "dilation")
    padding = _padding(padding, what, shape[2:], kernel_shape[2:], stride, dilation)
    _check_output(what, shape[2:], kernel_shape[2:], padding, dilation)
    return PRIMITIVES["conv"](x, w, stride=stride, padding=padding, dilation=dilation,
                              groups=int(groups))


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None, preferred_element_type=None):
    """``jax.lax.conv_general_dilated`` for NCHW inputs and OIHW weights.

    ``padding`` is 'SAME', 'VALID' or ((top, bottom), (left, right));
    ``rhs_dilation`` dilates the kernel. Input dilation (``lhs_dilation``),
    ``batch_group_count`` and other layouts are not supported; ``precision``
    and ``preferred_element_type`` are accepted and ignored (pcgrad computes
    in float64).

    >>> import numpy, pcgrad.lax
    >>> y = pcgrad.lax.conv_general_dilated(numpy.ones((2, 4, 9, 9)), numpy.ones((6, 2, 3, 3)),
    ...                                      (2, 2), "SAME", feature_group_count=2)
    >>> y.shape
    (2, 6, 5, 5)
    """
    what = "pcgrad.lax.conv_general_dilated"
    if lhs_dilation is not None and tuple(np.broadcast_to(lhs_dilation, 2)) != (1, 1):
        raise NotImplementedError(f"{what} does not support lhs_dilation (transposed "
                                  f"convolution); got {lhs_dilation!r}.")
    if batch_group_count != 1:
        raise NotImplementedError(f"{what} supports batch_group_count=1 only; got "
                                  f"{batch_group_count!r}.")
    if dimension_numbers is not None and tuple(dimension_numbers) != ("NCHW", "OIHW", "NCHW"):
        raise NotImplementedError(f"{what} supports the layouts ('NCHW', 'OIHW', 'NCHW') only; "
                                  f"got {dimension_numbers!r}. Transpose the operands first.")
    if not isinstance(padding, str) and np.ndim(padding) != 2:
        raise ValueError(f"{what}: padding must be 'SAME', 'VALID' or ((top, bottom), "
                         f"(left, right)) as in jax.lax; got {padding!r}.")
    return conv(lhs, rhs, stride=window_strides, padding=padding,
                dilation=1 if rhs_dilation is None else rhs_dilation,
                groups=feature_group_count)


def _pool_windows(x, kernel_size, stride, padding, what, fill):
    shape = _check_input(x, what)
    kernel = _pair(kernel_size, what, "kernel_size")
    stride = kernel if stride is None else _pair(stride, what, "stride")
    padding = _padding(padding, what, shape[2:], kernel, stride, (1, 1))
    if any(max(pair) > k // 2 for pair, k in zip(padding, kernel)):
        raise ValueError(f"{what}: padding {padding} is more than half the window "
                         f"{kernel}, so a window could hold padding only.")
    _check_output(what, shape[2:], kernel, padding, (1, 1))
    params = dict(kernel=kernel, stride=stride, padding=padding)
    windows = PRIMITIVES["windows"](x, **params)
    if fill and any(map(any, padding)):  # padding the max ignores: -inf, not 0
        windows = windows + _windows(np.zeros(shape), fill=fill, **params)
    return windows


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over each (kernel_size) window of the last two axes of (batch,
    channels, height, width); ``stride`` defaults to ``kernel_size``, and
    padding is never the maximum. Tied maxima share the derivative equally.

    >>> import numpy, pcgrad.lax
    >>> pcgrad.lax.max_pool2d(numpy.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    return pnp.max(_pool_windows(x, kernel_size, stride, padding, "pcgrad.lax.max_pool2d",
                                 -np.inf), axis=-1)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each (kernel_size) window of the last two axes of (batch,
    channels, height, width); ``stride`` defaults to ``kernel_size``; padded
    zeros count towards the mean (as torch's default count_include_pad).

    >>> import numpy, pcgrad.lax
    >>> pcgrad.lax.avg_pool2d(numpy.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    return pnp.mean(_pool_windows(x, kernel_size, stride, padding, "pcgrad.lax.avg_pool2d", 0),
                    axis=-1)


__all__ = ["conv", "conv_general_dilated", "max_pool2d", "avg_pool2d"]
