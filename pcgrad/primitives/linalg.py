"""Linear algebra: the batched matrix product, and the LINALG family
(inverse, slogdet, Cholesky, eigh, SVD, QR, triangular solve).

Matrix product: (Ba, M, K) @ (Bb, K, N) -> (B, M, N), Ba, Bb in {1, B}.
The operands keep their own shapes; the lowering reads them as these 3-D
blocks (pcgrad.numpy.matmul broadcasts other batch shapes explicitly first).
"""
import math

import numpy as np
from numba import types

from ..kernels import blas_dgemm, gemm, helper, kernel
from .core import (LINALG, MATMUL, copy, error_of, family, parent, register, sends, tnp,
                   value_of, view)


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


@helper(error_model="numpy")
def product(dgemm, ta, tb, m, n, k, a, b, c, beta):
    """c = op(a) @ op(b) + beta c (see kernels.gemm), for any sizes."""
    if m == 0 or n == 0:
        return
    if k == 0:
        for i in range(m * n):
            c[i] *= beta
        return
    gemm(dgemm, ta, tb, m, n, k, a, b, c, beta)


@helper(error_model="numpy")
def _products(dgemm, ta, tb, m, n, k, a, na, b, nb, c, nc, batches, beta):
    """For i < batches: block i % nc of c = op(block i % na of a) @ op(block
    i % nb of b) + beta c, where beta is 1 once that block of c was written
    (a broadcast operand's error sums over the batch); blocks are m x k,
    k x n and m x n."""
    for i in range(batches):
        product(dgemm, ta, tb, m, n, k, a[(i % na) * m * k:], b[(i % nb) * k * n:],
                c[(i % nc) * m * n:], beta if i < nc else 1.0)


@kernel
def matmul_forward(t, j, value, out):
    i = t.iptr[j]
    a = value_of(t, value, parent(t, j, 0))
    b = value_of(t, value, parent(t, j, 1))
    ints = t.ints
    Ba, Bb, M, K, N = ints[i], ints[i + 1], ints[i + 2], ints[i + 3], ints[i + 4]
    B = max(Ba, Bb)
    _products(ints[i + 5], False, False, M, N, K, a, Ba, b, Bb, out, B, B, 0.0)


# eps_a += eps_y b^T,  eps_b += a^T eps_y  (summed over a broadcast batch).
# Where this node is the only sender to a parent (psend 2, in the sweep's
# layout) the parent's buffer is not zeroed: the first product is written
# straight into it, sparing a temporary and a pass over memory.
@kernel
def matmul_vjp(t, j, value, prediction, e, acc):
    q, i = t.pptr[j], t.iptr[j]
    ints = t.ints
    Ba, Bb, M, K, N = ints[i], ints[i + 1], ints[i + 2], ints[i + 3], ints[i + 4]
    B, dgemm = max(Ba, Bb), ints[i + 5]
    if t.psend[q] != 0:
        b = view(value, t.voff[t.par[q + 1]], t.size[t.par[q + 1]])
        ga = view(acc, t.eoff[t.par[q]], t.size[t.par[q]])
        _products(dgemm, False, True, M, K, N, e, B, b, Bb, ga, Ba, B,
                  0.0 if t.psend[q] == 2 else 1.0)
    if t.psend[q + 1] != 0:
        a = view(value, t.voff[t.par[q]], t.size[t.par[q]])
        gb = view(acc, t.eoff[t.par[q + 1]], t.size[t.par[q + 1]])
        _products(dgemm, True, False, K, N, M, a, Ba, e, B, gb, Bb, B,
                  0.0 if t.psend[q + 1] == 2 else 1.0)


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


# --- the LINALG family ------------------------------------------------------------------
# Forward kernels (strict relaxation, compiled replay) call LAPACK through
# the C wrappers Numba ships for its own numpy.linalg (its numpy.linalg
# itself takes many seconds to compile). LAPACK is column-major: a row-major
# buffer is the transpose of the matrix it holds, which inversion and
# Cholesky factors of symmetric matrices do not notice; eigh, svd and qr
# transpose, to make the calls numpy makes (and get its signs).
# Error rules are the matrix-calculus identities of Giles (2008), "Collected
# matrix derivative results for forward and reverse mode AD", in autograd's
# conventions; each is also written with pcgrad.numpy (the vjp= functions).
INV, SLOGDET, CHOLESKY, EIGH, SVD, QR, TRIANGULAR = range(7)
LINALG_NAMES = ("inv", "slogdet", "cholesky", "eigh", "svd", "qr", "solve_triangular")


