"""The first rows of a source file, size-capped: what an exported package ships as its test
fixture instead of the production data, and what a sample check runs a pipeline on.

``head(src, dst)`` writes a sample of ``src`` to ``dst`` and says what it kept:

- CSV/TSV/text lines: the header and the first rows (whole records: a quoted field may span
  lines), at most ``max_rows`` data rows and ``max_bytes`` bytes;
- JSON lines (``.jsonl``/``.ndjson``): the first ``max_rows`` lines within ``max_bytes``;
- Parquet: the first ``max_rows`` rows (fewer if the written file would pass ``max_bytes``);
- a DuckDB database file: a database of the same tables (``LIMIT max_rows`` each, in every
  schema) and views, so a query reads its tables by the same names (``max_bytes`` does not
  apply: a DuckDB file has a fixed minimum size);
- any other file: copied whole when it fits in ``max_bytes``, else not sampled (``None``).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

MAX_ROWS = 1000
MAX_BYTES = 1_000_000
LINE_KINDS = {".csv": "csv", ".tsv": "csv", ".psv": "csv", ".txt": "lines",
              ".jsonl": "lines", ".ndjson": "lines"}


@dataclass(frozen=True)
class Sample:
    path: str              # the sample written
    kind: str              # csv | lines | parquet | whole
    rows: int | None       # data rows kept (None for a file copied whole)
    bytes: int
    complete: bool         # the sample is the whole source


DUCKDB_MAGIC = (8, b"DUCK")       # offset and bytes of a DuckDB database file's magic


def kind_of(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext in (".parquet", ".pq"):
        return "parquet"
    if ext in (".duckdb", ".ddb") or (ext == ".db" and _is_duckdb(path)):
        return "duckdb"
    return LINE_KINDS.get(ext, "whole")


def _is_duckdb(path: str) -> bool:
    at, magic = DUCKDB_MAGIC
    try:
        with open(path, "rb") as f:
            return f.read(at + len(magic))[at:] == magic
    except OSError:
        return False


def _records(f, quoted: bool):
    """Raw records of a line file; with ``quoted``, a record whose quotes are unbalanced
    continues on the next line (RFC 4180 fields holding newlines)."""
    pending = b""
    for line in f:
        pending += line
        if quoted and pending.count(b'"') % 2:
            continue
        yield pending
        pending = b""
    if pending:
        yield pending


def _head_lines(src: str, dst: str, kind: str, max_rows: int, max_bytes: int) -> Sample:
    rows, size, complete = 0, 0, True
    with open(src, "rb") as f, open(dst, "wb") as out:
        header = kind == "csv"
        for rec in _records(f, quoted=kind == "csv"):
            if (not header and rows >= max_rows) or size + len(rec) > max_bytes:
                complete = False
                break
            out.write(rec)
            size += len(rec)
            if header:
                header = False
            else:
                rows += 1
    return Sample(dst, kind, rows, size, complete)


def _head_parquet(src: str, dst: str, max_rows: int, max_bytes: int) -> Sample:
    import pyarrow as pa
    import pyarrow.parquet as pq
    pf = pq.ParquetFile(src)
    total = pf.metadata.num_rows
    n = min(max_rows, total)
    while True:
        batch = next(pf.iter_batches(batch_size=max(n, 1)), None)
        table = (pa.Table.from_batches([batch]) if batch is not None
                 else pf.schema_arrow.empty_table()).slice(0, n)
        pq.write_table(table, dst)
        size = os.path.getsize(dst)
        if size <= max_bytes or n <= 1:
            return Sample(dst, "parquet", n, size, n == total)
        n //= 2


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _head_duckdb(src: str, dst: str, max_rows: int) -> Sample:
    """A DuckDB file holding the first ``max_rows`` rows of each table of ``src`` (same schemas,
    same names) and its views; ``rows``: the most rows kept in one table."""
    import duckdb
    if os.path.exists(dst):
        os.remove(dst)
    con = duckdb.connect(dst)
    kept, complete = 0, True
    try:
        con.execute(f"ATTACH '{src.replace(chr(39), chr(39) * 2)}' AS nb2pipe_src (READ_ONLY)")
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables()"
                             " WHERE database_name = 'nb2pipe_src' ORDER BY schema_name, table_name").fetchall()
        here = _quote(con.execute("SELECT current_database()").fetchone()[0])
        for schema, table in tables:
            name = f"{_quote(schema)}.{_quote(table)}"
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {here}.{_quote(schema)}")
            con.execute(f"CREATE TABLE {here}.{name} AS SELECT * FROM nb2pipe_src.{name} LIMIT {int(max_rows)}")
            n = con.execute(f"SELECT count(*) FROM {here}.{name}").fetchone()[0]
            kept = max(kept, n)
            complete = complete and n == con.execute(f"SELECT count(*) FROM nb2pipe_src.{name}").fetchone()[0]
        views = con.execute("SELECT sql FROM duckdb_views() WHERE database_name = 'nb2pipe_src'"
                            " AND NOT internal ORDER BY schema_name, view_name").fetchall()
        for (sql,) in views:
            con.execute(sql)
        con.execute("DETACH nb2pipe_src")
    finally:
        con.close()
    return Sample(dst, "duckdb", kept, os.path.getsize(dst), complete)


def head(src: str, dst: str, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES) -> Sample | None:
    """Write the first rows of ``src`` to ``dst`` (see the module's docstring); None when
    ``src`` is a file that cannot be cut and is larger than ``max_bytes``."""
    kind = kind_of(src)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    if kind == "parquet":
        return _head_parquet(src, dst, max_rows, max_bytes)
    if kind == "duckdb":
        return _head_duckdb(src, dst, max_rows)
    if kind in ("csv", "lines"):
        return _head_lines(src, dst, kind, max_rows, max_bytes)
    size = os.path.getsize(src)
    if size > max_bytes:
        return None
    shutil.copyfile(src, dst)
    return Sample(dst, "whole", None, size, True)


SAMPLE_STORE = (".nb2pipe", "sample", "store")     # where a sample check's results go


def active() -> bool:
    """True inside the kernel of a ``check --sample`` run (it writes to the sample store:
    ``$NB2PIPE_STORE`` of a local or Dask kernel, or the store ``%nb2pipe store`` gave this
    kernel's nb2pipe session -- a remote kernel gets no such variable), so a step can adapt:
    ``if not sampling.active(): assert len(df) > 1e6``."""
    return any(tuple(os.path.normpath(store).split(os.sep)[-3:]) == SAMPLE_STORE
               for store in (os.environ.get("NB2PIPE_STORE", ""), _session_store()) if store)


def _session_store() -> str:
    """The store of this IPython kernel's nb2pipe session, if nb2pipe is loaded in one."""
    import sys
    if "IPython" not in sys.modules:
        return ""
    shell = sys.modules["IPython"].get_ipython()
    magics = shell.magics_manager.registry.get("PipelineMagics") if shell is not None else None
    engine = getattr(getattr(magics, "session", None), "engine", None)
    return str(getattr(getattr(engine, "store", None), "url", "") or "")
