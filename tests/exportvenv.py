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


class VenvPool:
    """Clean venvs for many exported packages, one per distinct set of requirements: a package
    goes into the venv of the packages whose pyproject dependencies and lock are the same as its
    own, so what it finds installed is exactly what installing it alone would give (a missing
    dependency is not hidden by another package's), and the third-party wheels are unpacked once
    per set instead of once per package."""

    def __init__(self, folder):
        self.folder = folder
        self.venvs: dict[str, str] = {}

    @staticmethod
    def requirements(out) -> str:
        """What decides the installed set: the package's dependencies and its lock, without the
        package's own name and version."""
        import hashlib
        import re
        text = (out / "pyproject.toml").read_text()
        deps = re.search(r"^dependencies = \[\n(.*?)^\]", text, re.M | re.S).group(1)
        lock = next(out.glob("*/requirements.lock")).read_text()
        lock = "\n".join(line for line in lock.splitlines() if not line.startswith("#"))
        return hashlib.sha256((deps + "\n--\n" + lock).encode()).hexdigest()[:16]

    def install(self, out, tmp) -> str:
        """Install the package at ``out`` as its README says; returns the venv it is in."""
        key = self.requirements(out)
        if key not in self.venvs:
            self.venvs[key] = make_clean_venv(os.path.join(str(self.folder), key))
        install_export(self.venvs[key], out, tmp)
        return self.venvs[key]
