"""pcgrad.scipy: traced counterparts of scipy.special, scipy.stats and scipy.linalg.

Use them inside functions you differentiate, as pcgrad.numpy:

>>> import pcgrad
>>> from pcgrad.scipy.special import expit
>>> float(pcgrad.grad(expit)(0.0))
0.25
"""
from . import special, stats  # noqa: F401
from . import linalg  # noqa: F401
