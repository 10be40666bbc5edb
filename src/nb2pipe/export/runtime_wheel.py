"""The nb2pipe runtime as a wheel an exported package carries in ``wheels/``, so
``pip install --find-links wheels/ .`` installs it offline, with no Node and no source tree.

Given a wheel (``nb2pipe export --runtime-wheel PATH``), that file is copied.  Otherwise the
running nb2pipe is packed as a wheel: its package files, the prebuilt labextension it
installed under ``share/jupyter/``, its metadata and entry points.  The archive is
deterministic (sorted entries, fixed timestamps), so exports stay byte-identical.
"""
from __future__ import annotations

import base64
import glob
import hashlib
import os
import shutil
import zipfile
from importlib import metadata

from ..errors import Nb2pipeError

STAMP = (1980, 1, 1, 0, 0, 0)
WHEEL = "Wheel-Version: 1.0\nGenerator: nb2pipe export\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _package_files(dist: metadata.Distribution) -> dict[str, str]:
    """archive name -> file on disk: nb2pipe/**.py and the installed shared data."""
    import nb2pipe
    root = os.path.dirname(os.path.abspath(nb2pipe.__file__))
    files = {}
    for d, dirs, fs in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in fs:
            if not f.endswith((".pyc", ".pyo")):
                full = os.path.join(d, f)
                files["nb2pipe/" + os.path.relpath(full, root).replace(os.sep, "/")] = full
    data = f"nb2pipe-{dist.version}.data/data/"
    for f in dist.files or []:
        parts = str(f).replace("\\", "/").split("/")
        if "share" in parts and parts.index("share") == len([p for p in parts if p == ".."]):
            files[data + "/".join(parts[parts.index("share"):])] = str(dist.locate_file(f))
    return files


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


def pack(out_dir: str) -> str:
    """Write the running nb2pipe as ``nb2pipe-<version>-py3-none-any.whl`` in out_dir."""
    dist = metadata.distribution("nb2pipe")
    info = f"nb2pipe-{dist.version}.dist-info/"
    entries = {name: open(path, "rb").read() for name, path in _package_files(dist).items()
               if os.path.isfile(path)}
    entries[info + "METADATA"] = (dist.read_text("METADATA") or "").encode()
    entries[info + "entry_points.txt"] = (dist.read_text("entry_points.txt") or "").encode()
    entries[info + "WHEEL"] = WHEEL.encode()
    record = "".join(_record_line(n, b) for n, b in sorted(entries.items())) + info + "RECORD,,\n"
    entries[info + "RECORD"] = record.encode()
    path = os.path.join(out_dir, f"nb2pipe-{dist.version}-py3-none-any.whl")
    os.makedirs(out_dir, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(entries):
            zi = zipfile.ZipInfo(name, STAMP)
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, entries[name])
    return path


def place(out_dir: str, given: str | None = None) -> str:
    """Put the runtime wheel in out_dir: ``given`` (a .whl, or a folder holding one) or a
    freshly packed one.  Returns the wheel's path."""
    if given is None:
        return pack(out_dir)
    found = sorted(glob.glob(os.path.join(given, "nb2pipe-*.whl"))) if os.path.isdir(given) else [given]
    if not found or not os.path.isfile(found[-1]) or not found[-1].endswith(".whl"):
        raise Nb2pipeError(f"--runtime-wheel {given}: no nb2pipe wheel there",
                           fix="give a nb2pipe-*.whl file or a folder holding one (pip wheel --no-deps .)")
    os.makedirs(out_dir, exist_ok=True)
    dst = os.path.join(out_dir, os.path.basename(found[-1]))
    shutil.copyfile(found[-1], dst)
    return dst
