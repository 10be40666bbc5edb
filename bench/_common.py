"""Helpers shared by bench/chains.py and bench/dataplane.py.

Kernels started by the benchmarks' subprocesses (nb2pipe's runner, nbclient, papermill)
talk over unix sockets, never TCP: ``isolated_env`` puts a ``sitecustomize`` on
PYTHONPATH that makes every ``jupyter_client`` KernelManager default to
``transport="ipc"`` with an absolute socket prefix in a scratch directory, and turns off
ipykernel's 127.0.0.1 IOPub pipe (it only forwards output of forked subprocesses).  The
hooks are lazy (they act only when those modules are imported), so they cost the
subprocesses nothing measurable.  Nothing is bound to any network interface.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = os.path.join(ROOT, ".venv", "bin", "python")
if not os.path.exists(PY):
    PY = sys.executable
perf = time.perf_counter

SITECUSTOMIZE = r'''
# nothing heavy is imported here: this runs at every interpreter start-up
import os
import sys

_DIR = os.environ.get("NB2BENCH_IPC_DIR")


def _ipc_kernel_managers(module):
    # the client side (nb2pipe's runner, nbclient, papermill): kernels over unix sockets
    init = module.KernelManager.__init__

    def __init__(self, *a, **kw):
        kw.setdefault("transport", "ipc")
        if kw["transport"] == "ipc":
            import uuid
            kw.setdefault("ip", os.path.join(_DIR, uuid.uuid4().hex[:10]))
        init(self, *a, **kw)
    module.KernelManager.__init__ = __init__


def _no_iopub_tcp_pipe(module):
    # the kernel side: ipykernel binds a 127.0.0.1 TCP port to forward output of forked
    # subprocesses; the benchmarks fork none, so that pipe is turned off
    init = module.IOPubThread.__init__

    def __init__(self, socket, pipe=False, session=False):
        init(self, socket, pipe=False, session=session)
    module.IOPubThread.__init__ = __init__


_PATCHES = {"jupyter_client.manager": _ipc_kernel_managers, "ipykernel.iostream": _no_iopub_tcp_pipe}


class _Patcher:
    """A meta path finder (duck-typed: importing importlib.abc would cost ~50 ms here)."""

    def find_spec(self, name, path=None, target=None):
        patch = _PATCHES.pop(name, None)
        if patch is None:
            return None
        if not _PATCHES:
            sys.meta_path.remove(self)
        import importlib.util
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            patch(module)
        spec.loader.exec_module = exec_module
        return spec


if _DIR:
    sys.meta_path.insert(0, _Patcher())
'''


def compiled(src: str) -> str:
    """``src`` with the bytecode of every module written, as ``pip install`` leaves a package
    (the environments the benchmarks compare were installed by pip).  Without it, where
    PYTHONDONTWRITEBYTECODE is set (this machine's shells set it), every nb2pipe process and
    kernel compiled nb2pipe's modules again: ~60 ms of a no-op run."""
    import compileall
    compileall.compile_dir(src, quiet=1)
    return src


def isolated_env(tmp: str) -> dict:
    """Environment for benchmark subprocesses: IPC kernels, scratch Jupyter/IPython dirs;
    bytecode written as usual (PYTHONDONTWRITEBYTECODE dropped: see :func:`compiled`)."""
    site = os.path.join(tmp, "site")
    ipc = os.path.join(tmp, "ipc")
    for d in (site, ipc, os.path.join(tmp, "rt"), os.path.join(tmp, "ipython")):
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(site, "sitecustomize.py"), "w") as f:
        f.write(SITECUSTOMIZE)
    env = {k: v for k, v in os.environ.items()
           if k not in ("NB2PIPE_STORE", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    env.update({"PYTHONPATH": site, "NB2BENCH_IPC_DIR": ipc,
                "JUPYTER_RUNTIME_DIR": os.path.join(tmp, "rt"),
                "IPYTHONDIR": os.path.join(tmp, "ipython"),
                "NB2PIPE_PROGRESS": "text", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "2")})
    return env


def timed(cmd: list[str], *, cwd: str, env: dict, timeout: float = 900) -> tuple[float, str]:
    """Wall time of a subprocess (start-up included); raises with its stderr on failure."""
    t = perf()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    dt = perf() - t
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}… exited {p.returncode}:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    return dt, p.stdout


def stats(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"median": round(statistics.median(s), 4), "min": round(s[0], 4), "max": round(s[-1], 4),
            "n": len(s), "samples": [round(x, 4) for x in samples]}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def versions() -> dict:
    from importlib import metadata
    out = {}
    for m in ("nb2pipe", "pandas", "pyarrow", "duckdb", "xxhash", "nbclient", "nbformat", "papermill",
              "ipykernel", "jupyter_client"):
        try:
            out[m] = metadata.version(m)
        except Exception:  # noqa: BLE001
            out[m] = None
    return out


def machine() -> dict:
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(next(int(ln.split()[1]) for ln in f if ln.startswith("MemTotal")) / 2**20, 1)
    except OSError:
        pass
    def git(*args):
        try:
            return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True,
                                  timeout=10).stdout.strip() or None
        except Exception:  # noqa: BLE001
            return None
    dirty = git("status", "--porcelain", "--", "src")
    return {"cpu_count": os.cpu_count(), "mem_gib": mem, "python": sys.version.split()[0],
            "versions": versions(), "git_commit": git("rev-parse", "HEAD"),
            "src_uncommitted": dirty.splitlines() if dirty else [],
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def section_main(run, doc: str, quick_help: str, section: str, argv: list[str] | None = None) -> int:
    """The command line every bench section module shares: ``[--quick] [--out FILE]``."""
    import argparse
    import json
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--out", help=f"write the JSON here (bench/run.py --only {section} puts it in results.json)")
    a = p.parse_args(argv)
    res = run(a.quick)
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(res, fh, indent=1)
        log(f"wrote {a.out}")
    for t in res.get("targets", []):
        mark = {True: "MET ", False: "MISS", None: "INFO"}[t["met"]]
        log(f"{mark} {t['target']}: {t['value']} {t['unit']}")
    return 0
