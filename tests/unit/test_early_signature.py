"""What tells a run that its notebook or options changed since the last complete run
(nb2pipe.runner.early): the kernel is then started before the plan."""
import argparse
import os

import pytest

from nb2pipe.runner import early
from nb2pipe.store import Store


def _args(**kw):
    base = dict(param=[], params=[], only=[], force=False, env=None, kernel=None, store=None,
                executor="local")
    base.update(kw)
    ns = argparse.Namespace(**base)
    setattr(ns, "from", kw.get("from_", []))
    return ns


def test_the_signature_follows_the_file_and_the_options(tmp_path):
    nb = tmp_path / "p.ipynb"
    nb.write_text("{}")
    sig = early.signature(_args(), str(nb))
    assert sig == early.signature(_args(), str(nb))
    assert sig != early.signature(_args(param=["n=2"]), str(nb))
    assert sig != early.signature(_args(only=["a"]), str(nb))
    assert sig != early.signature(_args(from_=["a"]), str(nb))
    st = os.stat(nb)
    os.utime(nb, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))      # saved again
    assert sig != early.signature(_args(), str(nb))
    assert early.signature(_args(), str(tmp_path / "missing.ipynb")) is None


def test_a_complete_run_is_remembered_and_anything_else_is_not(tmp_path):
    store = Store(str(tmp_path / "store"))
    root = store.url
    assert early.likely_stale(root, "p.ipynb", "S1")               # never run
    early.remember(store, "p.ipynb", "S1", complete=True)
    assert not early.likely_stale(root, "p.ipynb", "S1")
    assert early.likely_stale(root, "p.ipynb", "S2")              # another file or options
    assert early.likely_stale(root, "q.ipynb", "S1")              # another notebook
    early.remember(store, "p.ipynb", "S1", complete=False)         # a run with a failed step
    assert early.likely_stale(root, "p.ipynb", "S1")
    assert early.likely_stale(root, "p.ipynb", None)
    assert early.likely_stale(None, "p.ipynb", "S1")               # the store is not known to be local


def test_a_store_that_is_not_local_keeps_no_mark(tmp_path):
    store = Store("memory://early-guess")
    early.remember(store, "p.ipynb", "S1", complete=True)
    assert store.backend.read_bytes("index/p.last-run") is None


NB = {"cells": [{"cell_type": "code", "id": "c1", "metadata": {}, "outputs": [], "execution_count": None,
                 "source": "%%step a --out x\nx = 1"}], "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}


@pytest.mark.parametrize("case, store_arg, config, environ, local", [
    ("default: beside the notebook", None, None, {}, True),
    ("--store path", "elsewhere/st", None, {}, True),
    ("--store file:// URL", "file://{tmp}/st2", None, {}, True),
    ("--store remote", "memory://early-remote", None, {}, False),
    ("$NB2PIPE_STORE", None, None, {"NB2PIPE_STORE": "{tmp}/envstore"}, True),
    ("configured store", None, 'store = "cfg/store"\n', {}, True),
    ("an environment decides", None, '[envs.dev]\nstore = "dev/store"\n', {}, False),
    ("$NB2PIPE_ENV", None, '[envs.dev]\nstore = "dev/store"\n', {"NB2PIPE_ENV": "dev"}, False),
])
def test_the_store_known_early_is_the_store_the_run_opens(tmp_path, monkeypatch, case, store_arg,
                                                          config, environ, local):
    import json
    from nb2pipe import notebook
    from nb2pipe.projectstore import project_store
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / ".git").mkdir()                   # the configuration search stops here
    (proj / "p.ipynb").write_text(json.dumps(NB))
    if config:
        (proj / "nb2pipe.toml").write_text(config)
    for k in ("NB2PIPE_STORE", "NB2PIPE_ENV"):
        monkeypatch.delenv(k, raising=False)
    for k, v in environ.items():
        monkeypatch.setenv(k, v.format(tmp=tmp_path))
    monkeypatch.chdir(tmp_path)
    store_arg = store_arg.format(tmp=tmp_path) if store_arg else None
    nb = notebook.read(str(proj / "p.ipynb"))
    root = early.local_store_root(_args(store=store_arg), nb)
    if not local:
        assert root is None, case
        return
    assert root == project_store(nb, store_arg, None).url, case


def test_what_is_kept_holds_no_option_value(tmp_path):
    nb = tmp_path / "p.ipynb"
    nb.write_text("{}")
    sig = early.signature(_args(param=["token=s3cr3t-4b1e"]), str(nb))
    assert "s3cr3t-4b1e" not in sig and len(sig) == 64
