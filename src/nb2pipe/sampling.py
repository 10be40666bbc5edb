"""The first rows of a source file, size-capped: what an exported package ships as its test
fixture instead of the production data, and what a sample check runs a pipeline on.

``head(src, dst)`` writes a sample of ``src`` to ``dst`` and says what it kept:

- CSV/TSV/text lines: the header and the first rows (whole records: a quoted field may span
  lines), at most ``max_rows`` data rows and ``max_bytes`` bytes;
- JSON lines (``.jsonl``/``.ndjson``): the first ``max_rows`` lines within ``max_bytes``;
- Parquet: the first ``max_rows`` rows (fewer if the written file would pass ``max_bytes``);
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


def kind_of(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext in (".parquet", ".pq"):
        return "parquet"
    return LINE_KINDS.get(ext, "whole")


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


def head(src: str, dst: str, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES) -> Sample | None:
    """Write the first rows of ``src`` to ``dst`` (see the module's docstring); None when
    ``src`` is a file that cannot be cut and is larger than ``max_bytes``."""
    kind = kind_of(src)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    if kind == "parquet":
        return _head_parquet(src, dst, max_rows, max_bytes)
    if kind in ("csv", "lines"):
        return _head_lines(src, dst, kind, max_rows, max_bytes)
    size = os.path.getsize(src)
    if size > max_bytes:
        return None
    shutil.copyfile(src, dst)
    return Sample(dst, "whole", None, size, True)


SAMPLE_STORE = (".nb2pipe", "sample", "store")     # where a sample check's results go


def active() -> bool:
    """True inside the kernel of a ``check --sample`` run (it writes to the sample store,
    ``$NB2PIPE_STORE``), so a step can adapt: ``if not sampling.active(): assert len(df) > 1e6``."""
    store = os.environ.get("NB2PIPE_STORE", "")
    return tuple(os.path.normpath(store).split(os.sep)[-3:]) == SAMPLE_STORE
