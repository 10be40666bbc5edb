"""How values become files and back: Arrow IPC, .npy, JSON, signed pickle.

Types are recognised by their class path (``"pandas.core.frame.DataFrame"``),
so pandas, polars and numpy are imported only when a value of theirs shows up.
Each codec writes to a local path and reads from a buffer (memory-mapped when
the store is local), and round-trips type, index, dtypes and column order.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import math
import pickle
from typing import Any

from .errors import CorruptObjectError, StoreError

PICKLE_MAGIC = b"NB2PKL1\n"


def type_path(value: Any) -> str:
    t = type(value)
    return f"{t.__module__}.{t.__qualname__}"


def _mro_paths(value: Any) -> list[str]:
    return [f"{t.__module__}.{t.__qualname__}" for t in type(value).__mro__]


# class path (any class in the value's MRO) -> (type tag, codec name)
_TABLE_TYPES = {
    "pandas.core.frame.DataFrame": "pandas.DataFrame",
    "pandas.core.series.Series": "pandas.Series",
    "pyarrow.lib.Table": "pyarrow.Table",
    "pyarrow.lib.RecordBatch": "pyarrow.RecordBatch",
    "polars.dataframe.frame.DataFrame": "polars.DataFrame",
}
_SERIES_COL = "__nb2pipe_series__"


def type_tag(value: Any) -> str:
    for p in _mro_paths(value):
        if p in _TABLE_TYPES:
            return _TABLE_TYPES[p]
    if "numpy.ndarray" in _mro_paths(value):
        return "numpy.ndarray"
    return type_path(value)


# ---------------------------------------------------------------- Arrow

SMALL_CELLS = 1_000_000     # a frame up to this many cells converts on the calling thread


def _threads(frame) -> int | None:
    """Convert a small frame on this thread: pyarrow would start (and join) a thread pool
    per frame of more than 100 cells per core, which costs more than it saves there."""
    return 1 if frame.size < SMALL_CELLS else None


def to_arrow(value: Any, tag: str):
    import pyarrow as pa
    if tag == "pandas.DataFrame":
        if value.size < SMALL_CELLS:
            from .plainframes import to_arrow as plain
            table = plain(value)           # the same table, without pyarrow's pandas layer
            if table is not None:
                return table
        cols = list(value.columns)
        if len(set(map(str, cols))) != len(cols):
            raise TypeError("duplicate column names")
        return pa.Table.from_pandas(value, nthreads=_threads(value))
    if tag == "pandas.Series":
        return pa.Table.from_pandas(value.to_frame(name=_SERIES_COL), nthreads=_threads(value))
    if tag == "pyarrow.Table":
        return value
    if tag == "pyarrow.RecordBatch":
        return pa.Table.from_batches([value])
    if tag == "polars.DataFrame":
        return value.to_arrow()
    raise TypeError(tag)


def from_arrow(table, tag: str, meta: dict):
    if tag == "pandas.DataFrame":
        return table.to_pandas()
    if tag == "pandas.Series":
        s = table.to_pandas()[_SERIES_COL]
        s.name = meta.get("series_name")
        return s
    if tag == "pyarrow.Table":
        return table
    if tag == "pyarrow.RecordBatch":
        return table.combine_chunks().to_batches()[0] if table.num_rows else table.to_batches()[0]
    if tag == "polars.DataFrame":
        import polars as pl
        return pl.from_arrow(table)
    raise CorruptObjectError(f"unknown table type {tag!r} in the store")


# a table up to this size is serialized in memory before its one write (a copy of it, briefly)
IN_MEMORY_BYTES = 16 << 20


def _write_arrow(value, tag: str, path: str, hashing=None) -> dict:
    """``hashing``: an :class:`~nb2pipe.entries.HashingFile` to write through (the file is
    hashed as it is written)."""
    import pyarrow as pa
    table = to_arrow(value, tag)
    if hashing is not None and table.nbytes <= IN_MEMORY_BYTES:
        # a small table: the file is made in memory and written (and hashed) in one call,
        # not in the ~20 writes through Python that the writer makes per table (same bytes)
        out = pa.BufferOutputStream()
        with pa.ipc.new_file(out, table.schema) as w:
            w.write_table(table)
        hashing.write_all(path, out.getvalue())
    else:
        sink = pa.OSFile(path, "wb") if hashing is None else pa.PythonFile(hashing.open(path), mode="w")
        with sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
        if hashing is not None:
            hashing.finish()
    # the data columns only: a pandas index stored as a column (``__index_level_0__``, or a
    # named index listed in the pandas metadata) is not one of the frame's columns
    index_cols = set()
    pandas_meta = (table.schema.metadata or {}).get(b"pandas")
    if pandas_meta:
        index_cols = {c for c in json.loads(pandas_meta).get("index_columns", []) if isinstance(c, str)}
    fields = [f for f in table.schema if not (f.name or "").startswith("__index_level_")]
    meta = {"schema": [[f.name, str(f.type)] for f in fields], "rows": table.num_rows,
            "columns": len([f for f in fields if f.name not in index_cols])}
    if tag == "pandas.Series":
        name = value.name
        if name is not None and not isinstance(name, (str, int, float, bool)):
            raise TypeError("series name is not JSON")
        meta["series_name"] = name
    return meta


def _read_arrow(buf, tag: str, meta: dict):
    import pyarrow as pa
    try:
        table = pa.ipc.open_file(buf).read_all()
    except (pa.ArrowInvalid, OSError) as e:
        raise CorruptObjectError(f"Arrow file is unreadable: {e}") from None
    return from_arrow(table, tag, meta)


# ---------------------------------------------------------------- numpy

def _write_npy(value, tag: str, path: str) -> dict:
    import numpy as np
    if value.dtype.hasobject:
        raise TypeError("object arrays go to pickle")
    with open(path, "wb") as f:            # a path would get ".npy" appended
        np.save(f, value, allow_pickle=False)
    return {"shape": list(value.shape), "dtype": str(value.dtype)}


def _read_npy(buf, tag: str, meta: dict):
    import numpy as np
    try:
        return np.load(io.BytesIO(memoryview(buf)), allow_pickle=False)
    except ValueError as e:
        raise CorruptObjectError(f".npy file is unreadable: {e}") from None


# ---------------------------------------------------------------- JSON

def _is_json(v: Any, depth: int = 0) -> bool:
    if depth > 50:
        return False
    t = type(v)
    if v is None or t in (bool, int, str):
        return True
    if t is float:
        return math.isfinite(v)
    if t is list:
        return all(_is_json(x, depth + 1) for x in v)
    if t is dict:
        return all(type(k) is str and _is_json(x, depth + 1) for k, x in v.items())
    return False


def _write_json(value, tag: str, path: str) -> dict:
    if not _is_json(value):
        raise TypeError("not plain JSON")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, separators=(",", ":"))
    return {}


def _read_json(buf, tag: str, meta: dict):
    try:
        return json.loads(bytes(memoryview(buf)).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptObjectError(f"JSON object is unreadable: {e}") from None


# ---------------------------------------------------------------- bytes: the file is the value

def _write_bytes(value, tag: str, path: str) -> dict:
    with open(path, "wb") as f:
        f.write(value)                     # straight from the object: no copy
    return {}


def _read_bytes(buf, tag: str, meta: dict):
    return buf if isinstance(buf, bytes) else buf.to_pybytes()


# ---------------------------------------------------------------- pickle

class _SignedSink:
    """Where a pickle streams to: the file, its HMAC and its plain hash, chunk by chunk
    (a large value is never copied into one payload in memory)."""

    def __init__(self, f, secret: bytes):
        import xxhash
        self.f, self.mac, self.plain = f, hmac.new(secret, digestmod=hashlib.sha256), xxhash.xxh3_128()

    def write(self, chunk) -> int:
        self.mac.update(chunk)
        self.plain.update(chunk)
        return self.f.write(chunk)


def _write_pickle(value, tag: str, path: str, secret) -> dict:
    secret = secret() if callable(secret) else secret
    with open(path, "wb") as f:
        f.write(PICKLE_MAGIC + bytes(32))        # the signature goes here once the payload is out
        sink = _SignedSink(f, secret)
        try:
            pickle.dump(value, sink, protocol=5)
        except Exception as e:  # noqa: BLE001 - pickle raises many kinds
            raise StoreError(f"a value of type {type_path(value)} cannot be stored: {e}",
                             fix="make the step output plain data (a table, array, number, "
                                 "list or dict) instead of a live object such as an open file or "
                                 "a generator; a function or lambda that later cells call belongs "
                                 "in a %%setup cell") from None
        f.seek(len(PICKLE_MAGIC))
        f.write(sink.mac.digest())
    # The data version must not depend on the store (its signing key) nor on the process
    # (pickles of sets follow the string hash seed): a canonical fingerprint where the value
    # has one, else the unsigned pickle bytes.
    from .fingerprint import value_fingerprint
    try:
        version = value_fingerprint(value)
    except (TypeError, ValueError, RecursionError):
        version = "p:" + sink.plain.hexdigest()
    return {"version": version}


def _read_pickle(buf, tag: str, meta: dict, secret: bytes):
    data = memoryview(buf)
    head = len(PICKLE_MAGIC)
    if bytes(data[:head]) != PICKLE_MAGIC or len(data) < head + 32:
        raise CorruptObjectError("pickled object has no nb2pipe signature header")
    mac, payload = bytes(data[head:head + 32]), data[head + 32:]
    want = hmac.new(secret, payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, want):
        raise CorruptObjectError("pickled object's signature does not match the signing key"
                                 " (tampered, or signed elsewhere); it will not be loaded")
    return pickle.loads(payload)


EXT = {"arrow": ".arrow", "npy": ".npy", "json": ".json", "bytes": ".bin", "pickle": ".pkl"}


ALLOWED_WITHOUT_PICKLE = ("a table (pandas DataFrame or Series, polars DataFrame, pyarrow Table),"
                          " a numpy array of numbers, or plain JSON (dict with str keys, list, str,"
                          " int, finite float, bool, None)")


def write_value(value: Any, path: str, secret, *, allow_pickle: bool = True,
                hashing=None) -> tuple[str, str, dict]:
    """Write ``value`` to ``path`` with the best codec.  Returns (codec, type tag, meta).
    ``secret``: the signing key (or a function returning it, called only for a pickle).
    ``hashing``: a :class:`~nb2pipe.entries.HashingFile`; its ``digest`` is the file's hash
    when the codec hashed it while writing (tables), else None."""
    tag = type_tag(value)
    attempts = []
    if tag in _TABLE_TYPES.values():
        attempts.append(("arrow", lambda v, t, p: _write_arrow(v, t, p, hashing)))
    elif tag == "numpy.ndarray":
        attempts.append(("npy", _write_npy))
    elif tag == "builtins.bytes":
        attempts.append(("bytes", _write_bytes))
    elif _is_json(value):
        attempts.append(("json", _write_json))
    for codec, fn in attempts:
        try:
            return codec, tag, fn(value, tag, path)
        except (TypeError, ValueError, ImportError) + _arrow_errors():
            if hashing is not None:     # it may have finished the file before failing: the
                hashing.digest = None   # file is written again below, and hashed from itself
    if not allow_pickle:
        raise StoreError(f"a value of type {tag} can only be stored as a pickle, and this environment"
                         ' refuses pickles (pickle = "refuse")',
                         fix=f"make it {ALLOWED_WITHOUT_PICKLE}")
    return "pickle", tag, _write_pickle(value, tag, path, secret)


def read_value(buf, codec: str, tag: str, meta: dict, secret: bytes) -> Any:
    if codec == "arrow":
        return _read_arrow(buf, tag, meta)
    if codec == "npy":
        return _read_npy(buf, tag, meta)
    if codec == "json":
        return _read_json(buf, tag, meta)
    if codec == "bytes":
        return _read_bytes(buf, tag, meta)
    if codec == "pickle":
        return _read_pickle(buf, tag, meta, secret)
    raise CorruptObjectError(f"unknown codec {codec!r} in the store")


def _arrow_errors() -> tuple[type, ...]:
    import sys
    pa = sys.modules.get("pyarrow")
    return (pa.ArrowException,) if pa is not None else ()


def summarize(value: Any, codec: str, meta: dict) -> dict:
    """A short, JSON-able description for status tables and the sidebar."""
    tag = type_tag(value)
    out: dict[str, Any] = {"type": tag}
    if codec == "arrow":
        out.update(rows=meta.get("rows"), columns=meta.get("columns"), schema=meta.get("schema"))
    elif codec == "npy":
        out.update(shape=meta.get("shape"), dtype=meta.get("dtype"))
    elif hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
        try:
            out["len"] = len(value)
        except Exception:  # noqa: BLE001
            pass
    else:
        r = repr(value)
        out["repr"] = r if len(r) <= 80 else r[:77] + "..."
    return out
