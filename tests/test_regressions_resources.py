"""Per-thread buffers are bounded: one huge call does not hold its memory for
the rest of the thread's life (issue 9, item 8)."""
import subprocess
import sys
import textwrap

import numpy
import pytest

import pcgrad
import pcgrad.numpy as np
from pcgrad import plan

# Run in a fresh interpreter so that other tests' allocations do not disturb it.
SCRIPT = textwrap.dedent("""
    import os
    import sys
    import numpy
    import pcgrad
    import pcgrad.numpy as np

    def resident():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def f(x):  # a plan whose size does not grow with the arrays
        return np.sum(np.tanh(x) * x + np.sin(x) ** 2)

    transforms = [pcgrad.grad(f), pcgrad.grad(f, schedule="jacobi"),
                  pcgrad.value_and_grad(f)]
    sizes = [1 + (37 * k) % 3000 for k in range(25)]  # 25 structures, all warm by call 100
    huge = range(5_000, 5_000 + int(sys.argv[1]))  # the calls at the huge size
    for call in range(10_000):
        if call == 100:
            base = resident()
        # huge: 40 MB per array, above glibc's largest mmap threshold (32 MiB), so
        # that freed arrays go back to the system rather than to malloc's heap
        n = 5_000_000 if call in huge else sizes[call % len(sizes)]
        transforms[call % len(transforms)](numpy.linspace(-1.0, 1.0, n))
        if call == huge[-1]:
            after_huge = resident()
    print(base, after_huge, resident())
""")


def _resident_after(huge_calls):
    """(resident bytes after 100 calls, after the huge calls, after 10,000 calls)."""
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(huge_calls)], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return map(int, out.split())


def test_resident_memory_returns_to_its_level_after_huge_calls():
    base, after_huge, end = _resident_after(2)  # a size that comes again is pooled
    assert after_huge > base + 100e6  # the huge calls' buffers were resident
    assert end <= 1.10 * base, f"resident {base / 1e6:.0f} MB after 100 calls, " \
                               f"{end / 1e6:.0f} MB after 10,000"


def test_a_single_huge_call_leaves_no_buffers_resident():
    base, after_huge, _ = _resident_after(1)
    assert after_huge < base + 20e6, f"resident {base / 1e6:.0f} MB before the huge call, " \
                                     f"{after_huge / 1e6:.0f} MB after it"


def test_a_scratch_buffer_shrinks_after_a_window_of_much_smaller_requests():
    plan.scratch("test-shrink", 1_000_000)
    for _ in range(2 * plan.SCRATCH_WINDOW):  # a whole window without the large request
        small = plan.scratch("test-shrink", 100)
    assert small.base.size < 1_000_000 and small.size == 100


def test_the_last_structure_holds_no_values():
    x = numpy.linspace(-1.0, 1.0, 1000)
    pcgrad.grad(lambda x: np.sum(np.sin(x) ** 2))(x)
    held = plan._scratch.last
    arrays = [item for part in held[0] for item in (part if isinstance(part, list) else [part])
              if isinstance(item, numpy.ndarray)]
    assert arrays == []


def test_large_array_params_are_not_held_by_the_last_structure():
    index = numpy.arange(0, 4 * plan.LAST_ARRAY_BYTES // 8, 2)  # twice the bound in bytes
    x = numpy.ones(index[-1] + 1)
    g = pcgrad.grad(lambda x: np.sum(x[index] ** 2))(x)
    assert plan._scratch.last is None
    expected = numpy.zeros_like(x)
    expected[index] = 2.0
    numpy.testing.assert_array_equal(g, expected)


@pytest.mark.parametrize("n", [10, 20])
def test_gradients_stay_right_while_buffers_shrink_and_grow(n):
    grad = pcgrad.grad(lambda x: np.sum(np.tanh(x) ** 2))
    for size in [n, 50_000] + [n] * (2 * plan.SCRATCH_WINDOW) + [3 * n]:
        x = numpy.linspace(-2.0, 2.0, size)
        numpy.testing.assert_allclose(grad(x), 2 * numpy.tanh(x) / numpy.cosh(x) ** 2,
                                      rtol=1e-12, atol=1e-15)


def test_beyond_the_idle_budget_a_structure_unused_for_a_window_of_lookups_is_dropped(
        monkeypatch):
    monkeypatch.setattr(plan, "IDLE_BYTES", 0)
    pcgrad.grad(lambda x: np.sum(x[::2] ** 3))(numpy.ones(2001))
    entry = next(reversed(plan._cache.entries.values()))
    others = [pcgrad.grad(lambda x: np.sum(np.sin(x))), pcgrad.grad(lambda x: np.sum(x * x))]
    for k in range(plan.CACHE_WINDOW):
        others[k % 2](numpy.ones(7))  # alternating: every call looks its structure up
    assert entry.cached
    others[0](numpy.ones(7))
    others[1](numpy.ones(7))
    assert not entry.cached
