"""Benchmark workloads, each written once against a numpy-like module.

Every workload's loss is built by ``workload.loss(np)``, where ``np`` is any
numpy-compatible module (``numpy``, ``autograd.numpy``, ``jax.numpy``,
``pcgrad.numpy``), so all numpy-style engines differentiate literally the same
code. Torch gets a separate, line-by-line equivalent version
(``workload.torch_loss(torch)``) because its API spells axes and
``keepdims`` differently.

Every loss has the signature ``loss(params, *data)`` and is differentiated
with respect to ``params`` (argument 0), a pytree of float64 arrays.
Arguments come from ``workload.make_args()``, which builds them from a fixed
seed so that every worker process sees bit-identical inputs.
"""

from dataclasses import dataclass
from typing import Callable

import numpy


@dataclass(frozen=True)
class Workload:
    """One differentiable function with its fixed inputs."""

    name: str
    description: str
    make_args: Callable[[], tuple]
    """Returns ``(params, *data)`` as numpy float64 arrays (params may be a tuple)."""
    loss: Callable
    """Given a numpy-like module, returns ``loss(params, *data) -> scalar``."""
    torch_loss: Callable
    """Given the torch module, returns the same loss written with torch ops."""


def _rng(seed):
    return numpy.random.default_rng(seed)


