"""The metadata half of a store (see :class:`nb2pipe.storage.Metadata`): small JSON files
written whole through the store's backend — entries by step key, each notebook's last
result per step, in-place changes learned per code hash, run records."""
from __future__ import annotations

import json
import time
import uuid

from .entries import KEY_RE, _dumps, _warn_once, check_entry, pipeline_slug


class MetadataFiles:
    """Mixed into :class:`~nb2pipe.store.Store`; needs ``backend``, ``url``, ``read_only``,
    ``_entries`` (a cache of the entries read; an entry written again leaves it), ``_verified``
    (object rel -> stamp hashed OK), ``_index`` (an :class:`~nb2pipe.entryindex.EntryIndex`),
    ``_checked`` (key -> the stamps its entry was checked at), ``_last_put`` (key, finished,
    duration of the entry written last, or None) and ``_write(rel, data, rewrite=False)``."""

    # -- entries (key -> outputs)
    @staticmethod
    def _entry_rel(key: str) -> str:
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            raise ValueError(f"invalid step key {str(key)[:40]!r}")
        return f"entries/{key[:2]}/{key}.json"

    def get_entry(self, key: str) -> dict | None:
        """The entry of ``key``, validated: an invalid one is a miss, with one warning,
        and (in a writable store) is moved aside so the next run recomputes it."""
        hit = self._entries.get(key)
        if hit is not None:
            return hit
        try:
            rel = self._entry_rel(key)
        except ValueError as e:
            _warn_once(self.url, str(key), str(e))
            return None
        indexed = self._index.entry(key)
        if indexed is not None:
            self._entries[key] = indexed
            self._checked[key] = self._index.records[key]
            return indexed
        stamp = self._index.stamp(rel)
        data = self.backend.read_bytes(rel)
        if data is None:
            return None
        try:
            entry = json.loads(data)
            objects = self._index.object_stamps(entry) if stamp is not None else None
            check_entry(key, entry, self.backend)
        except (ValueError, UnicodeDecodeError) as e:
            _warn_once(self.url, key, str(e))
            if not self.read_only:
                self.backend.move_aside(rel)
            return None
        if len(self._entries) < 100_000:
            self._entries[key] = entry
            if objects is not None:
                self._checked[key] = {"stamp": stamp, "objects": objects}
                self._index_stale += 1
        return entry

    # -- the index of the entries a notebook's last plan used (see :mod:`nb2pipe.entryindex`)
    def load_index(self, name: str) -> None:
        """Read ``name``'s index and open a plan: until :meth:`save_index`, an object's stamp
        taken to trust an indexed entry serves its check too (one stat, not two)."""
        self._index.load(name)
        self._index.confirmed = {}

    def indexed_key(self, name: str, step: str) -> tuple[dict, str] | None:
        """(components, key) of ``step`` in notebook ``name``'s index (see ``EntryIndex.key_of``)."""
        return self._index.key_of(name, step)

    def save_index(self, name: str, keys) -> None:
        """Write ``name``'s index of ``keys`` when more than 1 in 20 of them were read from
        their own files since it was last written (or it has none yet): a session re-running
        a few steps does not rewrite the whole index at each plan."""
        self._index.confirmed = None       # the plan is over: checks stat again
        keys = list(keys)
        if self.read_only or not keys or not self._index_stale or (
                self._index_stale * 20 <= len(keys) and self._index.records):
            return
        self._index_stale = 0
        entries = {k: self._entries[k] for k in keys if k in self._checked and k in self._entries}
        try:
            self._index.save(name, entries, self._verified, self._checked)
        except OSError:
            pass                           # only a shortcut: the next session reads the files

    def put_entry(self, key: str, entry: dict) -> None:
        self._write(self._entry_rel(key), _dumps({**entry, "key": key}))
        self._last_put = (key, entry.get("finished"), entry.get("duration"))
        # a forced re-run writes its key's entry again (a new time, maybe other objects):
        # the next read takes the file, not the entry remembered from before
        self._entries.pop(key, None)
        self._checked.pop(key, None)

    # -- per-step last result, scoped by pipeline (the notebook): two notebooks sharing a
    # store may both have a step `load`, and must never see each other's
    @staticmethod
    def _last_rel(pipeline: str, step: str) -> str:
        return f"steps/{pipeline_slug(pipeline)}/{step}.json"

    def get_last(self, step: str, pipeline: str = "") -> dict | None:
        data = self.backend.read_bytes(self._last_rel(pipeline, step))
        try:
            last = json.loads(data) if data else None
        except ValueError:
            return None
        return last if isinstance(last, dict) and isinstance(last.get("key"), str) else None

    def put_last(self, step: str, info: dict, pipeline: str = "") -> None:
        """``info``: the result's key, finished and duration.  Replaced on every run of the
        step; a reader finding it missing for a moment takes the step as not run yet (it
        runs or is looked up by key, never served wrongly).  When the entry this store wrote
        last says the same key, finished and duration, a local store makes the last result
        a link to that entry file (its readers take only those three fields)."""
        rel = self._last_rel(pipeline, step)
        link = getattr(self.backend, "link_over", None)
        if link is not None and set(info) == {"key", "finished", "duration"} and \
                self._last_put == (info["key"], info["finished"], info["duration"]):
            self._writable()
            try:
                link(self._entry_rel(info["key"]), rel)
                return
            except OSError:
                pass                       # no hard links here, or the entry is gone: written
        self._write(rel, _dumps(info), rewrite=True)

    # -- what a step's code was seen doing that its text does not show (in-place changes):
    # keyed by the code's hash, so every notebook, kernel and headless run wires the same way
    def get_learned(self, code_hash: str) -> list[str]:
        if not KEY_RE.fullmatch(code_hash):
            return []
        data = self.backend.read_bytes(f"learned/{code_hash}.json")
        try:
            names = json.loads(data) if data else []
        except ValueError:
            return []
        return [n for n in names if isinstance(n, str) and n.isidentifier()] if isinstance(names, list) else []

    def learned_hashes(self) -> set[str]:
        """The code hashes with learned changes in this store (one listing)."""
        return {n[:-5] for n in self.backend.listdir("learned") if n.endswith(".json")}

    def put_learned(self, code_hash: str, names: list[str]) -> None:
        if KEY_RE.fullmatch(code_hash):
            self._write(f"learned/{code_hash}.json", _dumps(sorted(names)))

    # -- run records
    def put_run(self, record: dict) -> str:
        run_id = record.get("run_id") or time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self._write(f"runs/{run_id}.json", _dumps({**record, "run_id": run_id}))
        return run_id
