"""An exported package run against a data root: the source files its steps read resolve under
``--data-root DIR``, ``$NB2PIPE_DATA_ROOT`` or the ``data_root`` of the environment the run uses
(nb2pipe.toml), instead of the copy the package may carry.

The run happens in a run folder (``.nb2pipe-run/<package>-<tag>/`` in the working directory) that
links the package's files and, at each source path the manifest lists, the file of the same
relative path under the data root.  Steps read ``data/x.csv`` as in the lab; keys hash file
contents, so the same data gives the same keys as the lab's.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid

from .errors import Nb2pipeError

RUN_DIR = ".nb2pipe-run"


def _link(src: str, dst: str) -> None:
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.symlink(src, dst)


def prepare(pkg_dir: str, data_root: str, work: str) -> str:
    """The run folder for ``pkg_dir`` with its sources under ``data_root``; returns its path."""
    if "://" in data_root:
        raise Nb2pipeError(f"--data-root {data_root}: only a local folder is supported as a data root",
                           fix="mount or sync the data to a folder and give that folder")
    root = os.path.abspath(data_root)
    if not os.path.isdir(root):
        raise Nb2pipeError(f"--data-root {data_root} is not a folder", fix="give the folder the sources are under")
    with open(os.path.join(pkg_dir, "manifest.json"), encoding="utf-8") as f:
        man = json.load(f)
    sources = [s["path"] for s in man.get("sources", [])]
    missing = [s for s in sources if not os.path.isfile(os.path.join(root, s))]
    if missing:
        raise Nb2pipeError(f"the data root {root} lacks {len(missing)} source file(s) the pipeline"
                           f" reads: {', '.join(missing[:5])}",
                           fix="give the folder that holds them at these relative paths")
    files = sorted(os.path.relpath(os.path.join(d, f), pkg_dir).replace(os.sep, "/")
                   for d, dirs, fs in os.walk(pkg_dir) if "__pycache__" not in d.split(os.sep) for f in fs)
    files = [f for f in files if f not in sources]
    # one folder per (package, its files, data root): concurrent runs (Airflow tasks on one
    # worker) share it; it is built aside and renamed into place, never rebuilt under a run
    tag = hashlib.sha256(json.dumps([man.get("version"), os.path.abspath(pkg_dir), files, root]).encode())
    run = os.path.join(os.path.abspath(work), RUN_DIR,
                       f"{os.path.basename(os.path.normpath(pkg_dir))}-{tag.hexdigest()[:12]}")
    if os.path.isdir(run):
        return run
    final, run = run, f"{run}.{uuid.uuid4().hex}.tmp"
    for rel in files:
        _link(os.path.join(pkg_dir, rel), os.path.join(run, rel))
    for s in sources:
        _link(os.path.join(root, s), os.path.join(run, s))
    os.makedirs(run, exist_ok=True)
    try:
        os.rename(run, final)
    except OSError:             # another run put it in place first: use that one
        shutil.rmtree(run, ignore_errors=True)
    return final


def _option(argv: list[str], name: str) -> tuple[str | None, list[str]]:
    """(value of ``name VALUE`` / ``name=VALUE``, argv without it)."""
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1], argv[:i] + argv[i + 2:]
        if a.startswith(name + "="):
            return a.split("=", 1)[1], argv[:i] + argv[i + 1:]
    return None, argv


def target_for(pkg_dir: str, argv: list[str], cwd: str, environ=os.environ) -> tuple[str, list[str]]:
    """(folder nb2pipe runs the package from, argv without --data-root): the package itself, or
    a run folder on the data root (``--data-root``, else ``$NB2PIPE_DATA_ROOT``, else the
    ``data_root`` of the environment: ``--env``, ``$NB2PIPE_ENV`` or the default)."""
    root, argv = _option(argv, "--data-root")
    root = root or environ.get("NB2PIPE_DATA_ROOT")
    if not root:
        from . import environments
        env = environments.get(cwd, _option(argv, "--env")[0])
        root = env.data_root if env else None
    return (prepare(pkg_dir, root, cwd) if root else pkg_dir), argv
