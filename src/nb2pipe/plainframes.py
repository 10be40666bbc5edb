"""Plain pandas frames to Arrow, without pyarrow's pandas layer each time.

``pa.Table.from_pandas`` works out a frame's schema and its pandas metadata in Python, column
by column, for every frame: 0.2-0.4 ms for a frame of three columns, paid by every stored step
output (the largest part of a short step's bookkeeping under ``run --watch``).  For a *plain*
frame -- unique ``str`` column names in a plain ``Index``, numeric or boolean NumPy columns, a
``RangeIndex``, no ``attrs`` -- that schema depends only on the frame's *signature* (names,
dtypes, the range, the index and column-index names), so the schema pyarrow made for the first
frame of a signature is reused, and each column is converted the way pyarrow converts it
(``pa.array(values, from_pandas=True)``: NaN becomes null).

The table, and so the file and its content hash, is byte for byte what ``from_pandas`` gives
(``tests/unit/test_plainframes.py`` compares them over a table of frames): which way a frame
took never changes an object id.  Any other frame returns None and takes pyarrow's way.
"""
from __future__ import annotations

from typing import Any

_KINDS = frozenset("iufb")     # int, unsigned, float, bool
_MEMO_SIZE = 256

# signature -> schema (with its pandas metadata): a memo of a pure function of the signature
_schemas: dict[tuple, Any] = {}


def signature(frame) -> tuple | None:
    """What a plain frame's Arrow schema depends on, or None when the frame is not plain."""
    index, columns = frame.index, frame.columns
    if type(index).__name__ != "RangeIndex" or type(columns).__name__ != "Index" or frame.attrs:
        return None
    names = tuple(columns)
    if not all(type(n) is str for n in names) or len(set(names)) != len(names):
        return None
    try:
        dtypes = tuple(frame._mgr.get_dtypes())     # ``frame.dtypes`` builds a Series (~40 µs)
    except AttributeError:
        return None
    import numpy as np
    if not all(isinstance(d, np.dtype) and d.kind in _KINDS for d in dtypes):
        return None
    return (names, tuple(map(str, dtypes)), str(columns.dtype), columns.name,
            index.start, index.stop, index.step, index.name)


def to_arrow(frame) -> Any | None:
    """``frame`` as the table ``pa.Table.from_pandas(frame)`` makes, or None (not plain)."""
    import pyarrow as pa
    sig = signature(frame)
    if sig is None:
        return None
    schema = _schemas.get(sig)
    if schema is None:
        table = pa.Table.from_pandas(frame, nthreads=1)
        if len(_schemas) >= _MEMO_SIZE:
            _schemas.clear()
        _schemas[sig] = table.schema
        return table
    try:                                       # each column's array, by position
        values = [frame._mgr.iget_values(i) for i in range(len(sig[0]))]
    except AttributeError:
        values = [frame[name].to_numpy() for name in sig[0]]
    arrays = [pa.array(v, from_pandas=True) for v in values]
    return pa.Table.from_arrays(arrays, schema=schema)
