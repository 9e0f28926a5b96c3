"""pcgrad.numpy.lib: numpy.lib's functions for traced arrays."""
from . import stride_tricks  # noqa: F401
