"""autograd's spelling of custom derivatives: ``primitive`` and ``defvjp``.

Code that defines its own autograd primitives ports by changing its import
to ``from pcgrad.extend import primitive, defvjp``. Each call of such a
primitive on traced values becomes one ``custom_vjp`` node (see
pcgrad.custom): the vjp makers run on the forward pass's values, and the
functions they return are traced once with pcgrad.numpy into the node's
error rule.

>>> import pcgrad, pcgrad.numpy as np
>>> from pcgrad.extend import primitive, defvjp
>>> @primitive
... def logsumexp(x):
...     m = np.max(x)
...     return m + np.log(np.sum(np.exp(x - m)))
>>> defvjp(logsumexp, lambda ans, x: lambda g: g * np.exp(x - ans))
>>> pcgrad.grad(logsumexp)(np.array([0.0, 0.0]))
array([0.5, 0.5])
"""
import functools

import numpy as np

from . import numpy as pnp
from .custom import custom_vjp
from .tracing import Tracer


class primitive:
    """Wrap ``f`` so that ``defvjp`` can give its derivatives (as autograd's
    ``autograd.extend.primitive``). Outside a transformation, and when no
    positional argument is traced, ``f`` runs as it is."""

    def __init__(self, f):
        self.fun = f
        self.vjpmaker = None
        functools.update_wrapper(self, f)

    def __call__(self, *args, **kwargs):
        positions = [i for i, arg in enumerate(args) if isinstance(arg, Tracer)]
        if not positions:
            return self.fun(*args, **kwargs)
        if self.vjpmaker is None:
            raise TypeError(f"{self.__name__} is a pcgrad.extend.primitive without a "
                            "derivative: call defvjp on it before differentiating it.")

        def full(traced):
            values = list(args)
            for i, value in zip(positions, traced):
                values[i] = value
            return values

        def fwd(*traced):
            values = full(traced)
            ans = self.fun(*values, **kwargs)
            return ans, (ans, values)

        def bwd(residuals, g):
            ans, values = residuals
            return tuple(_unbroadcast(self.vjpmaker(i, ans, values, kwargs)(g), values[i])
                         for i in positions)

        call = custom_vjp(lambda *traced: self.fun(*full(traced), **kwargs))
        call.__name__ = self.__name__
        call.defvjp(fwd, bwd)
        return call(*[args[i] for i in positions])


def defvjp_argnum(fun, vjpmaker):
    """Set the derivatives of ``fun`` (a ``primitive``) with one maker for every
    argument: ``vjpmaker(argnum, ans, args, kwargs)`` returns ``g -> cotangent``."""
    _check_primitive(fun)
    fun.vjpmaker = vjpmaker


def defvjp(fun, *vjpmakers, argnums=None):
    """Set the derivatives of ``fun`` (a ``primitive``), as in autograd: one
    maker per argument (in ``argnums``, default 0, 1, ...), each called as
    ``maker(ans, *args, **kwargs)`` and returning ``g -> cotangent``; None
    for an argument without a derivative (its cotangent is zero)."""
    _check_primitive(fun)
    makers = dict(zip(range(len(vjpmakers)) if argnums is None else argnums, vjpmakers))

    def vjpmaker(argnum, ans, args, kwargs):
        if argnum not in makers:
            raise TypeError(f"defvjp gave {fun.__name__} no derivative for argument "
                            f"{argnum}, which is traced; give one (or None for zero).")
        maker = makers[argnum]
        if maker is None:
            return lambda g: None
        return maker(ans, *args, **kwargs)

    fun.vjpmaker = vjpmaker


def _check_primitive(fun):
    if not isinstance(fun, primitive):
        raise TypeError(f"defvjp takes a function wrapped by pcgrad.extend.primitive; got "
                        f"{getattr(fun, '__name__', type(fun).__name__)}. Decorate it with "
                        "@primitive first.")


def _unbroadcast(cotangent, arg):
    """``cotangent`` summed over the axes broadcasting added to ``arg``'s shape
    (autograd's vjps may return the broadcast shape)."""
    if cotangent is None:
        return None
    shape = np.shape(arg)
    while np.ndim(cotangent) > len(shape):
        cotangent = pnp.sum(cotangent, axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and np.shape(cotangent)[axis] != 1:
            cotangent = pnp.sum(cotangent, axis=axis, keepdims=True)
    return cotangent
