"""Watch the jacobi schedule settle a network's errors, one layer per iteration.

    python examples/jacobi_layers.py [--quick] [--gif relax.gif]

Under the fixed prediction assumption, jacobi updates every unit at once from
the previous step's errors, so a unit's error is exact as soon as its
children's are: the errors arrive one layer per iteration, from the output
to the inputs, and after depth(graph) iterations the inputs hold the
gradient. The table shows each layer's error norm at each iteration (.
where the error is still exactly zero); --gif also writes the animation.
"""
import argparse

import numpy

import pcgrad
import pcgrad.numpy as np


def network(W1, W2, W3, x, y):
    """A three-layer tanh network's squared error; each layer is a pc_node."""
    h1 = pcgrad.pc_node(np.tanh(x @ W1), name="h1")
    h2 = pcgrad.pc_node(np.tanh(h1 @ W2), name="h2")
    out = pcgrad.pc_node(h2 @ W3, name="out")
    return 0.5 * np.sum((out - y) ** 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller batch")
    parser.add_argument("--gif", metavar="PATH", help="also write the animation (GIF or .html)")
    options = parser.parse_args()
    rng = numpy.random.default_rng(0)
    batch = 4 if options.quick else 32
    args = (rng.normal(size=(3, 5)), rng.normal(size=(5, 5)), rng.normal(size=(5, 2)),
            rng.normal(size=(batch, 3)), rng.normal(size=(batch, 2)))
    argnums = (0, 1, 2)
    g, info = pcgrad.grad(network, argnums=argnums, schedule="jacobi", units="marked",
                          return_info=True, record="errors")(*args)
    graph = pcgrad.trace(network, *args, argnums=argnums)
    record = info.record
    names = []
    for node in record.nodes:
        if node in graph.inputs:
            names.append(("W1", "W2", "W3")[graph.inputs.index(node)])
        else:
            names.append(graph.nx.nodes[node]["params"].get("name") or "loss")
    print(f"jacobi, units = inputs, layers and output: depth {info.depth}, "
          f"{info.iterations} iterations\n")
    print("iteration " + "".join(f"{name:>10}" for name in names))
    for k in range(info.iterations + 1):
        row = "".join(f"{norm:10.4f}" if norm else f"{'.':>10}" for norm in record.norms[k])
        print(f"{k:9d} {row}")
    exact = pcgrad.grad(network, argnums=argnums)(*args)
    same = all(numpy.allclose(a, b) for a, b in zip(g, exact))
    print(f"\nthe settled errors at W1, W2, W3 are the gradient (as a sweep computes it): {same}")
    if options.gif:
        from pcgrad import viz
        viz.animate_relaxation(network, *args, argnums=argnums, schedule="jacobi",
                               units="marked", path=options.gif)
        print(f"wrote {options.gif}")


if __name__ == "__main__":
    main()
