"""``pcgrad.precompile()``: compile every kernel and relaxation loop ahead of time.

Kernels are otherwise compiled the first time a plan uses them (see
kernels.py); both ways they are cached on disk, so later processes load them.
"""
import sys
import time
import warnings

import numpy as np

from . import kernels
from .api import grad
from .relax import ENERGY_KERNELS
from . import numpy as pnp


def precompile(progress=True):
    """Compile every kernel of every primitive, and the relaxation loop of
    every schedule and of compiled replay. Returns the number of items
    compiled. Shows a progress bar (tqdm if installed) unless ``progress``
    is False.

    >>> import pcgrad
    >>> pcgrad.precompile(progress=False) > 100
    True
    """
    from .jit import jit  # imported here: `import pcgrad` does not import jit
    from .primitives import custom  # noqa: F401  (registers the custom_vjp kernels)
    x = np.array([0.5, 1.5])
    f = lambda v: pnp.sum(pnp.tanh(v) * v)  # noqa: E731  (one kernel of each kind)
    work = [(f"{k.name} {k.kind}", k.address)
            for k in kernels.every_kernel() + list(ENERGY_KERNELS)]
    work += [(f"{schedule} loop", lambda s=schedule: grad(f, schedule=s)(x))
             for schedule in ("sweep", "jacobi", "euler", "strict")]
    work += [(f"{schedule} replay", lambda s=schedule: jit(grad(f, schedule=s))(x))
             for schedule in ("sweep", "jacobi", "euler", "strict")]
    bar = _progress(len(work), progress)
    with kernels.unannounced():  # the bar says what compiles
        for label, compile_one in work:
            bar.set_description(label[:32])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compile_one()
            bar.update(1)
    bar.close()
    return len(work)


class _TextProgress:
    """A one-line progress report on stderr, for when tqdm is not installed."""

    def __init__(self, total, enabled):
        self.total, self.done, self.enabled = total, 0, enabled
        self.start = time.perf_counter()

    def set_description(self, text):
        pass

    def update(self, n):
        self.done += n
        if self.enabled:
            print(f"\rpcgrad: compiled {self.done}/{self.total} "
                  f"({time.perf_counter() - self.start:.0f} s)", end="", file=sys.stderr,
                  flush=True)

    def close(self):
        if self.enabled:
            print(file=sys.stderr)


def _progress(total, enabled):
    try:
        from tqdm import tqdm
    except ImportError:
        return _TextProgress(total, enabled)
    return tqdm(total=total, disable=not enabled, desc="pcgrad precompile", unit="item")
