"""pcgrad.scipy.stats: distributions' log densities, densities and
distribution functions, differentiable in the data and the parameters.

Each distribution is a module with scipy.stats' function names and
arguments (loc and scale included), e.g. ``norm.logpdf(x, loc, scale)``;
they are compositions of pcgrad.numpy and pcgrad.scipy.special. The
distribution functions (cdf) of t, gamma, beta, chi2 and poisson are
differentiable in x, loc and scale (mu for poisson), not in the shape
parameters (a TypeError says so), as in autograd.

>>> import pcgrad
>>> from pcgrad.scipy.stats import norm
>>> float(pcgrad.grad(lambda mu: norm.logpdf(1.5, mu, 2.0))(0.5))  # (x - mu) / scale^2
0.25
"""
from . import beta, chi2, dirichlet, gamma, multivariate_normal, norm, poisson, t  # noqa: F401
