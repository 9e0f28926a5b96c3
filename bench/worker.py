"""Measure one engine on one or more workloads, inside a fresh process.

Run by the benchmark runner as::

    python -m bench.worker --engine autograd --workloads mlp --out result.json \
        --grad-dir /tmp/x --repeats 7 --min-loop 0.2 --warmup 0.2 --threads 1

The runner starts this process with the thread-count variables already in its
environment and its CPU affinity already set, so that both are in force before
any engine (and its thread pools) is imported. Only the one requested engine is
ever imported here: a process that also holds jax or torch makes Python-graph
engines slower through garbage collection.

The result is a JSON file with one record per workload; each gradient is saved
flattened as ``<grad-dir>/<workload>.npy`` for the runner to compare. The
workload ``large`` is the large-array case (first call at a new large size,
steady call, peak memory) rather than a timing loop.
"""

import argparse
import ctypes
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
import traceback

# Engines whose arrays live in numpy buffers, which numpy reports to
# tracemalloc; jax and torch allocate outside its view.
NUMPY_BASED_ENGINES = ("numpy", "autograd", "pcgrad", "pcgrad-jit")
# Engines timed with a new structure every call (jit engines would time compilation).
MISS_ENGINES = ("autograd", "pcgrad", "torch")
MISS_WARMUP = 3  # structures called before the timed ones
LARGE_REPEATS = 3  # steady calls timed in the large-array case


class EngineUnavailable(Exception):
    """The engine's package is missing or lacks a feature the benchmark needs."""


# --- pytrees ------------------------------------------------------------------


def tree_map(function, tree):
    """Apply ``function`` to every array leaf of a tuple/list/dict pytree."""
    if isinstance(tree, (tuple, list)):
        return type(tree)(tree_map(function, leaf) for leaf in tree)
    if isinstance(tree, dict):
        return {key: tree_map(function, tree[key]) for key in sorted(tree)}
    return function(tree)


def tree_leaves(tree):
    """Array leaves in a fixed order (dict keys sorted), as every engine returns them."""
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in tree_leaves(item)]
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in tree_leaves(tree[key])]
    return [tree]


def flatten_gradient(tree):
    """Concatenate all gradient leaves into one float64 vector."""
    import numpy

    leaves = [numpy.asarray(leaf, dtype=numpy.float64).ravel() for leaf in tree_leaves(tree)]
    return numpy.concatenate(leaves)


# --- engines ------------------------------------------------------------------
#
# Each engine builder takes (workload, options) and returns a tuple
# (prepare, to_flat, version): ``prepare(args)`` returns ``call``, and
# ``call()`` computes the gradient at ``args`` (blocking until it is really
# computed); ``to_flat(result)`` turns its result into a flat float64 numpy
# vector. Every ``prepare``d call shares one gradient function, so a call at
# args of a new shape is what a user's new structure costs.


def _import_engine(module_name):
    try:
        return __import__(module_name, fromlist=["_"])
    except ImportError as error:
        raise EngineUnavailable(f"{module_name} cannot be imported: {error}") from error


def _numpy_forward(workload, options):
    numpy = _import_engine("numpy")
    loss = workload.loss(numpy)
    return (lambda args: lambda: loss(*args)), numpy.atleast_1d, numpy.__version__


def _autograd(workload, options):
    autograd = _import_engine("autograd")
    autograd_numpy = _import_engine("autograd.numpy")
    grad_fn = autograd.grad(workload.loss(autograd_numpy), 0)
    return (lambda args: lambda: grad_fn(*args)), flatten_gradient, _package_version("autograd")


def _jax(workload, options, jit):
    jax = _import_engine("jax")
    jax.config.update("jax_enable_x64", True)
    jax_numpy = _import_engine("jax.numpy")
    grad_fn = jax.grad(workload.loss(jax_numpy), argnums=0)
    if jit:
        grad_fn = jax.jit(grad_fn)
    def prepare(args):
        # Move inputs to jax arrays once, so the timed calls do not convert them.
        device_args = jax.tree_util.tree_map(jax_numpy.asarray, args)

        def call():
            # jax dispatches asynchronously; wait for the result to exist.
            return jax.block_until_ready(grad_fn(*device_args))

        return call

    return prepare, flatten_gradient, jax.__version__


def _torch(workload, options):
    torch = _import_engine("torch")
    torch.set_num_threads(options.threads)
    loss = workload.torch_loss(torch)

    def prepare(args):
        params = tree_map(
            lambda array: torch.tensor(array, dtype=torch.float64, requires_grad=True), args[0]
        )
        data = [torch.tensor(array, dtype=torch.float64) for array in args[1:]]
        leaves = tree_leaves(params)

        def call():
            # autograd.grad returns fresh tensors instead of accumulating into .grad.
            return torch.autograd.grad(loss(params, *data), leaves)

        return call

    def to_flat(gradient):
        return flatten_gradient([leaf.detach().numpy() for leaf in gradient])

    return prepare, to_flat, torch.__version__


