"""The entries of the steps a run computes, read while the run goes on.

The run record names each step's result, so the command reads every entry the kernel wrote.
Reading one validates it against its object files (their headers: pyarrow for a table), and
the first such read imports pyarrow: 0.2-0.5 s that used to come after the last step.  Here
each entry is read in one background thread as soon as its step is reported, while this
process otherwise waits for the kernel; the record then finds them in the store's cache.
"""
from __future__ import annotations

from typing import Callable


class EntryPrefetch:
    def __init__(self, store) -> None:
        self.store = store
        self.pool = None

    def wrap(self, on_event: Callable) -> Callable:
        """``on_event`` that also reads the entry of each step reported with a result."""
        def event(kind, rep, n, total):
            on_event(kind, rep, n, total)
            if kind == "start" and self.pool is None:
                self.warm()
            if kind == "end" and rep is not None and rep.key and rep.status in ("ran", "cached"):
                self._thread().submit(self.store.get_entry, rep.key)
        return event

    def warm(self) -> None:
        """Import what reading an entry imports (pyarrow: 60 ms or more) in the background,
        while the kernel works (once it answers, or at the first step), not after the last step."""
        self._thread().submit(_import_readers)

    def _thread(self):
        if self.pool is None:
            from concurrent.futures import ThreadPoolExecutor
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="nb2pipe-entries")
        return self.pool

    def wait(self) -> None:
        """Until every entry asked for is read (a failed read is read again by the record)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None


def _import_readers() -> None:
    from ..entries import import_header_readers
    import_header_readers()
