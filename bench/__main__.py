"""Benchmark runner: ``python -m bench [--quick] [--workloads ...] [--engines ...]``.

For every workload it runs each engine in a fresh worker process
(``python -m bench.worker``), pinned to its own core(s) with the thread
counts fixed in the environment before the engine is imported, then compares
the gradients, prints the tables and writes them to bench/results/.
"""

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata

import numpy

from bench import report
from bench.workloads import WORKLOAD_NAMES, build_large, build_workloads

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO_ROOT, "bench", "results")

# Gradient engines in table order, with the package each one needs.
ENGINE_PACKAGES = {
    "pcgrad": "pcgrad",
    "pcgrad-jit": "pcgrad",
    "autograd": "autograd",
    "jax": "jax",
    "jax-jit": "jax",
    "torch": "torch",
}
# pcgrad's default schedule is "sweep"; these are benchmarked beside it.
PCGRAD_EXTRA_SCHEDULES = ("jacobi", "euler")
# Engines measured on the large-array case, each in its own process.
LARGE_ENGINES = ("pcgrad", "autograd", "jax-jit", "torch")

FULL_SETTINGS = {"repeats": 7, "min_loop": 0.2, "warmup": 0.3, "timeout": 900.0,
                 "miss_calls": 60}
QUICK_SETTINGS = {"repeats": 3, "min_loop": 0.03, "warmup": 0.03, "timeout": 120.0,
                  "miss_calls": 5}


@dataclass(frozen=True)
class Run:
    """One worker configuration: an engine, and for pcgrad a schedule."""

    label: str
    engine: str
    schedule: str = "sweep"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time gradients of the benchmark workloads with each installed engine.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 repeats of 30 ms loops instead of 7 of 200 ms, and smaller cnn, lstm "
        "and scalar_chain (marked *); under a minute",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOAD_NAMES),
        help=f"comma-separated subset of: {', '.join(WORKLOAD_NAMES)}",
    )
    parser.add_argument(
        "--engines",
        default=",".join(ENGINE_PACKAGES),
        help=f"comma-separated subset of: {', '.join(ENGINE_PACKAGES)}",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads (and pinned cores) per worker; default 1",
    )
    parser.add_argument("--repeats", type=int, help="timed loops per measurement")
    parser.add_argument("--min-loop", type=float, help="minimum seconds per timed loop")
    parser.add_argument(
        "--timeout", type=float, help="seconds per workload before a worker is stopped"
    )
    parser.add_argument(
        "--no-large",
        action="store_true",
        help="skip the large-array case (a 10,000,000-element loss, first call and "
        "peak memory; 1,000,000 with --quick)",
    )
    parser.add_argument(
        "--output",
        help="base name of the result files in bench/results/ "
        "(default: 'latest', or 'quick' with --quick)",
    )
    options = parser.parse_args(argv)

    for name, known, kind in (
        ("workloads", WORKLOAD_NAMES, "workload"),
        ("engines", ENGINE_PACKAGES, "engine"),
    ):
        chosen = [item for item in getattr(options, name).split(",") if item]
        unknown = [item for item in chosen if item not in known]
        if unknown:
            parser.error(
                f"Unknown {kind} {', '.join(unknown)}; choose from {', '.join(known)}."
            )
        setattr(options, name, chosen)

    available = os.sched_getaffinity(0)
    if not 1 <= options.threads <= len(available):
        parser.error(f"--threads must be between 1 and the {len(available)} usable cores.")

    settings = dict(QUICK_SETTINGS if options.quick else FULL_SETTINGS)
    for key in ("repeats", "min_loop", "timeout"):
        if getattr(options, key) is not None:
            settings[key] = getattr(options, key)
    if settings["repeats"] < 1:
        parser.error("--repeats must be at least 1.")
    options.settings = settings
    options.output = options.output or ("quick" if options.quick else "latest")
    return options


def worker_cores(threads):
    """The last ``threads`` usable cores: the same core(s) for every worker."""
    return sorted(os.sched_getaffinity(0))[-threads:]


def worker_environment(threads):
    """The environment for a worker: thread counts fixed before any import."""
    env = dict(os.environ)
    for variable in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMBA_NUM_THREADS",
    ):
        env[variable] = str(threads)
    # XLA reads a first token without "--" as a flag-file name, so the
    # intra-op setting must follow a "--" flag.
    multi_thread_eigen = "true" if threads > 1 else "false"
    env["XLA_FLAGS"] = (
        f"--xla_cpu_multi_thread_eigen={multi_thread_eigen} "
        f"intra_op_parallelism_threads={threads}"
    )
    env["JAX_PLATFORMS"] = "cpu"  # no probing for accelerators
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO_ROOT, env.get("PYTHONPATH")]))
    return env


