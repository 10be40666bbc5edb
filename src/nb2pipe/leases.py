"""Leases: one process computes a step key at a time.

Before computing a key that has no entry yet, a run creates ``leases/<key>.json`` in the
store atomically (a hard link locally; on other fsspec filesystems a write that is read
back, so the last writer wins and the others see it).  The file holds the holder's pid,
host and an expiry, renewed while the step runs by the store's :class:`Renewer` (one daemon
thread per store for all the leases it holds, not one per step).  Another run that
needs the same key waits for the holder's entry and serves it.  A lease whose holder died
(same host: its pid is gone) or whose expiry passed (holder on another host, renewals
stopped) is taken over.  A lease is only a way to avoid duplicate work: entries are
content-addressed and written atomically, so a lost race costs a recomputation, never a
wrong result.  So a step known to be short (:func:`worth_it`) is computed without one.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from typing import Callable

TTL = 60.0          # seconds a lease lives without renewal
RENEW = TTL / 4     # how often the holder renews it
POLL = 0.2          # how often a waiter looks for the entry
WORTH = 1.0         # a step that took less than this last time is computed without a lease


def worth_it(last_duration: float | None) -> bool:
    """Is a lease worth its cost for a step whose last run took ``last_duration`` seconds
    (None: not known)?  A waiter looks for the holder's entry every ``POLL`` seconds, so for
    a step of under a second, waiting saves next to nothing over computing it again, while
    the lease costs every run two small files (a create and a remove: ~0.3 ms a step, the
    largest cost of a short step's bookkeeping under ``run --watch``)."""
    return last_duration is None or last_duration >= WORTH


def _rel(key: str) -> str:
    return f"leases/{key}.json"


def _alive(info: dict) -> bool:
    """Is the lease's holder still there?  Same host: its pid exists; elsewhere: its
    expiry has not passed."""
    if time.time() > float(info.get("expires", 0)):
        return False
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def _read(backend, key: str) -> dict | None:
    data = backend.read_bytes(_rel(key))
    try:
        info = json.loads(data) if data else None
    except ValueError:
        return {}                  # half-written by a dead holder: stale
    return info if isinstance(info, dict) else {}


class Lease:
    """A lease this process holds on ``key``; renewed by ``renewer`` until :meth:`release`."""

    def __init__(self, backend, key: str, renewer: "Renewer | None" = None):
        self.backend, self.key = backend, key
        self.renewer = renewer
        self.token = uuid.uuid4().hex
        self._lock = threading.Lock()      # a renewal and the release never interleave
        self._released = False
        self._own_renewer = False          # started one for itself (a store without one)

    def _body(self) -> bytes:
        return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "token": self.token,
                           "expires": time.time() + TTL}).encode()

    def _try_create(self) -> bool:
        if not self.backend.create_exclusive(_rel(self.key), self._body()):
            return False
        if getattr(self.backend, "atomic_create", False):
            return True                # a hard link: nobody else's write can have replaced it
        return (_read(self.backend, self.key) or {}).get("token") == self.token

    def renew(self) -> bool:
        """Push the expiry on; False once released or taken over (we looked dead)."""
        with self._lock:
            if self._released or (_read(self.backend, self.key) or {}).get("token") != self.token:
                return False
            try:
                self.backend.write_bytes(_rel(self.key), self._body())
            except OSError:
                pass               # the next renewal tries again
            return True

    def start(self) -> "Lease":
        self._own_renewer = self.renewer is None
        if self.renewer is None:
            self.renewer = Renewer(self.backend)
        self.renewer.add(self)
        return self

    def release(self) -> None:
        if self.renewer is not None:
            self.renewer.discard(self)
            if self._own_renewer:
                self.renewer.stop()
        with self._lock:               # waits for a renewal under way: none writes after this
            self._released = True
            if (_read(self.backend, self.key) or {}).get("token") == self.token:
                self.backend.remove(_rel(self.key))


