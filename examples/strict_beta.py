"""Strict predictive coding and beta: how far standard PC is from backprop.

    python examples/strict_beta.py [--quick]

The strict schedule drops the fixed prediction assumption: the values relax
down the free energy F, every prediction is recomputed from them, and the
output is nudged towards its target with strength beta. The settled input
error divided by beta estimates the gradient; its error shrinks in
proportion to beta. beta = 1 (the target fully clamped) is standard PC.
Also shown: F falls at every step of the relaxation.
"""
import argparse

import numpy

import pcgrad
import pcgrad.numpy as np


def net(y0, theta):
    """Millidge, Tschantz & Buckley's example: the prediction y4, clamped to 1."""
    y1 = pcgrad.pc_node(y0 * theta, name="y1")
    y2 = pcgrad.pc_node(np.sqrt(y1), name="y2")
    y3 = pcgrad.pc_node(y0 ** 2, name="y3")
    return pcgrad.pc_node(np.tan(y2) + np.sin(y3), name="y4")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three values of beta")
    quick = parser.parse_args().quick
    exact = pcgrad.grad(net, target=1.0)(5.0, 2.0)  # the fixed-prediction sweep: backprop
    print(f"backprop: dL/dy0 = {exact:.6f}\n")
    print("    beta   dL/dy0 (strict)   relative error   error / beta   iterations   F falls")
    for beta in (1.0, 0.1, 0.01) if quick else (1.0, 0.3, 0.1, 0.03, 0.01, 1e-3, 1e-4):
        g, info = pcgrad.grad(net, target=1.0, schedule="strict", beta=beta, units="marked",
                              return_info=True)(5.0, 2.0)
        error = abs(g / exact - 1.0)
        falls = bool(numpy.all(numpy.diff(info.energy) <= 1e-12 * numpy.abs(info.energy).max()))
        print(f"{beta:8g}   {g:15.6f}   {error:14.3e}   {error / beta:12.4f}   "
              f"{info.iterations:10d}   {falls}")


if __name__ == "__main__":
    main()
