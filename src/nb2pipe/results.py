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
