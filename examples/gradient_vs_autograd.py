"""The gradient of a hand-written function, by pcgrad and by autograd (and JAX).

    python examples/gradient_vs_autograd.py [--quick]

The function is written once, with its numpy module as the keyword argument
``np``: pcgrad runs it with pcgrad.numpy, autograd with autograd.numpy, JAX
(if installed) with jax.numpy. pcgrad.compare prints, for each input and
schedule, how far pcgrad's gradient is from theirs, and how long each takes.
"""
import argparse

import numpy

import pcgrad
import pcgrad.numpy as pnp


def rosenbrock(x, np=pnp):
    """The Rosenbrock function: a curved valley whose minimum is x = (1, ..., 1)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def by_hand(x):
    """Its gradient, derived by hand: the same numbers a third way."""
    g = numpy.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed calls")
    quick = parser.parse_args().quick
    x = numpy.linspace(-1.2, 1.2, 6)
    print("x =", x)
    print("pcgrad's gradient:", pcgrad.grad(rosenbrock)(x).round(6))
    print("by hand:          ", by_hand(x).round(6))
    print()
    result = pcgrad.compare(rosenbrock, x, against=["autograd", "jax", ("by hand", by_hand)],
                            repeat=2 if quick else 20)
    raise SystemExit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