def _wrapper(name, *args):
    """Numba's C wrapper ``name`` of a LAPACK routine (as numba.np.linalg
    declares it, without importing that module and scipy.linalg with
    pcgrad): it returns LAPACK's info and takes the kind ("d") first."""
    return types.ExternalFunction(name, types.intc(types.char, *args))


_N, _C, _X, _I = types.intp, types.char, types.CPointer(types.float64), types.CPointer(types.intc)
_getrf = _wrapper("numba_xxgetrf", _N, _N, _X, _N, _I)
_getri = _wrapper("numba_ez_xxgetri", _N, _X, _N, _I)
_potrf = _wrapper("numba_xxpotrf", _C, _N, _X, _N)
_syevd = _wrapper("numba_ez_xxxevd", _C, _C, _N, _X, _N, _X)
_gesdd = _wrapper("numba_ez_gesdd", _C, _N, _N, _X, _N, _X, _X, _N, _X, _N)
_geqrf = _wrapper("numba_ez_geqrf", _N, _N, _X, _N, _X)
_orgqr = _wrapper("numba_ez_xxgqr", _N, _N, _N, _X, _N, _X)
_D = ord("d")  # LAPACK's kind: double precision


def _batch(shape):
    return math.prod(shape[:-2])


def _lowering(code, dims):
    """A lowering to sub-code ``code`` whose integers are ``dims(params, in_shapes)``
    followed by the address of dgemm."""
    def lower(params, in_shapes, out_shape):
        return code, np.array(dims(params, in_shapes) + (blas_dgemm(),), np.int64)
    return lower


def _square(params, in_shapes):  # (batch, n)
    return _batch(in_shapes[0]), in_shapes[0][-1]


def _symmetric(params, in_shapes):  # (batch, n, lower)
    return _batch(in_shapes[0]), in_shapes[0][-1], int(params["lower"])


def _matrix(params, in_shapes):  # (batch, m, n)
    return _batch(in_shapes[0]), in_shapes[0][-2], in_shapes[0][-1]


def _triangular_system(params, in_shapes):  # (batch, n, k, lower, trans, unit_diagonal)
    a, b = in_shapes
    return (_batch(a), a[-1], b[-1], int(params["lower"]), int(params["trans"]),
            int(params["unit_diagonal"]))


@helper
def _row(t, j):
    return t.ints[t.iptr[j]:t.iptr[j + 1]]


@helper
def _fill_nan(x):
    for i in range(x.size):
        x[i] = np.nan


@helper
def _transpose(src, m, n, dst):
    """dst (n x m) = src (m x n) transposed, both row-major."""
    for i in range(m):
        for k in range(n):
            dst[k * m + i] = src[i * n + k]


@helper
def _inverse(a, n, out):
    """out = a^-1 (n x n; nan where a is singular)."""
    for i in range(n * n):
        out[i] = a[i]
    pivots = np.empty(n, np.intc)
    if _getrf(_D, n, n, out.ctypes, n, pivots.ctypes) != 0 or \
            _getri(_D, n, out.ctypes, n, pivots.ctypes) != 0:
        _fill_nan(out[:n * n])


@helper
def _solve_triangular(a, n, lower, trans, unit, x, k):
    """x (n x k) <- op(T)^-1 x, T the lower (or upper) triangle of a (unit:
    with ones on its diagonal), op(T) = T^T if ``trans``."""
    forward = lower != trans  # op(T) is lower triangular: substitute forward
    for step in range(n):
        i = step if forward else n - 1 - step
        for c in range(k):
            total = x[i * k + c]
            for q in range(n):
                if (q < i) == forward and q != i:
                    total -= (a[q * n + i] if trans else a[i * n + q]) * x[q * k + c]
            x[i * k + c] = total if unit else total / a[i * n + i]


@helper
def _flips(new, old, rows, cols):
    """Which columns of the (rows x cols) matrix ``new`` point away from
    those of ``old``, its previous value (a negative dot product).
    Factorizations fix these vectors only up to sign; the forward kernels
    keep the sign continuous."""
    flips = np.zeros(cols, np.bool_)
    for v in range(cols):
        total = 0.0
        for r in range(rows):
            total += new[r * cols + v] * old[r * cols + v]
        flips[v] = total < 0.0
    return flips


