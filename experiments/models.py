"""The four models of the experiments, twice: with pcgrad.nn (every layer's
output a pc_node, the units of a predictive-coding network) and with
autograd.numpy, an independent backprop reference.

Every model maps (params, inputs) to logits; the loss is the mean softmax
cross-entropy against one-hot targets, which pcgrad clamps as an output
energy: ``target = one_hot / rows`` with ``energy="cross_entropy"`` (the
energy sums over rows, so the scaled target makes it the mean).
"""
import math

import autograd.numpy as anp
import numpy

import pcgrad
import pcgrad.numpy as np
from pcgrad import nn

mark = pcgrad.pc_node


# --- MLP on digits and on MNIST -------------------------------------------------

MNIST_SIZES = (784, 128, 128, 10)


def mlp_init(rng, sizes=(64, 64, 64, 10)):
    return [nn.dense_params(rng, a, b) for a, b in zip(sizes[:-1], sizes[1:])]


def mlp(params, x):
    h = x
    for layer in params[:-1]:
        h = mark(np.tanh(nn.dense(layer, h)))
    return mark(nn.dense(params[-1], h))


mnist = mlp


def mlp_reference(params, x):
    h = x
    for layer in params[:-1]:
        h = anp.tanh(h @ layer["W"] + layer["b"])
    return h @ params[-1]["W"] + params[-1]["b"]


mnist_reference = mlp_reference


# --- CNN on digits (8x8 images, NCHW) ----------------------------------------------

def cnn_init(rng):
    return {"conv1": nn.conv2d_params(rng, 1, 8, 3), "conv2": nn.conv2d_params(rng, 8, 16, 3),
            "dense": nn.dense_params(rng, 64, 10)}


def cnn(params, x):
    h = mark(nn.max_pool2d(np.maximum(nn.conv2d(params["conv1"], x, padding=1), 0.0)))
    h = mark(nn.max_pool2d(np.maximum(nn.conv2d(params["conv2"], h, padding=1), 0.0)))
    return mark(nn.dense(params["dense"], np.reshape(h, (x.shape[0], 64))))


def _conv_reference(x, w, b):
    """3x3 'same' cross-correlation by explicit patches."""
    x = anp.concatenate([anp.zeros(x.shape[:2] + (1, x.shape[3])), x,
                         anp.zeros(x.shape[:2] + (1, x.shape[3]))], axis=2)
    x = anp.concatenate([anp.zeros(x.shape[:3] + (1,)), x, anp.zeros(x.shape[:3] + (1,))], axis=3)
    side = x.shape[2] - 2
    out = sum(anp.einsum("bchw,oc->bohw", x[:, :, i:i + side, j:j + side], w[:, :, i, j])
              for i in range(3) for j in range(3))
    return out + b[None, :, None, None]


