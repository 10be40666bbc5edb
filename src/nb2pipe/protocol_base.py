"""The comm protocol's ground: its version and comm target, the message type enums, and how
a message dataclass becomes JSON and back (:class:`_Message`).  The messages themselves are in
:mod:`nb2pipe.protocol_messages` (kernel -> frontend) and :mod:`nb2pipe.protocol_requests`
(frontend -> kernel); :mod:`nb2pipe.protocol` gathers them."""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from enum import Enum
from typing import Any, ClassVar, Union

PROTOCOL_VERSION = 1
COMM_TARGET = "nb2pipe"
# headless runs: the kernel publishes engine events (``to_json()``) as display data of this type,
# one cell per step, so a step's own output can never be mistaken for (or swallow) an event
EVENT_MIME = "application/vnd.nb2pipe.event+json"


class EventType(str, Enum):
    """Kernel -> frontend message types."""
    GRAPH = "graph"
    PATCH = "patch"
    STATE = "state"
    PROGRESS = "progress"
    RUN_START = "run_start"
    RUN_END = "run_end"
    REPLY = "reply"
    PLAN = "plan"
    CHECK = "check"
    HISTORY = "history"
    PREVIEW = "preview"


class MessageType(str, Enum):
    """Frontend -> kernel request types; each is answered by one ``reply`` with its id."""
    STATUS = "status"
    RUN = "run"
    SYNC = "sync"
    EXPORT = "export"
    ORDER = "order"
    PLAN = "plan"
    CHECK = "check"
    HISTORY = "history"
    PREVIEW = "preview"


class StepState(str, Enum):
    FRESH = "fresh"
    STALE = "stale"
    NEVER_RUN = "never run"
    FAILED = "failed"
    RUNNING = "running"
    BLOCKED = "blocked"
    SKIPPED = "skipped"


class OutcomeStatus(str, Enum):
    RAN = "ran"
    CACHED = "cached"
    FRESH = "fresh"
    FAILED = "failed"
    SKIPPED = "skipped"


# ---------------------------------------------------------------- (de)serialising

def _value_json(v: Any) -> Any:
    if isinstance(v, Enum):
        return v.value
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _fields_json(v)
    if isinstance(v, (list, tuple)):
        return [_value_json(x) for x in v]
    if isinstance(v, dict):
        return {k: _value_json(x) for k, x in v.items()}
    return v


def _fields_json(obj: Any) -> dict:
    """Every field; one that defaults to None is left out while it is None."""
    return {f.name: _value_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)
            if not (f.default is None and getattr(obj, f.name) is None)}


def _from(hint: Any, v: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if v is None:
        return None
    if origin in (Union, types.UnionType):
        return _from(next(a for a in args if a is not type(None)), v)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(v)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, v)
    if origin is list:
        return [_from(args[0], x) for x in v]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from(args[0], x) for x in v)
        return tuple(_from(a, x) for a, x in zip(args, v))
    if origin is dict:
        return {k: _from(args[1], x) for k, x in v.items()}
    return v


@functools.lru_cache(maxsize=None)
def _init_hints(cls: type) -> dict[str, Any]:
    """The type of each field ``cls(...)`` takes; worked out once per class (``get_type_hints``
    evaluates every annotation again: ~0.3 ms per message read, paid per step by the runner)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _build(cls: type, data: dict) -> Any:
    hints = _init_hints(cls)
    return cls(**{k: _from(hints[k], v) for k, v in data.items() if k in hints})


class _Message:
    """A message on the comm: ``{"v": 1, "type": ..., **fields}``."""
    type: ClassVar[Enum]

    def to_json(self) -> dict:
        return {"v": PROTOCOL_VERSION, "type": self.type.value, **_fields_json(self)}

    @classmethod
    def from_json(cls, data: dict):
        return _build(cls, data)
