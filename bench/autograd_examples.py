"""Run autograd's own examples with their imports pointed at pcgrad, and compare.

autograd's source distribution ships examples (examples/*.py). This script
runs each of them twice in a subprocess, once under autograd and once under
a shim that maps ``autograd`` to pcgrad (``autograd.numpy`` -> pcgrad.numpy,
``autograd.scipy.*`` -> pcgrad.scipy.*, ``autograd.extend`` ->
pcgrad.extend, ...), with plots disabled and the optimizers' iterations
capped alike in both runs, and compares what they print: the same text with
the same numbers (to ``--rtol``) is a match. autograd's code is not part of
this repository: the examples are read from its sdist, downloaded with pip.

    python bench/autograd_examples.py                 # every example
    python bench/autograd_examples.py ode_net tanh    # some
    python bench/autograd_examples.py --examples DIR  # an unpacked examples/ folder

Each example runs with the working directory a copy of the examples folder
(figures they save land there) and numpy's global seed set to 0.
"""
import argparse
import builtins
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import types
import warnings

EXAMPLES = ["bayesian_optimization", "black_box_svi", "gaussian_process",
            "deep_gaussian_process", "gmm", "gplvm", "hmm_em", "ica", "lstm", "rnn",
            "mixture_variational_inference", "natural_gradient_black_box_svi",
            "negative_binomial_maxlike", "neural_net_regression", "ode_net", "sinusoid",
            "tanh", "define_gradient", "fixed_points", "fluidsim"]
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


# --- what both runs share: no plots, capped iterations ----------------------------------------
def _quiet_plots():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.show = plt.pause = plt.draw = lambda *args, **kwargs: None
    plt.savefig = lambda *args, **kwargs: None


def _cap_minimize(iters):
    import scipy.optimize
    minimize = scipy.optimize.minimize

    def capped(*args, **kwargs):
        options = dict(kwargs.pop("options", None) or {})
        options["maxiter"] = min(options.get("maxiter", iters), iters)
        return minimize(*args, options=options, **kwargs)
    scipy.optimize.minimize = capped


def _capped(optimizer, iters):
    def run(grad, x0, callback=None, *args, num_iters=100, **kwargs):
        return optimizer(grad, x0, callback, *args, num_iters=min(num_iters, iters), **kwargs)
    return run


# --- the shim: autograd's names over pcgrad -------------------------------------------------
def _flatten(value):
    """autograd.misc.flatten: a 1-d vector of the leaves and its inverse."""
    import numpy
    from pcgrad.pytree import flatten
    leaves, unflatten = flatten(value)
    shapes = [numpy.shape(leaf) for leaf in leaves]
    flat = numpy.concatenate([numpy.ravel(leaf) for leaf in leaves]) if leaves \
        else numpy.zeros(0)

    def rebuild(vector):
        parts, start = [], 0
        for shape in shapes:
            size = int(numpy.prod(shape))
            parts.append(numpy.reshape(vector[start:start + size], shape))
            start += size
        return unflatten(parts)
    return flat, rebuild


def _optimizers():
    """sgd, rmsprop and adam with autograd's update formulas, on flattened trees."""
    import numpy

    def on_trees(optimize):
        def run(grad, x0, callback=None, *args, **kwargs):
            x, unflatten = _flatten(x0)
            flat_grad = lambda x, i: _flatten(grad(unflatten(x), i))[0]  # noqa: E731
            flat_callback = (lambda x, i, g: callback(unflatten(x), i, unflatten(g))) \
                if callback else None
            return unflatten(optimize(flat_grad, x, flat_callback, *args, **kwargs))
        return run

    def sgd(grad, x, callback=None, num_iters=200, step_size=0.1, mass=0.9):
        velocity = numpy.zeros(len(x))
        for i in range(num_iters):
            g = grad(x, i)
            if callback:
                callback(x, i, g)
            velocity = mass * velocity - (1.0 - mass) * g
            x = x + step_size * velocity
        return x

    def rmsprop(grad, x, callback=None, num_iters=100, step_size=0.1, gamma=0.9, eps=1e-8):
        avg_sq_grad = numpy.ones(len(x))
        for i in range(num_iters):
            g = grad(x, i)
            if callback:
                callback(x, i, g)
            avg_sq_grad = avg_sq_grad * gamma + g ** 2 * (1 - gamma)
            x = x - step_size * g / (numpy.sqrt(avg_sq_grad) + eps)
        return x

    def adam(grad, x, callback=None, num_iters=100, step_size=0.001, b1=0.9, b2=0.999,
             eps=1e-8):
        m, v = numpy.zeros(len(x)), numpy.zeros(len(x))
        for i in range(num_iters):
            g = grad(x, i)
            if callback:
                callback(x, i, g)
            m = (1 - b1) * g + b1 * m
            v = (1 - b2) * (g ** 2) + b2 * v
            mhat = m / (1 - b1 ** (i + 1))
            vhat = v / (1 - b2 ** (i + 1))
            x = x - step_size * mhat / (numpy.sqrt(vhat) + eps)
        return x
    return {name: on_trees(fn) for name, fn in
            (("sgd", sgd), ("rmsprop", rmsprop), ("adam", adam))}


