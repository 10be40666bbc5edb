"""Fingerprints of what a step depends on besides its inputs: source files,
local project modules, parameter values; and fast tokens to notice in-place
mutation of array inputs.

Data versions of step *outputs* are content hashes of their stored bytes (see
:mod:`nb2pipe.store`), so they include schema, dtype and shape by construction.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
import sysconfig
from typing import Any

import xxhash

from .errors import Nb2pipeError
from .sources import expand_source, is_glob

HASH_CHUNK = 1 << 24


def hash_bytes(data) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def hash_json(obj: Any) -> str:
    return hash_bytes(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=repr).encode())


def value_fingerprint(value: Any) -> str:
    """Fingerprint of a parameter value, by content and the same in every process and on
    every machine: sets are sorted, dict keys ordered, tuples told from lists, dates, paths,
    numpy and pandas values hashed by what they hold.  A value with no canonical form raises
    :class:`TypeError` (never a repr or a pickle, which can change between processes)."""
    text = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), allow_nan=True)
    return "c:" + hash_bytes(text.encode())


def _canonical(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else {"float": repr(v)}
    if isinstance(v, list):
        return [_canonical(x) for x in v]
    if isinstance(v, tuple):
        return {"tuple": [_canonical(x) for x in v]}
    if isinstance(v, (set, frozenset)):
        items = [_canonical(x) for x in v]
        return {"set": sorted(items, key=lambda x: json.dumps(x, sort_keys=True))}
    if isinstance(v, dict):
        pairs = [[_canonical(k), _canonical(x)] for k, x in v.items()]
        if all(isinstance(k, str) for k in v):
            return {"dict": {k: x for k, x in pairs}}
        return {"dict_items": sorted(pairs, key=lambda kv: json.dumps(kv[0], sort_keys=True))}
    if isinstance(v, bytes):
        return {"bytes": hash_bytes(v)}
    import dataclasses
    import datetime
    import decimal
    import enum
    import pathlib
    if isinstance(v, enum.Enum):
        return {"enum": f"{type(v).__module__}.{type(v).__qualname__}", "value": _canonical(v.value)}
    if isinstance(v, (datetime.date, datetime.time, datetime.timedelta)):
        return {type(v).__name__: str(v)}
    if isinstance(v, (decimal.Decimal, pathlib.PurePath)):
        return {type(v).__name__: str(v)}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {"dataclass": f"{type(v).__module__}.{type(v).__qualname__}",
                "fields": {f.name: _canonical(getattr(v, f.name)) for f in dataclasses.fields(v)}}
    path = f"{type(v).__module__}.{type(v).__qualname__}"
    if path.startswith("numpy.") and hasattr(v, "dtype"):
        import numpy as np
        if np.ndim(v) == 0:
            return {"numpy": str(v.dtype), "value": _canonical(v.item())}
        if not v.dtype.hasobject:
            return {"ndarray": str(v.dtype), "shape": list(v.shape),
                    "data": hash_bytes(np.ascontiguousarray(v).tobytes())}
    if path.startswith("pandas.") and hasattr(v, "to_numpy"):
        import pandas as pd
        try:
            digest = hash_bytes(pd.util.hash_pandas_object(v, index=True).to_numpy().tobytes())
        except TypeError:
            digest = None
        if digest is not None:
            cols = [str(c) for c in getattr(v, "columns", [])]
            return {"pandas": type(v).__name__, "columns": cols, "dtypes": [str(d) for d in
                    (v.dtypes if cols else [v.dtype])], "data": digest}
    raise TypeError(f"a {path} has no canonical form")


_SECRET_MEMO: dict[tuple[str, str], str] = {}


def secret_fingerprint(name: str, value: Any) -> str:
    """What a secret parameter contributes to a key: a slow, salted digest (scrypt) of its
    value, so a result computed with one secret is never served for another, while the value
    cannot be read back from the store (nor guessed cheaply, short of a weak secret).  The
    same value gives the same digest on every machine, so stores stay shareable."""
    memo_key = (name, value_fingerprint(value))
    hit = _SECRET_MEMO.get(memo_key)
    if hit is None:
        import hashlib
        data = value if isinstance(value, bytes) else str(value).encode()
        hit = "s:" + hashlib.scrypt(data, salt=b"nb2pipe/secret/" + name.encode(), n=1 << 14, r=8,
                                    p=1, dklen=16).hex()
        _SECRET_MEMO[memo_key] = hit
    return hit


class FileHasher:
    """Hashes files, remembering results by (size, mtime, inode) so an unchanged
    multi-gigabyte source is not re-read on every plan.  One per engine."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[tuple, str]] = {}
        self._origins: dict[tuple[str, str], str | None] = {}   # module -> local file (or None)

    def file(self, path: str) -> str:
        st = os.stat(path)
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        hit = self._memo.get(path)
        if hit and hit[0] == stamp:
            return hit[1]
        h = xxhash.xxh3_128()
        with open(path, "rb") as f:
            while chunk := f.read(HASH_CHUNK):
                h.update(chunk)
        digest = h.hexdigest()
        self._memo[path] = (stamp, digest)
        return digest

    def source(self, spec: str, base: str, step: str) -> str:
        """Fingerprint a ``--src``: a file, a directory (all files in it) or a glob."""
        full = os.path.join(base, spec)
        if os.path.isfile(full) and not is_glob(spec):
            return self.file(full)
        if not is_glob(spec) and not os.path.isdir(full):
            raise Nb2pipeError(f"--src {spec} of step `{step}` does not exist",
                               where=f"step `{step}` (looked in {os.path.relpath(full)})",
                               fix="create the file, or correct the path on the %%step line")
        files = expand_source(spec, base)
        return hash_json([[os.path.relpath(p, full if os.path.isdir(full) else base), self.file(p)]
                          for p in files])

    def is_local(self, name: str, project_dir: str) -> bool:
        """Whether module ``name`` is the project's own code (not an installed library)."""
        return self._origin(name, project_dir) is not None

    def _origin(self, name: str, project_dir: str) -> str | None:
        if (name, project_dir) not in self._origins:
            self._origins[(name, project_dir)] = _local_origin(name, project_dir)
        return self._origins[(name, project_dir)]

    def module(self, name: str, project_dir: str) -> str | None:
        """Fingerprint of a module if it is local project code, else None."""
        origin = self._origin(name, project_dir)
        if origin is None:
            return None
        if os.path.basename(origin) == "__init__.py":
            root = os.path.dirname(origin)
            files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root)
                           for f in fs if f.endswith(".py"))
            return hash_json([[os.path.relpath(p, root), self.file(p)] for p in files])
        return self.file(origin)


