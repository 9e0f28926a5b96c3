"""Small networks shared by the predictive-coding tests, each with its autograd reference.

Every network is written once against a numpy-like module ``np`` and a
``mark(value, name)`` function: pcgrad runs it with ``pcgrad.numpy`` and
``pcgrad.pc_node``; the reference runs it with ``autograd.numpy`` and the
identity.
"""
import autograd
import autograd.numpy as anp
import numpy as onp
from autograd.scipy.special import logsumexp
from scipy.optimize import minimize

import pcgrad
import pcgrad.numpy as pnp


def pc_mark(precision=None):
    """``mark`` for pcgrad: a named pc_node, with ``precision`` if given."""
    return lambda value, name: pcgrad.pc_node(value, name=name, precision=precision)


def no_mark(value, name):
    return value


# --- Millidge, Tschantz & Buckley 2020, section 5.1 -------------------------------------

Y0, THETA = 5.0, 2.0


def millidge(y0, theta, np=pnp, mark=pc_mark()):
    """y1 = y0 theta, y2 = sqrt(y1), y3 = y0^2, y4 = tan(y2) + sin(y3): returns y4."""
    y1 = mark(y0 * theta, "y1")
    y2 = mark(np.sqrt(y1), "y2")
    y3 = mark(y0 ** 2, "y3")
    return mark(np.tan(y2) + np.sin(y3), "y4")


def millidge_loss(y0, theta, np=pnp, mark=pc_mark()):
    """L = 1/2 (1 - y4)^2."""
    return 0.5 * (1.0 - millidge(y0, theta, np, mark)) ** 2


MILLIDGE_DY0 = autograd.grad(lambda y0: millidge_loss(y0, THETA, anp, no_mark))(Y0)


def millidge_settled_energy_derivative(beta, precision=1.0):
    """dF*/dy0: F minimised by scipy over the vertices y1, y2, y3 (y4 is the output,
    its value its prediction, clamped to 1 by beta E), then differentiated by autograd
    at the minimiser (envelope theorem). Strict PC's settled estimate is this / beta."""
    def energy(v, y0):
        y1, y2, y3 = v[0], v[1], v[2]
        prediction = anp.tan(y2) + anp.sin(y3)
        return (0.5 * precision * ((y1 - y0 * THETA) ** 2 + (y2 - anp.sqrt(y1)) ** 2
                                   + (y3 - y0 ** 2) ** 2)
                + beta * 0.5 * (prediction - 1.0) ** 2)
    start = onp.array([Y0 * THETA, onp.sqrt(Y0 * THETA), Y0 ** 2])
    v = minimize(energy, start, args=(Y0,), jac=autograd.grad(energy), method="BFGS",
                 options={"gtol": 1e-11}).x
    return autograd.grad(energy, 1)(v, Y0)


# --- a tanh MLP on a batch of rows --------------------------------------------------------

_rng = onp.random.default_rng(0)
MLP_PARAMS = (0.7 * _rng.normal(size=(3, 4)), 0.7 * _rng.normal(size=(4, 2)))
MLP_X = _rng.normal(size=(5, 3))
MLP_Y = _rng.normal(size=(5, 2))
MLP_LABELS = onp.eye(2)[_rng.integers(0, 2, size=5)]


def mlp(w1, w2, x=MLP_X, np=pnp, mark=pc_mark()):
    """Logits tanh(x w1) w2, with the pre-activation and the hidden layer marked."""
    a = mark(x @ w1, "a")
    h = mark(np.tanh(a), "h")
    return h @ w2


def squared_energy(mu, y):
    return 0.5 * anp.sum((mu - y) ** 2)


def cross_entropy_energy(mu, y):
    """-sum over rows of y . log softmax(mu), softmax over the last axis."""
    return -anp.sum(y * (mu - logsumexp(mu, axis=-1, keepdims=True)))


ENERGY_REFERENCE = {"squared": squared_energy, "cross_entropy": cross_entropy_energy}


def reference_grad(net, params, target, energy):
    """autograd's gradient of the energy of ``net``'s prediction, per parameter."""
    e = ENERGY_REFERENCE[energy]
    return autograd.grad(lambda ps: e(net(*ps, np=anp, mark=no_mark), target))(tuple(params))


# --- an LSTM cell unrolled over three steps --------------------------------------------

_rng = onp.random.default_rng(1)
LSTM_IN, LSTM_HIDDEN, LSTM_BATCH, LSTM_STEPS = 2, 3, 2, 3
LSTM_PARAMS = (0.5 * _rng.normal(size=(LSTM_IN + LSTM_HIDDEN, 4 * LSTM_HIDDEN)),
               0.1 * _rng.normal(size=4 * LSTM_HIDDEN))
LSTM_XS = _rng.normal(size=(LSTM_STEPS, LSTM_BATCH, LSTM_IN))
LSTM_Y = 0.5 * _rng.normal(size=(LSTM_BATCH, LSTM_HIDDEN))


def lstm(w, b, np=pnp, mark=pc_mark()):
    """The last hidden state; the gates are slices of one affine map; c and h marked."""
    H = LSTM_HIDDEN
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))
    h = np.zeros((LSTM_BATCH, H))
    c = np.zeros((LSTM_BATCH, H))
    for t in range(LSTM_STEPS):
        z = np.concatenate([LSTM_XS[t], h], axis=1) @ w + b
        i, f, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), sigmoid(z[:, 2 * H:3 * H])
        g = np.tanh(z[:, 3 * H:])
        c = mark(f * c + i * g, f"c{t}")
        h = mark(o * np.tanh(c), f"h{t}")
    return h


def relative_error(estimate, exact):
    """||estimate - exact|| / ||exact|| over all leaves of two pytrees of arrays."""
    flat = lambda tree: onp.concatenate([onp.ravel(leaf) for leaf in tree])
    e, x = flat(estimate), flat(exact)
    return onp.linalg.norm(e - x) / onp.linalg.norm(x)
