"""Starting a headless run's kernel before the run is planned.

A local kernel takes about 0.25 s to boot, and the command spends about 0.1 s importing the
engine and planning before it knows whether any step is stale.  When the notebook file or
the run's options differ from those of the last complete run of this notebook in this
store, this run very likely has steps to run: the kernel is started at once (without
jupyter_client, see :mod:`.launch`) and boots while the command plans.  When the plan then
finds nothing to run, that kernel, never connected, is stopped at once.

The guess only decides *when* the kernel starts, never what runs: a wrong "unchanged" starts
the kernel after planning, as before; a wrong "changed" costs a process start.  What the
last run saw is kept, as a hash, in ``index/<notebook>.last-run`` of a local store.  A store
that is not plainly a local folder (a remote one, or one an environment chooses) gets no
early start: its kernel starts after planning, as before.
"""
from __future__ import annotations

import hashlib
import json
import os

from ..entries import pipeline_slug

RUN_OPTIONS = ("param", "params", "only", "from", "force", "env", "kernel", "store", "executor")


def _rel(pipeline: str) -> str:
    return f"index/{pipeline_slug(pipeline)}.last-run"


def signature(args, path: str) -> str | None:
    """A hash of the notebook file's identity (size, mtime, inode) and of the options that
    change a plan; None when the file cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    options = {k: getattr(args, k, None) for k in RUN_OPTIONS}
    text = json.dumps([st.st_size, st.st_mtime_ns, st.st_ino, options], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()    # -p values may be secrets: only a hash is kept


def _local(store) -> bool:
    from ..store_backends import _LocalBackend
    return isinstance(store.backend, _LocalBackend)


def local_store_root(args, nb) -> str | None:
    """The folder of the run's store, found without importing the store (~30 ms of imports
    the kernel boots through instead) when it is plainly a local folder: ``--store PATH``,
    ``$NB2PIPE_STORE``, the configuration's ``store`` or ``.nb2pipe/`` beside the notebook.
    None where an environment (or an exported package's folder) decides, or for a remote
    store: the run then opens its store first, as ``projectstore.project_store`` does."""
    from ..config import find_config, store_origin
    if getattr(args, "env", None) or os.environ.get("NB2PIPE_ENV") or nb.manifest:
        return None
    location = getattr(args, "store", None)
    if not location:
        found = find_config(nb.project_dir)
        if found and found[1].get("envs"):
            return None
        location = store_origin(nb.project_dir, None)[0]
    if location.startswith("file://"):
        location = location[len("file://"):]
    elif "://" in location:
        return None
    return os.path.abspath(location)


def likely_stale(root: str | None, pipeline: str, sig: str | None) -> bool:
    """Whether this run probably has steps to run (see the module's text); ``root``: the
    folder of a local store (None: not known to be local)."""
    if sig is None or root is None:
        return True
    try:
        with open(os.path.join(root, _rel(pipeline)), "rb") as f:
            seen = f.read()
    except OSError:
        return True
    return seen.decode("utf-8", "replace") != sig


def remember(store, pipeline: str, sig: str | None, complete: bool) -> None:
    """After a run: what it saw, when every step it selected is up to date (else a next run
    has work again, so the mark is cleared).  Failing to write it changes nothing but the
    next run's start."""
    if sig is None or getattr(store, "read_only", False) or not _local(store):
        return
    try:
        store.backend.rewrite_bytes(_rel(pipeline), (sig if complete else "").encode("utf-8"))
    except OSError:
        pass


def start(args, nb, root: str | None, sig: str | None):
    """The kernel of a local headless run, started now if the run likely has work; else None
    (the run starts it after planning, if it needs one).  ``root``: :func:`local_store_root`
    (None: the store is not known yet, nothing is started); ``sig``: :func:`signature`.  The
    caller checks that the store it then opens is this one (:func:`matches`)."""
    if (root is None or args.dry_run or getattr(args, "watch", False)
            or args.executor in ("dask", "remote") or getattr(args, "gateway_url", None)):
        return None
    if not (args.force or likely_stale(root, nb.pipeline, sig)):
        return None
    from .kernel import local_session
    return local_session(args.kernel or nb.kernel_name, nb.project_dir, root).spawn(direct_only=True)


def matches(session, store) -> bool:
    """Was ``session``'s kernel given the store the run opened?"""
    return session.env.get("NB2PIPE_STORE") == store.url