# inverse: y = a^-1;  eps_a -= y^T eps_y y^T
@kernel
def inv_forward(t, j, value, out):
    row = _row(t, j)
    batch, n = row[0], row[1]
    a = value_of(t, value, parent(t, j, 0))
    for b in range(batch):
        _inverse(a[b * n * n:], n, out[b * n * n:])


@kernel
def inv_vjp(t, j, value, prediction, e, acc):
    if not sends(t, j, 0):
        return
    row = _row(t, j)
    batch, n, dgemm = row[0], row[1], row[2]
    y = value_of(t, prediction, j)
    ga = error_of(t, acc, parent(t, j, 0))
    left, both = np.empty(n * n), np.empty(n * n)
    for b in range(batch):
        o = b * n * n
        product(dgemm, True, False, n, n, n, y[o:], e[o:], left, 0.0)
        product(dgemm, False, True, n, n, n, left, y[o:], both, 0.0)
        for i in range(n * n):
            ga[o + i] -= both[i]


# slogdet, packed per batch as (sign, log|det a|); the sign has no derivative:
#   eps_a += eps_log a^-T
@kernel
def slogdet_forward(t, j, value, out):
    row = _row(t, j)
    batch, n = row[0], row[1]
    a = value_of(t, value, parent(t, j, 0))
    lu = np.empty(n * n)
    pivots = np.empty(n, np.intc)
    for b in range(batch):
        for i in range(n * n):
            lu[i] = a[b * n * n + i]
        _getrf(_D, n, n, lu.ctypes, n, pivots.ctypes)  # of a^T, whose det is a's
        sign, total = 1.0, 0.0
        for i in range(n):
            d = lu[i * n + i]
            if pivots[i] != i + 1:  # a row swap (LAPACK counts from 1)
                sign = -sign
            sign = sign * (1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0))
            total += math.log(abs(d))
        out[2 * b] = sign
        out[2 * b + 1] = total


@kernel
def slogdet_vjp(t, j, value, prediction, e, acc):
    if not sends(t, j, 0):
        return
    row = _row(t, j)
    batch, n = row[0], row[1]
    a = value_of(t, value, parent(t, j, 0))
    ga = error_of(t, acc, parent(t, j, 0))
    inverse = np.empty(n * n)
    for b in range(batch):
        o = b * n * n
        _inverse(a[o:], n, inverse)
        for i in range(n):
            for k in range(n):
                ga[o + i * n + k] += e[2 * b + 1] * inverse[k * n + i]


# Cholesky a = l l^T (the lower triangle of a is read);
#   eps_a += sym(l^-T phi(l^T eps_l) l^-1), phi: the lower triangle, its diagonal halved
@kernel
def cholesky_forward(t, j, value, out):
    row = _row(t, j)
    batch, n = row[0], row[1]
    a = value_of(t, value, parent(t, j, 0))
    for b in range(batch):
        o = b * n * n
        l = out[o:o + n * n]
        for i in range(n * n):
            l[i] = a[o + i]
        # "U" of the column-major view is the row-major lower triangle
        if _potrf(_D, ord("U"), n, l.ctypes, n) != 0:
            _fill_nan(l)
            continue
        for i in range(n):
            for k in range(i + 1, n):
                l[i * n + k] = 0.0


@kernel
def cholesky_vjp(t, j, value, prediction, e, acc):
    if not sends(t, j, 0):
        return
    row = _row(t, j)
    batch, n, dgemm = row[0], row[1], row[2]
    y = value_of(t, prediction, j)
    ga = error_of(t, acc, parent(t, j, 0))
    p, q = np.empty(n * n), np.empty(n * n)
    for b in range(batch):
        o = b * n * n
        l = y[o:o + n * n]
        product(dgemm, True, False, n, n, n, l, e[o:], p, 0.0)
        for i in range(n):
            p[i * n + i] *= 0.5
            for k in range(i + 1, n):
                p[i * n + k] = 0.0
        _solve_triangular(l, n, True, True, False, p, n)
        _transpose(p, n, n, q)
        _solve_triangular(l, n, True, True, False, q, n)
        for i in range(n):
            for k in range(n):
                ga[o + i * n + k] += 0.5 * (q[i * n + k] + q[k * n + i])


