"""Neural-network layers as plain functions over pytrees of parameters.

No framework: a layer is a function ``layer(params, x, ...)`` written with
``pcgrad.numpy``, and its parameters are a dict of arrays made by the matching
``*_params(rng, ...)`` function from an explicit ``numpy.random.Generator``.
Models are compositions of layers; their parameters are nested dicts, lists
and tuples, which ``pcgrad.grad`` differentiates leaf by leaf. The layers run
on plain numpy arrays too (for evaluation without tracing).

Images are NCHW and convolution weights OIHW; convolution and pooling are
``pcgrad.lax``'s (the convolution is one primitive).

>>> import numpy, pcgrad, pcgrad.nn as nn
>>> rng = numpy.random.default_rng(0)
>>> params = [nn.dense_params(rng, 4, 8), nn.dense_params(rng, 8, 3)]
>>> def loss(params, x, labels):
...     h = pcgrad.numpy.tanh(nn.dense(params[0], x))
...     return nn.softmax_cross_entropy(nn.dense(params[1], h), labels)
>>> grads = pcgrad.grad(loss)(params, rng.standard_normal((5, 4)), numpy.array([0, 2, 1, 1, 0]))
>>> grads[1]["W"].shape
(8, 3)
"""
import math
from typing import Any

import numpy

from . import lax
from . import numpy as np
from .scipy import special

