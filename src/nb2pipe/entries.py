"""What an entry and an output reference may hold, checked before anything is served:
object ids are content hashes (never paths), keys are hex, codecs and types agree, and a
local object's header matches its reference.  An invalid entry is a miss, with one warning."""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

import xxhash

from . import codecs

log = logging.getLogger("nb2pipe.store")


def content_hash(buf) -> str:
    return xxhash.xxh3_128_hexdigest(buf)


def file_hash(path: str, chunk: int = 8 << 20) -> str:
    """:func:`content_hash` of a file, read in chunks (never mapped or held whole: the
    process's memory does not grow with the file)."""
    h, buf = xxhash.xxh3_128(), bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


class HashingFile:
    """A file a codec writes through, hashed as it is written: after :meth:`finish`,
    ``digest`` is what :func:`file_hash` of the file gives, without reading it back (a store
    write of a table hashed its file again: ~0.4 ms of CPU per 2.4 MB).  ``open`` starts
    afresh, so a write that failed half-way (and fell back to another codec, which writes
    the file itself) leaves ``digest`` None: the file is then hashed as before."""

    def __init__(self) -> None:
        self.digest: str | None = None
        self._f = None
        self._h = None

    def open(self, path: str) -> "HashingFile":
        self.digest, self._f, self._h = None, open(path, "wb"), xxhash.xxh3_128()
        return self

    def write(self, data) -> int:
        self._h.update(data)
        return self._f.write(data)       # buffered: all of it is written, or it raises

    def flush(self) -> None:
        self._f.flush()

    @property
    def closed(self) -> bool:
        return self._f is None or self._f.closed

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        if self._f is not None:
            self._f.close()

    def finish(self) -> None:
        """The codec wrote the whole file and closed it: its hash is known."""
        self.close()
        self.digest = self._h.hexdigest()

    def write_all(self, path: str, data) -> None:
        """The whole file in one write (``data``: bytes or a buffer), hashed as it goes."""
        self.open(path)
        try:
            self.write(data)
        finally:
            self.close()
        self.finish()


# what a reference read from an entry may hold: an object id is exactly a content hash
# (so it can never name a path), a key is hex (so its entry file is inside the store)
OID_RE = re.compile(f"[0-9a-f]{{{len(content_hash(b''))}}}")
KEY_RE = re.compile(r"[0-9a-f]{16,128}")
_JSON_TYPES = {"builtins.dict", "builtins.list", "builtins.str", "builtins.int", "builtins.float",
               "builtins.bool", "builtins.NoneType"}
_TYPES_OF_CODEC = {"arrow": set(codecs._TABLE_TYPES.values()), "npy": {"numpy.ndarray"},
                   "json": _JSON_TYPES, "bytes": {"builtins.bytes"}}
# the first byte of a JSON object -> the types it can decode to
_JSON_FIRST = {ord("{"): {"builtins.dict"}, ord("["): {"builtins.list"}, ord('"'): {"builtins.str"},
               ord("n"): {"builtins.NoneType"}, ord("t"): {"builtins.bool"}, ord("f"): {"builtins.bool"}}
_warned: set[tuple[str, str]] = set()


def _warn_once(url: str, key: str, why: str) -> None:
    """One warning per entry per process: the entry is then a miss, recomputed on a run."""
    if (url, key) not in _warned:
        _warned.add((url, key))
        log.warning("nb2pipe: ignoring an invalid cache entry %s in %s (%s); its step will be"
                    " recomputed", key[:12], url, why)


def pipeline_slug(pipeline: str) -> str:
    """A pipeline's name as one safe path segment (``analysis`` for ``work/analysis.ipynb``)."""
    base = os.path.basename(pipeline.replace("\\", "/").rstrip("/"))
    base = base[:-len(".ipynb")] if base.endswith(".ipynb") else base
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in base).lstrip(".")
    return slug or "_"


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


@dataclass(frozen=True)
class ObjectRef:
    oid: str
    codec: str
    type: str
    nbytes: int
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def version(self) -> str:
        """The data version downstream keys chain on: content and type.  A pickled value's
        file differs between stores (it is signed), so its version is recorded apart."""
        return f"{self.type}:{self.meta.get('version') or self.oid}"

    def to_json(self) -> dict:
        return {"oid": self.oid, "codec": self.codec, "type": self.type,
                "nbytes": self.nbytes, "meta": self.meta}

    @classmethod
    def from_json(cls, d: dict) -> "ObjectRef":
        """A reference as written by :meth:`to_json`; anything else raises ValueError."""
        if not isinstance(d, dict):
            raise ValueError(f"an output reference is a {type(d).__name__}, not an object")
        oid, codec, tag, nbytes, meta = (d.get("oid"), d.get("codec"), d.get("type"), d.get("nbytes"),
                                         d.get("meta") or {})
        if not isinstance(oid, str) or not OID_RE.fullmatch(oid):
            raise ValueError(f"object id {str(oid)[:40]!r} is not a content hash")
        if codec not in codecs.EXT:
            raise ValueError(f"unknown codec {str(codec)[:20]!r}")
        if not isinstance(tag, str) or tag not in _TYPES_OF_CODEC.get(codec, {tag}):
            raise ValueError(f"type {str(tag)[:60]!r} cannot be stored as {codec}")
        if type(nbytes) is not int or nbytes < 0:
            raise ValueError(f"size {str(nbytes)[:20]!r} is not a byte count")
        if not isinstance(meta, dict):
            raise ValueError("meta is not an object")
        return cls(oid, codec, tag, nbytes, meta)


