"""``nb2pipe gc``: delete what nothing can reach; ``nb2pipe store``: what each step holds.

Kept (the roots): every notebook's last result of every step (``steps/<pipeline>/*.json``),
and the steps of the last N run records (``runs/``) with what those records keep themselves
(a step's outputs, the executed notebook).  Deployments reach their objects through
their pipeline's last results, which are roots.  From each root key: its entry, the entry's
outputs and its ``display`` object.  Everything else under ``objects/``, ``entries/`` and
``verified/`` is deleted — but never a file younger than the grace window (default one hour),
so a concurrent writer, which writes objects first, then the entry, then the last result, never
loses what it is writing.  A reused old object a writer links meanwhile can still go: its
step then reports it missing and recomputes it (never wrong data).  Lease and wait files a
killed run left under ``leases/`` go too (their holder is gone: see :func:`leases.sweep`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from . import leases
from .entries import KEY_RE, ObjectRef

GRACE_SECONDS = 3600.0


def _json(store, rel: str):
    data = store.backend.read_bytes(rel)
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def last_results(store) -> dict[tuple[str, str], str]:
    """(pipeline, step) -> the key of its last result, for every notebook of the store."""
    out = {}
    for pipeline in store.backend.listdir("steps"):
        names = [pipeline] if pipeline.endswith(".json") else store.backend.listdir(f"steps/{pipeline}")
        for name in names:
            rel = f"steps/{name}" if pipeline.endswith(".json") else f"steps/{pipeline}/{name}"
            last = _json(store, rel)
            if isinstance(last, dict) and isinstance(last.get("key"), str):
                out[("" if pipeline.endswith(".json") else pipeline, name[:-len(".json")])] = last["key"]
    return out


def recent_runs(store, keep_runs: int) -> list[dict]:
    """The last ``keep_runs`` run records."""
    from .records import runs
    recs = runs(store)
    return recs[len(recs) - keep_runs:] if keep_runs > 0 else []


def run_keys(recs: list[dict]) -> set[str]:
    """The keys of every step of ``recs``."""
    return {s["key"] for r in recs for s in r.get("steps") or []
            if isinstance(s, dict) and isinstance(s.get("key"), str)}


def run_objects(recs: list[dict]) -> list[ObjectRef]:
    """What run records keep themselves: each step's outputs (a failed step's too) and the
    executed notebook."""
    refs = []
    for r in recs:
        for d in [s.get("display") for s in r.get("steps") or [] if isinstance(s, dict)] + \
                [r.get("executed_notebook")]:
            try:
                refs.append(ObjectRef.from_json(d))
            except ValueError:        # none kept, or not a reference
                continue
    return refs


def entry_objects(entry: dict) -> list[ObjectRef]:
    refs = []
    for d in list(entry.get("outputs", {}).values()) + ([entry["display"]] if "display" in entry else []):
        try:
            refs.append(ObjectRef.from_json(d))
        except ValueError:
            continue
    return refs


@dataclass
class GcReport:
    kept_objects: int = 0
    deleted: list[tuple[str, int]] = field(default_factory=list)     # (relative path, bytes)
    young: int = 0                                                   # unreachable, but in the grace window

    @property
    def freed(self) -> int:
        return sum(n for _, n in self.deleted)


def collect(store, *, keep_runs: int = 5, dry_run: bool = False, grace: float = GRACE_SECONDS,
            now: float | None = None) -> GcReport:
    """Delete unreachable objects, entries and verification stamps older than ``grace`` seconds."""
    own = getattr(store, "own", store)          # a layered store: only the own store is collected
    if not dry_run:
        own._writable()
    now = time.time() if now is None else now
    recent = recent_runs(own, keep_runs)
    keys = set(last_results(own).values()) | run_keys(recent)
    keep: set[str] = {own._object_rel(r.oid, r.codec) for r in run_objects(recent)}
    for key in keys:
        entry = own.get_entry(key) if KEY_RE.fullmatch(key) else None
        if entry:
            keep.add(own._entry_rel(key))
            keep |= {own._object_rel(r.oid, r.codec) for r in entry_objects(entry)}
    report = GcReport()
    b = own.backend
    for top in ("entries", "objects"):
        for sub in b.listdir(top):
            for name in b.listdir(f"{top}/{sub}"):
                rel = f"{top}/{sub}/{name}"
                if rel in keep:
                    report.kept_objects += top == "objects"
                    continue
                when = b.mtime(rel)
                if when is None or now - when < grace:
                    report.young += 1
                    continue
                report.deleted.append((rel, b.size(rel)))
                if not dry_run:
                    b.remove(rel)
                    if top == "objects":
                        b.remove("verified/" + rel.split("/", 1)[1])
                        own._verified.pop(rel, None)
                    else:
                        own._entries.pop(name.split(".", 1)[0], None)
    for sub in b.listdir("verified"):                  # stamps of objects no longer here
        for name in b.listdir(f"verified/{sub}"):
            if not dry_run and not b.exists(f"objects/{sub}/{name}"):
                b.remove(f"verified/{sub}/{name}")
    report.deleted += leases.sweep(b, dry_run=dry_run)
    return report


def sizes(store) -> list[dict]:
    """Per step of every notebook: its last result's objects and bytes; plus the whole store."""
    own = getattr(store, "own", store)
    rows = []
    for (pipeline, step), key in sorted(last_results(own).items()):
        entry = own.get_entry(key) if KEY_RE.fullmatch(key) else None
        refs = entry_objects(entry) if entry else []
        rows.append({"pipeline": pipeline, "step": step, "objects": len(refs),
                     "bytes": sum(r.nbytes for r in refs)})
    return rows


def total_objects(store) -> tuple[int, int]:
    """(number, bytes) of every object in the store."""
    b = getattr(store, "own", store).backend
    n = size = 0
    for sub in b.listdir("objects"):
        for name in b.listdir(f"objects/{sub}"):
            n += 1
            size += b.size(f"objects/{sub}/{name}")
    return n, size
