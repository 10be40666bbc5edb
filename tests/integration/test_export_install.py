"""An exported package installs alone: in a clean venv, with no Node on PATH, nb2pipe coming
from the package's own wheels/, its generated tests pass with its own pytest.  Also: the lock
comes from the kernel's environment and `run` warns on drift; a missing optional part is one
line naming the extra."""
import os
import subprocess
import sys
import zipfile

import pytest

from exportvenv import PIP_TIMEOUT, install_export, no_node_env, run_package_tests
from test_cli_run import ROOT, nb2pipe, sales  # noqa: F401 - fixtures


@pytest.fixture(scope="session")
def runtime_wheel(tmp_path_factory):
    """nb2pipe's wheel built from this checkout with no Node: the prebuilt labextension is used."""
    d = tmp_path_factory.mktemp("runtime-wheel")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(d), ROOT], env=no_node_env(None, str(d)), capture_output=True, text=True,
                       timeout=PIP_TIMEOUT)
    assert p.returncode == 0, p.stdout + p.stderr[-3000:]
    (wheel,) = d.glob("nb2pipe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith("share/jupyter/labextensions/nb2pipe/package.json") for n in names)
    return str(wheel)


@pytest.mark.timeout(1800)      # a venv filled from the index: minutes on a loaded machine
def test_exported_package_installs_alone_and_its_tests_pass(sales, runtime_wheel, clean_venv, tmp_path):
    assert nb2pipe("run", "analysis.ipynb", cwd=sales)[0] == 0
    out = tmp_path / "pkg"
    code, _, err = nb2pipe("export", "analysis.ipynb", "-o", str(out), "--runtime-wheel", runtime_wheel,
                           cwd=sales)
    assert code == 0, err
    assert [p.name for p in (out / "wheels").iterdir()] == [os.path.basename(runtime_wheel)]
    install_export(clean_venv, out, tmp_path)
    venv_python = os.path.join(clean_venv, "bin", "python")
    where = subprocess.run([venv_python, "-c", "import nb2pipe, analysis; print(nb2pipe.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert where.stdout.startswith(clean_venv), where.stdout + where.stderr
    p = run_package_tests(clean_venv, out, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "4 passed" in p.stdout
    # installed with the lock, the package's environment matches it: no drift line
    p = subprocess.run([venv_python, "-m", "analysis", "run", "--dry-run"], cwd=tmp_path,
                       env=no_node_env(clean_venv, str(tmp_path)), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "drifts" not in p.stderr


def test_lock_is_the_kernels_environment_and_run_warns_on_drift(sales, tmp_path):
    from importlib import metadata
    # production stores on S3 (nb2pipe[s3] carried from the configuration), Dask asked for
    (sales / "nb2pipe.toml").write_text('[envs.dev]\nstore = ".nb2pipe"\n\n'
                                        '[envs.prod]\nstore = "s3://bucket/sales"\n')
    out = tmp_path / "pkg"
    assert nb2pipe("export", "analysis.ipynb", "-o", str(out), "--extra", "dask", cwd=sales)[0] == 0
    lock = dict(line.strip().split("==") for line in (out / "analysis" / "requirements.lock").read_text()
                .splitlines() if line and not line.startswith("#"))
    # the steps import pandas; pandas pulls python-dateutil; the runtime needs duckdb, pyarrow, ipykernel
    for name in ("pandas", "python-dateutil", "numpy", "duckdb", "pyarrow", "ipykernel", "nbclient", "nb2pipe"):
        assert lock[name] == metadata.version(name), name
    assert "pip" not in lock
    # CI installs on the Python the lock was taken from (the kernel's: this venv's python3 kernel)
    assert f'python-version: "{sys.version_info[0]}.{sys.version_info[1]}"' in (out / ".github/workflows/ci.yml").read_text()
    pyproject = (out / "pyproject.toml").read_text()
    assert f'"pandas=={metadata.version("pandas")}"' in pyproject
    assert f'"nb2pipe[dask,s3]=={metadata.version("nb2pipe")}"' in pyproject
    for name in ("s3fs", "distributed"):       # the extras' packages are locked too
        assert lock[name] == metadata.version(name), name
    # drift: the running environment has another pandas than the lock says
    text = (out / "analysis" / "requirements.lock").read_text()
    (out / "analysis" / "requirements.lock").write_text(
        text.replace(f"pandas=={lock['pandas']}", "pandas==0.0.1") + "nb2pipe-not-a-package==1.0\n")
    code, _, err = nb2pipe("run", str(out), "--dry-run", cwd=tmp_path)
    assert code == 0, err
    drift = [line for line in err.splitlines() if "drifts from requirements.lock" in line]
    assert len(drift) == 1
    assert f"pandas 0.0.1 locked, {metadata.version('pandas')} installed" in drift[0]
    assert "nb2pipe-not-a-package 1.0 locked, not installed" in drift[0]


BLOCKER = '''import os, sys
BLOCKED = set(os.environ["NB2PIPE_TEST_BLOCK"].split(","))
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Block())
'''


def run_without(module: str, args: list[str], cwd, tmp) -> subprocess.CompletedProcess:
    """nb2pipe in this venv, with ``module`` made impossible to import (a sitecustomize)."""
    site = tmp / "block-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": str(site), "NB2PIPE_TEST_BLOCK": module}
    return subprocess.run([sys.executable, "-m", "nb2pipe", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("module,args,extra", [
    ("s3fs", ["run", "analysis.ipynb", "--store", "s3://bucket/prefix"], "s3"),
    ("distributed", ["run", "analysis.ipynb", "--executor", "dask"], "dask"),
])
def test_missing_extra_is_one_line_naming_it(sales, tmp_path, module, args, extra):
    p = run_without(module, args, sales, tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, p.stderr
    assert f"needs {module}, which is not installed here: install nb2pipe[{extra}]" in lines[0]
