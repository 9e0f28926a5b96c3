"""The release: one version, and a wheel and sdist that hold what they should and
install into a fresh virtual environment, where pcgrad runs and is typed.

The build and install tests take a minute or more (the fresh environment resolves
the dependencies from the registry and compiles the Numba kernels once); select them with
``-m packaging`` or leave them out with ``-m "not packaging"``.
"""
import email
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile

import numpy
import pytest

import pcgrad

pytestmark = pytest.mark.packaging

ROOT = pathlib.Path(__file__).resolve().parents[1]
VERSION = pcgrad.__version__
# Not part of a clean checkout: build output, caches, compiled kernels.
NOT_CHECKED_OUT = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "dist",
                                         ".mypy_cache", ".pytest_cache", ".hypothesis")
LEFT_OUT_OF_THE_WHEEL = ("tests/", "bench/", "docs/", "examples/", "experiments/")


def run(command, timeout, **kwargs):
    """Run ``command``; fail the test with its output if it fails."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, (f"{' '.join(map(str, command))} exited "
                                    f"{result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# --- one version --------------------------------------------------------------------------

def test_version_is_the_installed_distributions_version():
    assert pcgrad.__version__ == importlib.metadata.version("pcgrad")


def test_version_number_is_written_in_one_file():
    files = [ROOT / "pyproject.toml", *sorted((ROOT / "pcgrad").rglob("*.py"))]
    holders = [f.relative_to(ROOT).as_posix() for f in files
               if f'"{VERSION}"' in f.read_text() or f"'{VERSION}'" in f.read_text()]
    assert holders == ["pcgrad/_version.py"]


# --- the built wheel and sdist ------------------------------------------------------------

@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist and the wheel ``python -m build`` makes from a copy of the checkout
    (the wheel is built from the sdist, so the sdist must be complete)."""
    source = tmp_path_factory.mktemp("checkout") / "pcgrad"
    shutil.copytree(ROOT, source, ignore=NOT_CHECKED_OUT)
    out = tmp_path_factory.mktemp("dist")
    # --skip-dependency-check: this environment is the build's (no isolation), so
    # asking the backend for its requirements to check them costs two processes
    run([sys.executable, "-m", "build", "--no-isolation", "--skip-dependency-check",
         "--outdir", out, source], 600)
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert [w.name for w in wheels] == [f"pcgrad-{VERSION}-py3-none-any.whl"]
    assert [s.name for s in sdists] == [f"pcgrad-{VERSION}.tar.gz"]
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module")
def wheel_files(dist):
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        return {name: wheel.read(name) for name in wheel.namelist()}


def metadata_of(wheel_files):
    """The wheel's core metadata (METADATA is UTF-8, its body the README)."""
    return email.message_from_string(
        wheel_files[f"pcgrad-{VERSION}.dist-info/METADATA"].decode("utf-8"))


def test_wheel_holds_the_package_and_its_metadata_only(wheel_files):
    dist_info = f"pcgrad-{VERSION}.dist-info/"
    outside = [n for n in wheel_files if not n.startswith(("pcgrad/", dist_info))]
    assert outside == []
    left_out = [n for n in wheel_files if n.startswith(LEFT_OUT_OF_THE_WHEEL)
                or "/results/" in n or n.endswith((".nbi", ".nbc", ".pyc"))]
    assert left_out == []


def package_modules():
    """The checkout's modules (not Numba's cache in __pycache__, which holds
    pcgrad.jit's generated fused replays)."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "pcgrad").rglob("*.py")
            if "__pycache__" not in p.parts}


def test_wheel_has_every_module_of_the_checkout(wheel_files):
    checkout = package_modules()
    in_wheel = {n for n in wheel_files if n.endswith(".py")}
    assert in_wheel == checkout


def test_wheel_ships_py_typed(wheel_files):
    assert "pcgrad/py.typed" in wheel_files


def test_wheel_carries_the_license(wheel_files):
    licenses = {n: text for n, text in wheel_files.items()
                if n.startswith(f"pcgrad-{VERSION}.dist-info/") and n.endswith("/LICENSE")}
    assert list(licenses.values()) == [(ROOT / "LICENSE").read_bytes()]
    metadata = metadata_of(wheel_files)
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]


def test_wheel_metadata_has_the_version_and_the_readme(wheel_files):
    metadata = metadata_of(wheel_files)
    assert metadata["Version"] == VERSION
    assert metadata["Description-Content-Type"] == "text/markdown"
    readme = (ROOT / "README.md").read_text()
    assert metadata.get_payload().strip() == readme.strip()


def test_wheel_metadata_offers_the_all_extra_without_the_benchmark_engines(wheel_files):
    metadata = metadata_of(wheel_files)
    assert {"viz", "docs", "experiments", "distributed", "all", "test", "bench"} <= set(
        metadata.get_all("Provides-Extra"))
    requires_all = [r for r in metadata.get_all("Requires-Dist") if 'extra == "all"' in r]
    assert len(requires_all) == 1 and "jax" not in requires_all[0]
    for extra in ("viz", "docs", "experiments", "distributed"):
        assert extra in requires_all[0].split(";")[0]


@pytest.fixture(scope="module")
def sdist_files(dist):
    """The sdist's file names, without the leading "pcgrad-<version>/"."""
    with tarfile.open(dist["sdist"]) as sdist:
        return {m.name.split("/", 1)[1] for m in sdist.getmembers() if m.isfile()}


