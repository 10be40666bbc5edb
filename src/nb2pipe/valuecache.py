"""The values a session has decoded, by object id: a table read once is handed to every
step that reads it (copy-on-write, or copied when it is a pandas object), instead of being
read from the store again.  One per engine; no IPython, no global state."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from . import inplace
from .entries import ObjectRef

# codecs whose decoded value is kept: tables and arrays (large, and shared safely)
KEPT_CODECS = ("arrow", "npy")


class ValueCache:
    """Object id -> decoded value, for the codecs worth keeping."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def __contains__(self, oid: str) -> bool:
        return oid in self._values

    def __len__(self) -> int:
        return len(self._values)

    def keep(self, ref: ObjectRef, value: Any) -> None:
        """Remember the value just written or read for ``ref`` (tables and arrays only)."""
        if ref.codec in KEPT_CODECS:
            self._values[ref.oid] = value

    def drop(self, oid: str) -> None:
        self._values.pop(oid, None)

    def forget(self, replaced: Iterable[ObjectRef], live: Callable[[str], bool]) -> None:
        """Drop the values of a replaced result's ``replaced`` refs unless ``live(oid)`` (a
        current result still uses it)."""
        for r in replaced:
            if r.oid in self._values and not live(r.oid):
                del self._values[r.oid]

    def load(self, ref: ObjectRef, read) -> Any:
        """A value for one consumer: shared when immutable or copy-on-write, decoded afresh
        (``read(ref)``) when it is a plain Python object, so mutation stays local."""
        if ref.codec in ("json", "pickle"):
            return read(ref)
        value = self._values.get(ref.oid)
        if value is None:
            value = read(ref)
            self._values[ref.oid] = value
        if ref.type in ("pandas.DataFrame", "pandas.Series"):
            return value.copy(deep=not inplace.pandas_cow())
        return value
