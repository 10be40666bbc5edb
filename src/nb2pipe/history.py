"""A step's history for the sidebar: its last runs from the run records (wherever they ran:
``%dag run`` in the notebook, ``nb2pipe run`` with any executor, an Airflow task) and the
diff of its cell since the run its cached entry comes from.  Read-only: nothing executes."""
from __future__ import annotations

import difflib

from . import protocol as P
from . import records
from .errors import Nb2pipeError

SHORT_KEY = 12


def where_of(record: dict) -> str:
    """Where a run record's run happened, in the panel's words."""
    if record.get("kind") == "notebook":
        return "notebook"
    how = [h for h in (record.get("executor"), record.get("scheduler")) if h]
    return "CLI" + (f" ({', '.join(how)})" if how else "")


def _rows_of(store, key: str | None, cache: dict) -> dict[str, int | None]:
    """Output -> rows, from the entry of ``key`` while it is stored (tables only)."""
    if not key:
        return {}
    if key not in cache:
        try:
            entry = store.get_entry(key)
        except Exception:  # noqa: BLE001 - an unreadable entry: rows unknown
            entry = None
        outs = (entry or {}).get("outputs") or {}
        cache[key] = {o: ((d.get("meta") or {}).get("rows") if isinstance(d, dict) and d.get("codec") == "arrow"
                          else None) for o, d in outs.items()}
    return cache[key]


def runs_of(store, step: str, limit: int, last: dict | None, pipeline: str | None = None) -> list[P.HistoryRun]:
    """The step's runs in the records, newest first, at most ``limit``; ``last`` (the store's
    last result of the step) joins them when no record holds it (a cell run of an nb2pipe that
    wrote none).  A kernel's records of another notebook than ``pipeline`` are not its runs."""
    found: list[P.HistoryRun] = []
    cache: dict[str, dict] = {}
    keys = set()
    for rec in records.runs(store):
        if pipeline is not None and rec.get("kind") == "notebook" and rec.get("pipeline") not in (None, pipeline):
            continue
        for s in rec.get("steps") or []:
            if not isinstance(s, dict) or s.get("step") != step:
                continue
            key = s.get("key") if isinstance(s.get("key"), str) else None
            keys.add(key)
            found.append(P.HistoryRun(
                finished=_number(rec.get("finished")), duration=_number(s.get("duration")),
                key=key[:SHORT_KEY] if key else None, status=str(s.get("status")),
                rows=_rows_of(store, key, cache), where=where_of(rec), user=rec.get("user"),
                run_id=rec.get("run_id"), error=s.get("error")))
    if last and last.get("key") not in keys:
        found.append(P.HistoryRun(
            finished=_number(last.get("finished")), duration=_number(last.get("duration")),
            key=last["key"][:SHORT_KEY], status="ran", rows=_rows_of(store, last["key"], cache),
            where="notebook cell (no run record)"))
    found.sort(key=lambda r: r.finished or 0.0, reverse=True)
    return found[:max(limit, 0)]


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def code_diff(now: str, entry: dict | None, key: str | None) -> tuple[str, str]:
    """(unified diff of the cell as the cached entry was made -> now, note when there is none)."""
    if entry is None:
        return "", "no cached run of this step in the store: nothing to compare"
    then = entry.get("code_text")
    short = (key or "")[:SHORT_KEY]
    if not isinstance(then, str):
        return "", (f"the cached entry {short} does not keep its code (made before nb2pipe kept it):"
                    " run the step again to compare from then on")
    lines = difflib.unified_diff(then.splitlines(keepends=True), now.splitlines(keepends=True),
                                 f"cached {short}", "now")
    text = "".join(ln if ln.endswith("\n") else ln + "\n" for ln in lines)
    return text, "" if text else "the code is the same as in the cached run"


def history_message(engine, req: P.HistoryRequest) -> dict:
    """The answer to ``history`` (see :class:`nb2pipe.protocol.HistoryMsg`)."""
    step = engine.defs.steps.get(req.step)
    last = engine.store.get_last(req.step, engine.pipeline)
    if step is None and last is None:
        known = ", ".join(f"`{n}`" for n in engine.defs.steps) or "none yet"
        raise Nb2pipeError(f"history: no step `{req.step}` in this kernel (its steps: {known})",
                           fix="run the step's cell first, or pick a step of this notebook")
    res = engine.results.get(req.step)
    key = res.key if res is not None else (last or {}).get("key")
    entry = engine.store.get_entry(key) if key else None
    diff, note = (code_diff(step.cell_text or step.code, entry, key) if step is not None
                  else ("", f"step `{req.step}` is not defined in this kernel: run its cell to compare"))
    runs = runs_of(engine.store, req.step, req.limit, last, engine.pipeline)
    return P.HistoryMsg(step=req.step, runs=runs, diff=diff, diff_note=note,
                        cached_key=key[:SHORT_KEY] if key else None).to_json()