# eigh, packed as one (n + 1, n) matrix per batch: the eigenvalues w, then
# the eigenvectors V (columns). With F_ik = 1/(w_k - w_i) (0 where equal):
#   eps_a += V (diag(eps_w) + F * (V^T eps_V)) V^T, folded onto the triangle read.
@kernel
def eigh_forward(t, j, value, out):
    row = _row(t, j)
    batch, n, lower = row[0], row[1], row[2]
    a = value_of(t, value, parent(t, j, 0))
    stored = t.voff[j] >= 0
    old = value_of(t, value, j)
    vectors, w, v = np.empty(n * n), np.empty(n), np.empty(n * n)
    size = (n + 1) * n
    for b in range(batch):
        o = b * size
        _transpose(a[b * n * n:], n, n, vectors)  # column-major, as numpy calls LAPACK
        if _syevd(_D, ord("V"), ord("L") if lower else ord("U"), n, vectors.ctypes, n,
                  w.ctypes) != 0:
            _fill_nan(out[o:o + size])
            continue
        _transpose(vectors, n, n, v)
        flips = _flips(v, old[o + n:], n, n) if stored else np.zeros(n, np.bool_)
        for i in range(n):
            out[o + i] = w[i]
            for k in range(n):
                out[o + n + i * n + k] = -v[i * n + k] if flips[k] else v[i * n + k]


@kernel
def eigh_vjp(t, j, value, prediction, e, acc):
    if not sends(t, j, 0):
        return
    row = _row(t, j)
    batch, n, lower, dgemm = row[0], row[1], row[2], row[3]
    y = value_of(t, prediction, j)
    ga = error_of(t, acc, parent(t, j, 0))
    inner, left, full = np.empty(n * n), np.empty(n * n), np.empty(n * n)
    size = (n + 1) * n
    for b in range(batch):
        w, v = y[b * size:b * size + n], y[b * size + n:]
        gw, gv = e[b * size:b * size + n], e[b * size + n:]
        product(dgemm, True, False, n, n, n, v, gv, inner, 0.0)
        for i in range(n):
            for k in range(n):
                gap = w[k] - w[i]
                inner[i * n + k] = gw[i] if i == k else (
                    inner[i * n + k] / gap if gap != 0.0 else 0.0)
        product(dgemm, False, False, n, n, n, v, inner, left, 0.0)
        product(dgemm, False, True, n, n, n, left, v, full, 0.0)
        o = b * n * n
        for i in range(n):
            ga[o + i * n + i] += full[i * n + i]
            for k in range(i):
                r, c = (i, k) if lower else (k, i)
                ga[o + r * n + c] += full[i * n + k] + full[k * n + i]


# svd (reduced), packed per batch as U (m x r), s (r), Vt (r x n), r = min(m, n).
# With F_ij = 1/(s_j^2 - s_i^2) (0 where equal), J = U^T eps_U, K = Vt eps_Vt^T:
#   eps_a += U (F * (J - J^T) S + diag(eps_s) + S F * (K - K^T)) Vt
#            + (I - U U^T) eps_U S^-1 Vt          (m > n)
#            + U S^-1 eps_Vt (I - Vt^T Vt)        (m < n)
@kernel
def svd_forward(t, j, value, out):
    row = _row(t, j)
    batch, m, n = row[0], row[1], row[2]
    r = min(m, n)
    a = value_of(t, value, parent(t, j, 0))
    stored = t.voff[j] >= 0
    old = value_of(t, value, j)
    work, s = np.empty(m * n), np.empty(r)
    u, vt = np.empty(m * r), np.empty(r * n)
    rows_u, rows_vt = np.empty(m * r), np.empty(r * n)
    size = m * r + r + r * n
    for b in range(batch):
        o = b * size
        _transpose(a[b * m * n:], m, n, work)  # column-major, as numpy calls LAPACK
        if _gesdd(_D, ord("S"), m, n, work.ctypes, m, s.ctypes, u.ctypes, m, vt.ctypes,
                  r) != 0:
            _fill_nan(out[o:o + size])
            continue
        _transpose(u, r, m, rows_u)
        _transpose(vt, n, r, rows_vt)
        flips = np.zeros(r, np.bool_)
        if stored:  # a singular pair flips together
            for i in range(r):
                total = 0.0
                for q in range(m):
                    total += rows_u[q * r + i] * old[o + q * r + i]
                for q in range(n):
                    total += rows_vt[i * n + q] * old[o + m * r + r + i * n + q]
                flips[i] = total < 0.0
        for q in range(m):
            for i in range(r):
                out[o + q * r + i] = -rows_u[q * r + i] if flips[i] else rows_u[q * r + i]
        for i in range(r):
            out[o + m * r + i] = s[i]
            for q in range(n):
                x = rows_vt[i * n + q]
                out[o + m * r + r + i * n + q] = -x if flips[i] else x


