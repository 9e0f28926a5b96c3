"""pcgrad.scipy.special: scipy.special functions with exact derivatives.

Each elementwise function is one pcgrad primitive (its scalar and its
derivative are in pcgrad/primitives/special.py); logsumexp, softmax,
log_softmax and multigammaln are compositions of pcgrad.numpy functions.
On plain arrays they return what scipy.special returns.

>>> import numpy, pcgrad
>>> from pcgrad.scipy.special import gammaln, logsumexp
>>> round(float(pcgrad.grad(gammaln)(1.0)), 12)   # digamma(1) = -Euler's gamma
-0.577215664902
>>> pcgrad.grad(logsumexp)(numpy.log([1.0, 3.0]))  # softmax
array([0.25, 0.75])
"""
import numpy as _np

from .. import numpy as _pnp
from ..numpy import _value
from ..primitives import PRIMITIVES as _P
from ..tracing import INPUT as _INPUT
from ..tracing import Tracer as _Tracer
from ..tracing import bind as _bind

_NO_PARAMS = {}

__all__ = [
    "beta", "betainc", "betaln", "digamma", "entr", "erf", "erfc", "erfcinv", "erfinv", "expit",
    "gamma", "gammainc", "gammaincc", "gammaln", "i0", "i0e", "i1", "i1e", "log_expit",
    "log_ndtr", "log_softmax", "logit", "logsumexp", "multigammaln", "ndtr", "ndtri",
    "polygamma", "psi", "softmax", "xlog1py", "xlogy"]


def _elementwise(name, doc):
    primitive = _P[name]

    def fn(*args):
        return _bind(primitive, args, _NO_PARAMS)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"scipy.special.{name}: {doc} (traced, elementwise)."
    return fn


erf = _elementwise("erf", "the error function; derivative 2/sqrt(pi) exp(-x^2)")
erfc = _elementwise("erfc", "1 - erf(x)")
erfinv = _elementwise("erfinv", "the inverse of erf; derivative sqrt(pi)/2 exp(erfinv(x)^2)")
erfcinv = _elementwise("erfcinv", "the inverse of erfc")
gammaln = _elementwise("gammaln", "log |Gamma(x)|; derivative digamma(x)")
gamma = _elementwise("gamma", "Gamma(x); derivative Gamma(x) digamma(x)")
digamma = _elementwise("digamma", "psi(x) = d log Gamma(x) / dx; derivative polygamma(1, x)")
psi = digamma
expit = _elementwise("expit", "the logistic sigmoid 1 / (1 + exp(-x))")
log_expit = _elementwise("log_expit", "log(expit(x)), without overflow")
logit = _elementwise("logit", "log(p / (1 - p)), the inverse of expit")
entr = _elementwise("entr", "-x log(x), 0 at x = 0; its derivative is infinite at 0")
i0 = _elementwise("i0", "the modified Bessel function I0; derivative I1")
i1 = _elementwise("i1", "the modified Bessel function I1; derivative I0(x) - I1(x)/x")
i0e = _elementwise("i0e", "exp(-|x|) I0(x)")
i1e = _elementwise("i1e", "exp(-|x|) I1(x)")
ndtr = _elementwise("ndtr", "the standard normal distribution function Phi(x)")
log_ndtr = _elementwise("log_ndtr", "log Phi(x), accurate far into the lower tail")
ndtri = _elementwise("ndtri", "the inverse of ndtr")
xlogy = _elementwise("xlogy", "x log(y), 0 where x = 0")
xlog1py = _elementwise("xlog1py", "x log1p(y), 0 where x = 0")
beta = _elementwise("beta", "the beta function B(a, b) = Gamma(a) Gamma(b) / Gamma(a + b)")
betaln = _elementwise("betaln", "log |B(a, b)|")
_trigamma = _elementwise("trigamma", "polygamma(1, x)")


def polygamma(n, x):
    """scipy.special.polygamma: the n-th derivative of digamma, for integer
    n >= 0 (a constant: there is no derivative in n); derivative
    polygamma(n + 1, x).

    >>> import pcgrad
    >>> round(float(pcgrad.grad(lambda x: polygamma(1, x))(1.0)), 12)  # -2 zeta(3)
    -2.404113806319
    """
    if isinstance(n, _Tracer):
        raise TypeError("polygamma(n, x) has no derivative in n; pass the order n as an "
                        "integer constant.")
    n = _np.asarray(n)
    if n.size and not _np.all(n == _np.floor(n)):
        raise ValueError("polygamma(n, x) needs integer orders n.")
    if n.ndim == 0 and n == 0:
        return digamma(x)
    if n.ndim == 0 and n == 1:
        return _trigamma(x)
    return _bind(_P["polygamma"], (n.astype(float), x), _NO_PARAMS)


