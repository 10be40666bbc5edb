"""Where the store's files live: a local directory (atomic renames, memory-mapped reads,
verification stamps from stat) or any fsspec filesystem (objects PUT whole at their key)."""
from __future__ import annotations

import os
import tempfile
import time
import uuid

TMP_MAX_AGE = 3600.0


class _LocalBackend:
    atomic_create = True          # create_exclusive is a hard link: exactly one creator wins
    def __init__(self, root: str, create: bool = True):
        self.root = os.path.abspath(root)
        self.url = self.root
        self._prefix = os.path.join(self.root, "")     # paths are made per stat: no join each time
        if create:
            os.makedirs(os.path.join(self.root, "tmp"), exist_ok=True)

    def path(self, rel: str) -> str:
        return self._prefix + rel          # ``rel`` is always relative to the store's root

    def tmp_path(self) -> str:
        return os.path.join(self.root, "tmp", f"{os.getpid()}-{uuid.uuid4().hex}")

    def publish(self, tmp: str, rel: str) -> None:
        dst = self.path(rel)
        try:
            os.replace(tmp, dst)
        except FileNotFoundError:      # its folder is not there yet (a makedirs per write cost more)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.replace(tmp, dst)

    def _staged(self, data: bytes) -> str:
        """A new file of ``data`` under ``tmp/``, to be published (or linked) whole."""
        tmp = self.tmp_path()
        with open(tmp, "wb") as f:
            f.write(data)
        return tmp

    def write_bytes(self, rel: str, data: bytes) -> None:
        self.publish(self._staged(data), rel)

    def link_over(self, src_rel: str, rel: str) -> None:
        """Make ``rel`` a second name of the file at ``src_rel`` (see ``_replace``).  No file
        is created nor freed: on this kind of disk making a file (an inode) costs ~0.1-0.4 ms
        of CPU, a link a fraction of it."""
        tmp = self.tmp_path()
        os.link(self.path(src_rel), tmp)
        self._replace(tmp, rel)

    def rewrite_bytes(self, rel: str, data: bytes) -> None:
        """Replace a file that readers may briefly find missing (a step's last result, an
        index) with a new copy of ``data`` (see ``_replace``)."""
        self._replace(self._staged(data), rel)

    def _replace(self, tmp: str, rel: str) -> None:
        """Put ``tmp`` at ``rel``: the old file is unlinked, then ``tmp`` renamed in.  On ext4
        a rename over an existing file makes the kernel write the new file's data out at
        once (auto_da_alloc): ~0.1 ms a write here, against ~0.04 ms for a rename to a free
        name.  A reader may find ``rel`` missing for that moment."""
        self.remove(rel)
        self.publish(tmp, rel)

    def read_bytes(self, rel: str) -> bytes | None:
        try:
            with open(self.path(rel), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def read_buffer(self, rel: str):
        import pyarrow as pa
        p = self.path(rel)
        if not os.path.exists(p):
            return None
        if os.path.getsize(p) == 0:
            return pa.py_buffer(b"")
        return pa.memory_map(p, "r").read_buffer()

    def exists(self, rel: str) -> bool:
        return os.path.exists(self.path(rel))

    def stamp(self, rel: str) -> tuple | None:
        try:
            st = os.stat(self.path(rel))
        except FileNotFoundError:
            return None
        return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)

    def remove(self, rel: str) -> None:
        try:
            os.remove(self.path(rel))
        except FileNotFoundError:
            pass

    def mtime(self, rel: str) -> float | None:
        try:
            return os.stat(self.path(rel)).st_mtime
        except FileNotFoundError:
            return None

    def size(self, rel: str) -> int:
        try:
            return os.stat(self.path(rel)).st_size
        except FileNotFoundError:
            return 0

    def move_aside(self, rel: str) -> None:
        p = self.path(rel)
        try:
            os.replace(p, os.path.join(self.root, "tmp", f"corrupt-{uuid.uuid4().hex}-" + os.path.basename(p)))
        except FileNotFoundError:
            pass

    def listdir(self, rel: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(rel)))
        except FileNotFoundError:
            return []

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """Write ``data`` at ``rel`` only if nothing is there yet (atomic)."""
        tmp = self._staged(data)
        os.chmod(tmp, 0o600)
        try:
            return self._link(tmp, self.path(rel))
        finally:
            os.remove(tmp)

    @staticmethod
    def _link(tmp: str, dst: str) -> bool:
        """Hard-link ``tmp`` at ``dst`` unless something is there (its folder made if needed)."""
        try:
            os.link(tmp, dst)
            return True
        except FileExistsError:
            return False
        except FileNotFoundError:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            os.link(tmp, dst)
            return True
        except FileExistsError:
            return False

    def sweep_tmp(self) -> None:
        d = os.path.join(self.root, "tmp")
        now = time.time()
        for name in self.listdir("tmp"):
            p = os.path.join(d, name)
            try:
                if now - os.path.getmtime(p) > TMP_MAX_AGE:
                    os.remove(p)
            except OSError:
                pass


class _FsspecBackend:
    """Any fsspec filesystem.  Objects are PUT whole at their final key."""

    def __init__(self, url: str, **storage_options):
        import fsspec

        from .extras import require_store
        require_store(url)          # s3:// without s3fs: name the extra, no ImportError
        self.fs, self.root = fsspec.core.url_to_fs(url, **storage_options)
        self.root = self.root.rstrip("/")
        self.url = url
        self._tmpdir = tempfile.mkdtemp(prefix="nb2pipe-")

    def _p(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def tmp_path(self) -> str:
        return os.path.join(self._tmpdir, uuid.uuid4().hex)

    def publish(self, tmp: str, rel: str) -> None:
        try:
            self.fs.put_file(tmp, self._p(rel))
        finally:
            os.remove(tmp)

    def write_bytes(self, rel: str, data: bytes) -> None:
        self.fs.pipe_file(self._p(rel), data)

    rewrite_bytes = write_bytes

    def read_bytes(self, rel: str) -> bytes | None:
        try:
            return self.fs.cat_file(self._p(rel))
        except FileNotFoundError:
            return None

    def read_buffer(self, rel: str):
        import pyarrow as pa
        data = self.read_bytes(rel)
        return None if data is None else pa.py_buffer(data)

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self._p(rel))

    def stamp(self, rel: str) -> tuple | None:
        return None          # remote objects are re-verified on every read

    def remove(self, rel: str) -> None:
        try:
            self.fs.rm_file(self._p(rel))
        except FileNotFoundError:
            pass

    move_aside = remove

    def mtime(self, rel: str) -> float | None:
        """When the file was written, where the filesystem says (None: unknown, so gc keeps it)."""
        try:
            info = self.fs.info(self._p(rel))
        except FileNotFoundError:
            return None
        when = info.get("mtime") or info.get("LastModified") or info.get("created")
        if hasattr(when, "timestamp"):
            return when.timestamp()
        return float(when) if isinstance(when, (int, float)) else None

    def size(self, rel: str) -> int:
        try:
            return int(self.fs.info(self._p(rel)).get("size") or 0)
        except FileNotFoundError:
            return 0

    def listdir(self, rel: str) -> list[str]:
        try:
            return sorted(p.rsplit("/", 1)[-1] for p in self.fs.ls(self._p(rel), detail=False))
        except FileNotFoundError:
            return []

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        if self.exists(rel):
            return False
        self.write_bytes(rel, data)
        return True

    def sweep_tmp(self) -> None:
        pass
