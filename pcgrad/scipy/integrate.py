"""pcgrad.scipy.integrate: ``odeint`` with gradients by the adjoint method.

The forward pass is scipy.integrate.odeint. The error rule (a
``custom_vjp(..., trace_bwd=False)`` rule, see pcgrad.custom) integrates the
augmented adjoint system backwards between the output times with scipy,
taking the vector-Jacobian products of ``func`` with ``pcgrad.vjp``; it is
autograd's algorithm (Froehlich, Loos and Hasenauer 2017, section 2.4.2),
so it gives autograd's numbers. ``func`` is written with pcgrad.numpy.
"""
import warnings

import numpy as np

from ..api import vjp
from ..custom import custom_vjp
from ..pytree import flatten

__all__ = ["odeint"]


def odeint(func, y0, t, args=(), **kwargs):
    """Integrate ``dy/dt = func(y, t, *args)`` from ``y0`` at the times ``t``,
    as scipy.integrate.odeint, differentiable in ``y0``, ``t`` and ``args``
    (a tuple of arrays or pytrees of arrays: the parameters of an ODE net).

    ``y0`` is one-dimensional; the result has shape ``(len(t), len(y0))``.
    Keyword arguments (rtol, atol, ...) go to scipy.integrate.odeint, in the
    forward pass and in the backward (adjoint) solves alike.

    >>> import numpy, pcgrad, pcgrad.numpy as np
    >>> from pcgrad.scipy.integrate import odeint
    >>> t = numpy.array([0.0, 1.0])
    >>> decay = lambda y, t, k: -k * y          # y(1) = y0 exp(-k)
    >>> g = pcgrad.grad(lambda k: odeint(decay, numpy.ones(1), t, (k,))[-1, 0])(0.5)
    >>> bool(abs(g + numpy.exp(-0.5)) < 1e-6)
    True
    """
    import scipy.integrate  # here: importing it takes a third of a second
    if not isinstance(args, tuple):
        args = (args,)
    solve = custom_vjp(lambda y0, t, args: scipy.integrate.odeint(func, y0, t, args=args,
                                                                  **kwargs),
                       trace_bwd=False)
    solve.__name__ = "odeint"

    def fwd(y0, t, args):
        yt = scipy.integrate.odeint(func, y0, t, args=args, **kwargs)
        return yt, (yt, np.asarray(t, float), args)

    solve.defvjp(fwd, lambda residuals, g: _adjoint(func, kwargs, *residuals, g))
    return solve(y0, t, args)


def _adjoint(func, kwargs, yt, t, args, g):
    """(dL/dy0, dL/dt, dL/dargs) given g = dL/dyt, as autograd computes them."""
    import scipy.integrate
    T, D = yt.shape
    leaves, unflatten = flatten(args)
    shapes = [np.shape(leaf) for leaf in leaves]
    sizes = [int(np.prod(s)) for s in shapes]
    flat_args = np.concatenate([np.ravel(leaf) for leaf in leaves]) if leaves else np.zeros(0)

    def unflat(flat):
        parts, start = [], 0
        for shape, size in zip(shapes, sizes):
            parts.append(flat[start:start + size].reshape(shape))
            start += size
        return unflatten(parts)

    def flat_func(y, t, flat):
        return func(y, t, *unflat(flat))

    def augmented_dynamics(state, t, flat):
        y, a = state[:D], state[D:2 * D]
        with warnings.catch_warnings():  # func may not depend on t or on every argument
            warnings.simplefilter("ignore", UserWarning)
            dy_dt, vjp_fn = vjp(flat_func, y, np.asarray(t, float), flat)
            vjp_y, vjp_t, vjp_args = vjp_fn(-a)
        return np.hstack((dy_dt, vjp_y, vjp_t, vjp_args))

    vjp_y = g[-1, :]
    vjp_t0 = 0.0
    time_vjp = []
    vjp_args = np.zeros(flat_args.size)
    for i in range(T - 1, 0, -1):
        # the effect of moving output time i
        vjp_cur_t = np.dot(func(yt[i, :], t[i], *args), g[i, :])
        time_vjp.append(vjp_cur_t)
        vjp_t0 = vjp_t0 - vjp_cur_t
        # the augmented system backwards to the previous output time
        state = np.hstack((yt[i, :], vjp_y, vjp_t0, vjp_args))
        solved = scipy.integrate.odeint(augmented_dynamics, state, np.array([t[i], t[i - 1]]),
                                        (flat_args,), **kwargs)[1]
        vjp_y, vjp_t0, vjp_args = solved[D:2 * D], solved[2 * D], solved[2 * D + 1:]
        vjp_y = vjp_y + g[i - 1, :]
    time_vjp.append(vjp_t0)
    return vjp_y, np.hstack(time_vjp)[::-1], unflat(vjp_args)
