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
    # from_batches, not Schema.empty_table(): that imports pandas (seconds on a loaded machine)
    return pa.Table.from_batches([], schema=pa.schema([(n, arrow_type(t)) for n, t in schema]))


def run(engine) -> SchemaCheck:
    graph = engine.graph()
    engine.store.load_index(engine.pipeline)      # the entries a plan read: one file, not one per step
    entries = {s: contracts.last_entry(engine.store, s, engine.pipeline) for s in graph.order}
    engine.store.save_index(engine.pipeline, [e["key"] for e in entries.values() if e and e.get("key")])
    seen = {s: c for s, e in entries.items() if (c := contracts.of_entry(e))}
    pins = {s: c for s in graph.order if (c := contracts.pinned(engine.store, s, engine.pipeline))}
    wanted = {**seen, **pins}
    known = {(s, o): c for s, outs in seen.items() for o, c in outs.items()}   # what inputs are now
    check = SchemaCheck()
    for s, pin in pins.items():       # a pinned step's last result against its pin
        check.breaks += [b for o, c in sorted(pin.items()) if o in seen.get(s, {})
                         for b in contracts.differences(s, o, c, seen[s][o])]
    planner = _Lazy(lambda: Planner(engine.project_dir))   # DuckDB only if a step needs planning
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
        out = step.outputs[0]
        got = _as_last_run(entries, step, inputs, known, seen)
        try:
            if got is None:
                for i, p in inputs.items():
                    planner.bind(i, p, known[(p, i)]["schema"])
                got = planner.plan(step.sql, engine.defs.params)
        except Exception as e:  # noqa: BLE001 - duckdb.Error and friends
            check.errors[name] = " ".join(str(e).split())
            continue
        check.planned.append(name)
        mine = wanted.get(name, {}).get(out)
        if mine and "schema" in mine:
            check.breaks += [Break(name, out, col, g, w)
                             for col, g, w in contracts.schema_diff(mine["schema"], got)]
        known[(name, out)] = {**(mine or {}), "schema": got}
    return check


def _as_last_run(entries: dict, step, inputs: dict[str, str], known: dict, seen: dict) -> list | None:
    """The step's output schema without planning it, when its last run holds it: the same
    query, no parameter or file read (they may have changed under it), and each input the very
    result the last run read, whose schema is still the one it had then.  None: plan it."""
    if step.sql.params or step.sql.files or step.name not in seen:
        return None
    comp = (entries.get(step.name) or {}).get("components") or {}
    if comp.get("code") != step.code_hash or set(comp.get("inputs") or {}) != set(inputs):
        return None
    for i, p in inputs.items():
        parent = entries.get(p) or {}
        ref = (parent.get("outputs") or {}).get(i) or {}
        if (not ref.get("oid") or not str(comp["inputs"][i]).endswith(":" + ref["oid"])
                or known[(p, i)].get("schema") != (seen.get(p, {}).get(i) or {}).get("schema")):
            return None
    return (seen[step.name].get(step.outputs[0]) or {}).get("schema")


class _Lazy:
    """The object ``make`` returns, made on the first use of one of its attributes."""

    def __init__(self, make) -> None:
        self._make, self._made = make, None

    def __getattr__(self, name: str):
        if self._made is None:
            self._made = self._make()
        return getattr(self._made, name)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Planner:
    """One DuckDB connection for a whole check.  Each input is a zero-row table made once per
    (name, producer) -- re-made only when a later step rebinds the name -- and each query is
    bound with ``DESCRIBE`` (nothing runs).  Types go through Arrow as in a real run (a step's
    output is stored as Arrow and the next SQL step reads that): DuckDB -> Arrow by a zero-row
    cast, Arrow -> DuckDB by describing a zero-row Arrow table, each type once per check.  A
    query ``DESCRIBE`` refuses is planned the old way (LIMIT 0), for DuckDB's own message."""

    def __init__(self, project_dir: str) -> None:
        import duckdb
        self.con = duckdb.connect()
        self.con.execute("SET file_search_path = '" + project_dir.replace("'", "''") + "'")
        self.bound: dict[str, tuple[str, tuple]] = {}     # table name -> (producer, schema)
        self.to_arrow: dict[str, str] = {}                # DuckDB type -> Arrow type
        self.to_duck: dict[str, str] = {}                 # Arrow type -> DuckDB type
        self.pending = ""                                 # tables to make before the next query

    def bind(self, name: str, producer: str, schema: list) -> None:
        """Make ``name`` the zero-row table of ``producer``'s output (unless it already is);
        the statement goes with the next query (one round trip)."""
        key = (producer, tuple(map(tuple, schema)))
        if self.bound.get(name) == key:
            return
        self._duck_types([t for _, t in schema])
        cols = ", ".join(f"{_quote(c)} {self.to_duck[t]}" for c, t in schema)
        self.pending += f"CREATE OR REPLACE TEMP TABLE {_quote(name)} ({cols});\n"
        self.bound[name] = key

    def plan(self, info, params: dict) -> list[list[str]]:
        """[column, Arrow type] of the query's result, bound on the tables made so far."""
        bound = {p: params[p] for p in info.params} if info.params else None
        ddl, self.pending = self.pending, ""
        try:
            rows = self.con.execute(ddl + "DESCRIBE " + info.query, bound).fetchall()
        except Exception:  # noqa: BLE001 - DuckDB's message about the query itself, below
            if ddl:
                self.con.execute(ddl)     # a statement before the one that failed may not have run
            result = _plan(self.con, info, params)
            return [[f.name, str(f.type)] for f in result.schema]
        self._arrow_types([r[1] for r in rows])
        return [[r[0], self.to_arrow[r[1]]] for r in rows]

    def _arrow_types(self, duck: list[str]) -> None:
        new = list(dict.fromkeys(t for t in duck if t not in self.to_arrow))
        if new:
            rel = self.con.sql("SELECT " + ", ".join(f"NULL::{t} AS c{k}" for k, t in enumerate(new)) + " LIMIT 0")
            table = (getattr(rel, "to_arrow_table", None) or rel.arrow)()
            self.to_arrow.update({t: str(f.type) for t, f in zip(new, table.schema)})

    def _duck_types(self, arrow: list[str]) -> None:
        new = list(dict.fromkeys(t for t in arrow if t not in self.to_duck))
        if new:
            types = self.con.from_arrow(empty_table([[f"c{k}", t] for k, t in enumerate(new)])).types
            self.to_duck.update({t: str(d) for t, d in zip(new, types)})


def _plan(con, info, params: dict):
    """The query's result, with no row read from files (LIMIT 0)."""
    bound = {p: params[p] for p in info.params} if info.params else None
    rel = con.sql(info.query, params=bound).limit(0)
    return (getattr(rel, "to_arrow_table", None) or rel.arrow)()


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
