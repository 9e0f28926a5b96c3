"""Gradient checking against central finite differences."""
from typing import Any, Callable, Sequence

import numpy as np

from .api import Argnums, grad
from .pytree import flatten


def check_grads(f: Callable[..., Any], *args: Any, argnums: Argnums = 0, rtol: float = 1e-6,
                atol: float = 1e-9, eps: float = 1e-6, directions: int = 3,
                schedules: Sequence[str] = ("sweep", "jacobi", "euler"),
                seed: int | None = 0) -> None:
    """Check pcgrad's gradient of scalar ``f`` at ``args`` by finite differences.

    For each schedule, the directional derivative along ``directions`` random
    unit directions v is compared with the central difference
    (f(x + eps v) - f(x - eps v)) / (2 eps). Raises AssertionError with the
    numbers on a mismatch.

    >>> import pcgrad, pcgrad.numpy as np
    >>> pcgrad.testing.check_grads(lambda x: np.sum(np.sin(x) * x), np.array([0.3, 1.2]))
    """
    nums = argnums if isinstance(argnums, (tuple, list)) else (argnums,)
    rng = np.random.default_rng(seed)

    def perturbed(direction: list[list[Any]], scale: float) -> float:
        new = list(args)
        for n, d in zip(nums, direction):
            leaves, unflatten = flatten(args[n])
            new[n] = unflatten([np.asarray(x, dtype=float) + scale * v
                                for x, v in zip(leaves, d)])
        return float(f(*new))

    for schedule in schedules:
        g = grad(f, argnums=tuple(nums), schedule=schedule)(*args)
        for _ in range(directions):
            direction, analytic = [], 0.0
            for n, gn in zip(nums, g):
                leaves = flatten(args[n])[0]
                vs = [rng.standard_normal(np.shape(x)) for x in leaves]
                direction.append(vs)
                analytic += sum(float(np.sum(np.asarray(gl) * v))
                                for gl, v in zip(flatten(gn)[0], vs))
            numeric = (perturbed(direction, eps) - perturbed(direction, -eps)) / (2 * eps)
            if not abs(analytic - numeric) <= atol + rtol * max(abs(numeric), abs(analytic)):
                raise AssertionError(
                    f"check_grads ({schedule}): directional derivative {analytic!r} from "
                    f"pcgrad vs {numeric!r} from central differences (rtol {rtol}).")