@functools.lru_cache(maxsize=1)
def _library_dirs() -> tuple[str, ...]:
    paths = {sysconfig.get_paths().get(k) for k in ("purelib", "platlib", "stdlib", "platstdlib")}
    paths |= {sys.prefix, sys.base_prefix}
    return tuple(os.path.realpath(p) for p in paths if p)


def _in_project(name: str, project_dir: str) -> str | None:
    """Where module ``name`` is in the project directory (first on a kernel's path there),
    found without importing anything and without putting the project on ``sys.path``."""
    from importlib.machinery import PathFinder
    path: list[str] | None = [project_dir]
    spec = None
    parts = name.split(".")
    for i in range(len(parts)):
        spec = PathFinder.find_spec(".".join(parts[:i + 1]), path)
        if spec is None:
            return None
        path = list(spec.submodule_search_locations or [])
    return spec.origin if spec else None


def _local_origin(name: str, project_dir: str) -> str | None:
    if name in sys.builtin_module_names:
        return None
    mod = sys.modules.get(name)
    origin = getattr(mod, "__file__", None) if mod is not None else None
    if origin is None:
        origin = _in_project(name, project_dir)
    if origin is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        origin = spec.origin if spec else None
    if not origin or not os.path.exists(origin):
        return None
    origin = os.path.realpath(origin)
    proj = os.path.realpath(project_dir)
    if not origin.startswith(proj + os.sep):
        return None
    if any(origin.startswith(lib + os.sep) for lib in _library_dirs()
           if lib.startswith(proj + os.sep) or lib == proj):
        return None
    # a virtualenv inside the project is not project code; the project itself may live in
    # site-packages (an installed, exported pipeline), which is fine
    rel = os.path.relpath(origin, proj).split(os.sep)
    if "site-packages" in rel or "dist-packages" in rel:
        return None
    return origin


def array_token(value: Any) -> str | None:
    """A fast content token for mutable array inputs (numpy); None for other types."""
    t = type(value)
    if f"{t.__module__}.{t.__qualname__}" != "numpy.ndarray" or value.dtype.hasobject:
        return None
    import numpy as np
    data = value if value.flags.c_contiguous else np.ascontiguousarray(value)
    return hash_bytes(memoryview(data).cast("B")) + str(value.shape) + str(value.dtype)
