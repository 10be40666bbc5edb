"""What headless planning learned about each cell's code, kept between runs so that a no-op
``nb2pipe run`` or ``status`` of a 1,000-step notebook does not parse 1,000 cells again.

One file per notebook in a local store, ``analysis/<notebook>.json``, read once and written
only when something in it changed.  An entry is found by the hash of exactly what the
analysis reads (the kind of analysis, the line offset, the code text), and the whole file is
used only when it was written by the same analysis: the same nb2pipe version, Python version
and source text of the modules that analyse code (so a changed analyser, or Python's
``ast.unparse``, never serves an old answer); SQL entries also by the DuckDB version, whose
parser finds the tables.  Analyses that fail (syntax errors) are never kept, so their errors
are reported as before.  A missing, unreadable or foreign file is ignored: it is a shortcut,
never a source of truth.
"""
from __future__ import annotations

import ast
import json
import sys

from .analysis import CodeInfo, analyze
from .filerefs import FileRefs
from .fingerprint import hash_bytes
from .mutation import MutationInfo

CACHE_VERSION = 1


def _analyser_fingerprint() -> str:
    """nb2pipe's and Python's versions and the source of every module whose output is kept."""
    from . import __version__, analysis, filerefs, mutation, sql
    parts = [__version__, sys.version, str(CACHE_VERSION)]
    for mod in (analysis, filerefs, mutation, sql, sys.modules[__name__]):
        try:
            with open(mod.__file__, "rb") as f:
                parts.append(hash_bytes(f.read()))
        except (OSError, TypeError):          # no source beside it: the version must do
            parts.append(getattr(mod, "__name__", "?"))
    return hash_bytes("\0".join(parts).encode())


def _installed(package: str) -> str:
    """Which ``package`` is installed (its package file and that file's size and time: a new
    install writes it again), found without importing it (seconds on a loaded machine)."""
    import importlib.util
    import os
    try:
        spec = importlib.util.find_spec(package)
        st = os.stat(spec.origin)
    except (ImportError, ValueError, AttributeError, TypeError, OSError):
        return "none"
    return f"{spec.origin}:{st.st_size}:{st.st_mtime_ns}"