def test_sdist_holds_the_license_readme_pyproject_and_package(sdist_files):
    package = package_modules()
    assert {"LICENSE", "README.md", "pyproject.toml", "pcgrad/py.typed"} | package <= sdist_files


def test_sdist_holds_the_whole_test_suite(sdist_files):
    tests = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("*.py")}
    assert tests <= sdist_files


def test_sdist_leaves_out_benchmark_results_and_compiled_files(sdist_files):
    assert [n for n in sdist_files if n.startswith("bench/results/")
            or n.endswith((".nbi", ".nbc", ".pyc"))] == []


# --- the wheel installed into a fresh virtual environment ---------------------------------

@pytest.fixture(scope="module")
def fresh_python(dist, tmp_path_factory):
    """The python of a new virtual environment (no system site packages) with the
    wheel installed, its dependencies resolved from the package registry; removed
    after the tests (it holds hundreds of megabytes). uv makes it where it is on
    PATH or beside this python (.ci/run installs it): the same requirements from
    the same registry, but linked from uv's cache in seconds, where venv and pip
    take half a minute."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    python = venv / "bin" / "python"
    uv = shutil.which("uv", path=os.pathsep.join(
        [str(pathlib.Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if uv:
        run([uv, "venv", "--quiet", "--python", sys.executable, venv], 300, env=outside_env())
        run([uv, "pip", "install", "--quiet", "--python", python, dist["wheel"]], 900,
            env=outside_env())
    else:
        run([sys.executable, "-m", "venv", venv], 300)
        run([python, "-m", "pip", "install", "--quiet", dist["wheel"]], 900,
            env=outside_env())
    yield python
    shutil.rmtree(venv)


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory):
    """A working directory outside the checkout."""
    return tmp_path_factory.mktemp("elsewhere")


def outside_env():
    """This environment without anything that points Python at the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def new_users_env():
    """outside_env() as a new user's Python has it, writing bytecode: uv installs
    none (pip compiles all of it), so the first process in the fresh environment
    compiles what it imports and the later ones reuse that."""
    return {k: v for k, v in outside_env().items() if k != "PYTHONDONTWRITEBYTECODE"}


def test_installed_wheel_runs_the_demo(fresh_python, elsewhere):
    # The first call in a fresh environment compiles the Numba kernels.
    out = run([fresh_python, "-m", "pcgrad"], 900, cwd=elsewhere, env=new_users_env())
    assert "converged=True" in out


def test_installed_wheel_computes_a_gradient(fresh_python, elsewhere):
    script = textwrap.dedent("""
        import importlib.metadata, importlib.util, json
        import numpy, pcgrad, pcgrad.numpy as np
        x = numpy.array([0.3, -1.2, 2.0])
        g = pcgrad.grad(lambda x: np.sum(np.sin(x) * x))(x)
        print(json.dumps({"file": pcgrad.__file__, "version": pcgrad.__version__,
                          "metadata": importlib.metadata.version("pcgrad"),
                          "sees_pytest": importlib.util.find_spec("pytest") is not None,
                          "grad": g.tolist()}))
    """)
    found = json.loads(run([fresh_python, "-c", script], 900, cwd=elsewhere,
                           env=new_users_env()).splitlines()[-1])
    venv = fresh_python.parent.parent
    assert pathlib.Path(found["file"]).is_relative_to(venv)
    assert not found["sees_pytest"]  # no system site packages
    assert found["version"] == found["metadata"] == VERSION
    x = numpy.array([0.3, -1.2, 2.0])
    numpy.testing.assert_allclose(found["grad"], numpy.sin(x) + x * numpy.cos(x), rtol=1e-12)


def test_installed_wheel_is_typed(fresh_python, elsewhere):
    # mypy reads the installed package's hints (py.typed): misuse is reported.
    (elsewhere / "use.py").write_text("import numpy\nimport pcgrad\n\n"
                                      "pcgrad.grad(lambda x: x, argnums='0')\n")
    # no cache folder: --no-incremental reads none, and writing one costs a second
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-executable", fresh_python, "--no-incremental",
         "--cache-dir", os.devnull, "--ignore-missing-imports", "use.py"],
        capture_output=True, text=True, timeout=300, cwd=elsewhere, env=outside_env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert ('use.py:4: error: Argument "argnums" to "grad" has incompatible type "str"'
            in result.stdout), result.stdout