@kernel
def svd_vjp(t, j, value, prediction, e, acc):
    if not sends(t, j, 0):
        return
    row = _row(t, j)
    batch, m, n, dgemm = row[0], row[1], row[2], row[3]
    r = min(m, n)
    y = value_of(t, prediction, j)
    ga = error_of(t, acc, parent(t, j, 0))
    size = m * r + r + r * n
    jj, kk, middle = np.empty(r * r), np.empty(r * r), np.empty(r * r)
    left, full = np.empty(m * max(r, n)), np.empty(m * n)
    for b in range(batch):
        o = b * size
        u, s, vt = y[o:], y[o + m * r:o + m * r + r], y[o + m * r + r:]
        gu, gs, gvt = e[o:], e[o + m * r:o + m * r + r], e[o + m * r + r:]
        product(dgemm, True, False, r, r, m, u, gu, jj, 0.0)
        product(dgemm, False, True, r, r, n, vt, gvt, kk, 0.0)
        for i in range(r):
            for k in range(r):
                gap = s[k] * s[k] - s[i] * s[i]
                if i == k:
                    middle[i * r + k] = gs[i]
                elif gap == 0.0:
                    middle[i * r + k] = 0.0
                else:
                    middle[i * r + k] = ((jj[i * r + k] - jj[k * r + i]) * s[k]
                                         + s[i] * (kk[i * r + k] - kk[k * r + i])) / gap
        product(dgemm, False, False, m, r, r, u, middle, left, 0.0)
        if m > n:  # left += (I - U U^T) eps_U S^-1
            scaled = np.empty(m * r)
            for q in range(m):
                for i in range(r):
                    scaled[q * r + i] = gu[q * r + i] / s[i]
                    left[q * r + i] += scaled[q * r + i]
            product(dgemm, True, False, r, r, m, u, scaled, middle, 0.0)
            projected = np.empty(m * r)
            product(dgemm, False, False, m, r, r, u, middle, projected, 0.0)
            for i in range(m * r):
                left[i] -= projected[i]
        product(dgemm, False, False, m, n, r, left, vt, full, 0.0)
        if m < n:  # full += U S^-1 eps_Vt (I - Vt^T Vt)
            rest = np.empty(r * n)
            for i in range(r * n):
                rest[i] = gvt[i]
            product(dgemm, False, True, r, r, n, gvt, vt, middle, 0.0)
            projected = np.empty(r * n)
            product(dgemm, False, False, r, n, r, middle, vt, projected, 0.0)
            scaled = np.empty(m * r)
            for q in range(m):
                for i in range(r):
                    scaled[q * r + i] = u[q * r + i] / s[i]
            for i in range(r * n):
                rest[i] -= projected[i]
            product(dgemm, False, False, m, n, r, scaled, rest, full, 1.0)
        for i in range(m * n):
            ga[b * m * n + i] += full[i]