def _pcgrad(workload, options, jit):
    pcgrad = _import_engine("pcgrad")
    pcgrad_numpy = _import_engine("pcgrad.numpy")
    if not hasattr(pcgrad, "grad"):
        raise EngineUnavailable("pcgrad has no attribute 'grad'")
    loss = workload.loss(pcgrad_numpy)
    version = getattr(pcgrad, "__version__", None) or _package_version("pcgrad")
    if jit:
        if not hasattr(pcgrad, "jit"):
            raise EngineUnavailable("not available: pcgrad has no attribute 'jit'")
        # fuse=True: the fused replay compiles on the first call (with "auto"
        # it would still be compiling in the background while the loops run)
        grad_fn = pcgrad.jit(pcgrad.grad(loss, argnums=0, schedule=options.schedule),
                             fuse=True)
        return (lambda args: lambda: grad_fn(*args)), flatten_gradient, version
    # timed as users call it; the RelaxInfo (which costs a little to build)
    # comes from one more call with return_info
    grad_fn = pcgrad.grad(loss, argnums=0, schedule=options.schedule)
    info_fn = pcgrad.grad(loss, argnums=0, schedule=options.schedule, return_info=True)

    def prepare(args):
        def call():
            return grad_fn(*args)
        call.relax_info = lambda: info_fn(*args)
        return call

    return prepare, flatten_gradient, version


ENGINES = {
    "numpy": _numpy_forward,
    "autograd": _autograd,
    "jax": lambda workload, options: _jax(workload, options, jit=False),
    "jax-jit": lambda workload, options: _jax(workload, options, jit=True),
    "torch": _torch,
    "pcgrad": lambda workload, options: _pcgrad(workload, options, jit=False),
    "pcgrad-jit": lambda workload, options: _pcgrad(workload, options, jit=True),
}


def _package_version(name):
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def relax_info(result):
    """Iterations and convergence from a ``(gradient, RelaxInfo)`` pcgrad result.

    Fields the info object lacks come back as None.
    """
    info = result[1]
    return {
        field: _json_scalar(getattr(info, field, None))
        for field in ("iterations", "converged", "node_updates", "depth")
    }


def _json_scalar(value):
    """numpy scalars -> plain Python, so the record serialises."""
    return value.item() if hasattr(value, "item") else value


# --- timing -------------------------------------------------------------------


def _loop_seconds(call, count):
    start = time.perf_counter()
    for _ in range(count):
        call()
    return time.perf_counter() - start


def time_per_call(call, repeats, min_loop, warmup):
    """Per-call seconds of ``call``: min and median over ``repeats`` loops.

    Warm-up runs calls for ``warmup`` seconds (at least one call). The loop
    length is then calibrated like ``timeit.autorange``: the call count steps
    1, 2, 5, 10, 20, ... until one loop lasts ``min_loop`` seconds. The garbage
    collector stays on, because collection cost is part of what a Python-graph
    engine costs its user.
    """
    deadline = time.perf_counter() + warmup
    calls = 0
    while calls < 1 or time.perf_counter() < deadline:
        call()
        calls += 1

    count = 1
    for multiplier in _autorange_multipliers():
        count = multiplier
        if _loop_seconds(call, count) >= min_loop:
            break

    per_call = [_loop_seconds(call, count) / count for _ in range(repeats)]
    return {
        "min_s": min(per_call),
        "median_s": statistics.median(per_call),
        "calls_per_loop": count,
        "per_call_s": per_call,
    }


def _autorange_multipliers():
    scale = 1
    while True:
        for step in (1, 2, 5):
            yield step * scale
        scale *= 10


# --- memory -------------------------------------------------------------------


def _status_kib(field):
    """A ``Vm*`` field of /proc/self/status, in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_peak_delta_bytes(call):
    """Peak resident memory one call adds, from the kernel's high-water mark.

    Free heap memory is handed back to the OS first (``malloc_trim``) so the
    call has to fault in what it uses, then the high-water mark VmHWM is reset
    (writing 5 to /proc/self/clear_refs) and compared with VmRSS before the
    call. Unlike a ``ru_maxrss`` difference this works in a warmed-up process,
    whose earlier calls already set the lifetime maximum. Returns None where
    the reset is not possible (not Linux, or not permitted).
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return None
    before = _status_kib("VmRSS")
    result = call()
    peak = _status_kib("VmHWM")
    del result
    return max(peak - before, 0) * 1024


def tracemalloc_peak_bytes(call):
    """Peak bytes allocated during one call as seen by tracemalloc.

    Covers Python objects and numpy array buffers (numpy reports its
    allocations to tracemalloc), including the returned gradient. Memory
    allocated inside Numba-compiled code, XLA or torch is not visible to it.
    """
    gc.collect()
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak


# --- driver -------------------------------------------------------------------


