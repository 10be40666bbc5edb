"""``nb2pipe check --schema``: find schema breaks without running Python.

- A SQL step is planned by DuckDB on zero-row tables built from its inputs' contracts (or
  from the schema its SQL parents are planned to give): a query that reads a dropped
  column fails here, and a produced type that differs from the step's contract is a break.
- A Python step whose inputs' current schemas differ from the ones it consumed at its
  cached run is listed as "input schema changed", with the columns that differ.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import contracts
from .contracts import Break


@dataclass
class SchemaCheck:
    breaks: list[Break] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)        # SQL step -> planning error
    changed: dict[str, list[str]] = field(default_factory=dict)  # Python step -> input diffs
    planned: list[str] = field(default_factory=list)             # SQL steps planned
    unknown: dict[str, str] = field(default_factory=dict)        # step -> why not checked

    @property
    def ok(self) -> bool:
        return not (self.breaks or self.errors or self.changed)


_DECIMAL = re.compile(r"decimal(?:128|256)?\((\d+), ?(\d+)\)")
_TIMESTAMP = re.compile(r"timestamp\[(\w+)(?:, tz=(.+))?\]")


def arrow_type(text: str):
    """The Arrow type a contract's type string names (``str(pa_type)``)."""
    import pyarrow as pa
    m = _DECIMAL.fullmatch(text)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    m = _TIMESTAMP.fullmatch(text)
    if m:
        return pa.timestamp(m.group(1), tz=m.group(2))
    alias = {"date32[day]": "date32", "date64[ms]": "date64", "bool": "bool_"}.get(text, text)
    try:
        return pa.type_for_alias(alias)
    except ValueError:
        return getattr(pa, alias)() if hasattr(pa, alias) and callable(getattr(pa, alias)) else pa.string()


def empty_table(schema: list):
    import pyarrow as pa
    return pa.schema([(n, arrow_type(t)) for n, t in schema]).empty_table()


def run(engine) -> SchemaCheck:
    import duckdb

    graph = engine.graph()
    seen = {s: c for s in graph.order if (c := contracts.last_seen(engine.store, s, engine.pipeline))}
    pins = {s: c for s in graph.order if (c := contracts.pinned(engine.store, s, engine.pipeline))}
    wanted = {**seen, **pins}
    known = {(s, o): c for s, outs in seen.items() for o, c in outs.items()}   # what inputs are now
    check = SchemaCheck()
    for s, pin in pins.items():       # a pinned step's last result against its pin
        check.breaks += [b for o, c in sorted(pin.items()) if o in seen.get(s, {})
                         for b in contracts.differences(s, o, c, seen[s][o])]
    con = duckdb.connect()
    con.execute("SET file_search_path = '" + engine.project_dir.replace("'", "''") + "'")
    for name in graph.order:
        step = engine.defs.steps[name]
        inputs = {i: graph.source(name, i) for i in engine.defs.inputs_of(step)}
        if step.sql is None:
            diffs = _input_changes(engine, name, {i: known.get((p, i)) for i, p in inputs.items()})
            if diffs:
                check.changed[name] = diffs
            continue
        missing = [i for i, p in inputs.items() if "schema" not in (known.get((p, i)) or {})]
        if missing:
            check.unknown[name] = f"input `{missing[0]}` has no table contract yet (never run)"
            continue
        tables = {i: empty_table(known[(p, i)]["schema"]) for i, p in inputs.items()}
        try:
            result = _plan(con, step.sql, tables, engine.defs.params)
        except Exception as e:  # noqa: BLE001 - duckdb.Error and friends
            check.errors[name] = " ".join(str(e).split())
            continue
        check.planned.append(name)
        got = [[f.name, str(f.type)] for f in result.schema]
        out = step.outputs[0]
        mine = wanted.get(name, {}).get(out)
        if mine and "schema" in mine:
            check.breaks += [Break(name, out, col, g, w)
                             for col, g, w in contracts.schema_diff(mine["schema"], got)]
        known[(name, out)] = {**(mine or {}), "schema": got}
    return check


def _plan(con, info, tables: dict, params: dict):
    """The query's result on ``tables``, with no row read from files (LIMIT 0)."""
    for name, value in tables.items():
        con.register(name, value)
    try:
        bound = {p: params[p] for p in info.params} if info.params else None
        rel = con.sql(info.query, params=bound).limit(0)
        return (getattr(rel, "to_arrow_table", None) or rel.arrow)()
    finally:
        for name in tables:
            con.unregister(name)


def _input_changes(engine, name: str, now: dict[str, dict | None]) -> list[str]:
    """Input columns whose type differs from what the step's cached run consumed."""
    last = engine.store.get_last(name, engine.pipeline)
    entry = engine.store.get_entry(last["key"]) if last else None
    if not entry:
        return []
    out = []
    for i, version in sorted(entry["components"].get("inputs", {}).items()):
        tag, _, oid = version.rpartition(":")
        c = now.get(i)
        if not c or "schema" not in c:
            continue
        schema = _arrow_schema(engine.store, oid)
        if schema is None:
            continue                  # not a table, or gone: nothing to compare
        seen = [[f.name, str(f.type)] for f in schema if not (f.name or "").startswith("__index_level_")]
        for col, got, want in contracts.schema_diff(seen, c["schema"]):
            out.append(f"`{i}` column `{col}`: {want} at its cached run, {got} now")
    return out


def _arrow_schema(store, oid: str):
    """The schema of a stored Arrow object (read from its footer; not verified, never moved)."""
    import pyarrow as pa
    for s in getattr(store, "layers", [store]):
        try:
            buf = s.backend.read_buffer(s._object_rel(oid, "arrow"))
            if buf is not None:
                return pa.ipc.open_file(buf).schema
        except Exception:  # noqa: BLE001 - not an object id, or not Arrow
            continue
    return None


def render(check: SchemaCheck) -> str:
    lines = [f"  ✗ {b}" for b in check.breaks]
    lines += [f"  ✗ SQL step `{s}` cannot be planned on its inputs' schemas: {e}" for s, e in check.errors.items()]
    lines += [f"  ! step `{s}`: input schema changed: " + "; ".join(d) for s, d in check.changed.items()]
    lines += [f"  ? step `{s}` not checked: {why}" for s, why in check.unknown.items()]
    verdict = "ok: no schema break" if check.ok else "BROKEN"
    n = len(check.planned)
    lines.append(f"{verdict} — {n} SQL step{'' if n == 1 else 's'} planned on zero-row tables, no Python run")
    return "\n".join(lines)