# qr (reduced, m >= n), packed per batch as Q (m x n), R (n x n). With
# M = R eps_R^T - eps_Q^T Q and copyltu(M) its lower triangle mirrored up:
#   eps_a += (eps_Q + Q copyltu(M)) R^-T
@kernel
def qr_forward(t, j, value, out):
    row = _row(t, j)
    batch, m, n = row[0], row[1], row[2]
    a = value_of(t, value, parent(t, j, 0))
    stored = t.voff[j] >= 0
    old = value_of(t, value, j)
    work, tau, q = np.empty(m * n), np.empty(n), np.empty(m * n)
    size = m * n + n * n
    for b in range(batch):
        o = b * size
        _transpose(a[b * m * n:], m, n, work)  # column-major a
        if _geqrf(_D, m, n, work.ctypes, m, tau.ctypes) != 0:
            _fill_nan(out[o:o + size])
            continue
        for i in range(n):
            for k in range(n):
                out[o + m * n + i * n + k] = work[k * m + i] if k >= i else 0.0
        _orgqr(_D, m, n, n, work.ctypes, m, tau.ctypes)
        _transpose(work, n, m, q)
        flips = _flips(q, old[o:], m, n) if stored else np.zeros(n, np.bool_)
        for i in range(m):
            for k in range(n):
                out[o + i * n + k] = -q[i * n + k] if flips[k] else q[i * n + k]
        for i in range(n):
            if flips[i]:
                for k in range(n):
                    out[o + m * n + i * n + k] = -out[o + m * n + i * n + k]


@kernel
def qr_vjp(t, j, value, prediction, e, acc):
    if not sends(t, j, 0):
        return
    row = _row(t, j)
    batch, m, n, dgemm = row[0], row[1], row[2], row[3]
    y = value_of(t, prediction, j)
    ga = error_of(t, acc, parent(t, j, 0))
    size = m * n + n * n
    mm, other, left = np.empty(n * n), np.empty(n * n), np.empty(m * n)
    for b in range(batch):
        o = b * size
        q, rr = y[o:], y[o + m * n:o + size]
        gq, gr = e[o:], e[o + m * n:o + size]
        product(dgemm, False, True, n, n, n, rr, gr, mm, 0.0)
        product(dgemm, True, False, n, n, m, gq, q, other, 0.0)
        for i in range(n):
            for k in range(n):
                mm[i * n + k] -= other[i * n + k]
        for i in range(n):
            for k in range(i + 1, n):
                mm[i * n + k] = mm[k * n + i]
        product(dgemm, False, False, m, n, n, q, mm, left, 0.0)
        for i in range(m * n):
            left[i] += gq[i]
        # eps_a^T = R^-1 left^T
        at = np.empty(n * m)
        _transpose(left, m, n, at)
        _solve_triangular(rr, n, False, False, False, at, m)
        for i in range(m):
            for k in range(n):
                ga[b * m * n + i * n + k] += at[k * m + i]


# solve_triangular: x = op(T)^-1 b, T the lower or upper triangle of a;
#   eps_b += op(T)^-T eps_x,  eps_a -= eps_b x^T (x eps_b^T if op is ^T), on T's triangle
@kernel
def triangular_forward(t, j, value, out):
    row = _row(t, j)
    batch, n, k, lower, trans, unit = row[0], row[1], row[2], row[3], row[4], row[5]
    a = value_of(t, value, parent(t, j, 0))
    rhs = value_of(t, value, parent(t, j, 1))
    copy(out, rhs)
    for b in range(batch):
        _solve_triangular(a[b * n * n:], n, lower != 0, trans != 0, unit != 0, out[b * n * k:],
                          k)


@kernel
def triangular_vjp(t, j, value, prediction, e, acc):
    row = _row(t, j)
    batch, n, k, lower, trans, unit, dgemm = row[0], row[1], row[2], row[3], row[4], row[5], \
        row[6]
    a = value_of(t, value, parent(t, j, 0))
    x = value_of(t, prediction, j)
    gb = np.empty(n * k)
    outer = np.empty(n * n)
    for b in range(batch):
        for i in range(n * k):
            gb[i] = e[b * n * k + i]
        _solve_triangular(a[b * n * n:], n, lower != 0, trans == 0, unit != 0, gb, k)
        if sends(t, j, 1):
            g = error_of(t, acc, parent(t, j, 1))
            for i in range(n * k):
                g[b * n * k + i] += gb[i]
        if sends(t, j, 0):
            g = error_of(t, acc, parent(t, j, 0))
            if trans:
                product(dgemm, False, True, n, n, k, x[b * n * k:], gb, outer, 0.0)
            else:
                product(dgemm, False, True, n, n, k, gb, x[b * n * k:], outer, 0.0)
            for i in range(n):
                for c in range(n):
                    if (c < i if lower else c > i) or (c == i and not unit):
                        g[b * n * n + i * n + c] -= outer[i * n + c]


FORWARDS = (inv_forward, slogdet_forward, cholesky_forward, eigh_forward, svd_forward,
            qr_forward, triangular_forward)
