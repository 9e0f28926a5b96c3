"""Train a small MLP on scikit-learn's handwritten digits with pcgrad's gradients.

    python examples/digits_mlp.py [--quick] [--schedule sweep|jacobi]

8x8 images of the digits 0-9 (scikit-learn's bundled data set), a 64-32-10
tanh network, softmax cross-entropy, Adam (pcgrad.optim.adam), minibatches of
64, a tqdm progress bar (the experiments extra: pip install "pcgrad[experiments]").
Prints the test accuracy before and after training.
"""
import argparse

import numpy

import pcgrad
import pcgrad.numpy as np


def loss(params, x, labels):
    W1, b1, W2, b2 = params
    logits = np.tanh(x @ W1 + b1) @ W2 + b2
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(labels * logp, axis=1))


def accuracy(params, x, y):
    W1, b1, W2, b2 = params
    return float(numpy.mean(numpy.argmax(numpy.tanh(x @ W1 + b1) @ W2 + b2, axis=1) == y))


def progress(steps):
    try:
        from tqdm import trange
    except ImportError:  # no progress bar without tqdm
        return range(steps)
    return trange(steps, desc="training", unit="step")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 steps instead of 600")
    parser.add_argument("--schedule", default="sweep", choices=["sweep", "jacobi", "euler"])
    options = parser.parse_args()
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.data / 16.0, digits.target
    rng = numpy.random.default_rng(0)
    order = rng.permutation(len(x))
    train, test = order[:1400], order[1400:]
    params = (rng.normal(size=(64, 32)) / 8.0, numpy.zeros(32),
              rng.normal(size=(32, 10)) / numpy.sqrt(32), numpy.zeros(10))
    print(f"test accuracy before training: {accuracy(params, x[test], y[test]):.3f}")
    gradient = pcgrad.jit(pcgrad.grad(loss, schedule=options.schedule))
    optimiser = pcgrad.optim.adam(0.01)
    state = optimiser.init(params)
    onehot = numpy.eye(10)
    for step in progress(60 if options.quick else 600):
        batch = rng.choice(train, 64, replace=False)
        g = gradient(params, x[batch], onehot[y[batch]])
        params, state = optimiser.step(params, g, state)
    print(f"test accuracy after training:  {accuracy(params, x[test], y[test]):.3f} "
          f"({options.schedule} schedule)")


if __name__ == "__main__":
    main()
