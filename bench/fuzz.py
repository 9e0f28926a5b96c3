"""Differential fuzzing: random programs, pcgrad against autograd, with fresh seeds.

tests/test_properties.py checks the same random programs in CI on a fixed,
derandomized set of examples; this script draws as many fresh ones as asked
(default 10,000) and checks each under the sweep, jacobi and euler
schedules and compiled replay (pcgrad.jit) against autograd (against
central finite differences where autograd's gradient is not finite, as
for the product of exact zeros, where autograd divides by zero). It prints
every mismatch with a reproduction (the program, its input values and the
schedule) and, last, the number of programs and mismatches; it exits with
status 1 if there was any mismatch.

    python bench/fuzz.py                      # 10,000 programs, a fresh seed
    python bench/fuzz.py --programs 200 --seed 7
"""
import argparse
import pathlib
import random
import sys
import time
import warnings

import numpy
from hypothesis import HealthCheck, Phase, given, seed, settings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
import test_properties  # noqa: E402  (the program generator and the oracle)

import pcgrad  # noqa: E402
import pcgrad.numpy as pnp  # noqa: E402

CHECKS = {  # name -> (how to differentiate, rtol against autograd)
    "sweep": (lambda f, n: pcgrad.grad(f, argnums=tuple(range(n))), 1e-8),
    "jacobi": (lambda f, n: pcgrad.grad(f, argnums=tuple(range(n)), schedule="jacobi"), 1e-8),
    "euler": (lambda f, n: pcgrad.grad(f, argnums=tuple(range(n)), schedule="euler",
                                       eta=0.5, tol=1e-13), 1e-6),
    "jit": (lambda f, n: pcgrad.jit(pcgrad.grad(f, argnums=tuple(range(n)))), 1e-8),
}


def finite_differences(program, step=1e-6):
    """Central differences of the program run with numpy, per input."""
    f, xs = program.make(numpy), [numpy.array(x, float) for x in program.xs]
    grads = []
    for x in xs:
        g = numpy.zeros_like(x)
        for i in numpy.ndindex(x.shape):
            old = x[i]
            x[i] = old + step
            up = f(*xs)
            x[i] = old - step
            down = f(*xs)
            x[i] = old
            g[i] = (up - down) / (2 * step)
        grads.append(g)
    return grads


def check(program):
    """The mismatches of one program: (check name, what went wrong) pairs."""
    expected = test_properties.reference(program.make, program.xs)
    oracle = "autograd"
    if not all(numpy.all(numpy.isfinite(e)) for e in expected):
        expected, oracle = finite_differences(program), "finite differences"
    found = []
    for name, (transform, rtol) in CHECKS.items():
        if oracle == "finite differences":
            rtol = max(rtol, 1e-6)
        try:
            got = transform(program.make(pnp), len(program.xs))(*program.xs)
            test_properties.assert_close(got, expected, rtol)
        except Exception as error:  # every failure is a finding, whatever its kind
            found.append((name, f"against {oracle}: {type(error).__name__}: "
                                f"{str(error).strip()[:600]}"))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=None, help="default: a fresh one")
    args = parser.parse_args(argv)
    run_seed = random.SystemRandom().randrange(2 ** 32) if args.seed is None else args.seed
    counted, mismatches = [0], []

    @seed(run_seed)
    @settings(max_examples=args.programs, derandomize=False, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(test_properties.programs())
    def run(program):
        counted[0] += 1
        for name, what in check(program):
            mismatches.append((program, name, what))

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run()
    for program, name, what in mismatches:
        print(f"MISMATCH [{name}] {program!r}\n  inputs: "
              f"{[numpy.array2string(x, precision=17) for x in program.xs]}\n  {what}")
    print(f"seed {run_seed}: {counted[0]} programs, {len(mismatches)} mismatches "
          f"({time.perf_counter() - start:.0f} s)")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