def _dense_params(rng, sizes):
    """Weights scaled by 1/sqrt(fan_in) so tanh layers stay out of saturation."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(rng.standard_normal((fan_in, fan_out)) / numpy.sqrt(fan_in))
        params.append(0.1 * rng.standard_normal(fan_out))
    return tuple(params)


def _one_hot(rng, batch, classes):
    labels = rng.integers(0, classes, size=batch)
    return numpy.eye(classes)[labels]


def _cross_entropy(np, logits, targets):
    """Mean softmax cross-entropy against one-hot targets.

    Written without a max-shift or ``logsumexp`` so that every numpy-like
    module supports it; the workloads keep logits small enough not to overflow.
    """
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(log_probs * targets, axis=1))


def _torch_cross_entropy(torch, logits, targets):
    log_probs = logits - torch.log(torch.sum(torch.exp(logits), dim=1, keepdim=True))
    return -torch.mean(torch.sum(log_probs * targets, dim=1))


# --- mlp, mlp_small -----------------------------------------------------------


def _mlp_args(sizes, batch, seed):
    def make_args():
        rng = _rng(seed)
        params = _dense_params(rng, sizes)
        inputs = rng.standard_normal((batch, sizes[0]))
        targets = _one_hot(rng, batch, sizes[-1])
        return params, inputs, targets

    return make_args


def mlp_loss(np):
    def loss(params, inputs, targets):
        hidden = inputs
        *hidden_layers, (w_out, b_out) = zip(params[0::2], params[1::2])
        for weight, bias in hidden_layers:
            hidden = np.tanh(hidden @ weight + bias)
        return _cross_entropy(np, hidden @ w_out + b_out, targets)

    return loss


def mlp_torch_loss(torch):
    def loss(params, inputs, targets):
        hidden = inputs
        *hidden_layers, (w_out, b_out) = zip(params[0::2], params[1::2])
        for weight, bias in hidden_layers:
            hidden = torch.tanh(hidden @ weight + bias)
        return _torch_cross_entropy(torch, hidden @ w_out + b_out, targets)

    return loss


# --- cnn ----------------------------------------------------------------------

CNN_BATCH, CNN_CHANNELS, CNN_SIDE, CNN_KERNEL, CNN_CLASSES = 16, 8, 28, 3, 10
CNN_CONV_SIDE = CNN_SIDE - CNN_KERNEL + 1  # 26: "valid" convolution
CNN_POOL_SIDE = CNN_CONV_SIDE // 2  # 13: 2x2 mean-pool


def cnn_args():
    rng = _rng(2)
    conv_w = rng.standard_normal((CNN_CHANNELS, 1, CNN_KERNEL, CNN_KERNEL)) / CNN_KERNEL
    conv_b = 0.1 * rng.standard_normal(CNN_CHANNELS)
    features = CNN_CHANNELS * CNN_POOL_SIDE * CNN_POOL_SIDE
    dense_w = rng.standard_normal((features, CNN_CLASSES)) / numpy.sqrt(features)
    dense_b = 0.1 * rng.standard_normal(CNN_CLASSES)
    images = rng.standard_normal((CNN_BATCH, 1, CNN_SIDE, CNN_SIDE))
    targets = _one_hot(rng, CNN_BATCH, CNN_CLASSES)
    return (conv_w, conv_b, dense_w, dense_b), images, targets


def cnn_loss(np):
    def loss(params, images, targets):
        conv_w, conv_b, dense_w, dense_b = params
        # A 3x3 convolution as nine shifted slices, each contracted over the
        # input channels, so only slicing and einsum are needed.
        conv = 0.0
        for di in range(CNN_KERNEL):
            for dj in range(CNN_KERNEL):
                window = images[:, :, di : di + CNN_CONV_SIDE, dj : dj + CNN_CONV_SIDE]
                conv = conv + np.einsum("bchw,oc->bohw", window, conv_w[:, :, di, dj])
        conv = conv + np.reshape(conv_b, (1, CNN_CHANNELS, 1, 1))
        activated = np.maximum(conv, 0.0)
        pooled = np.mean(
            np.reshape(
                activated,
                (CNN_BATCH, CNN_CHANNELS, CNN_POOL_SIDE, 2, CNN_POOL_SIDE, 2),
            ),
            axis=(3, 5),
        )
        flat = np.reshape(pooled, (CNN_BATCH, CNN_CHANNELS * CNN_POOL_SIDE * CNN_POOL_SIDE))
        return _cross_entropy(np, flat @ dense_w + dense_b, targets)

    return loss


def cnn_torch_loss(torch):
    def loss(params, images, targets):
        conv_w, conv_b, dense_w, dense_b = params
        conv = 0.0
        for di in range(CNN_KERNEL):
            for dj in range(CNN_KERNEL):
                window = images[:, :, di : di + CNN_CONV_SIDE, dj : dj + CNN_CONV_SIDE]
                conv = conv + torch.einsum("bchw,oc->bohw", window, conv_w[:, :, di, dj])
        conv = conv + torch.reshape(conv_b, (1, CNN_CHANNELS, 1, 1))
        activated = torch.clamp(conv, min=0.0)
        pooled = torch.mean(
            torch.reshape(
                activated,
                (CNN_BATCH, CNN_CHANNELS, CNN_POOL_SIDE, 2, CNN_POOL_SIDE, 2),
            ),
            dim=(3, 5),
        )
        flat = torch.reshape(pooled, (CNN_BATCH, CNN_CHANNELS * CNN_POOL_SIDE * CNN_POOL_SIDE))
        return _torch_cross_entropy(torch, flat @ dense_w + dense_b, targets)

    return loss


# --- lstm ---------------------------------------------------------------------

LSTM_INPUT, LSTM_HIDDEN, LSTM_STEPS, LSTM_BATCH = 32, 64, 20, 8


def lstm_args():
    rng = _rng(3)
    gates = 4 * LSTM_HIDDEN
    w_x = rng.standard_normal((LSTM_INPUT, gates)) / numpy.sqrt(LSTM_INPUT)
    w_h = rng.standard_normal((LSTM_HIDDEN, gates)) / numpy.sqrt(LSTM_HIDDEN)
    bias = 0.1 * rng.standard_normal(gates)
    sequence = rng.standard_normal((LSTM_STEPS, LSTM_BATCH, LSTM_INPUT))
    target = 0.5 * rng.standard_normal((LSTM_BATCH, LSTM_HIDDEN))
    # The initial state is passed in as data so the loss needs no np.zeros.
    h0 = numpy.zeros((LSTM_BATCH, LSTM_HIDDEN))
    c0 = numpy.zeros((LSTM_BATCH, LSTM_HIDDEN))
    return (w_x, w_h, bias), sequence, target, h0, c0


def _lstm_cell_gates(tanh, gates):
    """Split pre-activations into the four LSTM gates (input, forget, cell, output).

    sigmoid(z) is written as 0.5 * (tanh(z / 2) + 1): exact, overflow-free and
    needs only tanh, which every engine provides under the same name.
    """
    size = LSTM_HIDDEN

    def sigmoid(z):
        return 0.5 * (tanh(0.5 * z) + 1.0)

    return (
        sigmoid(gates[:, 0 * size : 1 * size]),
        sigmoid(gates[:, 1 * size : 2 * size]),
        tanh(gates[:, 2 * size : 3 * size]),
        sigmoid(gates[:, 3 * size : 4 * size]),
    )


def _lstm_loss(np_like):
    def loss(params, sequence, target, h0, c0):
        w_x, w_h, bias = params
        hidden, cell = h0, c0
        for step in range(LSTM_STEPS):
            gates = sequence[step] @ w_x + hidden @ w_h + bias
            input_gate, forget_gate, candidate, output_gate = _lstm_cell_gates(np_like.tanh, gates)
            cell = forget_gate * cell + input_gate * candidate
            hidden = output_gate * np_like.tanh(cell)
        return np_like.mean((hidden - target) ** 2)

    return loss


# The LSTM uses only @, slicing, tanh, * and mean, which numpy and torch spell
# alike, so one body serves both.
lstm_loss = _lstm_loss
lstm_torch_loss = _lstm_loss


# --- scalar_chain -------------------------------------------------------------

CHAIN_LENGTH, CHAIN_SIZE = 200, 10


def scalar_chain_args():
    # Small starting values keep the 200-fold map near its fixed point at 0, so
    # the result stays finite; the runner warns if the numpy forward is not.
    return (0.1 * _rng(4).uniform(-0.5, 0.5, CHAIN_SIZE),)


def scalar_chain_loss(np):
    def loss(x):
        for _ in range(CHAIN_LENGTH):
            x = np.sin(x) * 1.01 + 0.1 * x**2
        return np.sum(x)

    return loss


def scalar_chain_torch_loss(torch):
    def loss(x):
        for _ in range(CHAIN_LENGTH):
            x = torch.sin(x) * 1.01 + 0.1 * x**2
        return torch.sum(x)

    return loss


# --- rosenbrock ---------------------------------------------------------------

ROSENBROCK_SIZE = 1000


def rosenbrock_args():
    return (_rng(5).uniform(-1.5, 1.5, ROSENBROCK_SIZE),)


def _rosenbrock_loss(np_like):
    def loss(x):
        return np_like.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    return loss


# Slicing, ** and sum are spelled alike in numpy and torch.
rosenbrock_loss = _rosenbrock_loss
rosenbrock_torch_loss = _rosenbrock_loss


WORKLOADS = {
    workload.name: workload
    for workload in (
        Workload(
            "mlp",
            "tanh MLP 784-256-256-10, batch 64, softmax cross-entropy",
            _mlp_args((784, 256, 256, 10), batch=64, seed=0),
            mlp_loss,
            mlp_torch_loss,
        ),
        Workload(
            "mlp_small",
            "tanh MLP 64-32-10, batch 16, softmax cross-entropy",
            _mlp_args((64, 32, 10), batch=16, seed=1),
            mlp_loss,
            mlp_torch_loss,
        ),
        Workload(
            "cnn",
            "3x3 conv 1->8 (9 shifted slices + einsum), relu, 2x2 mean-pool, "
            "dense 1352->10, batch 16 of 28x28",
            cnn_args,
            cnn_loss,
            cnn_torch_loss,
        ),
        Workload(
            "lstm",
            "LSTM input 32, hidden 64, T=20, batch 8, MSE of last hidden state",
            lstm_args,
            lstm_loss,
            lstm_torch_loss,
        ),
        Workload(
            "scalar_chain",
            "200 x (sin(x)*1.01 + 0.1*x**2) on a length-10 vector, then sum",
            scalar_chain_args,
            scalar_chain_loss,
            scalar_chain_torch_loss,
        ),
        Workload(
            "rosenbrock",
            "vectorised Rosenbrock, n=1000",
            rosenbrock_args,
            rosenbrock_loss,
            rosenbrock_torch_loss,
        ),
    )
}
