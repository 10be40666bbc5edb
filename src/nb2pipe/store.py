"""The content-addressed store: objects by content hash, entries by step key.

Layout (a directory, or any fsspec URL)::

    objects/ab/<oid>.<ext>      values; <oid> is the xxh3-128 of the file's bytes
    entries/ab/<key>.json       step key -> its outputs' object ids (metadata store)
    steps/<pipeline>/<step>.json  the last result of each step of each notebook (staleness reasons)
                                (locally a hard link to that result's entry file when it
                                was written right after it: no file made per step)
    runs/<run id>.json          run records

Objects are written to a temporary name and renamed into place (locally), or
PUT straight to their final key (object stores, where a PUT lands whole).  An
entry is written only after all its objects exist, so readers never see a
half-written result.  An object is hashed when first read, and again whenever its file
changed since any process last hashed it OK (a verification stamp of size, mtime, inode
and ctime is kept under ``verified/`` for objects of 256 KiB and more; smaller ones are
hashed): a torn, truncated or edited file is reported as :class:`CorruptObjectError`,
moved aside, and treated as a miss.  Pickles are signed with a key kept outside the store
(:mod:`nb2pipe.signing`); ``pickle="refuse"`` neither writes nor loads them.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

from . import codecs, leases
from .entries import (KEY_RE, OID_RE, HashingFile, ObjectRef, _dumps, _warn_once,  # noqa: F401
                      check_entry, content_hash, file_hash, object_rel, pipeline_slug, ref_problem)
from .errors import CorruptObjectError, StoreError
from .entryindex import EntryIndex
from .metadata import MetadataFiles
from .signing import ENV_VAR, PICKLE_VAR, load_key, pickle_mode, signer_id
from .store_backends import TMP_MAX_AGE, _FsspecBackend, _LocalBackend  # noqa: F401


# objects smaller than this get no stamp file under verified/: reading and hashing them
# costs about what opening a stamp file does, and writing one cost each step a file
STAMP_MIN_BYTES = 256 << 10
# objects smaller than this are checked from a plain read, not a memory map
SMALL_READ_BYTES = 1 << 20


class Store(MetadataFiles):
    """A content-addressed store: the objects here, the metadata files from
    :class:`~nb2pipe.metadata.MetadataFiles` (both Protocols of :mod:`nb2pipe.storage`).
    Cheap to create; holds no global state."""

    def __init__(self, location: str | os.PathLike, *, read_only: bool = False,
                 signing_key: str | bytes | None = None, pickle: str | None = None, **storage_options):
        """``signing_key``: the key pickles are signed with (default ``$NB2PIPE_SIGNING_KEY``,
        else the user's key file); ``pickle="refuse"`` (default ``$NB2PIPE_PICKLE``): values
        that need pickle cannot be stored, pickled objects are never loaded."""
        location = os.fspath(location)
        self.read_only = read_only
        self._key_value = signing_key or os.environ.get(ENV_VAR)     # read once, at open
        self.pickle = pickle_mode(pickle or os.environ.get(PICKLE_VAR), f"the store {location}")
        if "://" in location and not location.startswith("file://"):
            self.backend: Any = _FsspecBackend(location, **storage_options)
        else:
            try:
                self.backend = _LocalBackend(location.removeprefix("file://"), create=not read_only)
            except OSError as e:
                raise StoreError(f"cannot write to the store {location}: {e.strerror or e}",
                                 fix="check that its folder can be created and written by you, or use"
                                     " --store / --env for another one") from None
        self.url = self.backend.url
        if not read_only:
            self.backend.sweep_tmp()
        self._secret: bytes | None = None
        self._signer: str | None = None
        self._warned_signer = False
        self._entries: dict[str, dict] = {}          # key -> entry read (put_entry drops it)
        self._verified: dict[str, tuple] = {}        # rel -> (size, mtime, inode, ctime) hashed OK
        self._index = EntryIndex(self.backend)       # the entries notebooks' last plans used
        self._checked: dict[str, dict] = {}          # key -> stamps its entry was checked at
        self._last_put: tuple | None = None          # (key, finished, duration) of put_entry's last
        self._index_stale = 0                        # entries read from their own files
        self.lease_renewer = leases.Renewer(self.backend)   # renews the leases this store holds

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the store {self.url} is open read-only",
                             fix="write to your own store; read-only stores are only reused")

    @classmethod
    def default(cls, project_dir: str | os.PathLike = ".") -> "Store":
        """``$NB2PIPE_STORE``, else the project's configuration, else ``.nb2pipe/`` in the
        project directory (see :mod:`nb2pipe.config`)."""
        from .config import store_location
        return cls(store_location(os.fspath(project_dir)))

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- the pickle signing key: outside the store, loaded on first use
    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = load_key(self._key_value)
            self._signer = signer_id(self._secret)
        return self._secret

    @property
    def signer(self) -> str:
        _ = self.secret
        return self._signer or ""

    def _pickle_problem(self, ref: ObjectRef) -> str | None:
        """Why a pickled object must not be loaded here (refused, or signed with another
        key: a miss, recomputed, with one warning), or None."""
        if ref.codec != "pickle":
            return None
        if self.pickle == "refuse":
            return 'is a pickle, and this environment refuses to load pickles (pickle = "refuse")'
        if ref.meta.get("signer") != self.signer:
            if not self._warned_signer:
                self._warned_signer = True
                logging.getLogger("nb2pipe.store").warning(
                    "nb2pipe: pickled results in %s were signed with another signing key (another"
                    " user, machine or environment); they are not loaded but recomputed", self.url)
            return "was pickled and signed with another signing key"
        return None

    # -- objects
    _object_rel = staticmethod(object_rel)

    def put(self, value: Any) -> ObjectRef:
        """Store ``value``; returns its reference.  Nothing is visible until complete."""
        self._writable()
        tmp = self.backend.tmp_path()
        try:
            codec, tag, meta = codecs.write_value(value, tmp, lambda: self.secret, hashing=(hashing := HashingFile()),
                                                  allow_pickle=self.pickle != "refuse")
            if codec == "pickle":
                meta = {**meta, "signer": self.signer}
            size = os.path.getsize(tmp)
            oid = hashing.digest or file_hash(tmp, chunk=max(1, min(size, 8 << 20)))   # tables: hashed as written
            rel = self._object_rel(oid, codec)
            stamp = self.backend.stamp(rel)
            if stamp is not None and stamp[0] == size or stamp is None and self.backend.exists(rel):
                os.remove(tmp)           # already here (a damaged copy of another size is replaced)
            else:
                self._verified.pop(rel, None)
                self.backend.publish(tmp, rel)
                self._remember_verified(rel, self.backend.stamp(rel))   # hashed just now
        except BaseException as e:
            if os.path.exists(tmp):
                os.remove(tmp)
            if isinstance(e, OSError):
                raise self._write_error(e) from None
            raise
        return ObjectRef(oid, codec, tag, size, meta)

    def _write_error(self, e: OSError) -> StoreError:
        return StoreError(f"cannot write to the store {self.url}: {e.strerror or e}",
                          fix="check that the store is writable by you and has free space"
                              " (or use --store / --env for another one); earlier results are intact")

    def check_writable(self) -> None:
        """Fail now, with one clear message, if results could not be written later."""
        rel = f"tmp/probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._write(rel, b"")
        try:
            self.backend.remove(rel)
        except OSError:
            pass

    def _write(self, rel: str, data: bytes, rewrite: bool = False) -> None:
        """Write ``rel`` whole (``rewrite``: a file readers may briefly find missing, see
        ``rewrite_bytes``)."""
        self._writable()
        try:
            (self.backend.rewrite_bytes if rewrite else self.backend.write_bytes)(rel, data)
        except OSError as e:
            raise self._write_error(e) from None

    def _verified_buffer(self, ref: ObjectRef, whole: bool = False):
        """The object's bytes (memory-mapped where local; ``whole``: read into one bytes
        object), checked against its content hash — once per process while the file is
        unchanged (same size, mtime, inode).  Damage raises and, in a writable store,
        moves the file aside so the next run recomputes it."""
        rel = self._object_rel(ref.oid, ref.codec)
        buf = self.backend.read_bytes(rel) if whole else self.backend.read_buffer(rel)
        if buf is None:
            raise CorruptObjectError(f"object {ref.oid[:12]} is missing from the store")
        size = len(buf) if whole else buf.size
        stamp = self.backend.stamp(rel)
        trusted = self._stamped(rel, stamp)
        if size != ref.nbytes and content_hash(buf) == ref.oid:
            raise CorruptObjectError(f"object {ref.oid[:12]} has {size} bytes, but its entry says"
                                     f" {ref.nbytes}: the entry is wrong, the object is intact")
        if size != ref.nbytes or not trusted and content_hash(buf) != ref.oid:
            self._damaged(rel)
            raise CorruptObjectError(
                f"object {ref.oid[:12]} is damaged ({size} bytes, expected {ref.nbytes};"
                " checksum mismatch)" + ("" if self.read_only else "; it was moved aside"))
        if not trusted:
            self._remember_verified(rel, stamp)
        return rel, buf

    # -- verification stamps: an object hashed once is trusted while its file is unchanged
    # (size, mtime, inode, ctime), across processes, so planning costs a stat, not a hash
    @staticmethod
    def _stamp_rel(rel: str) -> str:
        return "verified/" + rel.split("/", 1)[1]

    def _remember_verified(self, rel: str, stamp: tuple | None) -> None:
        if stamp is None:
            return
        self._verified[rel] = stamp
        if self._index.claims.get(rel) != stamp:
            self._index_stale += 1         # the index can say so: the next session stats, not hashes
        if not self.read_only and stamp[0] >= STAMP_MIN_BYTES:
            try:
                self.backend.write_bytes(self._stamp_rel(rel), json.dumps(list(stamp)).encode())
            except OSError:
                pass                       # only a shortcut: the next check hashes again

    def _stamped(self, rel: str, stamp: tuple | None) -> bool:
        """Was the object at ``rel`` hashed OK while its file had this very ``stamp`` (in this
        process, or in another one that left its stamp in the store)?  A rewrite, truncation
        or replacement changes size, mtime, inode or ctime, so the stamp no longer matches."""
        if stamp is None:
            return False
        if self._verified.get(rel) == stamp or self._index.claims.get(rel) == stamp:
            self._verified[rel] = stamp
            return True
        if stamp[0] < STAMP_MIN_BYTES:
            return False                   # no stamp file: hashing it costs less than one
        known = self.backend.read_bytes(self._stamp_rel(rel))
        try:
            if known is None or tuple(json.loads(known)) != stamp:
                return False
        except (ValueError, TypeError):
            return False
        self._verified[rel] = stamp
        return True

    def check(self, ref: ObjectRef) -> str | None:
        """Why ``ref``'s object cannot be served (missing, damaged), or None.  As cheap as a
        stat for an object verified before; hashes it (once) otherwise."""
        try:
            rel = self._object_rel(ref.oid, ref.codec)
        except CorruptObjectError as e:
            return e.what
        stamp = self._index.confirmed_stamp(rel) or self.backend.stamp(rel)
        if stamp is None and not self.backend.exists(rel):
            return "is missing from the store"
        refused = self._pickle_problem(ref)
        if refused or stamp is None:
            return refused
        if stamp[0] != ref.nbytes:
            return f"is damaged ({stamp[0]} bytes, expected {ref.nbytes})"
        if self._stamped(rel, stamp):
            return None
        try:   # a small object is read as bytes: no memory map (nor pyarrow) for a few bytes
            self._verified_buffer(ref, whole=ref.nbytes < SMALL_READ_BYTES)
        except CorruptObjectError as e:
            return f"cannot be served: {e.what}"
        return None

    def verify_all(self, *, repair: bool = True):
        """Re-hash every object: yields (relative path, problem or None)."""
        for sub in self.backend.listdir("objects"):
            for name in self.backend.listdir(f"objects/{sub}"):
                rel = f"objects/{sub}/{name}"
                oid = name.split(".", 1)[0]
                buf = self.backend.read_buffer(rel)
                if buf is None:
                    continue
                if OID_RE.fullmatch(oid) and content_hash(buf) == oid:
                    self._remember_verified(rel, self.backend.stamp(rel))
                    yield rel, None
                else:
                    if repair and not self.read_only:
                        self._damaged(rel)
                    yield rel, "checksum mismatch"

    def _damaged(self, rel: str) -> None:
        self._verified.pop(rel, None)
        if not self.read_only:
            self.backend.move_aside(rel)

    def get(self, ref: ObjectRef) -> Any:
        """Load a value; a missing or damaged object raises :class:`CorruptObjectError`, and so
        does a pickle this store must not load (left in place: it may be another key's)."""
        refused = self._pickle_problem(ref)
        if refused:
            raise CorruptObjectError(f"object {ref.oid[:12]} {refused}")
        rel, buf = self._verified_buffer(ref, whole=ref.codec == "bytes")   # bytes: the value itself
        try:
            value = codecs.read_value(buf, ref.codec, ref.type, ref.meta, self.secret)
        except CorruptObjectError:
            self._damaged(rel)
            raise
        if ref.codec != "arrow" and codecs.type_tag(value) != ref.type:   # arrow: built from the type
            raise CorruptObjectError(f"object {ref.oid[:12]} holds a {codecs.type_tag(value)}, but its"
                                     f" entry says {ref.type}: the entry is wrong, the object is intact")
        return value

    def get_arrow(self, ref: ObjectRef):
        """A table output as a memory-mapped pyarrow Table, whatever type it was stored from."""
        import pyarrow as pa
        rel, buf = self._verified_buffer(ref)
        try:
            return pa.ipc.open_file(buf).read_all()
        except (pa.ArrowInvalid, OSError) as e:
            self._damaged(rel)
            raise CorruptObjectError(f"Arrow file {ref.oid[:12]} is unreadable: {e}") from None

    def has_object(self, ref: ObjectRef) -> bool:
        try:
            return self.backend.exists(self._object_rel(ref.oid, ref.codec))
        except CorruptObjectError:      # not an object id: no object of this store
            return False


def _to_own(name: str):
    def method(self, *args, **kwargs):
        return getattr(self.own, name)(*args, **kwargs)
    method.__name__ = name
    return method


def _first_found(name: str):
    def method(self, *args, **kwargs):
        for s in self.layers:
            found = getattr(s, name)(*args, **kwargs)
            if found:
                return found
        return None
    method.__name__ = name
    return method


class LayeredStore:
    """Reads from the own store first, then from read-only stores (e.g. production's);
    writes only to the own store.  Lets the lab reuse production results safely.
    Implements both storage Protocols (:mod:`nb2pipe.storage`) by routing each call."""

    def __init__(self, own: Store, read_only: list[Store]):
        self.own = own
        self.layers = [own] + list(read_only)
        self.url = own.url
        self.read_only = False
        self.backend = own.backend
        self.lease_renewer = own.lease_renewer

    def __repr__(self) -> str:
        return f"LayeredStore({self.own.url!r} over {[s.url for s in self.layers[1:]]})"

    @property
    def secret(self) -> bytes:
        return self.own.secret

    _object_rel = staticmethod(Store._object_rel)
    _entry_rel = staticmethod(Store._entry_rel)

    # writes, verification of what we own, and the write probe: the own store
    put = _to_own("put")
    verify_all = _to_own("verify_all")
    check_writable = _to_own("check_writable")
    put_entry = _to_own("put_entry")
    put_last = _to_own("put_last")
    put_learned = _to_own("put_learned")
    put_run = _to_own("put_run")
    load_index = _to_own("load_index")
    indexed_key = _to_own("indexed_key")
    save_index = _to_own("save_index")
    # metadata reads: the first layer that has it
    get_entry = _first_found("get_entry")
    get_last = _first_found("get_last")

    def get_learned(self, code_hash: str) -> list[str]:
        return sorted({n for s in self.layers for n in s.get_learned(code_hash)})

    def learned_hashes(self) -> set[str]:
        return set().union(*(s.learned_hashes() for s in self.layers))

    # object reads: the first layer holding an intact copy
    def _first(self, method: str, ref: ObjectRef):
        last: Exception | None = None
        for s in self.layers:
            if s.has_object(ref):
                try:
                    return getattr(s, method)(ref)
                except CorruptObjectError as e:
                    last = e
        raise last or CorruptObjectError(f"object {ref.oid[:12]} is in none of the stores")

    def get(self, ref: ObjectRef) -> Any:
        return self._first("get", ref)

    def get_arrow(self, ref: ObjectRef):
        return self._first("get_arrow", ref)

    def has_object(self, ref: ObjectRef) -> bool:
        return any(s.has_object(ref) for s in self.layers)

    def check(self, ref: ObjectRef) -> str | None:
        problem = None
        for s in self.layers:
            if s.has_object(ref):
                problem = s.check(ref)
                if problem is None:
                    return None
        return problem or "is in none of the stores"
