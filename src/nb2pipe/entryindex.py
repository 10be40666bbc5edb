"""One file per notebook holding the entries its last plan used, so the first plan of a new
session reads one file instead of one entry file per step (``index/<notebook>.json``).

The index is only a shortcut, never a source of truth.  Each record keeps the stamp (size,
mtime, inode, ctime) its entry file had when the entry was read and checked, and the stamps
of its objects' files at that moment.  A record is used only while the entry file still has
that stamp (so the store holds exactly that entry) and every object file still has its
stamp or is still absent (so the header checks made then still hold); anything else is read
from the store as usual.  Stores that cannot stamp files (remote ones) keep no index.
"""
from __future__ import annotations

import json

import orjson

from .entries import _dumps, object_rel, pipeline_slug
from .keys import KEY_VERSION

INDEX_VERSION = 1


def _loads(data: bytes):
    """The index's JSON: orjson reads it in about half the time json does (a 1,000-step
    notebook's index is ~900 KB, read by the first plan of every session).  orjson refuses
    the NaN and Infinity json writes for such floats: those are read as json reads them."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _stamp_json(stamp) -> list | None:
    return None if stamp is None else list(stamp)


class EntryIndex:
    """The index records of a store's backend, loaded per notebook name."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.records: dict[str, dict] = {}          # key -> record
        self.claims: dict[str, tuple] = {}          # object rel -> stamp it was verified at
        self.loaded: set[str] = set()
        # notebook name -> step -> (components, key) of the entry its last plan used, from an
        # index written with this KEY_VERSION: a new session whose step has the very same
        # components takes that key instead of hashing them again (see ``key_of``)
        self.keys: dict[str, dict[str, tuple[dict, str]]] = {}
        # object rel -> stamp its file had when entry() checked it, during one plan only
        # (None: no plan under way); Store.check takes it instead of a second stat
        self.confirmed: dict[str, tuple] | None = None

    @staticmethod
    def rel(name: str) -> str:
        return f"index/{pipeline_slug(name)}.json"

    def load(self, name: str) -> None:
        if name in self.loaded:
            return
        self.loaded.add(name)
        data = self.backend.read_bytes(self.rel(name))
        try:
            doc = _loads(data) if data else {}
            if doc.get("v") != INDEX_VERSION:
                return
            keys = self.keys.setdefault(name, {}) if doc.get("key_version") == KEY_VERSION else None
            for key, rec in doc["entries"].items():
                if isinstance(rec, dict) and isinstance(rec.get("entry"), dict):
                    self.records.setdefault(key, rec)
                    step, comps = rec["entry"].get("step"), rec["entry"].get("components")
                    if keys is not None and isinstance(step, str) and isinstance(comps, dict):
                        keys[step] = (comps, key)
            for rel, stamp in doc.get("verified", {}).items():
                self.claims.setdefault(rel, tuple(stamp))
        except (ValueError, TypeError, KeyError, AttributeError):
            return                     # an unreadable index: every entry is read as usual

    def entry(self, key: str) -> dict | None:
        """The indexed entry of ``key`` if the store still holds exactly it, else None."""
        rec = self.records.get(key)
        if rec is None:
            return None
        stamp = self.backend.stamp
        try:
            st = stamp(f"entries/{key[:2]}/{key}.json")
            if st is None or list(st) != rec["stamp"]:
                return None
            now = {}
            for rel, recorded in rec["objects"].items():
                st = stamp(rel)
                if _stamp_json(st) != recorded:
                    return None
                if st is not None:
                    now[rel] = st
        except (KeyError, TypeError, AttributeError):
            return None
        if self.confirmed is not None:
            self.confirmed.update(now)
        return rec["entry"]

    def confirmed_stamp(self, rel: str) -> tuple | None:
        """The stamp entry() found ``rel`` at in the plan under way (taken once), else None."""
        return None if self.confirmed is None else self.confirmed.pop(rel, None)

    def save(self, name: str, entries: dict[str, dict], verified: dict[str, tuple],
             checked: dict[str, dict]) -> None:
        """Write the index of ``name``: ``entries`` (key -> entry), each with the stamps in
        ``checked`` (key -> {"stamp": entry file stamp, "objects": {rel: stamp}}) taken when
        it was read and checked; ``verified``: objects hashed OK at a stamp."""
        records = {k: {"entry": e, **checked[k]} for k, e in entries.items() if k in checked}
        rels = {rel for rec in records.values() for rel in rec["objects"]}
        doc = {"v": INDEX_VERSION, "key_version": KEY_VERSION, "entries": records,
               "verified": {rel: list(s) for rel, s in verified.items() if rel in rels}}
        self.backend.rewrite_bytes(self.rel(name), _dumps(doc))   # a shortcut: missing is fine
        self.records.update(records)

    def key_of(self, name: str, step: str) -> tuple[dict, str] | None:
        """(components, key) of the entry notebook ``name``'s last plan used for ``step``, if
        its index recorded one.  Only a shortcut for hashing: the caller takes the key only for
        components equal to these, and that key's entry is then looked up and checked as any
        other (an entry made from exactly those components is the right result for them)."""
        return self.keys.get(name, {}).get(step)

    def stamp(self, rel: str) -> list | None:
        """A file's stamp as a record keeps it.  Taken *before* the file is read and
        checked, so a file replaced meanwhile leaves a record that no longer matches."""
        return _stamp_json(self.backend.stamp(rel))

    def object_stamps(self, entry) -> dict[str, list | None] | None:
        """The stamps of the files of the objects ``entry`` names (None: not an entry that
        names objects; checking it says why)."""
        try:
            rels = [object_rel(d["oid"], d["codec"]) for d in entry["outputs"].values()]
        except Exception:  # noqa: BLE001 - any shape at all: the entry's check reports it
            return None
        return {rel: self.stamp(rel) for rel in rels}
