"""First-call cost: what a new user waits for before the first gradient.

Each case runs in a fresh Python process pinned to one core (BLAS threads 1)
with its own Numba cache folder:

* fresh: an empty cache (a fresh install). Times ``import pcgrad``, the
  README's first ``pcgrad.grad`` call (the MLP loss, schedule "sweep"), then
  what the first use of each further schedule and of ``pcgrad.jit`` adds, and
  the compile of a fused ``pcgrad.jit`` replay (``fuse=True``) of a 50-step
  scalar chain (with the default ``fuse="auto"`` this compile runs in the
  background after three unfused calls).
* warm: a new process on the cache the fresh case left. Times
  ``import numpy, numba`` alone and then ``import pcgrad`` plus the first grad
  (the fastest of WARM_RUNS processes: a second or so each, on a host that
  may be busy).
* precompile: an empty cache; ``pcgrad.precompile()`` of every kernel.

The package is byte-compiled first, as pip does when it installs one.

    python bench/first_call.py            # writes bench/results/first_call.{json,md}
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WARM_RUNS = 5

SETUP = """
import time
start = time.perf_counter()
import numpy, numba
numba_imported = time.perf_counter()
import pcgrad
import pcgrad.numpy as np
imported = time.perf_counter()

def loss(params, x, y):
    W1, b1, W2 = params
    h = np.tanh(x @ W1 + b1)
    logits = h @ W2
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(y * logp, axis=1))

rng = numpy.random.default_rng(0)
params = (rng.standard_normal((4, 8)), numpy.zeros(8), rng.standard_normal((8, 3)))
x, y = rng.standard_normal((5, 4)), numpy.eye(3)[[0, 2, 1, 1, 0]]
pcgrad.grad(loss)(params, x, y)
first = time.perf_counter()
times = {"import numpy, numba": numba_imported - start, "import pcgrad": imported - numba_imported,
         "first grad (sweep)": first - imported}
"""

FRESH = SETUP + """
import warnings
warnings.simplefilter("ignore")

def chain(x):
    for _ in range(50):
        x = np.sin(x) * 1.01 + 0.1 * x ** 2
    return np.sum(x)
further = {
    "jacobi": lambda: pcgrad.grad(loss, schedule="jacobi")(params, x, y),
    "euler": lambda: pcgrad.grad(loss, schedule="euler")(params, x, y),
    "strict": lambda: pcgrad.grad(loss, schedule="strict", units="marked", eta=0.01,
                                  max_iters=200, on_nonconvergence="warn")(params, x, y),
    "pcgrad.jit": lambda: pcgrad.jit(pcgrad.grad(loss))(params, x, y),
    "pcgrad.jit fused (50-step chain)": lambda: pcgrad.jit(pcgrad.grad(chain), fuse=True)(
        0.01 * numpy.arange(10.0)),
}
for name, call in further.items():
    begin = time.perf_counter()
    call()
    times[f"+ first {name}"] = time.perf_counter() - begin
print(json.dumps(times))
"""

WARM = SETUP + "print(json.dumps(times))\n"

PRECOMPILE = """
import json, time
start = time.perf_counter()
import pcgrad
imported = time.perf_counter()
count = pcgrad.precompile(progress=False)
print(json.dumps({"import pcgrad": imported - start, "precompile()": time.perf_counter() - imported,
                  "items compiled": count}))
"""


def environment(cache):
    """A fresh process's environment: Numba's cache in ``cache``; Python's
    bytecode written and read next to the sources even where
    PYTHONDONTWRITEBYTECODE is set (an installed package has its .pyc files,
    as numpy's and numba's have)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run(code, cache, core):
    env = environment(cache)
    command = [sys.executable, "-c", "import json\n" + textwrap.dedent(code)]
    if hasattr(os, "sched_setaffinity"):
        command = ["taskset", "-c", str(core)] + command
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600,
                            cwd=tempfile.gettempdir())
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    core = sorted(os.sched_getaffinity(0))[-1]
    with tempfile.TemporaryDirectory() as folder:
        cache = pathlib.Path(folder) / "fresh"
        # byte-compile the package first, as pip does when it installs one
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "pcgrad")],
                       env=environment(cache), check=True)
        fresh = run(FRESH, cache, core)
        warm = min((run(WARM, cache, core) for _ in range(WARM_RUNS)),
                   key=lambda times: times["import pcgrad"] + times["first grad (sweep)"])
        precompiled = run(PRECOMPILE, pathlib.Path(folder) / "precompile", core)
    results = {"fresh": fresh, "warm": warm, "precompile": precompiled}
    lines = ["# First-call cost", "",
             "Fresh processes pinned to one core, BLAS threads 1 "
             "(`python bench/first_call.py`). Seconds.", "",
             "| case | step | seconds |", "|---|---|---|"]
    for case, times in results.items():
        for step, seconds in times.items():
            shown = f"{seconds:.2f}" if isinstance(seconds, float) else str(seconds)
            lines.append(f"| {case} | {step} | {shown} |")
    fresh_total = fresh["import pcgrad"] + fresh["first grad (sweep)"]
    warm_total = warm["import pcgrad"] + warm["first grad (sweep)"]
    lines += ["", f"Fresh install, import pcgrad + first grad: {fresh_total:.2f} s; warm cache, "
              f"beyond `import numpy, numba`: {warm_total:.2f} s."]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "first_call.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "first_call.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
