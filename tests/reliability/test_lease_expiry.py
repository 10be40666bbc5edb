"""Leases held by another host (issue 11, item 10): one that stopped being renewed is taken
over, a live one is waited on until its entry appears; the same on an fsspec store, where a
lease is a write read back.  In-process, against real stores (a folder, memory://)."""
import json
import os
import socket
import threading
import time
import uuid

import pytest

from nb2pipe import leases
from nb2pipe.store import Store

KEY = "ab" * 16


def stores(tmp_path):
    return [Store(tmp_path / "s", signing_key="test-signing-key-0123456789"),
            Store(f"memory://leases-{uuid.uuid4().hex}", signing_key="test-signing-key-0123456789")]


def other_host_lease(store, expires):
    body = {"pid": 1, "host": "elsewhere-" + socket.gethostname(), "token": "theirs", "expires": expires}
    store.backend.write_bytes(f"leases/{KEY}.json", json.dumps(body).encode())


@pytest.mark.parametrize("which", ["local", "fsspec"])
def test_a_lease_no_longer_renewed_is_taken_over(tmp_path, which):
    store = stores(tmp_path)[which == "fsspec"]
    other_host_lease(store, time.time() - 1)
    looks = []

    def no_entry():                    # hang guard: a claim that keeps waiting fails here
        looks.append(1)
        assert len(looks) < 100, "still waiting on a lease that expired"
        return False

    lease = leases.claim(store, KEY, no_entry)
    assert lease is not None
    held = json.loads(store.backend.read_bytes(f"leases/{KEY}.json"))
    assert (held["token"], held["pid"]) == (lease.token, os.getpid())
    lease.release()
    assert store.backend.read_bytes(f"leases/{KEY}.json") is None


@pytest.mark.parametrize("which", ["local", "fsspec"])
def test_a_live_lease_is_waited_on_until_its_entry_appears(tmp_path, which):
    store = stores(tmp_path)[which == "fsspec"]
    other_host_lease(store, time.time() + 600)
    done = threading.Event()
    notes = []

    def finish():
        assert done.wait(60)
        store.put_entry(KEY, {"outputs": {}})

    t = threading.Thread(target=finish, daemon=True)
    t.start()
    calls = []

    def has_entry():
        calls.append(1)
        if len(calls) == 3:
            done.set()                 # the holder finishes while we wait
        return store.get_entry(KEY) is not None

    assert leases.claim(store, KEY, has_entry, notes.append, "step `s`") is None
    t.join()
    assert store.get_entry(KEY) is not None
    assert len(notes) == 1
    assert "step `s` is being computed by process 1 on elsewhere-" in notes[0]
    assert [n for n in store.backend.listdir("leases") if n.endswith(".wait")] == []
