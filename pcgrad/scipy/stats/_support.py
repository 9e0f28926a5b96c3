"""What the distributions share: standardizing, and values outside the support."""
from ... import numpy as _pnp


def standardize(x, loc, scale):
    return (x - loc) / scale


def on_support(inside, z, fill, outside):
    """(z where ``inside``, else ``fill``) for computing, and a function that
    puts ``outside`` back where not ``inside``: outside the support the
    result is that constant and its derivative 0 (not nan from the formula)."""
    safe = _pnp.where(inside, z, fill)
    return safe, lambda value: _pnp.where(inside, value, outside)
