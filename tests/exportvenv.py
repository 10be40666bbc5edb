"""A clean venv where exported packages are installed as their README says, with no Node on
PATH (tests/integration/test_export_install.py, tests/notebooks/test_real.py)."""
import os
import shutil
import subprocess
import sys

PIP_TIMEOUT = 1500


def no_node_env(venv: str | None, tmp: str) -> dict:
    """The environment of a user without Node: PATH holds only the venv and an empty folder."""
    empty = os.path.join(tmp, "empty-bin")
    os.makedirs(empty, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(([os.path.join(venv, "bin")] if venv else []) + [empty])
    assert shutil.which("node", path=env["PATH"]) is None
    return env


def make_clean_venv(folder: str) -> str:
    """A venv with nothing installed (this Python's pip installs into it with --python)."""
    d = os.path.join(folder, "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", d], check=True, timeout=300)
    return d


def install_export(venv: str, out, tmp) -> None:
    """What the package's README says, from the package folder alone (pip may fetch third-party
    packages from the index; nb2pipe comes from wheels/)."""
    pkg = next(p.parent.name for p in out.glob("*/requirements.lock"))
    p = subprocess.run([sys.executable, "-m", "pip", "--python", os.path.join(venv, "bin", "python"),
                        "install", "-q", "--no-compile", "--find-links", "wheels/",
                        "-c", f"{pkg}/requirements.lock", ".[test]"],
                       cwd=out, env=no_node_env(venv, str(tmp)), capture_output=True, text=True,
                       timeout=PIP_TIMEOUT)
    assert p.returncode == 0, p.stdout + p.stderr[-3000:]


def run_package_tests(venv: str, out, tmp) -> subprocess.CompletedProcess:
    """The package's generated tests, with the venv's own pytest."""
    work = tmp / "package-tests"
    work.mkdir(exist_ok=True)
    return subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(out / "tests")], cwd=work, env=no_node_env(venv, str(tmp)),
                          capture_output=True, text=True, timeout=1800)