def run_worker(run, workloads, options, scratch):
    """Run one worker process on ``workloads``; one record per workload, in order.

    Failures of the process itself (crash, time-out) come back as records
    with an ``error`` entry, like the failures the worker catches itself.
    """
    grad_dir = tempfile.mkdtemp(prefix=f"{run.label}-", dir=scratch)
    out = os.path.join(grad_dir, "result.json")
    settings = options.settings
    command = [
        sys.executable, "-m", "bench.worker",
        "--engine", run.engine,
        "--schedule", run.schedule,
        "--workloads", ",".join(workloads),
        "--out", out,
        "--grad-dir", grad_dir,
        "--repeats", str(settings["repeats"]),
        "--min-loop", str(settings["min_loop"]),
        "--warmup", str(settings["warmup"]),
        "--threads", str(options.threads),
        "--miss-calls", str(settings["miss_calls"]),
    ] + (["--quick"] if options.quick else [])  # fmt: skip
    cores = worker_cores(options.threads)
    timeout = settings["timeout"] * len(workloads)
    try:
        completed = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=worker_environment(options.threads),
            # Pinned from birth, so the engine's thread pools inherit the mask.
            preexec_fn=lambda: os.sched_setaffinity(0, cores),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        error = f"The worker timed out after {timeout:.0f} s."
        return [{"workload": workload, "error": error} for workload in workloads]
    if completed.returncode != 0 or not os.path.exists(out):
        tail = " | ".join(completed.stderr.strip().splitlines()[-3:])
        error = f"The worker exited with code {completed.returncode}: {tail}"
        return [{"workload": workload, "error": error} for workload in workloads]
    with open(out) as result:
        payload = json.load(result)
    for record in payload["records"]:
        record["cpu_affinity"] = payload["cpu_affinity"]
    return payload["records"]


def worker_batches(runs, workloads, quick):
    """(run, workloads) per worker process, in execution order.

    A full run gives every engine a fresh process per workload, so that the
    first call and the memory high-water mark belong to that workload alone.
    ``--quick`` saves the ~50 process starts (0.3-1 s each with an engine
    import) by giving each engine one process for all workloads; there only
    the first workload's first call carries the process's one-off costs.
    """
    if quick:
        return [(run, list(workloads)) for run in runs]
    return [(run, [workload]) for workload in workloads for run in runs]


def planned_runs(engines):
    """Worker configurations for the chosen engines, in table order."""
    runs = []
    for engine in ENGINE_PACKAGES:
        if engine not in engines:
            continue
        runs.append(Run(engine, engine))
        if engine == "pcgrad":
            runs.extend(Run(f"pcgrad[{s}]", "pcgrad", s) for s in PCGRAD_EXTRA_SCHEDULES)
    return runs


def max_relative_difference(gradient, reference):
    """max_i |g_i - r_i| / max_i |r_i|: the worst error relative to the gradient's scale."""
    if gradient.shape != reference.shape:
        return None
    scale = numpy.max(numpy.abs(reference))
    return float(numpy.max(numpy.abs(gradient - reference)) / (scale if scale > 0 else 1.0))


def compare_gradients(runs):
    """Add ``max_rel_diff`` and ``reference`` to every run with a gradient.

    The reference is autograd's gradient, or else the first engine's in table
    order that produced one.
    """
    with_gradient = {label: rec for label, rec in runs.items() if "grad_file" in rec}
    if not with_gradient:
        return
    reference_label = "autograd" if "autograd" in with_gradient else next(iter(with_gradient))
    reference = numpy.load(with_gradient[reference_label]["grad_file"])
    for record in with_gradient.values():
        record["reference"] = reference_label
        record["max_rel_diff"] = max_relative_difference(
            numpy.load(record["grad_file"]), reference
        )


# Touched and freed before each engine's large-array worker (see prime_memory).
PRIME_BYTES = 2 * 10**9


def prime_memory(nbytes=PRIME_BYTES):
    """Touch ``nbytes`` in a short-lived process and free them.

    A virtual machine that hands free memory back to its host (as these do)
    makes the next process to touch that memory pay the host's page faults,
    about a millisecond per MB here: 0.7 s on the large case's first call.
    Without this, that cost falls on whichever engine runs first (later
    engines reuse the memory the one before freed), so every engine's worker
    starts right after this, on the same footing.
    """
    subprocess.run([sys.executable, "-c", f"import numpy; numpy.ones({nbytes // 8})"],
                   check=True)