def _pool_reference(x):
    b, c, s, _ = x.shape
    return anp.max(anp.max(anp.reshape(x, (b, c, s // 2, 2, s // 2, 2)), axis=5), axis=3)


def cnn_reference(params, x):
    h = _pool_reference(anp.maximum(_conv_reference(x, params["conv1"]["W"],
                                                    params["conv1"]["b"]), 0.0))
    h = _pool_reference(anp.maximum(_conv_reference(h, params["conv2"]["W"],
                                                    params["conv2"]["b"]), 0.0))
    return anp.reshape(h, (x.shape[0], 64)) @ params["dense"]["W"] + params["dense"]["b"]


# --- character-level LSTM ----------------------------------------------------------------

def lstm_init(rng, vocabulary, hidden=48):
    return {"cell": nn.lstm_params(rng, vocabulary, hidden),
            "out": nn.dense_params(rng, hidden, vocabulary)}


def lstm(params, x):
    """x: one-hot characters (batch, time, vocabulary) -> logits of the next ones."""
    batch, time, _ = x.shape
    hidden = params["cell"]["Wh"].shape[0]
    state = (numpy.zeros((batch, hidden)), numpy.zeros((batch, hidden)))
    outputs = []
    for t in range(time):
        h, c = nn.lstm_cell(params["cell"], x[:, t], state)
        state = (mark(h), mark(c))
        outputs.append(state[0])
    return mark(nn.dense(params["out"], np.stack(outputs, axis=1)))


def lstm_reference(params, x):
    batch, time, _ = x.shape
    p = params["cell"]
    size = p["Wh"].shape[0]
    sigmoid = lambda z: 0.5 * (anp.tanh(0.5 * z) + 1.0)  # noqa: E731
    h, c = numpy.zeros((batch, size)), numpy.zeros((batch, size))
    outputs = []
    for t in range(time):
        z = x[:, t] @ p["Wx"] + h @ p["Wh"] + p["b"]
        c = sigmoid(z[:, size:2 * size]) * c + sigmoid(z[:, :size]) * anp.tanh(z[:, 2 * size:3 * size])
        h = sigmoid(z[:, 3 * size:]) * anp.tanh(c)
        outputs.append(h)
    return anp.stack(outputs, axis=1) @ params["out"]["W"] + params["out"]["b"]


# --- character-level transformer (one block, causal attention) --------------------------

def transformer_init(rng, vocabulary, time, size=32):
    # The embedding rows have unit variance (nn.embedding_params' default), not
    # glorot's 0.17: layer norm divides by its input's standard deviation, so
    # a small-variance embedding makes the first block's Jacobian large (~19
    # instead of ~4) and strict relaxation stiff (it then needs eta < 0.006).
    embed = {"W": nn.embedding_params(rng, vocabulary, size)["table"], "b": numpy.zeros(size)}
    return {"embed": embed,
            "position": nn.normal(rng, (time, size), 0.1),
            "norm1": nn.layer_norm_params(size), "attention": nn.attention_params(rng, size),
            "norm2": nn.layer_norm_params(size), "up": nn.dense_params(rng, size, 2 * size),
            "down": nn.dense_params(rng, 2 * size, size), "out": nn.dense_params(rng, size, vocabulary)}


HEADS = 2


def transformer(params, x):
    """Pre-norm block: h + attention(norm(h)), then h + MLP(norm(h)); x one-hot."""
    h = mark(nn.dense(params["embed"], x) + params["position"])
    h = mark(h + nn.causal_self_attention(params["attention"], nn.layer_norm(params["norm1"], h),
                                          HEADS))
    inner = np.tanh(nn.dense(params["up"], nn.layer_norm(params["norm2"], h)))
    h = mark(h + nn.dense(params["down"], inner))
    return mark(nn.dense(params["out"], h))


def _layer_norm_reference(p, x):
    centred = x - anp.mean(x, axis=-1, keepdims=True)
    return centred / anp.sqrt(anp.mean(centred ** 2, axis=-1, keepdims=True) + 1e-5) \
        * p["scale"] + p["shift"]


def _attention_reference(p, x, heads):
    batch, time, size = x.shape
    d = size // heads
    split = lambda y: anp.reshape(y, (batch, time, heads, d))  # noqa: E731
    q, k, v = split(x @ p["Wq"]), split(x @ p["Wk"]), split(x @ p["Wv"])
    scores = anp.einsum("bthd,bshd->bhts", q, k) / math.sqrt(d)
    scores = scores + numpy.triu(numpy.full((time, time), -1e9), k=1)
    scores = scores - anp.max(scores, axis=-1, keepdims=True)
    weights = anp.exp(scores) / anp.sum(anp.exp(scores), axis=-1, keepdims=True)
    return anp.reshape(anp.einsum("bhts,bshd->bthd", weights, v), (batch, time, size)) @ p["Wo"]


def transformer_reference(params, x):
    h = x @ params["embed"]["W"] + params["embed"]["b"] + params["position"]
    h = h + _attention_reference(params["attention"], _layer_norm_reference(params["norm1"], h),
                                 HEADS)
    inner = anp.tanh(_layer_norm_reference(params["norm2"], h) @ params["up"]["W"]
                     + params["up"]["b"])
    h = h + inner @ params["down"]["W"] + params["down"]["b"]
    return h @ params["out"]["W"] + params["out"]["b"]


def cross_entropy_reference(logits, targets):
    """Mean softmax cross-entropy over all rows against one-hot ``targets``."""
    shifted = logits - anp.max(logits, axis=-1, keepdims=True)
    logp = shifted - anp.log(anp.sum(anp.exp(shifted), axis=-1, keepdims=True))
    return -anp.sum(targets * logp) / (targets.size // targets.shape[-1])