def measure(engine, workload, options):
    """All measurements of one engine on one workload, as a JSON-ready dict."""
    import numpy

    record = {"engine": engine, "workload": workload.name, "schedule": options.schedule}
    args = workload.make_args()

    start = time.perf_counter()
    prepare, to_flat, version = ENGINES[engine](workload, options)
    call = prepare(args)
    record["version"] = version
    record["setup_s"] = time.perf_counter() - start

    start = time.perf_counter()
    first = call()
    record["first_call_s"] = time.perf_counter() - start

    flat = to_flat(first)
    if engine == "pcgrad":
        record["relax_info"] = relax_info(call.relax_info())
    if engine == "numpy":
        record["loss"] = float(flat[0])
    else:
        path = os.path.join(options.grad_dir, f"{workload.name}.npy")
        numpy.save(path, flat)
        record["grad_file"] = path
        record["grad_size"] = int(flat.size)
    record["finite"] = bool(numpy.all(numpy.isfinite(flat)))
    del first

    record["timing"] = time_per_call(call, options.repeats, options.min_loop, options.warmup)
    record["rss_peak_delta_bytes"] = rss_peak_delta_bytes(call)
    record["tracemalloc_peak_bytes"] = (
        tracemalloc_peak_bytes(call) if engine in NUMPY_BASED_ENGINES else None
    )
    if engine in MISS_ENGINES and options.schedule == "sweep" and workload.make_variant:
        record["miss"] = time_new_structures(prepare, workload, options)
    return record


def time_new_structures(prepare, workload, options):
    """Per-call seconds when every call has a new structure (a new size).

    Warms up on MISS_WARMUP structures, then times one call on each of
    ``options.miss_calls`` further ones (all built beforehand): min and
    median over them.
    """
    calls = [prepare(workload.make_variant(k))
             for k in range(MISS_WARMUP + options.miss_calls)]  # fmt: skip
    for call in calls[:MISS_WARMUP]:
        call()
    per_call = []
    for call in calls[MISS_WARMUP:]:
        start = time.perf_counter()
        call()
        per_call.append(time.perf_counter() - start)
    return {"min_s": min(per_call), "median_s": statistics.median(per_call),
            "calls": len(per_call)}  # fmt: skip


def measure_large(engine, workload, options):
    """The large-array case: the first call at the large size (after a warm-up
    call at a small one) with its resident-memory peak, then the steady call
    (min of LARGE_REPEATS) and its peak."""
    import numpy

    record = {"engine": engine, "workload": workload.name, "schedule": options.schedule}
    prepare, to_flat, record["version"] = ENGINES[engine](workload, options)
    prepare(workload.make_variant(0))()
    call = prepare(workload.make_args())
    timed = {}

    def first():
        start = time.perf_counter()
        result = call()
        timed["first"] = time.perf_counter() - start
        return result

    record["first_rss_peak_delta_bytes"] = rss_peak_delta_bytes(first)
    record["first_call_s"] = timed["first"]
    steady = []
    for _ in range(LARGE_REPEATS):
        start = time.perf_counter()
        result = call()
        steady.append(time.perf_counter() - start)
        flat = to_flat(result)
        del result
    record["steady_s"] = min(steady)
    record["rss_peak_delta_bytes"] = rss_peak_delta_bytes(call)
    record["finite"] = bool(numpy.all(numpy.isfinite(flat)))
    if engine != "numpy":
        path = os.path.join(options.grad_dir, f"{workload.name}.npy")
        numpy.save(path, flat)
        record["grad_file"] = path
    return record


def _error_text(error):
    """The exception and the innermost frame it came from, as one sentence-like line."""
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" (at {frame.filename}:{frame.lineno} in {frame.name})" if frame else ""
    return f"{type(error).__name__}: {error}{where}"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Measure one engine in this process.")
    parser.add_argument("--engine", required=True, choices=sorted(ENGINES))
    parser.add_argument("--workloads", required=True, help="comma-separated workload names")
    parser.add_argument("--schedule", default="sweep", help="pcgrad relaxation schedule")
    parser.add_argument("--out", required=True, help="JSON file to write the records to")
    parser.add_argument("--grad-dir", required=True, help="folder for the flattened gradients")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--min-loop", type=float, default=0.2, help="seconds per timed loop")
    parser.add_argument("--warmup", type=float, default=0.2, help="seconds of warm-up calls")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="the reduced workload sizes")
    parser.add_argument("--miss-calls", type=int, default=60,
                        help="timed calls, each with a new structure")
    options = parser.parse_args(argv)

    from bench.workloads import build_large, build_workloads

    workloads = build_workloads(options.quick)
    workloads["large"] = build_large(options.quick)

    header = {
        "engine": options.engine,
        "python": sys.version.split()[0],
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "threads": options.threads,
    }
    records = []
    for name in options.workloads.split(","):
        try:
            how = measure_large if name == "large" else measure
            records.append(how(options.engine, workloads[name], options))
        except EngineUnavailable as error:
            records.append({"workload": name, "unavailable": str(error)})
        except Exception as error:  # one failing workload must not hide the others
            records.append({"workload": name, "error": _error_text(error)})
    with open(options.out, "w") as out:
        json.dump({**header, "records": records}, out, indent=1, default=_json_default)


def _json_default(value):
    """numpy scalars that reached a record become plain Python numbers."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} cannot be written to the result JSON.")


if __name__ == "__main__":
    main()
