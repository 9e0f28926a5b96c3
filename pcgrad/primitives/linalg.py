"""Batched matrix product: (Ba, M, K) @ (Bb, K, N) -> (B, M, N), Ba, Bb in {1, B}.

The operands keep their own shapes; the lowering reads them as these 3-D
blocks (pcgrad.numpy.matmul broadcasts other batch shapes explicitly first).
"""
import math

import numpy as np
from numba import njit

from ..kernels import blas_dgemm, gemm, kernel
from .core import MATMUL, error_of, family, parent, register, sends, tnp, value_of


def batched_matmul_dims(a_shape, b_shape):
    """(Ba, Bb, M, K, N) for numpy matmul of these shapes, or None if the
    batch dimensions need an explicit broadcast first."""
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)
    if len(a_shape) == 1:
        a_shape = (1,) + a_shape
    if len(b_shape) == 1:
        b_shape = b_shape + (1,)
    M, K = a_shape[-2], a_shape[-1]
    N = b_shape[-1]
    a_batch = math.prod(a_shape[:-2])
    b_batch = math.prod(b_shape[:-2])
    if len(b_shape) == 2:  # (..., M, K) @ (K, N): one tall matrix product
        return 1, 1, a_batch * M, K, N
    if a_batch == 1 or b_batch == 1 or a_shape[:-2] == b_shape[:-2]:
        return a_batch, b_batch, M, K, N
    return None


def _lower_matmul(params, in_shapes, out_shape):
    return 0, np.array(batched_matmul_dims(*in_shapes) + (blas_dgemm(),), np.int64)


@njit(cache=True)
def _dims(t, j):
    i = t.iptr[j]
    return (t.ints[i], t.ints[i + 1], t.ints[i + 2], t.ints[i + 3], t.ints[i + 4],
            t.ints[i + 5])


@njit(cache=True, error_model="numpy")
def product(dgemm, ta, tb, m, n, k, a, b, c, beta):
    """c = op(a) @ op(b) + beta c (see kernels.gemm), for any sizes."""
    if m == 0 or n == 0:
        return
    if k == 0:
        for i in range(m * n):
            c[i] *= beta
        return
    gemm(dgemm, ta, tb, m, n, k, a, b, c, beta)


@kernel
def matmul_forward(t, j, value, out):
    Ba, Bb, M, K, N, dgemm = _dims(t, j)
    a = value_of(t, value, parent(t, j, 0))
    b = value_of(t, value, parent(t, j, 1))
    for n in range(max(Ba, Bb)):
        product(dgemm, False, False, M, N, K, a[(n % Ba) * M * K:], b[(n % Bb) * K * N:],
                out[n * M * N:], 0.0)


# eps_a += eps_y b^T,  eps_b += a^T eps_y  (summed over a broadcast batch).
# Where this node is the only sender to a parent (psend 2, in the sweep's
# layout) the parent's buffer is not zeroed: the first product is written
# straight into it, sparing a temporary and a pass over memory.
@kernel
def matmul_vjp(t, j, value, prediction, e, acc):
    Ba, Bb, M, K, N, dgemm = _dims(t, j)
    if sends(t, j, 0):
        b = value_of(t, value, parent(t, j, 1))
        ga = error_of(t, acc, parent(t, j, 0))
        sole = t.psend[t.pptr[j]] == 2
        for n in range(max(Ba, Bb)):
            product(dgemm, False, True, M, K, N, e[n * M * N:], b[(n % Bb) * K * N:],
                    ga[(n % Ba) * M * K:], 0.0 if sole and n < Ba else 1.0)
    if sends(t, j, 1):
        a = value_of(t, value, parent(t, j, 0))
        gb = error_of(t, acc, parent(t, j, 1))
        sole = t.psend[t.pptr[j] + 1] == 2
        for n in range(max(Ba, Bb)):
            product(dgemm, True, False, K, N, M, a[(n % Ba) * M * K:], e[n * M * N:],
                    gb[(n % Bb) * K * N:], 0.0 if sole and n < Bb else 1.0)


def _matmul_traced_vjp(k, g, y, a, b):
    """The kernel's rule written with pcgrad.numpy: g b^T or a^T g, a vector
    operand read as a row (a) or a column (b); the caller sums a broadcast batch."""
    a_vector, b_vector = np.ndim(a) == 1, np.ndim(b) == 1
    if a_vector:
        a = tnp.reshape(a, (1, -1))
    if b_vector:
        b = tnp.reshape(b, (-1, 1))
    if a_vector or b_vector:  # g in the shape of the product of the matrices
        g = tnp.reshape(g, np.shape(g)[:np.ndim(g) - (not b_vector)] + (1,) * a_vector
                        + np.shape(g)[np.ndim(g) - (not b_vector):] + (1,) * b_vector)
    if k == 0:
        e = tnp.matmul(g, tnp.swapaxes(b, -1, -2))
        return e[..., 0, :] if a_vector else e
    e = tnp.matmul(tnp.swapaxes(a, -1, -2), g)
    return e[..., 0] if b_vector else e


family(MATMUL, lambda code: matmul_vjp, lambda code: matmul_forward)
register("matmul", MATMUL, np.matmul, _lower_matmul, reads_inputs="others",
         writes_sole_parent=True, vjp=_matmul_traced_vjp)