# --- initialisers ------------------------------------------------------------


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a dense (in, out) or convolution (O, I, kh, kw) weight."""
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def normal(rng: numpy.random.Generator, shape: tuple[int, ...], std: float = 0.01) -> Any:
    """Independent normal entries of standard deviation ``std``.

    >>> normal(numpy.random.default_rng(0), (2, 3)).shape
    (2, 3)
    """
    return std * rng.standard_normal(shape)


def glorot(rng: numpy.random.Generator, shape: tuple[int, ...]) -> Any:
    """Glorot (Xavier) uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)).

    >>> w = glorot(numpy.random.default_rng(0), (100, 100))
    >>> bool(abs(w).max() <= numpy.sqrt(6 / 200))
    True
    """
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape)


def he(rng: numpy.random.Generator, shape: tuple[int, ...]) -> Any:
    """He (Kaiming) normal for ReLU layers: N(0, 2 / fan_in).

    >>> he(numpy.random.default_rng(0), (8, 1, 3, 3)).shape
    (8, 1, 3, 3)
    """
    return math.sqrt(2.0 / _fans(shape)[0]) * rng.standard_normal(shape)


# --- dense, embedding, layer norm ---------------------------------------------


def dense_params(rng: numpy.random.Generator, n_in: int, n_out: int, init: Any = glorot) -> dict:
    """{"W": (n_in, n_out) from ``init``, "b": zeros (n_out,)}."""
    return {"W": init(rng, (n_in, n_out)), "b": numpy.zeros(n_out)}


def dense(params: dict, x: Any) -> Any:
    """x @ W + b over the last axis of x.

    >>> dense({"W": numpy.eye(2), "b": numpy.ones(2)}, numpy.ones((1, 2)))
    array([[2., 2.]])
    """
    return x @ params["W"] + params["b"]


def embedding_params(rng: numpy.random.Generator, vocabulary: int, size: int,
                     std: float = 1.0) -> dict:
    """{"table": (vocabulary, size) normal entries of standard deviation ``std``}."""
    return {"table": normal(rng, (vocabulary, size), std)}


def embedding(params: dict, ids: Any) -> Any:
    """The rows of the table for integer ``ids`` (any shape): shape ids.shape + (size,).

    >>> embedding({"table": numpy.arange(6.0).reshape(3, 2)}, numpy.array([2, 0]))
    array([[4., 5.],
           [0., 1.]])
    """
    return params["table"][numpy.asarray(ids)]


def layer_norm_params(size: int) -> dict:
    """{"scale": ones, "shift": zeros}, both (size,)."""
    return {"scale": numpy.ones(size), "shift": numpy.zeros(size)}


def layer_norm(params: dict, x: Any, eps: float = 1e-5) -> Any:
    """Normalise the last axis to zero mean and unit variance, then scale and shift.

    >>> y = layer_norm(layer_norm_params(3), numpy.array([[1.0, 2.0, 3.0]]))
    >>> numpy.round(y, 4)
    array([[-1.2247,  0.    ,  1.2247]])
    """
    centred = x - np.mean(x, axis=-1, keepdims=True)
    variance = np.mean(centred ** 2, axis=-1, keepdims=True)
    return centred / np.sqrt(variance + eps) * params["scale"] + params["shift"]


# --- convolution and pooling --------------------------------------------------


def conv(x: Any, w: Any, stride: int = 1, padding: int = 0, dilation: int = 1) -> Any:
    """2-D cross-correlation of NCHW ``x`` with OIHW ``w`` (no bias):
    ``pcgrad.lax.conv``, the convolution primitive.

    >>> conv(numpy.ones((1, 1, 3, 3)), numpy.ones((2, 1, 2, 2))).shape
    (1, 2, 2, 2)
    """
    return lax.conv(x, w, stride=stride, padding=padding, dilation=dilation)


def conv2d_params(rng: numpy.random.Generator, c_in: int, c_out: int, kernel: int,
                  init: Any = he) -> dict:
    """{"W": (c_out, c_in, kernel, kernel) from ``init``, "b": zeros (c_out,)}."""
    return {"W": init(rng, (c_out, c_in, kernel, kernel)), "b": numpy.zeros(c_out)}


def conv2d(params: dict, x: Any, stride: int = 1, padding: int = 0) -> Any:
    """Convolution layer: ``conv(x, W, stride, padding)`` plus a bias per output channel.

    >>> p = {"W": numpy.ones((2, 1, 3, 3)), "b": numpy.zeros(2)}
    >>> conv2d(p, numpy.ones((1, 1, 5, 5)), padding=1)[0, 0, :2, :2]
    array([[4., 6.],
           [6., 9.]])
    """
    return conv(x, params["W"], stride, padding) + np.reshape(params["b"], (1, -1, 1, 1))


def max_pool2d(x: Any, size: int = 2, stride: int | None = None) -> Any:
    """Maximum over size x size windows of NCHW ``x`` (stride defaults to size).

    >>> max_pool2d(numpy.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    return lax.max_pool2d(x, size, stride)


def avg_pool2d(x: Any, size: int = 2, stride: int | None = None) -> Any:
    """Mean over size x size windows of NCHW ``x`` (stride defaults to size).

    >>> avg_pool2d(numpy.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    """
    return lax.avg_pool2d(x, size, stride)


# --- recurrent and attention ----------------------------------------------------


def sigmoid(x: Any) -> Any:
    """The logistic function, written with tanh (no overflow at large |x|)."""
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def lstm_params(rng: numpy.random.Generator, n_in: int, hidden: int, init: Any = glorot) -> dict:
    """{"Wx": (n_in, 4 hidden), "Wh": (hidden, 4 hidden), "b": (4 hidden,)}; gates
    in the order input, forget, candidate, output; the forget bias starts at 1."""
    b = numpy.zeros(4 * hidden)
    b[hidden:2 * hidden] = 1.0
    return {"Wx": init(rng, (n_in, 4 * hidden)), "Wh": init(rng, (hidden, 4 * hidden)), "b": b}


def lstm_cell(params: dict, x: Any, state: tuple[Any, Any]) -> tuple[Any, Any]:
    """One LSTM step: the new (hidden, cell) from input x (batch, n_in) and state.

    >>> p = lstm_params(numpy.random.default_rng(0), 3, 4)
    >>> h, c = lstm_cell(p, numpy.ones((2, 3)), (numpy.zeros((2, 4)), numpy.zeros((2, 4))))
    >>> h.shape
    (2, 4)
    """
    hidden, cell = state
    size = params["Wh"].shape[0]
    gates = x @ params["Wx"] + hidden @ params["Wh"] + params["b"]
    input_gate = sigmoid(gates[..., :size])
    forget_gate = sigmoid(gates[..., size:2 * size])
    candidate = np.tanh(gates[..., 2 * size:3 * size])
    output_gate = sigmoid(gates[..., 3 * size:])
    cell = forget_gate * cell + input_gate * candidate
    return output_gate * np.tanh(cell), cell


def attention_params(rng: numpy.random.Generator, size: int, init: Any = glorot) -> dict:
    """{"Wq", "Wk", "Wv", "Wo"}: four (size, size) projections."""
    return {name: init(rng, (size, size)) for name in ("Wq", "Wk", "Wv", "Wo")}


def causal_self_attention(params: dict, x: Any, heads: int) -> Any:
    """Multi-head self-attention over x (batch, time, size) in which position t
    attends to positions <= t only; the heads split ``size`` evenly.

    >>> p = attention_params(numpy.random.default_rng(0), 4)
    >>> y = causal_self_attention(p, numpy.ones((2, 5, 4)), heads=2)
    >>> y.shape
    (2, 5, 4)
    """
    batch, time, size = x.shape
    if size % heads:
        raise ValueError(f"causal_self_attention splits the size {size} into {heads} heads; "
                         "choose a number of heads that divides it.")
    split = (batch, time, heads, size // heads)
    q, k, v = (np.reshape(x @ params[name], split) for name in ("Wq", "Wk", "Wv"))
    scores = np.einsum("bthd,bshd->bhts", q, k) / math.sqrt(size // heads)
    # A large finite offset, not -inf, so no inf reaches the error rules.
    future = numpy.triu(numpy.full((time, time), -1e9), k=1)
    weights = softmax(scores + future, axis=-1)
    mixed = np.einsum("bhts,bshd->bthd", weights, v)
    return np.reshape(mixed, (batch, time, size)) @ params["Wo"]


# --- losses ------------------------------------------------------------------------


def softmax(logits: Any, axis: int = -1) -> Any:
    """Softmax over ``axis`` (the last by default)."""
    return special.softmax(logits, axis=axis)


def one_hot(labels: Any, classes: int) -> Any:
    """Integer labels (any shape) as one-hot float rows: shape labels.shape + (classes,)."""
    return numpy.eye(classes)[numpy.asarray(labels)]


def softmax_cross_entropy(logits: Any, labels: Any) -> Any:
    """Mean over all leading positions of -log softmax(logits)[label]; ``labels``
    are integers of shape logits.shape[:-1].

    >>> float(softmax_cross_entropy(numpy.zeros((2, 4)), numpy.array([0, 3])))  # log 4
    1.3862943611198906
    """
    targets = one_hot(labels, logits.shape[-1])
    return -np.sum(targets * special.log_softmax(logits, axis=-1)) / targets[..., 0].size


def mse(predictions: Any, targets: Any) -> Any:
    """Mean over the batch (leading axes) of 1/2 the squared error summed over the last axis.

    >>> float(mse(numpy.zeros((2, 3)), numpy.ones((2, 3))))
    1.5
    """
    return 0.5 * np.sum((predictions - targets) ** 2) / (numpy.size(targets) //
                                                          numpy.shape(targets)[-1])