def _constant_parameter(value, function, name):
    """Reject a parameter that carries a derivative the function does not have."""
    if isinstance(value, _Tracer):
        primitive = value._trace.primitives[value.node]
        if primitive == _INPUT or getattr(primitive, "differentiable", False):
            raise TypeError(
                f"{function} is differentiable in x only: its derivative in {name} has no "
                f"closed form. Pass {name} as a constant (pcgrad.numpy.stop_gradient({name}) "
                "makes a traced value one).")


def gammainc(a, x):
    """scipy.special.gammainc: the regularized lower incomplete gamma function
    P(a, x); derivative x^(a-1) exp(-x) / Gamma(a) in x (``a`` is a constant).

    >>> import pcgrad
    >>> round(float(pcgrad.grad(lambda x: gammainc(1.0, x))(2.0)), 12)  # exp(-2)
    0.135335283237
    """
    _constant_parameter(a, "gammainc(a, x)", "a")
    return _bind(_P["gammainc"], (a, x), _NO_PARAMS)


def gammaincc(a, x):
    """scipy.special.gammaincc: 1 - gammainc(a, x), the upper one (``a`` is a constant).

    >>> round(float(gammaincc(1.0, 2.0)), 12)
    0.135335283237
    """
    _constant_parameter(a, "gammaincc(a, x)", "a")
    return _bind(_P["gammaincc"], (a, x), _NO_PARAMS)


def betainc(a, b, x):
    """scipy.special.betainc: the regularized incomplete beta function
    I_x(a, b); derivative x^(a-1) (1-x)^(b-1) / B(a, b) in x (``a`` and ``b``
    are constants).

    >>> round(float(betainc(2.0, 3.0, 0.5)), 12)
    0.6875
    """
    _constant_parameter(a, "betainc(a, b, x)", "a")
    _constant_parameter(b, "betainc(a, b, x)", "b")
    return _bind(_P["betainc"], (a, b, x), _NO_PARAMS)


def multigammaln(a, d):
    """scipy.special.multigammaln: the log of the multivariate gamma function
    of dimension d, sum_j gammaln(a - j/2) + d (d-1)/4 log(pi).

    >>> round(float(multigammaln(3.0, 2)), 12)
    1.550194993958
    """
    d = int(d)
    if _np.any(_np.asarray(_value(a)) <= 0.5 * (d - 1)):
        raise ValueError("multigammaln(a, d) needs a > (d - 1) / 2.")
    j = _np.arange(d) / 2.0
    terms = gammaln(_pnp.expand_dims(a, -1) - j)
    return _pnp.sum(terms, axis=-1) + 0.25 * d * (d - 1) * _np.log(_np.pi)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """scipy.special.logsumexp: log(sum(b * exp(a))) over ``axis``, shifted by
    the maximum so that it neither overflows nor underflows. The shift is a
    constant (stop_gradient), so the derivative is exactly b exp(a - result);
    the derivative in a traced ``b`` is exp(a - result) too.

    >>> import numpy
    >>> float(logsumexp(numpy.array([1000.0, 1000.0])))
    1000.6931471805599
    """
    shift = _pnp.max(_pnp.stop_gradient(a), axis=axis, keepdims=True)
    shift = _pnp.where(_pnp.isfinite(shift), shift, 0.0)
    terms = _pnp.exp(a - shift)
    if b is not None:
        terms = b * terms
    total = _pnp.sum(terms, axis=axis, keepdims=keepdims)
    if not keepdims:
        shift = _pnp.squeeze(shift, axis=axis) if axis is not None else _pnp.reshape(shift, ())
    if return_sign:
        return _pnp.log(_pnp.abs(total)) + shift, _pnp.sign(total)
    return _pnp.log(total) + shift


def softmax(x, axis=None):
    """scipy.special.softmax: exp(x - logsumexp(x, axis)) (axis None: over all
    elements).

    >>> import numpy
    >>> softmax(numpy.log([1.0, 3.0]))
    array([0.25, 0.75])
    """
    return _pnp.exp(x - logsumexp(x, axis=axis, keepdims=True))


def log_softmax(x, axis=None):
    """scipy.special.log_softmax: x - logsumexp(x, axis).

    >>> import numpy
    >>> numpy.exp(log_softmax(numpy.log([1.0, 3.0])))
    array([0.25, 0.75])
    """
    return x - logsumexp(x, axis=axis, keepdims=True)


def __getattr__(name):
    raise AttributeError(
        f"pcgrad.scipy.special has no {name!r}. The supported functions are listed in "
        "docs/numpy-support.md (and pcgrad.scipy.special.__all__); compose others from "
        "them, or open an issue.")
