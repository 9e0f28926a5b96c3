"""pcgrad.scipy.signal: ``convolve``, differentiable in both operands.

A convolution is a composition of primitives: the second operand, zero-padded
along the convolved axes, is cut into sliding windows (a gather) and
contracted with the flipped first operand (a matrix product). Its error
rules are theirs, so it runs under every schedule.
"""
import numpy as np

from .. import numpy as pnp
from ..numpy.lib.stride_tricks import sliding_window_view

__all__ = ["convolve"]

MODES = ("full", "valid", "same")


def convolve(in1, in2, mode="full", axes=None, dot_axes=((), ())):
    """scipy.signal.convolve of n-dimensional arrays (``mode`` "full", "valid" or
    "same", as scipy), differentiable in both.

    As autograd.scipy.signal.convolve it also takes ``axes`` (a pair of
    sequences: the axes of in1 and of in2 convolved with each other; default
    all) and ``dot_axes`` (pairs of axes summed over, as in a tensordot). The
    result's axes are in1's other axes, then in2's, then the convolved ones.

    >>> import numpy, pcgrad
    >>> from pcgrad.scipy.signal import convolve
    >>> convolve(numpy.array([1.0, 2.0]), numpy.array([1.0, 1.0, 1.0]))
    array([1., 3., 3., 2.])
    >>> pcgrad.grad(lambda a: convolve(a, numpy.array([1.0, 1.0, 1.0]), "valid")[0])(
    ...     numpy.array([1.0, 2.0, 3.0]))
    array([1., 1., 1.])
    """
    if mode not in MODES:
        raise ValueError(f"convolve's mode must be 'full', 'valid' or 'same'; got {mode!r}.")
    a_shape, b_shape = np.shape(in1), np.shape(in2)
    if axes is None:
        if len(a_shape) != len(b_shape):
            raise ValueError(f"convolve's operands must have the same number of dimensions "
                             f"unless axes= pairs them; got shapes {a_shape} and {b_shape}.")
        axes = (tuple(range(len(a_shape))), tuple(range(len(b_shape))))
    conv_a, conv_b = (tuple(a % len(s) for a in ax) for ax, s in zip(axes, (a_shape, b_shape)))
    dot_a, dot_b = (tuple(a % len(s) for a in ax) for ax, s in
                    zip(dot_axes, (a_shape, b_shape)))
    if len(conv_a) != len(conv_b) or len(dot_a) != len(dot_b):
        raise ValueError("convolve's axes and dot_axes must pair as many axes of in1 as of in2.")
    na = [a_shape[i] for i in conv_a]
    nb = [b_shape[i] for i in conv_b]
    if mode == "valid" and not (all(x <= y for x, y in zip(na, nb))
                                or all(x >= y for x, y in zip(na, nb))):
        raise ValueError(f"convolve in 'valid' mode needs one operand at least as large as "
                         f"the other along every convolved axis; got sizes {na} and {nb}.")
    # full[n] = sum_k flip(in1)[k] padded(in2)[n + k], padded by len(in1) - 1 each side
    width = [(0, 0)] * len(b_shape)
    for i, n in zip(conv_b, na):
        width[i] = (n - 1, n - 1)
    windows = sliding_window_view(pnp.pad(in2, width), na, axis=conv_b)
    flipped = pnp.flip(in1, conv_a) if conv_a else in1
    labels = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    window = {i: next(labels) for i in conv_a}  # in1's convolved axes: window offsets
    summed = {i: next(labels) for i in dot_a}
    a_labels = [window.get(i) or summed.get(i) or next(labels) for i in range(len(a_shape))]
    position = {i: next(labels) for i in conv_b}
    paired = {b: summed[a] for a, b in zip(dot_a, dot_b)}
    b_labels = [position.get(i) or paired.get(i) or next(labels) for i in range(len(b_shape))]
    w_labels = b_labels + [window[i] for i in conv_a]
    kept_a = [a_labels[i] for i in range(len(a_shape)) if i not in conv_a and i not in dot_a]
    kept_b = [b_labels[i] for i in range(len(b_shape)) if i not in conv_b and i not in dot_b]
    out_labels = kept_a + kept_b + [position[i] for i in conv_b]
    full = pnp.einsum(f"{''.join(a_labels)},{''.join(w_labels)}->{''.join(out_labels)}",
                      flipped, windows)
    if mode == "full":
        return full
    index = [slice(None)] * (len(kept_a) + len(kept_b))
    for x, y in zip(na, nb):
        if mode == "valid":
            index.append(slice(min(x, y) - 1, max(x, y)))
        else:  # "same": in1's size, centred as scipy centres it
            start = (y - 1) // 2
            index.append(slice(start, start + x))
    return full[tuple(index)]
