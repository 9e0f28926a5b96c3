"""``python -m pcgrad``: the gradient of a small network, relaxed three ways.

Prints the gradient of a tanh network's cross-entropy loss computed by the
sweep, jacobi and euler schedules beside autograd's (or, without autograd,
central finite differences), and how the euler relaxation converged.
"""
import time

import numpy

import pcgrad
import pcgrad.numpy as np


def loss_in(np):
    """The network's loss written against a numpy-like module ``np``."""
    def loss(params, x, y):
        W1, b1, W2 = params
        h = np.tanh(x @ W1 + b1)
        logits = h @ W2
        logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
        return -np.mean(np.sum(y * logp, axis=1))
    return loss


loss = loss_in(np)


def reference(params, x, y):
    """autograd's gradient if installed, else central differences (and its name)."""
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        flat = numpy.concatenate([p.ravel() for p in params])

        def f(v):
            parts, start = [], 0
            for p in params:
                parts.append(v[start:start + p.size].reshape(p.shape))
                start += p.size
            return float(loss(tuple(parts), x, y))
        h = 1e-6
        g = numpy.array([(f(flat + h * e) - f(flat - h * e)) / (2 * h)
                         for e in numpy.eye(flat.size)])
        return g, "finite differences"

    g = autograd.grad(loss_in(anp))(params, x, y)
    return numpy.concatenate([p.ravel() for p in g]), "autograd"


def main():
    rng = numpy.random.default_rng(0)
    params = (rng.standard_normal((4, 8)) * 0.5, numpy.zeros(8),
              rng.standard_normal((8, 3)) * 0.5)
    x = rng.standard_normal((5, 4))
    y = numpy.eye(3)[rng.integers(0, 3, 5)]
    print(pcgrad.trace(loss, params, x, y))
    want, name = reference(params, x, y)
    print(f"\ndL/dW2[0, :] by each schedule, beside {name}:")
    print(f"  {name:>18}: {numpy.array2string(want[40:43], precision=10)}")
    for schedule in ("sweep", "jacobi", "euler"):
        start = time.perf_counter()
        g, info = pcgrad.grad(loss, schedule=schedule, return_info=True)(params, x, y)
        seconds = time.perf_counter() - start
        flat = numpy.concatenate([p.ravel() for p in g])
        error = numpy.max(numpy.abs(flat - want)) / numpy.max(numpy.abs(want))
        print(f"  {schedule:>18}: {numpy.array2string(g[2][0], precision=10)}  "
              f"{info.iterations:4d} iterations, max rel. diff {error:.1e}, "
              f"{seconds * 1e3:.1f} ms")
    g, info = pcgrad.grad(loss, schedule="euler", eta=0.2, tol=1e-10, return_info=True)(
        params, x, y)
    print(f"\neuler at eta=0.2: converged={info.converged} after {info.iterations} "
          f"iterations (depth {info.depth}); residual max|dF/dv| "
          f"{info.residual[0]:.2e} -> {info.residual[-1]:.2e}; energy "
          f"{info.energy[0]:.4f} -> {info.energy[-1]:.4f}")


if __name__ == "__main__":
    main()
