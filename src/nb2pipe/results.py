"""What the engine reports: a step's stored result, what happened to it in a run, and
its state for a status table or the sidebar."""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Nb2pipeError
from .protocol import StepStatus  # noqa: F401 - a step's state: the status table's and the sidebar's
from .steps import StepDef
from .store import ObjectRef


@dataclass
class Result:
    """What one step produced: its key and its outputs' object references."""

    key: str
    components: dict
    outputs: dict[str, ObjectRef]
    duration: float
    finished: float

    @classmethod
    def from_entry(cls, entry: dict) -> "Result":
        return cls(entry["key"], entry.get("components", {}),
                   {k: ObjectRef.from_json(v) for k, v in entry["outputs"].items()},
                   float(entry.get("duration", 0.0)), float(entry.get("finished", 0.0)))


class ResultMap(dict):
    """Step name -> its last :class:`Result` in this session, counting the results that use
    each object id: "does a current result still use this object?" is a lookup, where a scan
    of every step's outputs per replaced result made a run of N stale steps O(N²)."""

    def __init__(self) -> None:
        super().__init__()
        self._uses: dict[str, int] = {}

    def _count(self, res: Result, by: int) -> None:
        for r in res.outputs.values():
            n = self._uses.get(r.oid, 0) + by
            if n > 0:
                self._uses[r.oid] = n
            else:
                self._uses.pop(r.oid, None)

    def uses(self, oid: str) -> bool:
        return oid in self._uses

    def __setitem__(self, name: str, res: Result) -> None:
        old = self.get(name)
        if old is not None:
            self._count(old, -1)
        super().__setitem__(name, res)
        self._count(res, 1)

    def __delitem__(self, name: str) -> None:
        self._count(self[name], -1)
        super().__delitem__(name)

    def pop(self, name: str, *default):
        if name in self:
            self._count(self[name], -1)
        return super().pop(name, *default)

    def clear(self) -> None:
        self._uses.clear()
        super().clear()

    def popitem(self):
        name, res = super().popitem()
        self._count(res, -1)
        return name, res

    def update(self, other=(), **more) -> None:
        for name, res in dict(other, **more).items():
            self[name] = res

    def setdefault(self, name: str, res: Result):
        if name not in self:
            self[name] = res
        return self[name]

    def __ior__(self, other):
        self.update(other)
        return self


@dataclass
class Outcome:
    """What happened to one step in a run."""

    step: str
    status: str                     # "ran" | "cached" | "fresh" | "failed" | "skipped"
    key: str | None = None
    duration: float = 0.0           # time spent now
    saved: float = 0.0              # time the cache saved (original run time)
    error: Nb2pipeError | None = None
    notes: list[str] = field(default_factory=list)


def label(step: StepDef) -> str:
    return f"step `{step.name}`" + (f", {step.where}" if step.where else "")


def summary(ref: ObjectRef) -> dict:
    m = ref.meta or {}
    if ref.codec == "arrow":
        return {"rows": m.get("rows"), "columns": m.get("columns"), "schema": m.get("schema"),
                "nbytes": ref.nbytes}
    if ref.codec == "npy":
        return {"shape": m.get("shape"), "dtype": m.get("dtype"), "nbytes": ref.nbytes}
    return {"nbytes": ref.nbytes}
