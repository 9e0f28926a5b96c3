"""Operators and array methods of Tracer, and numpy's dispatch protocols.

A plain numpy function applied to a Tracer routes here: ufuncs and array
functions that pcgrad.numpy provides run as pcgrad primitives; any other
raises a TypeError naming the function and where to look, never returning a
silently wrong derivative.
"""
import functools
import inspect
import sys

import numpy as _np

from .. import numpy as pnp
from ..tracing import INPUT, Tracer


def _swap(fn):
    return lambda self, other: fn(other, self)


_OPERATORS = {
    "__add__": pnp.add, "__sub__": pnp.subtract, "__mul__": pnp.multiply,
    "__truediv__": pnp.divide, "__pow__": pnp.power, "__matmul__": pnp.matmul,
    "__radd__": _swap(pnp.add), "__rsub__": _swap(pnp.subtract),
    "__rmul__": _swap(pnp.multiply), "__rtruediv__": _swap(pnp.divide),
    "__rpow__": _swap(pnp.power), "__rmatmul__": _swap(pnp.matmul),
    "__mod__": pnp.remainder, "__rmod__": _swap(pnp.remainder),
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


def _astype(self, dtype, *args, **kwargs):
    """Float dtypes keep the array traced; others return the plain converted
    values, with no derivative (as autograd: np.floor(x).astype(int) indexes)."""
    if _np.issubdtype(_np.dtype(dtype), _np.floating):
        return self
    if self._trace.compiling:
        raise TypeError(f"x.astype({_np.dtype(dtype).name}) of a traced value gives plain "
                        "values, which pcgrad.jit would freeze at trace time; keep it a float "
                        "array (pcgrad.numpy.floor, comparisons and where stay traced).")
    return self.value.astype(dtype, *args, **kwargs)


def _concrete(self, conversion):
    """The value for ``conversion`` (e.g. "float()") of a traced array: allowed
    only where it drops no derivative (the value of stop_gradient, of a
    comparison, of a constant) and nothing is compiled."""
    if self._trace.compiling:
        raise TypeError(
            f"{conversion} of a traced value makes it a Python number, which pcgrad.jit "
            "would freeze at trace time; keep it a pcgrad.numpy array.")
    primitive = self._trace.primitives[self.node]
    if primitive == INPUT or getattr(primitive, "differentiable", False):
        raise TypeError(
            f"{conversion} of a traced value would drop its derivative. Keep it as a "
            "pcgrad.numpy array; Python control flow works on comparisons "
            "(if x > 0: ...); use pcgrad.numpy.stop_gradient(x) first if you mean to "
            "drop the derivative.")
    return self.value


def _item(self, *index):
    return _concrete(self, "x.item()").item(*index)


Tracer.__float__ = lambda self: float(_concrete(self, "float()"))
Tracer.__int__ = lambda self: int(_concrete(self, "int()"))
Tracer.__index__ = lambda self: _concrete(self, "index()").__index__()
Tracer.__complex__ = lambda self: complex(_concrete(self, "complex()"))
Tracer.item = _item
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


def _foreign_ufunc(ufunc, method, inputs, kwargs):
    """A ufunc that is not numpy's: a scipy.special ufunc runs as
    pcgrad.scipy.special's function of the same name; any other, or a
    missing counterpart, raises a TypeError naming what to use instead."""
    name = ufunc.__name__
    special = sys.modules.get("scipy.special")
    if special is None or getattr(special, name, None) is not ufunc:
        raise TypeError(f"The ufunc {name!r}, which is not numpy's, was called on a traced "
                        "array; pcgrad cannot differentiate it. Compose it from the functions "
                        "of pcgrad.numpy (docs/numpy-support.md).")
    from ..scipy import special as traced
    fn = getattr(traced, name, None) if name in traced.__all__ else None
    if method != "__call__" or fn is None:
        raise TypeError(f"scipy.special.{name} was called on a traced array; "
                        f"pcgrad.scipy.special.{name} does not exist. The "
                        "supported functions are listed in docs/numpy-support.md.")
    if kwargs:
        raise TypeError(f"scipy.special.{name} was called on a traced array "
                        f"with keyword arguments; call pcgrad.scipy.special."
                        f"{name} without them.")
    return fn(*inputs)


def _keywords_error(qualified, replacement, keywords):
    given = ", ".join(f"{k}=" for k in keywords)
    return TypeError(
        f"{qualified} was called on a traced array with {given}, which {replacement} does "
        f"not support. Call {replacement} without {'it' if len(keywords) == 1 else 'them'}; "
        "the supported functions and arguments are listed in docs/numpy-support.md.")


@functools.lru_cache(maxsize=None)
def _keywords(fn):
    """The keyword arguments ``fn`` takes (None: any)."""
    parameters = inspect.signature(fn).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(p.name for p in parameters)


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    if getattr(_np, ufunc.__name__, None) is not ufunc:
        return _foreign_ufunc(ufunc, method, inputs, kwargs)
    fn = getattr(pnp, ufunc.__name__, None) if method == "__call__" else None
    if fn is None:
        where = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        raise _dispatch_error(f"numpy.{where}", f"pcgrad.numpy.{ufunc.__name__}")
    if kwargs:
        raise _keywords_error(f"numpy.{ufunc.__name__}", f"pcgrad.numpy.{ufunc.__name__}",
                              list(kwargs))
    return fn(*inputs)


def _array_function(self, func, types, args, kwargs):
    if (func.__module__ or "").startswith("numpy.lib") and \
            func.__name__ in pnp.lib.stride_tricks.__all__:
        return getattr(pnp.lib.stride_tricks, func.__name__)(*args, **kwargs)
    module = (func.__module__ or "numpy").replace("numpy._core", "numpy")
    linalg = module.endswith("linalg")
    namespace = pnp.linalg if linalg else pnp
    fn = getattr(namespace, func.__name__, None) if func.__name__ in dir(namespace) else None
    public = module if module.count(".") < 2 else "numpy"
    if fn is None or (module not in ("numpy", "numpy.linalg") and not linalg):
        raise _dispatch_error(f"{public}.{func.__name__}", f"pcgrad.{public}.{func.__name__}")
    accepted = _keywords(fn) if kwargs else None
    if accepted is not None and not accepted.issuperset(kwargs):
        raise _keywords_error(f"{public}.{func.__name__}", f"pcgrad.{public}.{func.__name__}",
                              sorted(set(kwargs) - accepted))
    return fn(*args, **kwargs)


Tracer.__array_ufunc__ = _array_ufunc
Tracer.__array_function__ = _array_function


# --- the numpy tail: more methods ----------------------------------------------------------
for _name in ("all", "any", "argmax", "argmin", "argsort"):
    setattr(Tracer, _name, getattr(pnp, _name))
Tracer.copy = lambda self, order="C": self
Tracer.conj = Tracer.conjugate = pnp.conj
Tracer.real = property(pnp.real)
Tracer.imag = property(pnp.imag)