def _fixed_point():
    """autograd.misc.fixed_points.fixed_point: iterate f(a) to a fixed point; its
    derivative in a iterates the transposed fixed-point equation (a Python rule)."""
    import numpy
    import pcgrad

    def fixed_point(f, a, x0, distance, tol):
        def solve(a):
            step = f(a)
            x, x_prev = step(x0), x0
            while distance(x, x_prev) > tol:
                x, x_prev = step(x), x
            return numpy.asarray(x, float)

        def bwd(residuals, g):
            a, x_star = residuals
            _, vjp_x = pcgrad.vjp(f(a), x_star)
            w, w_prev = g, numpy.zeros_like(g)
            while True:
                w, w_prev = vjp_x(w)[0] + g, w
                if distance(w, w_prev) <= tol:
                    break
            _, vjp_a = pcgrad.vjp(lambda a: f(a)(x_star), a)
            return vjp_a(w)

        rule = pcgrad.custom_vjp(solve, trace_bwd=False)
        rule.defvjp(lambda a: (solve(a), (a, solve(a))), bwd)
        return rule(a)
    return fixed_point


def _check_grads():
    """autograd.test_util.check_grads, reverse mode: a directional derivative
    against central differences; silent when they agree."""
    import numpy
    import pcgrad

    def check_grads(f, x=None, modes=("rev",), order=2):
        def check(x):
            x = numpy.asarray(x, float)
            v = numpy.random.default_rng(0).normal(size=x.shape)
            analytic = numpy.sum(pcgrad.grad(lambda x: pcgrad.numpy.sum(f(x)))(x) * v)
            h = 1e-6
            numeric = (numpy.sum(f(x + h * v)) - numpy.sum(f(x - h * v))) / (2 * h)
            assert abs(analytic - numeric) < 1e-5 * (1 + abs(numeric)), (analytic, numeric)
        return check if x is None else check(x)
    return check_grads


def _argnum(transform):
    """An autograd transformation spelt with argnum= over pcgrad's argnums=."""
    def wrapped(fun, argnum=0, *args, **kwargs):
        return transform(fun, argnum, *args, **kwargs)
    wrapped.__name__ = transform.__name__
    return wrapped


def _hessian_vector_product(fun, argnum=0):
    """autograd.hessian_vector_product: (*args, vector) -> H(args[argnum]) @ vector."""
    import pcgrad

    def hvp(*args):
        args, vector = args[:-1], args[-1]
        return pcgrad.hvp(lambda x: fun(*args[:argnum], x, *args[argnum + 1:]))(args[argnum],
                                                                               vector)
    return hvp


def _make_vjp(fun, argnum=0):
    """autograd.make_vjp: (*args) -> (vjp of argument argnum, value)."""
    import pcgrad

    def make(*args):
        value, vjp_fn = pcgrad.vjp(lambda x: fun(*args[:argnum], x, *args[argnum + 1:]),
                                   args[argnum])
        return (lambda g: vjp_fn(g)[0]), value
    return make


def install_shim(iters):
    """Map ``autograd`` and its submodules to pcgrad in sys.modules."""
    import numpy
    import pcgrad
    import pcgrad.extend
    import pcgrad.numpy
    import pcgrad.scipy
    import pcgrad.scipy.integrate
    import pcgrad.scipy.signal
    import pcgrad.scipy.special
    import pcgrad.scipy.stats

    def module(name, **attributes):
        made = types.ModuleType(name)
        made.__dict__.update(attributes)
        return made

    top = module("autograd", grad=_argnum(pcgrad.grad),
                 value_and_grad=_argnum(pcgrad.value_and_grad),
                 elementwise_grad=_argnum(pcgrad.elementwise_grad),
                 jacobian=_argnum(pcgrad.jacobian),
                 hessian=_argnum(pcgrad.hessian),
                 hessian_vector_product=_hessian_vector_product,
                 make_vjp=_make_vjp)
    optimizers = {name: _capped(fn, iters) for name, fn in _optimizers().items()}
    flatten_module = module("autograd.misc.flatten", flatten=_flatten,
                            flatten_func=lambda func, example: _flatten_func(func, example))
    modules = {
        "autograd": top,
        "autograd.numpy": pcgrad.numpy,
        "autograd.numpy.random": numpy.random,
        "autograd.numpy.linalg": pcgrad.numpy.linalg,
        "autograd.scipy": pcgrad.scipy,
        "autograd.scipy.special": pcgrad.scipy.special,
        "autograd.scipy.stats": pcgrad.scipy.stats,
        "autograd.scipy.integrate": pcgrad.scipy.integrate,
        "autograd.scipy.signal": pcgrad.scipy.signal,
        "autograd.extend": pcgrad.extend,
        "autograd.builtins": module("autograd.builtins", tuple=builtins.tuple,
                                    list=builtins.list, dict=builtins.dict,
                                    isinstance=builtins.isinstance, type=builtins.type),
        "autograd.misc": module("autograd.misc", flatten=_flatten),
        "autograd.misc.flatten": flatten_module,
        "autograd.misc.optimizers": module("autograd.misc.optimizers", **optimizers),
        "autograd.misc.fixed_points": module("autograd.misc.fixed_points",
                                             fixed_point=_fixed_point()),
        "autograd.test_util": module("autograd.test_util", check_grads=_check_grads()),
    }
    for name in dir(pcgrad.scipy.stats):
        if not name.startswith("_"):
            modules[f"autograd.scipy.stats.{name}"] = getattr(pcgrad.scipy.stats, name)
    for name, value in modules.items():
        sys.modules[name] = value
        parent, _, child = name.rpartition(".")
        if parent and parent in modules and not hasattr(modules[parent], child):
            setattr(modules[parent], child, value)


