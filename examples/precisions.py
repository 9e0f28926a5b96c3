"""Precisions: what they change, and what they do not.

    python examples/precisions.py [--quick]

A pc_node's precision Pi weights its prediction error, eps = Pi (mu - v).
Under the fixed prediction assumption the gradient does not change, but the
euler relaxation's rate becomes eta * Pi (too large, and it diverges).
Under strict PC the precisions weight the energy, and the estimate moves.
A PrecisionLearner learns each layer's precision from the settled errors:
it converges to the empirical Fisher E[g^2] of that layer.
"""
import argparse

import numpy

import pcgrad
import pcgrad.numpy as np


def chain(x, precision=None):
    h = x
    for k in range(4):
        h = pcgrad.pc_node(1.5 * np.sin(h), name=f"h{k}", precision=precision)
    return np.sum(h)


def layer_loss(w, x, y):
    h = pcgrad.pc_node(x @ w, name="h")
    return 0.5 * np.sum((np.tanh(h) - y) ** 2) / x.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer learning steps")
    quick = parser.parse_args().quick
    x0 = numpy.array([0.3, -0.7, 1.1])
    exact = pcgrad.grad(chain)(x0)

    print("euler at eta = 0.5, every layer with precision Pi:")
    for precision in (0.5, 1.0, 2.0, 5.0):
        try:
            g, info = pcgrad.grad(lambda x: chain(x, precision), schedule="euler", eta=0.5,
                                  units="marked", return_info=True)(x0)
            print(f"  Pi = {precision}: eta Pi = {0.5 * precision:4}, {info.iterations:3d} "
                  f"iterations, same gradient: {numpy.allclose(g, exact)}")
        except ValueError as error:  # eta Pi >= 2: each step moves a unit further away
            print(f"  Pi = {precision}: eta Pi = {0.5 * precision:4}, refused: "
                  f"{str(error).split(';')[0]}")

    print("\nstrict (beta 0.01): the precision changes the estimate of dL/dx[0]:")
    for precision in (0.5, 1.0, 2.0):
        g = pcgrad.grad(lambda x: chain(x, precision), schedule="strict", beta=0.01,
                        units="marked", eta=0.05)(x0)
        print(f"  Pi = {precision}: {g[0]:.6f}   (exact {exact[0]:.6f})")

    rng = numpy.random.default_rng(0)
    w = rng.normal(size=(3, 2))
    xb, yb = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    learner = pcgrad.PrecisionLearner(["h"], lr=0.5)
    steps = 10 if quick else 60
    for _ in range(steps):
        _, info = pcgrad.grad(layer_loss, precisions=learner.precisions, return_info=True)(
            w, xb, yb)
        learner.update(info)
    h = xb @ w
    g_h = (numpy.tanh(h) - yb) * (1 - numpy.tanh(h) ** 2) / len(xb)  # dL/dh, by hand
    fisher = numpy.mean(g_h ** 2, axis=0)
    print(f"\nlearned precision of h after {steps} updates: {learner.precisions['h']}")
    print(f"empirical Fisher E[g^2] of h:              {fisher}")
    print(f"equal: {numpy.allclose(learner.precisions['h'], fisher + 1e-8)}")


if __name__ == "__main__":
    main()