RULES = (inv_vjp, slogdet_vjp, cholesky_vjp, eigh_vjp, svd_vjp, qr_vjp, triangular_vjp)
family(LINALG, lambda code: RULES[code], lambda code: FORWARDS[code], codes=range(7),
       names=LINALG_NAMES)


# --- numpy forwards (while tracing) and the packed outputs -----------------------------
def _reworded(name, advice):
    """numpy's LinAlgError for ``name``, reworded to say what to do."""
    def wrap(fn):
        def forward(*args, **params):
            try:
                return fn(*args, **params)
            except np.linalg.LinAlgError as error:
                raise np.linalg.LinAlgError(f"{name}: {advice} (LAPACK: {error}).") from None
        return forward
    return wrap


@_reworded("inv", "the matrix is singular, so it has no inverse; check it for linearly "
         "dependent rows or use pcgrad.numpy.linalg.pinv")
def _inv(a):
    return np.linalg.inv(a)


def _slogdet(a):
    sign, logabsdet = np.linalg.slogdet(a)
    return np.stack([sign, logabsdet], axis=-1)


@_reworded("cholesky", "the matrix is not positive definite; Cholesky factors symmetric "
         "positive-definite matrices only")
def _cholesky(a):
    return np.linalg.cholesky(a)


def _eigh(a, lower):
    w, v = np.linalg.eigh(a, UPLO="L" if lower else "U")
    return np.concatenate([w[..., None, :], v], axis=-2)


def _svd(a):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    batch = a.shape[:-2]
    return np.concatenate([u.reshape(batch + (-1,)), s, vt.reshape(batch + (-1,))], axis=-1)


def _qr(a):
    q, r = np.linalg.qr(a)
    batch = a.shape[:-2]
    return np.concatenate([q.reshape(batch + (-1,)), r.reshape(batch + (-1,))], axis=-1)


@_reworded("solve_triangular", "the matrix is singular (a zero on its diagonal)")
def _triangular(a, b, lower, trans, unit_diagonal):
    import scipy.linalg  # here: importing it takes a second
    if a.ndim == 2:
        return scipy.linalg.solve_triangular(a, b, trans=trans, lower=lower,
                                             unit_diagonal=unit_diagonal)
    batch = a.shape[:-2]
    a3, b3 = a.reshape((-1,) + a.shape[-2:]), b.reshape((-1,) + b.shape[-2:])
    return np.stack([scipy.linalg.solve_triangular(x, y, trans=trans, lower=lower,
                                                   unit_diagonal=unit_diagonal)
                     for x, y in zip(a3, b3)]).reshape(batch + b.shape[-2:])


def unpack_eigh(y):
    """(w, V) of eigh's packed output."""
    return y[..., 0, :], y[..., 1:, :]


def unpack_svd(y, m, n):
    """(U, s, Vt) of svd's packed output for (m x n) matrices."""
    from .. import numpy as pnp
    r = min(m, n)
    batch = pnp.shape(y)[:-1]
    return (pnp.reshape(y[..., :m * r], batch + (m, r)), y[..., m * r:m * r + r],
            pnp.reshape(y[..., m * r + r:], batch + (r, n)))


def unpack_qr(y, m, n):
    """(Q, R) of qr's packed output for (m x n) matrices, m >= n."""
    from .. import numpy as pnp
    batch = pnp.shape(y)[:-1]
    return (pnp.reshape(y[..., :m * n], batch + (m, n)),
            pnp.reshape(y[..., m * n:], batch + (n, n)))


def pack(pieces, batch):
    """The packed error of a factorization from its pieces' errors (flattened, joined)."""
    from .. import numpy as pnp
    return pnp.concatenate([pnp.reshape(p, batch + (-1,)) for p in pieces], axis=-1)


# --- the error rules written with pcgrad.numpy (Primitive.vjp) --------------------------
def _t(x):
    from .. import numpy as pnp
    return pnp.swapaxes(x, -1, -2)


def _inv_vjp(k, g, y, a):
    return -(_t(y) @ g @ _t(y))


def _slogdet_vjp(k, g, y, a):
    from .. import numpy as pnp
    return pnp.expand_dims(g[..., 1], (-1, -2)) * _t(pnp.linalg.inv(a))


