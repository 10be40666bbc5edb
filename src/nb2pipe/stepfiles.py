"""Files a step writes (``df.to_csv('x.csv')``, ``np.save('a', arr)``): outputs named
``file:PATH`` (see :mod:`nb2pipe.filerefs`), stored as their bytes.

After the writer runs, the file's bytes are stored like any output, so its version is its
content hash, identical in every store.  Before a step that reads the file runs, the file is
put back with the version of the nearest writer above it when the disk holds another one (a
later writer rewrote it, or the writer was served from the cache in a fresh folder): the
reader sees what restart-and-run-all would have shown it.
"""
from __future__ import annotations

import os

from .errors import Nb2pipeError
from .fingerprint import hash_bytes


def full_path(project_dir: str, path: str) -> str:
    return os.path.normpath(os.path.join(project_dir, path))


def read_written(project_dir: str, path: str, step: str, where: str) -> bytes | None:
    """The bytes of the file ``step`` wrote (None when it did not write it this time)."""
    full = full_path(project_dir, path)
    if not os.path.isfile(full):
        return None
    try:
        with open(full, "rb") as f:
            return f.read()
    except OSError as e:
        raise Nb2pipeError(f"step `{step}` wrote `{path}`, which cannot be read back: {e}",
                           where=where, fix="make the file readable; the step will run again") from None


def put_back(project_dir: str, path: str, data: bytes) -> bool:
    """Make the file hold ``data`` (atomically); False when it already did."""
    full = full_path(project_dir, path)
    if os.path.isfile(full) and os.path.getsize(full) == len(data):
        with open(full, "rb") as f:
            if hash_bytes(f.read()) == hash_bytes(data):
                return False
    os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
    tmp = f"{full}.nb2pipe-{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, full)
    return True