def run_large(runs, skipped, options, scratch):
    """The large-array case for LARGE_ENGINES, each in a fresh process started
    right after prime_memory."""
    large = build_large(options.quick)
    entry = {"description": large.description, "reduced": large.reduced, "runs": {},
             "primed_bytes": PRIME_BYTES}
    for run in runs:
        if run.engine not in LARGE_ENGINES or run.label != run.engine or run.label in skipped:
            continue
        prime_memory()
        started = time.perf_counter()
        (record,) = run_worker(run, ["large"], options, scratch)
        outcome = record.get("error") or record.get("unavailable") or "ok"
        elapsed = time.perf_counter() - started
        print(f"{run.label:<15} {'large':<12} {elapsed:6.1f} s  {outcome}", flush=True)
        if "unavailable" not in record:
            entry["runs"][run.label] = record
    compare_gradients(entry["runs"])
    return entry


def machine_info(threads, load_before):
    """CPU, cores, load and versions, read without importing any engine.

    ``load_before`` is the 1-minute load average when the run started; with
    the one at the end it shows whether other work competed for the cores.
    """
    cpu_model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for package in ("numpy", "scipy", "numba", "autograd", "jax", "jaxlib", "torch", "pcgrad"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    versions["python"] = platform.python_version()
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "worker_cores": worker_cores(threads),
        "threads": threads,
        "platform": platform.platform(),
        "versions": versions,
        "git_commit": commit or None,
        # Set on some hosts to work around old OpenBLAS bugs; it changes which
        # kernel numpy's BLAS uses, so it is part of the numpy engines' setup.
        "openblas_env": {
            key: os.environ[key]
            for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
            if key in os.environ
        },
        "load_average_1min": {"start": load_before, "end": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def main(argv=None):
    options = parse_args(argv)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]

    skipped = {}
    runs = []
    for run in planned_runs(options.engines):
        package = ENGINE_PACKAGES[run.engine]
        if importlib.util.find_spec(package) is None:
            skipped[run.label] = f"{package} is not installed"
        else:
            runs.append(run)
    for label, reason in skipped.items():
        print(f"skipping {label}: {reason}")

    workloads = build_workloads(options.quick)
    results = {
        "workloads": {
            name: {
                "description": workloads[name].description,
                "reduced": workloads[name].reduced,
                "runs": {},
            }
            for name in options.workloads
        }
    }
    forward = Run("numpy", "numpy")
    with tempfile.TemporaryDirectory(prefix="pcgrad-bench-") as scratch:
        for run, batch in worker_batches([forward, *runs], options.workloads, options.quick):
            if run.label in skipped:
                continue
            run_started = time.perf_counter()
            records = run_worker(run, batch, options, scratch)
            unavailable = [record["unavailable"] for record in records if "unavailable" in record]
            if unavailable:
                # The engine cannot run at all: no need to try further workloads.
                skipped[run.label] = unavailable[0]
                print(f"skipping {run.label}: {unavailable[0]}")
                continue
            errors = [f"{r['workload']}: {r['error']}" for r in records if "error" in r]
            outcome = "; ".join(errors) if errors else "ok"
            elapsed = time.perf_counter() - run_started
            print(f"{run.label:<15} {','.join(batch):<12} {elapsed:6.1f} s  {outcome}", flush=True)
            for record in records:
                entry = results["workloads"][record["workload"]]
                if run is forward:
                    entry["forward"] = record
                else:
                    entry["runs"][run.label] = record
        for entry in results["workloads"].values():
            compare_gradients(entry["runs"])
        if not options.no_large:
            results["large"] = run_large(runs, skipped, options, scratch)

    results["machine"] = machine_info(options.threads, load_before)
    results["settings"] = {
        **options.settings,
        "quick": options.quick,
        "process_per": "engine" if options.quick else "engine and workload",
    }
    results["skipped"] = skipped
    results["elapsed_s"] = time.perf_counter() - started
    # The gradient files lived in the scratch folder, which is gone now.
    for entry in [*results["workloads"].values(), results.get("large", {"runs": {}})]:
        for record in entry["runs"].values():
            record.pop("grad_file", None)

    print()
    print(report.text_report(results))
    os.makedirs(RESULTS_DIR, exist_ok=True)
    json_path = os.path.join(RESULTS_DIR, f"{options.output}.json")
    markdown_path = os.path.join(RESULTS_DIR, f"{options.output}.md")
    with open(json_path, "w") as out:
        json.dump(results, out, indent=1)
    with open(markdown_path, "w") as out:
        out.write(report.markdown_report(results))
    print(f"\nwrote {json_path} and {markdown_path}")
    print(f"total {results['elapsed_s']:.1f} s")


if __name__ == "__main__":
    main()
