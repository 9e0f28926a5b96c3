"""Benchmark workloads, each written once against a numpy-like module.

Every workload's loss is built by ``workload.loss(np)``, where ``np`` is any
numpy-compatible module (``numpy``, ``autograd.numpy``, ``jax.numpy``,
``pcgrad.numpy``), so all numpy-style engines differentiate literally the same
code. Torch gets an equivalent version (``workload.torch_loss(torch)``)
because its API spells axes and ``keepdims`` differently; where numpy and
torch spell every operation alike (lstm, scalar_chain, rosenbrock) one body
serves both.

Every loss has the signature ``loss(params, *data)`` and is differentiated
with respect to ``params`` (argument 0), a pytree of float64 arrays.
Arguments come from ``workload.make_args()``, which builds them from a fixed
seed so that every worker process sees bit-identical inputs.

``build_workloads(quick=True)`` shrinks the workloads whose gradients are slow
for some engine (cnn batch, lstm steps, scalar_chain length) so that
``--quick`` stays under a minute; those workloads have ``reduced=True`` and
their descriptions give the sizes used.
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
    reduced: bool = False
    """True when built smaller than the full benchmark size (``--quick``)."""
    make_variant: Callable[[int], tuple] | None = None
    """Returns the args of the k-th new structure (k = 0, 1, ...): the same loss
    at a size (batch, length) that differs for every k, for the "new structure
    every call" row (a plan-cache miss for pcgrad)."""


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


def _mlp_args(layer_sizes, batch, seed):
    def make_args():
        rng = _rng(seed)
        params = _dense_params(rng, layer_sizes)
        inputs = rng.standard_normal((batch, layer_sizes[0]))
        targets = _one_hot(rng, batch, layer_sizes[-1])
        return params, inputs, targets

    return make_args


def _mlp_variant(layer_sizes, batch, seed):
    def make_variant(k):
        return _mlp_args(layer_sizes, batch + k, seed)()

    return make_variant


def _mlp_layers(params):
    """(hidden layers, output layer) from the flat (W1, b1, W2, b2, ...) tuple."""
    *hidden_layers, output_layer = zip(params[0::2], params[1::2])
    return hidden_layers, output_layer


def mlp_loss(np):
    def loss(params, inputs, targets):
        hidden_layers, (w_out, b_out) = _mlp_layers(params)
        hidden = inputs
        for weight, bias in hidden_layers:
            hidden = np.tanh(hidden @ weight + bias)
        return _cross_entropy(np, hidden @ w_out + b_out, targets)

    return loss


def mlp_torch_loss(torch):
    def loss(params, inputs, targets):
        hidden_layers, (w_out, b_out) = _mlp_layers(params)
        hidden = inputs
        for weight, bias in hidden_layers:
            hidden = torch.tanh(hidden @ weight + bias)
        return _torch_cross_entropy(torch, hidden @ w_out + b_out, targets)

    return loss


# --- cnn ----------------------------------------------------------------------

CNN_CHANNELS, CNN_SIDE, CNN_KERNEL, CNN_CLASSES = 8, 28, 3, 10
CNN_CONV_SIDE = CNN_SIDE - CNN_KERNEL + 1  # 26: "valid" convolution
CNN_POOL_SIDE = CNN_CONV_SIDE // 2  # 13: 2x2 mean-pool
CNN_FEATURES = CNN_CHANNELS * CNN_POOL_SIDE * CNN_POOL_SIDE


def _cnn_variant(batch):
    return lambda k: _cnn_args(batch + k)()


def _cnn_args(batch):
    def make_args():
        rng = _rng(2)
        conv_w = rng.standard_normal((CNN_CHANNELS, 1, CNN_KERNEL, CNN_KERNEL)) / CNN_KERNEL
        conv_b = 0.1 * rng.standard_normal(CNN_CHANNELS)
        dense_w = rng.standard_normal((CNN_FEATURES, CNN_CLASSES)) / numpy.sqrt(CNN_FEATURES)
        dense_b = 0.1 * rng.standard_normal(CNN_CLASSES)
        images = rng.standard_normal((batch, 1, CNN_SIDE, CNN_SIDE))
        targets = _one_hot(rng, batch, CNN_CLASSES)
        return (conv_w, conv_b, dense_w, dense_b), images, targets

    return make_args


def _sliced_conv(np):
    """A 3x3 "valid" convolution as nine shifted slices, each contracted over
    the input channels, so only slicing and einsum are needed."""
    def conv(images, conv_w):
        out = 0.0
        for di in range(CNN_KERNEL):
            for dj in range(CNN_KERNEL):
                window = images[:, :, di : di + CNN_CONV_SIDE, dj : dj + CNN_CONV_SIDE]
                out = out + np.einsum("bchw,oc->bohw", window, conv_w[:, :, di, dj])
        return out

    return conv


