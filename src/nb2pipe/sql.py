"""SQL steps: what a DuckDB query reads (tables, files, parameters) and how it runs.

Analysis uses DuckDB's own parser (``json_serialize_sql``), so CTEs, subqueries and
table functions are understood exactly as DuckDB will run them.  Parameters are
written ``{{ name }}`` and bound as prepared-statement values, never pasted into
the SQL text.
"""
from __future__ import annotations

import json
import threading
import re
from dataclasses import dataclass
from typing import Any

from .analysis import CodeInfo
from .errors import AnalysisError

PARAM_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
FILE_FUNCTIONS = {"read_parquet", "parquet_scan", "read_csv", "read_csv_auto", "read_json",
                  "read_json_auto", "read_ndjson", "read_ndjson_auto", "read_text", "read_blob",
                  "read_duckdb"}


@dataclass(frozen=True)
class SqlInfo:
    query: str                   # {{ p }} replaced by $p
    tables: tuple[str, ...]      # tables the query reads (upstream step outputs)
    files: tuple[str, ...]       # files and globs it reads (tracked like --src)
    params: tuple[str, ...]      # parameters it uses
    normalized: str


def _walk(node: Any, tables: dict, files: dict, ctes: set) -> None:
    if isinstance(node, dict):
        for cte in (node.get("cte_map") or {}).get("map", []) or []:
            if isinstance(cte, dict) and cte.get("key"):
                ctes.add(cte["key"])
        t = node.get("type")
        if t == "BASE_TABLE" and not node.get("schema_name"):
            name = node.get("table_name", "")
            if "/" in name or "." in name or "*" in name:
                files.setdefault(name)
            else:
                tables.setdefault(name)
        elif t == "TABLE_FUNCTION":
            fn = node.get("function") or {}
            if fn.get("function_name") in FILE_FUNCTIONS:
                for arg in fn.get("children") or fn.get("arguments") or []:
                    expr = arg.get("expression", arg) if isinstance(arg, dict) else arg
                    _constant_paths(expr, files)
        for v in node.values():
            _walk(v, tables, files, ctes)
    elif isinstance(node, list):
        for v in node:
            _walk(v, tables, files, ctes)


def _constant_paths(expr: Any, files: dict) -> None:
    if isinstance(expr, dict):
        if expr.get("class") == "CONSTANT":
            lit = expr.get("literal") or {}
            v = lit.get("text") if lit.get("kind") == "STRING" else (expr.get("value") or {}).get("value")
            if isinstance(v, str):
                files.setdefault(v)
        for c in expr.get("children") or []:   # lists of paths: ['a.csv', 'b.csv']
            _constant_paths(c, files)
        for a in expr.get("arguments") or []:
            _constant_paths(a.get("expression", a) if isinstance(a, dict) else a, files)


def _line_of(query: str, position: int) -> int:
    return query.count("\n", 0, max(position, 0)) + 1


_parsers = threading.local()


def _parser_connection(duckdb):
    """An in-memory DuckDB connection used only to parse queries (``json_serialize_sql`` reads
    no table), one per thread and kept: opening one costs ~70 ms, parsing ~1.5 ms, and a
    1,000-step SQL notebook was read in minutes when each step opened its own."""
    con = getattr(_parsers, "con", None)
    if con is None:
        con = _parsers.con = duckdb.connect()
    return con


def analyze_sql(code: str, *, filename: str = "<sql>", line_offset: int = 0) -> SqlInfo:
    import duckdb
    params = tuple(dict.fromkeys(PARAM_RE.findall(code)))
    query = PARAM_RE.sub(lambda m: f"${m.group(1)}", code).strip().rstrip(";")
    if not query:
        raise AnalysisError("the SQL step is empty", where=filename, fix="write a SELECT query")
    tree = json.loads(_parser_connection(duckdb).execute("SELECT json_serialize_sql(?)",
                                                            [query]).fetchone()[0])
    if tree.get("error"):
        pos = int(tree.get("position") or 0)
        line = _line_of(query, pos) + line_offset
        raise AnalysisError(f"SQL syntax error: {tree.get('error_message')}",
                            where=f"{filename}, line {line}", fix="correct the query and run the cell again")
    if len(tree.get("statements", [])) != 1:
        raise AnalysisError("a SQL step holds exactly one SELECT statement", where=filename,
                            fix="split it into several steps")
    tables: dict = {}
    files: dict = {}
    ctes: set = set()
    _walk(tree["statements"], tables, files, ctes)
    normalized = " ".join(query.split())
    return SqlInfo(query, tuple(t for t in tables if t not in ctes), tuple(files), params, normalized)


def code_info(info: SqlInfo, outputs: tuple[str, ...]) -> CodeInfo:
    """The SQL step seen as code: it reads its tables, parameters and local files (a file a
    step above writes, ``file:PATH``, is that step's output: see :mod:`nb2pipe.filerefs`),
    writes its output."""
    from .filerefs import name_of
    files = tuple(name_of(f) for f in info.files if "://" not in f)
    return CodeInfo(reads=info.tables + info.params + files, writes=outputs, defines=outputs, imports=(),
                    import_map={}, normalized=info.normalized)


SQL_LINE_RE = re.compile(r"LINE (\d+):")


def run(con, info: SqlInfo, tables: dict[str, Any], params: dict[str, Any]):
    """Run the query with ``tables`` registered by name; returns a pyarrow Table."""
    for name, value in tables.items():
        con.register(name, value)
    try:
        bound = {p: params[p] for p in info.params} if info.params else None
        rel = con.sql(info.query, params=bound)
        # a relation streams straight to Arrow (DuckDB 2: to_arrow_table; 1.x: arrow)
        fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
        return fetch()
    finally:
        for name in tables:
            try:
                con.unregister(name)
            except Exception:  # noqa: BLE001
                pass


def error_line(message: str, query: str = "") -> int | None:
    """The query line an error is about: DuckDB's ``LINE n:``, else the first line that
    holds the identifier the message quotes."""
    m = SQL_LINE_RE.search(message)
    if m:
        return int(m.group(1))
    for name in re.findall(r'"([^"\n]+)"', message):
        hit = re.search(r"\b" + re.escape(name) + r"\b", query)
        if hit:
            return _line_of(query, hit.start())
    return None
