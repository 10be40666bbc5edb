"""check --schema on SQL chains, through the engine and a real DuckDB (no kernel): a step whose
last run holds its schema is not planned again, and every step below a change is."""
from nb2pipe import schemacheck
from nb2pipe.engine import Engine
from nb2pipe.spec import parse_step_line
from nb2pipe.store import Store

CHAIN = {"a": "SELECT range AS id, range % 3 AS v FROM range(10)",
         "b": "SELECT id, v + 1 AS v FROM a",
         "c": "SELECT id, v * 2 AS v, 'x' AS tag FROM b",
         "d": "SELECT count(*) AS n FROM c"}


def _engine(tmp_path, queries):
    e = Engine(Store(tmp_path / ".nb2pipe"), tmp_path, publish=lambda ns: None)
    e.ns = {}
    for name, sql in queries.items():
        e.define(parse_step_line(f"{name} --sql"), sql)
    return e


def test_a_changed_type_is_found_at_the_step_and_every_one_below(tmp_path):
    e = _engine(tmp_path, CHAIN)
    assert [o.status for o in e.run()] == ["ran"] * 4
    check = schemacheck.run(_engine(tmp_path, CHAIN))
    assert (check.ok, check.planned) == (True, ["a", "b", "c", "d"])

    changed = {**CHAIN, "a": "SELECT range AS id, (range % 3) / 2 AS v FROM range(10)"}
    check = schemacheck.run(_engine(tmp_path, changed))
    assert [(b.step, b.column, b.got, b.want) for b in check.breaks] == [
        ("a", "v", "double", "int64"), ("b", "v", "double", "int64"), ("c", "v", "double", "int64")]
    assert check.planned == ["a", "b", "c", "d"]


def test_a_query_that_reads_a_dropped_column_is_an_error_with_duckdbs_message(tmp_path):
    e = _engine(tmp_path, CHAIN)
    e.run()
    changed = {**CHAIN, "b": "SELECT id, v + 1 AS w FROM a"}
    check = schemacheck.run(_engine(tmp_path, changed))
    assert list(check.errors) == ["c"]
    assert check.errors["c"].startswith('Binder Error: Column "v" referenced that exists in the SELECT clause')
    assert [(b.step, b.column, b.got, b.want) for b in check.breaks] == [
        ("b", "v", "missing", "int64"), ("b", "w", "int64", "absent")]


def test_an_unchanged_chain_is_checked_from_one_index_file_without_duckdb(tmp_path, monkeypatch):
    """The second check reads the entries from the index the first one wrote (no entry file)
    and, every step's last run holding its schema, opens no DuckDB connection."""
    e = _engine(tmp_path, CHAIN)
    e.run()
    assert schemacheck.run(_engine(tmp_path, CHAIN)).ok
    e = _engine(tmp_path, CHAIN)
    read = []
    real = type(e.store.backend).read_bytes
    monkeypatch.setattr(type(e.store.backend), "read_bytes", lambda b, rel: read.append(rel) or real(b, rel))
    monkeypatch.setattr(schemacheck, "Planner", lambda d: (_ for _ in ()).throw(AssertionError("planned")))
    check = schemacheck.run(e)
    assert (check.ok, check.planned) == (True, ["a", "b", "c", "d"])
    assert [r for r in read if r.startswith("entries/")] == []
    assert any(r.startswith("index/") for r in read)
