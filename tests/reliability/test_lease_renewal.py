"""A held lease is renewed by its store's one renewer thread, not a thread per step (issue
16: a thread started and joined per step cost ~17 ms under load).  In-process, against real
stores (a folder, memory://); the renewal interval is shortened, waits have hang guards."""
import json
import threading
import time
import uuid

import pytest

from nb2pipe import leases
from nb2pipe.store import Store

GUARD = 30.0


def make_store(tmp_path, which):
    where = tmp_path / "s" if which == "local" else f"memory://renew-{uuid.uuid4().hex}"
    return Store(where, signing_key="test-signing-key-0123456789")


def lease_file(store, key):
    data = store.backend.read_bytes(f"leases/{key}.json")
    return None if data is None else json.loads(data)


def wait_for(what, cond):
    end = time.monotonic() + GUARD
    while not cond():
        assert time.monotonic() < end, f"hang guard: {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("which", ["local", "fsspec"])
def test_a_held_lease_is_renewed_until_released_then_left_alone(tmp_path, which, monkeypatch):
    monkeypatch.setattr(leases, "RENEW", 0.05)
    store = make_store(tmp_path, which)
    key = "cd" * 16
    lease = leases.claim(store, key, lambda: False)
    first = lease_file(store, key)["expires"]
    wait_for("a renewal", lambda: lease_file(store, key)["expires"] > first)
    lease.release()
    assert lease_file(store, key) is None
    time.sleep(0.3)                    # six renewal intervals: a released lease is not rewritten
    assert lease_file(store, key) is None
    store.lease_renewer.stop()


def test_many_steps_share_one_renewer_thread(tmp_path):
    store = make_store(tmp_path, "local")
    before = set(threading.enumerate())
    started = set()
    for i in range(30):
        lease = leases.claim(store, f"{i:032x}", lambda: False)
        assert lease is not None
        started |= set(threading.enumerate()) - before
        lease.release()
    assert len(started) == 1
    (renewer,) = started
    assert renewer.daemon
    store.lease_renewer.stop()
    assert not renewer.is_alive()


def test_a_lease_taken_over_is_neither_renewed_nor_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(leases, "RENEW", 0.05)
    store = make_store(tmp_path, "local")
    key = "ef" * 16
    lease = leases.claim(store, key, lambda: False)
    theirs = {"pid": 1, "host": "elsewhere", "token": "theirs", "expires": time.time() + 600}
    store.backend.write_bytes(f"leases/{key}.json", json.dumps(theirs).encode())
    wait_for("the renewer to drop the lease", lambda: lease not in store.lease_renewer.held())
    assert lease_file(store, key) == theirs
    lease.release()
    assert lease_file(store, key) == theirs
    store.lease_renewer.stop()
