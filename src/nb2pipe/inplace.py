"""Cheap tokens that tell whether a step changed a value it was handed.

With pandas copy-on-write a frame handed to a step shares its column buffers
with the stored value; any write to it (a new column, a changed cell, a
dropped row in place) replaces a buffer or the column index.  So comparing the
*identity* of its column arrays, its columns and its index before and after the
step tells, in microseconds, whether it changed — no hashing, no deep copy.
The token keeps references to those objects, so an id can never be reused.

Without copy-on-write (pandas 2 default) a write lands in the same buffer and
identity says nothing: :func:`token` returns None and the caller compares
content instead.  numpy arrays get a content hash (:func:`array_token`).
"""
from __future__ import annotations

import sys
from typing import Any

from .codecs import type_tag
from .fingerprint import array_token


def pandas_cow() -> bool:
    """Whether pandas hands out copy-on-write views (pandas 3, or the option turned on)."""
    pd = sys.modules.get("pandas")
    if pd is None:
        return False
    try:
        if int(pd.__version__.split(".")[0]) >= 3:
            return True
        return bool(pd.get_option("mode.copy_on_write"))
    except Exception:  # noqa: BLE001 - an unknown pandas: be safe
        return False


class _Same:
    """Holds objects and compares by identity."""

    __slots__ = ("objs",)

    def __init__(self, objs: tuple):
        self.objs = objs

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _Same) and len(self.objs) == len(other.objs)
                and all(a is b for a, b in zip(self.objs, other.objs)))

    def __hash__(self) -> int:  # pragma: no cover - not used as a key
        return hash(tuple(map(id, self.objs)))


def token(value: Any) -> Any:
    """A token equal before and after a step exactly when it did not change ``value`` in
    place; None when this type cannot be told cheaply (compare content instead)."""
    tag = type_tag(value)
    if tag in ("pandas.DataFrame", "pandas.Series"):
        if not pandas_cow():
            return None
        frame = tag == "pandas.DataFrame"
        try:
            arrays = tuple(value._mgr.arrays)           # the column buffers, by identity
            # the columns' dtypes from the block manager: ``value.dtypes`` builds a Series
            dtypes = tuple(value._mgr.get_dtypes()) if frame else value.dtype
        except AttributeError:
            return None
        return (_Same((value, value.index) + arrays), tuple(value.columns) if frame else (value.name,),
                value.shape, dtypes,
                tuple(value.index.names), tuple(value.columns.names) if frame else (),
                repr(value.attrs) if value.attrs else "")
    return array_token(value)