def check_entry(key: str, entry: Any, backend) -> None:
    """Raise ValueError unless ``entry`` is what ``Store.put_entry`` writes for ``key``,
    and every output it names (when present in ``backend``) matches its reference."""
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    if entry.get("key") != key:
        raise ValueError("it belongs to another key")
    outputs = entry.get("outputs")
    if not isinstance(outputs, dict):
        raise ValueError("no outputs")
    for field_, kind in (("components", dict), ("step", str)):
        if field_ in entry and not isinstance(entry[field_], kind):
            raise ValueError(f"{field_} is not a {kind.__name__}")
    for field_ in ("duration", "finished"):
        if field_ in entry and (type(entry[field_]) not in (int, float) or entry[field_] < 0):
            raise ValueError(f"{field_} is not a number")
    for name, d in outputs.items():
        ref = ObjectRef.from_json(d)
        problem = ref_problem(backend, ref)
        if problem:
            raise ValueError(f"output `{name}`: {problem}")

def object_rel(oid: str, codec: str) -> str:
    """Where an object lives in the store; anything but a content hash and a codec raises."""
    from .errors import CorruptObjectError
    if not isinstance(oid, str) or not OID_RE.fullmatch(oid) or codec not in codecs.EXT:
        raise CorruptObjectError(f"invalid object reference {str(oid)[:40]!r} ({str(codec)[:20]!r})")
    return f"objects/{oid[:2]}/{oid}{codecs.EXT[codec]}"


def ref_problem(backend, ref: ObjectRef) -> str | None:
    """Does the object file (if here; local stores only) hold the reference's type?
    Reads a header at most.  A file of another size is a damaged (or missing) object,
    which ``Store.check`` reports and a run recomputes; the entry itself may be right."""
    rel = object_rel(ref.oid, ref.codec)
    stamp = backend.stamp(rel)
    if stamp is None or stamp[0] != ref.nbytes:
        return None
    try:
        found = _header_types(backend.path(rel), ref)
    except (OSError, ValueError) as e:
        return f"the object's header is unreadable ({e})"
    if found is not None and ref.type not in found:
        return f"the object holds a {' or '.join(sorted(found))}, the entry says {ref.type}"
    return None


def import_header_readers() -> None:
    """Import what reading an object's header takes (a table's: pyarrow), ahead of the read."""
    import pyarrow.ipc  # noqa: F401


def _header_types(path: str, ref: ObjectRef) -> set[str] | None:
    """The types the object file at ``path`` can hold, from its first bytes (None: any);
    for tables and arrays also checks the schema / shape recorded in ``ref.meta``."""
    if ref.codec == "json":
        with open(path, "rb") as f:
            first = f.read(1)
        return _JSON_FIRST.get(first[0], {"builtins.int", "builtins.float"}) if first else set()
    if ref.codec == "npy":
        import numpy as np
        with open(path, "rb") as f:
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(f))
            if read is None:
                return None
            shape, _, dtype = read(f)
        if ("shape" in ref.meta and list(shape) != ref.meta["shape"]
                or "dtype" in ref.meta and str(dtype) != ref.meta["dtype"]):
            raise ValueError(f"an array of {dtype} {list(shape)}, not {ref.meta.get('dtype')}"
                             f" {ref.meta.get('shape')}")
        return {"numpy.ndarray"}
    if ref.codec == "arrow":
        import pyarrow as pa
        with pa.memory_map(path, "r") as mm:
            schema = pa.ipc.open_file(mm).schema
        fields = [[f.name, str(f.type)] for f in schema if not (f.name or "").startswith("__index_level_")]
        if "schema" in ref.meta and fields != ref.meta["schema"]:
            raise ValueError("its columns differ from the entry's")
        series = codecs._SERIES_COL in schema.names
        return {"pandas.Series"} if series else set(_TYPES_OF_CODEC["arrow"]) - {"pandas.Series"}
    return None
