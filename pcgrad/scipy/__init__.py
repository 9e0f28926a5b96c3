"""pcgrad.scipy: traced counterparts of scipy.special, scipy.stats, scipy.linalg,
scipy.integrate.odeint and scipy.signal.convolve.

Use them inside functions you differentiate, as pcgrad.numpy:

>>> import pcgrad
>>> from pcgrad.scipy.special import expit
>>> float(pcgrad.grad(expit)(0.0))
0.25
"""
from . import integrate, linalg, signal, special, stats  # noqa: F401
