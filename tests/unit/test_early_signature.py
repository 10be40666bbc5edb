"""What tells a run that its notebook or options changed since the last complete run
(nb2pipe.runner.early): the kernel is then started before the plan."""
import argparse
import os

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
    assert early.likely_stale(store, "p.ipynb", "S1")              # never run
    early.remember(store, "p.ipynb", "S1", complete=True)
    assert not early.likely_stale(store, "p.ipynb", "S1")
    assert early.likely_stale(store, "p.ipynb", "S2")             # another file or options
    assert early.likely_stale(store, "q.ipynb", "S1")             # another notebook
    early.remember(store, "p.ipynb", "S1", complete=False)         # a run with a failed step
    assert early.likely_stale(store, "p.ipynb", "S1")
    assert early.likely_stale(store, "p.ipynb", None)


def test_a_store_that_is_not_local_is_not_read_for_the_guess(tmp_path):
    store = Store("memory://early-guess")
    early.remember(store, "p.ipynb", "S1", complete=True)
    assert early.likely_stale(store, "p.ipynb", "S1")
    assert store.backend.read_bytes("index/p.last-run") is None


def test_what_is_kept_holds_no_option_value(tmp_path):
    nb = tmp_path / "p.ipynb"
    nb.write_text("{}")
    sig = early.signature(_args(param=["token=s3cr3t-4b1e"]), str(nb))
    assert "s3cr3t-4b1e" not in sig and len(sig) == 64