def _flatten_func(func, example):
    flat, unflatten = _flatten(example)
    return (lambda x, *args: _flatten(func(unflatten(x), *args))[0]), unflatten, flat


def run_one(name, engine, folder, iters):
    """Run example ``name`` in this process under ``engine``."""
    import numpy
    import runpy
    _quiet_plots()
    _cap_minimize(iters)
    if engine == "pcgrad":
        install_shim(iters)
    else:
        import autograd.misc.optimizers as real
        for optimizer in ("sgd", "rmsprop", "adam"):
            setattr(real, optimizer, _capped(getattr(real, optimizer), iters))
    path = os.path.join(folder, name + ".py")
    if not os.path.exists(path):
        path = os.path.join(folder, name, name + ".py")
    sys.path.insert(0, os.path.dirname(path))
    sys.path.insert(1, folder)
    os.chdir(os.path.dirname(path))
    numpy.random.seed(0)
    warnings.simplefilter("ignore")
    sys.argv = [path]
    runpy.run_path(path, run_name="__main__")


# --- the driver ---------------------------------------------------------------------------------
def download_examples(into):
    """autograd's examples/ folder, from its sdist (pip download)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "autograd", "--no-deps",
                    "--no-binary", ":all:", "-q", "-d", into], check=True)
    archive = glob.glob(os.path.join(into, "autograd-*.tar.gz"))[0]
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return glob.glob(os.path.join(into, "autograd-*", "examples"))[0]


def _run(name, engine, folder, iters, timeout):
    work = tempfile.mkdtemp(prefix=f"{name}-{engine}-")
    copy = shutil.copytree(folder, os.path.join(work, "examples"))
    command = [sys.executable, os.path.abspath(__file__), "--one", name, "--engine", engine,
               "--examples", copy, "--iters", str(iters)]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1",
                                       OPENBLAS_NUM_THREADS="1"))
        out, err, code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as expired:
        out, err, code = expired.stdout or "", f"timed out after {timeout} s", -1
        out = out.decode() if isinstance(out, bytes) else out
    shutil.rmtree(work, ignore_errors=True)
    return out, err, code, time.perf_counter() - start


def compare(ours, theirs, rtol):
    """(same, first difference): the same text, numbers equal to ``rtol``."""
    a, b = ours.split(), theirs.split()
    if len(a) != len(b):
        return False, f"{len(a)} words printed vs autograd's {len(b)}"
    for x, y in zip(a, b):
        if x == y:
            continue
        nx, ny = NUMBER.findall(x), NUMBER.findall(y)
        if NUMBER.sub("#", x) != NUMBER.sub("#", y) or len(nx) != len(ny):
            return False, f"{x!r} vs autograd's {y!r}"
        for p, q in zip(nx, ny):
            p, q = float(p), float(q)
            if abs(p - q) > rtol * max(abs(p), abs(q), 1e-300):
                return False, f"{x!r} vs autograd's {y!r}"
    return True, ""


def _last_error(err):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=EXAMPLES)
    parser.add_argument("--examples", help="autograd's examples/ folder (default: download)")
    parser.add_argument("--iters", type=int, default=10,
                        help="cap on optimizer iterations in both runs (default 10)")
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return run_one(args.one, args.engine, args.examples, args.iters)
    folder = args.examples or download_examples(tempfile.mkdtemp(prefix="autograd-sdist-"))
    rows = []
    for name in args.names:
        theirs, their_err, their_code, _ = _run(name, "autograd", folder, args.iters,
                                                args.timeout)
        ours, our_err, our_code, seconds = _run(name, "pcgrad", folder, args.iters,
                                                args.timeout)
        if their_code != 0:
            status, why = "autograd fails", _last_error(their_err)
        elif our_code != 0:
            status, why = "fails", _last_error(our_err)
        else:
            same, why = compare(ours, theirs, args.rtol)
            status = "same numbers" if same else "different numbers"
        rows.append((name, status, why, seconds))
        print(f"{name:32s} {status:18s} {seconds:7.1f} s  {why}", flush=True)
    matches = sum(1 for row in rows if row[1] == "same numbers")
    print(f"\n{matches} of {len(rows)} examples print autograd's numbers.")


if __name__ == "__main__":
    main()