def _primitive_conv(np):
    """The engine's own convolution: pcgrad.lax.conv for pcgrad, jax.lax's
    for jax; numpy and autograd, which have none, use the nine slices."""
    if np.__name__ == "pcgrad.numpy":
        import pcgrad.lax

        return pcgrad.lax.conv
    if np.__name__ == "jax.numpy":
        import jax

        return lambda images, conv_w: jax.lax.conv_general_dilated(
            images, conv_w, (1, 1), "VALID")
    return _sliced_conv(np)


def _cnn_loss(make_conv):
    def build(np):
        conv = make_conv(np)

        def loss(params, images, targets):
            conv_w, conv_b, dense_w, dense_b = params
            batch = images.shape[0]
            out = conv(images, conv_w) + np.reshape(conv_b, (1, CNN_CHANNELS, 1, 1))
            activated = np.maximum(out, 0.0)
            pooled = np.mean(
                np.reshape(activated, (batch, CNN_CHANNELS, CNN_POOL_SIDE, 2, CNN_POOL_SIDE, 2)),
                axis=(3, 5),
            )
            flat = np.reshape(pooled, (batch, CNN_FEATURES))
            return _cross_entropy(np, flat @ dense_w + dense_b, targets)

        return loss

    return build


cnn_loss = _cnn_loss(_sliced_conv)
cnn_conv_loss = _cnn_loss(_primitive_conv)


def _torch_cnn_loss(make_conv):
    def build(torch):
        conv = make_conv(torch)

        def loss(params, images, targets):
            conv_w, conv_b, dense_w, dense_b = params
            batch = images.shape[0]
            out = conv(images, conv_w) + torch.reshape(conv_b, (1, CNN_CHANNELS, 1, 1))
            activated = torch.clamp(out, min=0.0)
            pooled = torch.mean(
                torch.reshape(activated, (batch, CNN_CHANNELS, CNN_POOL_SIDE, 2, CNN_POOL_SIDE, 2)),
                dim=(3, 5),
            )
            flat = torch.reshape(pooled, (batch, CNN_FEATURES))
            return _torch_cross_entropy(torch, flat @ dense_w + dense_b, targets)

        return loss

    return build


cnn_torch_loss = _torch_cnn_loss(_sliced_conv)
cnn_conv_torch_loss = _torch_cnn_loss(lambda torch: torch.nn.functional.conv2d)


# --- lstm ---------------------------------------------------------------------

LSTM_INPUT, LSTM_HIDDEN, LSTM_BATCH = 32, 64, 8


def _lstm_variant(steps):
    return lambda k: _lstm_args(steps, LSTM_BATCH + k)()


def _lstm_args(steps, batch=LSTM_BATCH):
    def make_args():
        rng = _rng(3)
        gates = 4 * LSTM_HIDDEN
        w_x = rng.standard_normal((LSTM_INPUT, gates)) / numpy.sqrt(LSTM_INPUT)
        w_h = rng.standard_normal((LSTM_HIDDEN, gates)) / numpy.sqrt(LSTM_HIDDEN)
        bias = 0.1 * rng.standard_normal(gates)
        sequence = rng.standard_normal((steps, batch, LSTM_INPUT))
        target = 0.5 * rng.standard_normal((batch, LSTM_HIDDEN))
        # The initial state is passed in as data so the loss needs no np.zeros.
        h0 = numpy.zeros((batch, LSTM_HIDDEN))
        c0 = numpy.zeros((batch, LSTM_HIDDEN))
        return (w_x, w_h, bias), sequence, target, h0, c0

    return make_args


def lstm_loss(np_like):
    """LSTM loss for numpy-likes and torch alike: it needs only @, slicing,
    tanh, * and mean, which both spell the same way."""

    def sigmoid(z):
        # Exact, overflow-free, and needs only tanh.
        return 0.5 * (np_like.tanh(0.5 * z) + 1.0)

    def loss(params, sequence, target, h0, c0):
        w_x, w_h, bias = params
        size = LSTM_HIDDEN
        hidden, cell = h0, c0
        for step in range(sequence.shape[0]):
            gates = sequence[step] @ w_x + hidden @ w_h + bias
            input_gate = sigmoid(gates[:, 0 * size : 1 * size])
            forget_gate = sigmoid(gates[:, 1 * size : 2 * size])
            candidate = np_like.tanh(gates[:, 2 * size : 3 * size])
            output_gate = sigmoid(gates[:, 3 * size : 4 * size])
            cell = forget_gate * cell + input_gate * candidate
            hidden = output_gate * np_like.tanh(cell)
        return np_like.mean((hidden - target) ** 2)

    return loss


# --- scalar_chain -------------------------------------------------------------

CHAIN_SIZE = 10


def scalar_chain_args(size=CHAIN_SIZE):
    # Small starting values keep the repeated map near its fixed point at 0, so
    # the result stays finite; the runner warns if the numpy forward is not.
    return (0.1 * _rng(4).uniform(-0.5, 0.5, size),)