class Renewer:
    """Renews every lease one store holds, every ``RENEW`` seconds, from one daemon thread.

    Owned by its :class:`~nb2pipe.store.Store` (no module state).  The thread starts with the
    first lease held, and ends after ``TTL`` seconds with none (or at :meth:`stop`); the next
    lease starts it again.  Holding and releasing a lease costs a dict update, not a thread."""

    def __init__(self, backend):
        self.backend = backend
        self._held: dict[str, Lease] = {}          # token -> lease
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def add(self, lease: Lease) -> None:
        with self._cond:
            self._held[lease.token] = lease
            self._stopping = False
            if self._thread is None or not self._thread.is_alive():    # none yet (or forked)
                self._thread = threading.Thread(target=self._loop, name="nb2pipe-lease-renewer",
                                                daemon=True)
                self._thread.start()

    def discard(self, lease: Lease) -> None:
        with self._cond:
            self._held.pop(lease.token, None)

    def held(self) -> list[Lease]:
        with self._cond:
            return list(self._held.values())

    def stop(self) -> None:
        """End the thread now (leases still held stop being renewed)."""
        with self._cond:
            self._stopping = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _loop(self) -> None:
        idle = 0.0
        while True:
            with self._cond:
                if not self._stopping:
                    self._cond.wait(RENEW)
                due = list(self._held.values())
                idle = 0.0 if due else idle + RENEW
                if self._stopping or idle >= TTL:
                    self._thread = None
                    return
            for lease in due:
                if not lease.renew():
                    self.discard(lease)


def _take_over(backend, key: str, stale: dict) -> None:
    """Remove a dead holder's lease, unless it changed since it was read (then someone
    else already took it over and is alive)."""
    if _read(backend, key) == stale:
        backend.remove(_rel(key))


def claim(store, key: str, has_entry: Callable[[], bool],
          notify: Callable[[str], None] = lambda msg: None, what: str = "") -> Lease | None:
    """Hold the lease on ``key`` (returned; release it when done), or wait while another
    live process holds it and return None once its entry exists.  The lease is renewed by
    ``store.lease_renewer`` (a store without one: by a renewer of the lease's own).  Read-only
    stores and stores that cannot hold leases give a lease-less run (a Lease is not needed to
    be right)."""
    if getattr(store, "read_only", False):
        return None
    waiting: list[str] = []
    try:
        return _claim(store.backend, key, has_entry, notify, what, waiting,
                      getattr(store, "lease_renewer", None))
    finally:
        for rel in waiting:
            store.backend.remove(rel)


def _claim(backend, key: str, has_entry, notify, what: str, waiting: list[str],
           renewer: Renewer | None) -> Lease | None:
    while True:
        lease = Lease(backend, key, renewer)
        try:
            if lease._try_create():
                if has_entry():            # finished between our look and our lease
                    lease.release()
                    return None
                return lease.start()
        except OSError:
            return None
        if has_entry():
            return None
        info = _read(backend, key)
        if info is None:
            continue                   # released without an entry (it failed): try ourselves
        if not _alive(info):
            _take_over(backend, key, info)
            continue
        if not waiting:           # seen in the store while we wait (leases/<key>.<pid>.wait)
            waiting.append(f"leases/{key}.{os.getpid()}-{uuid.uuid4().hex[:8]}.wait")
            try:
                backend.write_bytes(waiting[0], json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                           "holder": info.get("pid")}).encode())
            except OSError:
                pass
            notify(f"nb2pipe: {what or 'key ' + key[:12]} is being computed by process {info.get('pid')} on"
                   f" {info.get('host')}; waiting for its result")
        time.sleep(POLL)


def sweep(backend, *, dry_run: bool = False) -> list[tuple[str, int]]:
    """Lease and wait files under ``leases/`` whose holder is gone (same host: its pid no
    longer exists; elsewhere: its expiry passed) — what a killed run leaves behind.  Each is
    removed unless ``dry_run``; a live holder's lease and waiter are kept.  Returns
    (relative path, bytes) of each."""
    gone = []
    for name in backend.listdir("leases"):
        rel = f"leases/{name}"
        if name.endswith(".json"):
            info = _read(backend, name[:-len(".json")])
            dead = info is not None and not _alive(info)
        elif name.endswith(".wait"):
            dead = _waiter_gone(backend, rel)
        else:
            continue
        if dead:
            gone.append((rel, backend.size(rel)))
            if not dry_run:
                if name.endswith(".json"):
                    _take_over(backend, name[:-len(".json")], info)
                else:
                    backend.remove(rel)
    return gone


def _waiter_gone(backend, rel: str) -> bool:
    """A waiter announces itself with its pid and host but no expiry: it is gone when it ran
    on this host and its pid no longer exists, or its file is older than a lease's TTL
    without the waiter having removed it (another host)."""
    try:
        info = json.loads(backend.read_bytes(rel) or b"null")
    except ValueError:
        info = None
    if isinstance(info, dict) and info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        return not _alive({**info, "expires": float("inf")})
    when = backend.mtime(rel)
    return when is not None and time.time() - when > TTL

