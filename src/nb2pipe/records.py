"""Run records: who ran what, when, with which keys, timings and errors, and the lineage of
every output (its inputs' data versions, code hash, sources).  One writer for the kernel's
runs and headless runs; DuckDB queries them (``nb2pipe log``)."""
from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from .store import ObjectRef

RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")     # a file name under runs/


def user() -> str:
    try:
        import getpass
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name (containers): still record the run
        return "unknown"


def lineage(components: dict, outputs: dict[str, ObjectRef]) -> dict:
    """What a step's outputs came from."""
    if not components:
        return {}
    return {"outputs": {o: r.version for o, r in outputs.items()},
            "inputs": components.get("inputs", {}), "code": components.get("code"),
            "srcs": components.get("srcs", {}), "params": sorted(components.get("params", {}))}


def lineage_of_entry(entry: dict | None) -> dict:
    if not entry:
        return {}
    return lineage(entry.get("components", {}),
                   {o: ObjectRef.from_json(d) for o, d in entry["outputs"].items()})


def write(store, steps: list[dict], *, redactor=None, **fields: Any) -> str:
    """Write one run record to ``store``; returns its id.  ``redactor`` (see
    :mod:`nb2pipe.redact`) masks secret values in it."""
    record = {"finished": time.time(), "user": user(), "store": store.url, **fields, "steps": steps}
    return store.put_run(redactor.scrub(record) if redactor is not None else record)


EXECUTED = ("ran", "failed")


def notebook_run(engine, outcomes: list, how: str, targets=()) -> str | None:
    """Record a run made in the kernel (``kind`` notebook: a step cell, ``%dag run``, the
    panel's forced run) when it executed a step, so the sidebar's History lists each; a run
    the store served whole (a cached cell) writes nothing.  Returns the record's id, None
    when none was written (a store that cannot take it says why, the run stands)."""
    if not any(o.status in EXECUTED for o in outcomes):
        return None
    from .errors import Nb2pipeError
    try:
        return engine.record_run(outcomes, kind="notebook", how=how, pipeline=engine.pipeline,
                                 targets=list(targets))
    except (Nb2pipeError, OSError) as e:
        engine._warn(f"nb2pipe: the run stands, but its run record was not written ({e})")
        return None


# -- reading records back, from any store (a local folder or any fsspec URL)
def _read_json(store, rels: list[str]) -> list[dict]:
    backend = store.backend
    fs = getattr(backend, "fs", None)
    if fs is not None and rels:          # one batched, concurrent request on object stores
        blobs = fs.cat([backend._p(r) for r in rels], on_error="omit")
        data = [blobs.get(backend._p(r)) for r in rels]
    else:
        data = [backend.read_bytes(r) for r in rels]
    out = []
    for blob in data:
        try:
            rec = json.loads(blob) if blob is not None else None
        except ValueError:
            continue                     # a half-written or foreign file is not a record
        if isinstance(rec, dict):
            out.append(rec)
    return out


def runs(store) -> list[dict]:
    """Every run record in ``store``, oldest first."""
    names = [n for n in store.backend.listdir("runs") if n.endswith(".json")]
    recs = _read_json(store, [f"runs/{n}" for n in names])
    return sorted(recs, key=lambda r: (_number(r.get("finished")), str(r.get("run_id"))))


def run(store, run_id: str) -> dict | None:
    if not RUN_ID.fullmatch(run_id):
        return None
    found = _read_json(store, [f"runs/{run_id}.json"])
    return found[0] if found else None


def deployments(store, env: str | None = None) -> list[dict]:
    """Promotion records of ``env`` (every environment when None), oldest first."""
    envs = [env] if env else store.backend.listdir("deployments")
    rels = [f"deployments/{e}/{n}" for e in envs for n in store.backend.listdir(f"deployments/{e}")
            if n.endswith(".json")]
    recs = _read_json(store, rels)
    return sorted(recs, key=lambda r: (_number(r.get("when")), str(r.get("id"))))


def _number(v) -> float:
    return float(v) if isinstance(v, (int, float)) else 0.0


RUN_COLUMNS = ("run_id", "finished", "user", "kind")
STEP_COLUMNS = ("step", "status", "duration", "key", "error")
DEPLOY_COLUMNS = ("env", "when", "action", "package", "version", "replaced", "user", "tests")


def as_json_lines(recs: list[dict], columns: tuple[str, ...], step_columns: tuple[str, ...] = ()) -> str:
    """A temporary newline-delimited JSON file of ``recs`` for DuckDB's read_json_auto, with
    only ``columns`` (and, per step, ``step_columns``) so every line has one shape however the
    records grew over versions; the caller removes it."""
    import tempfile
    fd, path = tempfile.mkstemp(prefix="nb2pipe-records-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for r in recs:
            row = {c: r.get(c) for c in columns}
            if step_columns:
                row["steps"] = [{c: s.get(c) for c in step_columns} for s in r.get("steps") or []
                                if isinstance(s, dict)]
            f.write(json.dumps(row, default=str) + "\n")
    return path