class AnalysisCache:
    """Analyses of Python and SQL cell code, and the plain-Python form of IPython cells,
    remembered in ``backend`` (None: only for this process's planning)."""

    def __init__(self, backend=None, name: str = "") -> None:
        from .entries import pipeline_slug
        self.backend = backend
        self.rel = f"analysis/{pipeline_slug(name or '_')}.json"
        self.fingerprint = _analyser_fingerprint()
        self._versions: dict[str, str] = {}       # package -> _installed(package), asked once
        self.found: dict[str, object] = {}       # key -> stored form, as read from the file
        self.used: dict[str, object] = {}        # key -> stored form, what this planning used
        self.hits = 0
        self.misses = 0
        if backend is not None:
            self._load()

    @classmethod
    def of_store(cls, store, name: str) -> "AnalysisCache":
        """The cache of notebook ``name`` in ``store`` when that is a writable local store
        (a remote one would cost a round trip per run), else one kept only in memory."""
        from .store_backends import _LocalBackend
        own = getattr(store, "own", store)
        backend = getattr(own, "backend", None)
        if not isinstance(backend, _LocalBackend) or getattr(own, "read_only", False):
            backend = None
        return cls(backend, name)

    def _load(self) -> None:
        """The file is a header line (the analyser's fingerprint, the hash of the rest) and the
        entries: a file cut short or changed by hand is not used."""
        data = self.backend.read_bytes(self.rel) or b""
        head, _, body = data.partition(b"\n")
        try:
            header = json.loads(head) if head else {}
            if header.get("fingerprint") != self.fingerprint or header.get("body") != hash_bytes(body):
                return
            entries = json.loads(body)
        except (ValueError, AttributeError):
            return
        if isinstance(entries, dict):
            self.found = entries

    def save(self) -> None:
        """Write what this planning used, if it differs from what was read (best effort: a
        store that cannot be written just keeps no cache)."""
        if self.backend is None or (not self.misses and self.used.keys() == self.found.keys()):
            return
        body = json.dumps(self.used, separators=(",", ":")).encode()
        head = json.dumps({"fingerprint": self.fingerprint, "body": hash_bytes(body)}).encode()
        try:
            self.backend.rewrite_bytes(self.rel, head + b"\n" + body)
        except OSError:
            pass

    # -- lookups
    def _get(self, key: str, decode, compute, encode):
        stored = self.used.get(key) or self.found.get(key)    # the same code twice: once
        if stored is not None:
            try:
                value = decode(stored)
            except (TypeError, ValueError, KeyError, IndexError, AttributeError):
                value = None               # a damaged entry: analysed again below
            if value is not None:
                self.hits += 1
                self.used[key] = stored
                return value
        value = compute()                  # raises for bad code: nothing kept
        self.misses += 1
        self.used[key] = encode(value)
        return value

    def python(self, code: str, *, filename: str = "<cell>", line_offset: int = 0) -> CodeInfo:
        """:func:`nb2pipe.analysis.analyze`, remembered."""
        key = hash_bytes(f"py\0{line_offset}\0{code}".encode())
        return self._get(key, _decode_info, lambda: analyze(code, filename=filename, line_offset=line_offset),
                         _encode_info)

    def sql(self, code: str, *, filename: str = "<sql>", line_offset: int = 0):
        """:func:`nb2pipe.sql.analyze_sql`, remembered."""
        from .sql import analyze_sql
        key = hash_bytes(f"sql\0{self._version('duckdb')}\0{line_offset}\0{code}".encode())
        return self._get(key, _decode_sql, lambda: analyze_sql(code, filename=filename, line_offset=line_offset),
                         _encode_sql)

    def _version(self, package: str) -> str:
        if package not in self._versions:
            self._versions[package] = _installed(package)
        return self._versions[package]

    def python_source(self, code: str) -> str:
        """The cell's code as the kernel runs it (see ``runner.plan.python_source``): kept as
        [None] for plain Python, else [the transformed code, the IPython that transformed it]."""
        def compute() -> list:
            try:
                ast.parse(code)
                return [None]              # plain Python: the code itself
            except SyntaxError:
                from .runner.plan import python_source
                return [python_source(code), self._version("IPython")]

        def decode(stored) -> list:
            if stored[0] is not None and (not isinstance(stored[0], str) or stored[1] != self._version("IPython")):
                raise ValueError("transformed by another IPython")
            return stored
        kept = self._get(hash_bytes(f"src\0{code}".encode()), decode, compute, lambda v: v)
        return code if kept[0] is None else kept[0]


def _encode_info(i: CodeInfo) -> dict:
    return {"reads": i.reads, "writes": i.writes, "defines": i.defines, "imports": i.imports,
            "import_map": i.import_map, "normalized": i.normalized,
            "direct": sorted(i.mutation.direct), "passed": {k: sorted(v) for k, v in i.mutation.passed.items()},
            "paths": i.files.paths, "unresolved": i.files.unresolved, "file_writes": i.files.writes,
            "optional": i.optional, "definitions": i.definitions}


def _decode_info(d: dict) -> CodeInfo:
    """The entry as :func:`_encode_info` wrote it (the file's hash vouches for its shape)."""
    return CodeInfo(
        reads=tuple(d["reads"]), writes=tuple(d["writes"]), defines=tuple(d["defines"]),
        imports=tuple(d["imports"]), import_map=dict(d["import_map"]), normalized=d["normalized"],
        mutation=MutationInfo(frozenset(d["direct"]), {k: frozenset(v) for k, v in d["passed"].items()}),
        files=FileRefs(tuple(d["paths"]), tuple(tuple(u) for u in d["unresolved"]), tuple(d["file_writes"])),
        optional=tuple(d["optional"]), definitions=d["definitions"])


def _encode_sql(info) -> dict:
    return {"query": info.query, "tables": info.tables, "files": info.files, "params": info.params,
            "normalized": info.normalized}


def _decode_sql(d: dict):
    from .sql import SqlInfo
    return SqlInfo(d["query"], tuple(d["tables"]), tuple(d["files"]), tuple(d["params"]), d["normalized"])