def _cholesky_vjp(k, g, l, a):
    from ..scipy.linalg import solve_triangular
    n = np.shape(a)[-1]
    phi = (_t(l) @ g) * (np.tril(np.ones((n, n))) - 0.5 * np.eye(n))
    s = solve_triangular(l, _t(solve_triangular(l, _t(phi), trans=1, lower=True)), trans=1,
                         lower=True)
    return 0.5 * (s + _t(s))


def _spectral_gaps(d):
    """1 / d where d != 0, else 0, for a traced or plain array of differences."""
    from .. import numpy as pnp
    from ..numpy import _value
    apart = np.asarray(_value(d)) != 0.0
    return pnp.where(apart, 1.0 / (d + ~apart), 0.0)


def _eigh_vjp(k, g, y, a, lower):
    from .. import numpy as pnp
    w, v = unpack_eigh(y)
    gw, gv = unpack_eigh(g)
    n = np.shape(a)[-1]
    f = _spectral_gaps(pnp.expand_dims(w, -2) - pnp.expand_dims(w, -1))
    inner = pnp.expand_dims(gw, -1) * np.eye(n) + f * (_t(v) @ gv)
    full = v @ inner @ _t(v)
    strict = np.tril(np.ones((n, n)), -1) if lower else np.triu(np.ones((n, n)), 1)
    return full * np.eye(n) + (full + _t(full)) * strict


def _svd_vjp(k, g, y, a):
    from .. import numpy as pnp
    m, n = np.shape(a)[-2:]
    r = min(m, n)
    u, s, vt = unpack_svd(y, m, n)
    gu, gs, gvt = unpack_svd(g, m, n)
    row, column = pnp.expand_dims(s, -2), pnp.expand_dims(s, -1)
    f = _spectral_gaps(row * row - column * column)
    jj, kk = _t(u) @ gu, vt @ _t(gvt)
    middle = (f * (jj - _t(jj)) * row + np.eye(r) * pnp.expand_dims(gs, -1)
              + column * (f * (kk - _t(kk))))
    out = u @ middle @ vt
    if m > n:
        scaled = gu / row
        out = out + (scaled - u @ (_t(u) @ scaled)) @ vt
    elif m < n:
        out = out + (u / row) @ (gvt - (gvt @ _t(vt)) @ vt)
    return out


def _qr_vjp(k, g, y, a):
    from ..scipy.linalg import solve_triangular
    m, n = np.shape(a)[-2:]
    q, r = unpack_qr(y, m, n)
    gq, gr = unpack_qr(g, m, n)
    mm = r @ _t(gr) - _t(gq) @ q
    lower = np.tril(np.ones((n, n)))
    copyltu = mm * lower + _t(mm * (lower - np.eye(n)))
    left = gq + q @ copyltu
    return _t(solve_triangular(r, _t(left), lower=False))


def _triangular_vjp(k, g, x, a, b, lower, trans, unit_diagonal):
    from ..scipy.linalg import solve_triangular
    gb = solve_triangular(a, g, trans=1 - trans, lower=lower, unit_diagonal=unit_diagonal)
    if k == 1:
        return gb
    n = np.shape(a)[-1]
    mask = np.tril(np.ones((n, n)), -1 if unit_diagonal else 0)
    if not lower:
        mask = mask.T
    return -((x @ _t(gb)) if trans else (gb @ _t(x))) * mask


register("inv", LINALG, _inv, _lowering(INV, _square), reads_output=True, vjp=_inv_vjp)
register("slogdet", LINALG, _slogdet, _lowering(SLOGDET, _square), reads_inputs=True,
         vjp=_slogdet_vjp)
register("cholesky", LINALG, _cholesky, _lowering(CHOLESKY, _square), reads_output=True,
         vjp=_cholesky_vjp)
register("eigh", LINALG, _eigh, _lowering(EIGH, _symmetric), reads_output=True,
         vjp=_eigh_vjp)
register("svd", LINALG, _svd, _lowering(SVD, _matrix), reads_output=True, vjp=_svd_vjp)
register("qr", LINALG, _qr, _lowering(QR, _matrix), reads_output=True, vjp=_qr_vjp)
register("solve_triangular", LINALG, _triangular, _lowering(TRIANGULAR, _triangular_system),
         reads_inputs=True, reads_output=True, vjp=_triangular_vjp)
