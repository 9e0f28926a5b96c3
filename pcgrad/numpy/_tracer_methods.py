"""Operators and array methods of Tracer, and numpy's dispatch protocols.

A plain numpy function applied to a Tracer routes here: ufuncs and array
functions that pcgrad.numpy provides run as pcgrad primitives; any other
raises a TypeError naming the function and where to look, never returning a
silently wrong derivative.
"""
import numpy as _np

from .. import numpy as pnp
from ..tracing import Tracer


def _swap(fn):
    return lambda self, other: fn(other, self)


_OPERATORS = {
    "__add__": pnp.add, "__sub__": pnp.subtract, "__mul__": pnp.multiply,
    "__truediv__": pnp.divide, "__pow__": pnp.power, "__matmul__": pnp.matmul,
    "__radd__": _swap(pnp.add), "__rsub__": _swap(pnp.subtract),
    "__rmul__": _swap(pnp.multiply), "__rtruediv__": _swap(pnp.divide),
    "__rpow__": _swap(pnp.power), "__rmatmul__": _swap(pnp.matmul),
    "__lt__": pnp.less, "__le__": pnp.less_equal, "__gt__": pnp.greater,
    "__ge__": pnp.greater_equal, "__eq__": pnp.equal, "__ne__": pnp.not_equal,
    "__and__": pnp.logical_and, "__or__": pnp.logical_or, "__xor__": pnp.logical_xor,
    "__neg__": pnp.negative, "__abs__": pnp.abs, "__pos__": pnp.positive,
    "__invert__": pnp.logical_not, "__getitem__": pnp.getitem,
    "__round__": lambda self, ndigits=0: pnp.round(self, ndigits or 0),
}
_METHODS = {
    name: getattr(pnp, name) for name in (
        "reshape", "ravel", "sum", "mean", "max", "min", "prod", "var", "std",
        "cumsum", "squeeze", "swapaxes", "clip", "dot", "diagonal", "trace", "repeat",
        "take", "round")
}
for _name, _fn in {**_OPERATORS, **_METHODS}.items():
    setattr(Tracer, _name, _fn)


def _reshape(self, *shape, order="C"):
    return pnp.reshape(self, shape[0] if len(shape) == 1 else shape, order)


def _transpose(self, *axes):
    return pnp.transpose(self, axes[0] if len(axes) == 1 else (axes or None))


def _iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d traced array")
    return (self[i] for i in range(self.shape[0]))


def _astype(self, dtype):
    if _np.issubdtype(_np.dtype(dtype), _np.floating):
        return self
    raise TypeError(f"Casting a traced array to {_np.dtype(dtype).name} would drop its "
                    "derivative; use pcgrad.numpy.stop_gradient first if you mean that.")


Tracer.reshape = _reshape
Tracer.transpose = _transpose
Tracer.T = property(lambda self: pnp.transpose(self))
Tracer.flatten = pnp.ravel
Tracer.__iter__ = _iter
Tracer.astype = _astype
Tracer.__hash__ = lambda self: id(self)


def _dispatch_error(qualified, replacement):
    return TypeError(
        f"{qualified} was called on a traced array. Use {replacement} if it exists "
        f"(import pcgrad.numpy as np); the supported functions are listed in "
        f"docs/numpy-support.md.")


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    fn = getattr(pnp, ufunc.__name__, None) if method == "__call__" else None
    if fn is None or kwargs:
        where = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        raise _dispatch_error(f"numpy.{where}", f"pcgrad.numpy.{ufunc.__name__}")
    return fn(*inputs)


def _array_function(self, func, types, args, kwargs):
    module = (func.__module__ or "numpy").replace("numpy._core", "numpy")
    linalg = module.endswith("linalg")
    namespace = pnp.linalg if linalg else pnp
    fn = getattr(namespace, func.__name__, None) if func.__name__ in dir(namespace) else None
    if fn is None or (module not in ("numpy", "numpy.linalg") and not linalg):
        public = module if module.count(".") < 2 else "numpy"
        raise _dispatch_error(f"{public}.{func.__name__}", f"pcgrad.{public}.{func.__name__}")
    return fn(*args, **kwargs)


Tracer.__array_ufunc__ = _array_ufunc
Tracer.__array_function__ = _array_function
