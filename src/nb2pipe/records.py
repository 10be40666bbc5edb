"""Run records: who ran what, when, with which keys, timings and errors, and the lineage of
every output (its inputs' data versions, code hash, sources).  One writer for the kernel's
runs and headless runs; DuckDB queries them (``nb2pipe log``)."""
from __future__ import annotations

import time
from typing import Any

from .store import ObjectRef


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