def _scalar_chain_loss(length):
    def build(np_like):
        def loss(x):
            for _ in range(length):
                x = np_like.sin(x) * 1.01 + 0.1 * x**2
            return np_like.sum(x)

        return loss

    return build


# --- rosenbrock ---------------------------------------------------------------

ROSENBROCK_SIZE = 1000


def rosenbrock_args(size=ROSENBROCK_SIZE):
    return (_rng(5).uniform(-1.5, 1.5, size),)


def rosenbrock_loss(np_like):
    """Rosenbrock for numpy-likes and torch alike (slicing, ** and sum)."""

    def loss(x):
        return np_like.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    return loss


# --- the set ------------------------------------------------------------------


def build_workloads(quick=False):
    """All workloads by name, in table order.

    With ``quick`` the cnn batch (16 -> 4), lstm length (20 -> 5 steps) and
    scalar_chain length (200 -> 50) shrink, since pcgrad's iterative schedules
    and non-jitted jax take up to seconds per call on the full sizes. Inputs
    are only built when ``make_args`` is called, so this is cheap.
    """
    cnn_batch, lstm_steps, chain_length = (4, 5, 50) if quick else (16, 20, 200)
    workloads = (
        Workload(
            "mlp",
            "tanh MLP 784-256-256-10, batch 64, softmax cross-entropy",
            _mlp_args((784, 256, 256, 10), batch=64, seed=0),
            mlp_loss,
            mlp_torch_loss,
            make_variant=_mlp_variant((784, 256, 256, 10), batch=64, seed=0),
        ),
        Workload(
            "mlp_small",
            "tanh MLP 64-32-10, batch 16, softmax cross-entropy",
            _mlp_args((64, 32, 10), batch=16, seed=1),
            mlp_loss,
            mlp_torch_loss,
            make_variant=_mlp_variant((64, 32, 10), batch=16, seed=1),
        ),
        Workload(
            "cnn",
            f"3x3 conv 1->8 (9 shifted slices + einsum), relu, 2x2 mean-pool, "
            f"dense {CNN_FEATURES}->10, batch {cnn_batch} of 28x28",
            _cnn_args(cnn_batch),
            cnn_loss,
            cnn_torch_loss,
            reduced=quick,
            make_variant=_cnn_variant(cnn_batch),
        ),
        Workload(
            "cnn_conv",
            f"cnn with each engine's convolution (pcgrad.lax.conv, jax.lax.conv_general_dilated, "
            f"torch conv2d; autograd: the slices), batch {cnn_batch}",
            _cnn_args(cnn_batch),
            cnn_conv_loss,
            cnn_conv_torch_loss,
            reduced=quick,
        ),
        Workload(
            "lstm",
            f"LSTM input {LSTM_INPUT}, hidden {LSTM_HIDDEN}, T={lstm_steps}, "
            f"batch {LSTM_BATCH}, MSE of the last hidden state",
            _lstm_args(lstm_steps),
            lstm_loss,
            lstm_loss,
            reduced=quick,
            make_variant=_lstm_variant(lstm_steps),
        ),
        Workload(
            "scalar_chain",
            f"{chain_length} x (sin(x)*1.01 + 0.1*x**2) on a length-{CHAIN_SIZE} vector, then sum",
            scalar_chain_args,
            _scalar_chain_loss(chain_length),
            _scalar_chain_loss(chain_length),
            reduced=quick,
            make_variant=lambda k: scalar_chain_args(CHAIN_SIZE + k),
        ),
        Workload(
            "rosenbrock",
            f"vectorised Rosenbrock, n={ROSENBROCK_SIZE}",
            rosenbrock_args,
            rosenbrock_loss,
            rosenbrock_loss,
            make_variant=lambda k: rosenbrock_args(ROSENBROCK_SIZE + k),
        ),
    )
    return {workload.name: workload for workload in workloads}


WORKLOAD_NAMES = tuple(build_workloads())


# --- large arrays -------------------------------------------------------------

LARGE_SIZE, LARGE_QUICK_SIZE = 10_000_000, 1_000_000


def large_loss(np_like):
    """An elementwise loss whose cost is all in its arrays, for numpy-likes and
    torch alike."""

    def loss(v):
        return np_like.sum(np_like.tanh(v) ** 2 * np_like.exp(-v * v))

    return loss


def build_large(quick=False):
    """The large-array case: ``large_loss`` on a vector of 10,000,000 float64
    (80 MB; 1,000,000 with ``quick``). ``make_variant(0)`` gives a small
    vector of the same structure, to warm an engine up before its first call
    at the large size."""
    size = LARGE_QUICK_SIZE if quick else LARGE_SIZE
    return Workload(
        "large",
        f"sum(tanh(v) ** 2 * exp(-v * v)) on {size:,} float64 elements",
        lambda: (_rng(6).standard_normal(size),),
        large_loss,
        large_loss,
        reduced=quick,
        make_variant=lambda k: (_rng(6).standard_normal(1000 + k),),
    )
