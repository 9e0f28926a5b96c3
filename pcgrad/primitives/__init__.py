"""The closed set of primitives, each registered once (see core.py)."""
from .core import PRIMITIVES, Primitive, OpTable  # noqa: F401
from . import elementwise, structural, reduction, linalg, conv  # noqa: F401  (registers)
