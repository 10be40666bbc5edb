"""The ``nb2pipe`` comm protocol, one dataclass per message, and the engine's events.

Kernel -> frontend messages (:class:`EventType`): ``graph`` (every step with its state),
``patch`` (only the steps that changed), ``state`` (one step changed), ``progress``,
``run_start``, ``run_end`` -- the last four are also what the engine tells its
listeners -- and ``reply``, which answers one request and echoes its ``id``.
Frontend -> kernel requests (:class:`MessageType`): ``status``, ``run`` (``force``,
``downstream``), ``sync``, ``export`` (``overwrite``), ``order`` (the notebook's code
cells in order, with their tags), ``plan`` (the notebook planned without running anything,
answered by a ``plan`` message), ``check`` (a sample check of the notebook as last saved,
answered by a ``check`` message).

This module is the single source: ``python -m nb2pipe.protocol`` writes the JSON Schema
(``js/protocol.schema.json``) and the TypeScript types generated from that schema
(``js/protocol.ts``) with :mod:`nb2pipe.protocol_schema`; ``tests/unit/test_protocol.py``
fails when they drift.
"""
from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
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


class MessageType(str, Enum):
    """Frontend -> kernel request types; each is answered by one ``reply`` with its id."""
    STATUS = "status"
    RUN = "run"
    SYNC = "sync"
    EXPORT = "export"
    ORDER = "order"
    PLAN = "plan"
    CHECK = "check"


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


def _build(cls: type, data: dict) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    return cls(**{k: _from(hints[k], v) for k, v in data.items() if k in names})


class _Message:
    """A message on the comm: ``{"v": 1, "type": ..., **fields}``."""
    type: ClassVar[Enum]

    def to_json(self) -> dict:
        return {"v": PROTOCOL_VERSION, "type": self.type.value, **_fields_json(self)}

    @classmethod
    def from_json(cls, data: dict):
        return _build(cls, data)


# ---------------------------------------------------------------- parts of messages

@dataclass
class OutputSummary:
    """What the sidebar shows of one stored output (see ``results.summary``)."""
    type: str | None = None
    rows: int | None = None
    columns: int | None = None
    schema: list[tuple[str, str]] | None = None   # [column, Arrow type]
    shape: list[int] | None = None
    dtype: str | None = None
    nbytes: int | None = None


@dataclass
class StepStatus:
    step: str
    state: StepState
    reasons: list[str]
    key: str | None
    duration: float | None
    finished: float | None
    where: str
    cell_id: str | None
    inputs: list[str]
    outputs: list[str]
    summaries: dict[str, OutputSummary]
    error: str | None

    def to_json(self) -> dict:
        return _fields_json(self)

    @classmethod
    def from_json(cls, data: dict) -> "StepStatus":
        """From ``nb2pipe.results.StepStatus.to_json()`` (or the wire)."""
        return _build(cls, data)


@dataclass
class Edge:
    source: str
    target: str
    data: str


@dataclass
class CellSource:
    """A notebook cell as the kernel needs it to (re)define steps."""
    cell_id: str
    source: str


@dataclass
class CellInfo:
    """A code cell of the notebook, in notebook order, with its tags."""
    cell_id: str
    tags: list[str] = field(default_factory=list)


@dataclass
class CheckBreak:
    """One way a step's output breaks its contract on the sample; ``column`` None: the whole
    output (its type).  ``made_by``: the step the break comes from (this one or the first
    above it with the same column broken), ``line`` the line of its cell (None: not found)."""
    step: str
    output: str
    column: str | None
    expected: str
    got: str
    made_by: str
    line: int | None
    message: str          # the report's line: "step `f` output `X` column `age`: ..."


@dataclass
class CellProblem:
    cell_id: str | None
    message: str


# ---------------------------------------------------------------- kernel -> frontend

@dataclass
class GraphMsg(_Message):
    type: ClassVar[EventType] = EventType.GRAPH
    steps: list[StepStatus]
    edges: list[Edge]
    problems: list[str]
    store: str
    env: str | None


@dataclass
class PatchMsg(_Message):
    type: ClassVar[EventType] = EventType.PATCH
    steps: list[StepStatus]


@dataclass
class StateMsg(_Message):
    type: ClassVar[EventType] = EventType.STATE
    step: str
    state: StepState
    error: str | None = None
    duration: float | None = None
    cached: bool | None = None


@dataclass
class ProgressMsg(_Message):
    type: ClassVar[EventType] = EventType.PROGRESS
    done: int
    total: int
    step: str
    status: OutcomeStatus
    key: str | None
    duration: float
    saved: float
    error: str | None
    traceback: str


@dataclass
class RunStartMsg(_Message):
    type: ClassVar[EventType] = EventType.RUN_START
    steps: list[str]


@dataclass
class RunEndMsg(_Message):
    type: ClassVar[EventType] = EventType.RUN_END
    outcomes: list[tuple[str, OutcomeStatus]]


@dataclass
class ReplyMsg(_Message):
    """The answer to one request: ``ok`` or the error ``message``; ``problems`` of cells
    (``run``, ``sync``); ``output`` (``export``)."""
    type: ClassVar[EventType] = EventType.REPLY
    id: str | None
    request: str
    ok: bool
    message: str = ""
    problems: list[CellProblem] = field(default_factory=list)
    output: str | None = None


@dataclass
class PlanMsg(_Message):
    """The answer to ``plan``: the notebook's steps as ``nb2pipe status`` sees them (its
    cells as the frontend has them, this kernel's store), nothing executed."""
    type: ClassVar[EventType] = EventType.PLAN
    steps: list[StepStatus]
    edges: list[Edge]
    problems: list[str]


@dataclass
class CheckMsg(_Message):
    """The answer to ``check``: every step of the notebook as last saved run on the first
    ``rows`` rows of its sources, outputs compared with their contracts.  ``sampled``: source
    -> rows kept; ``full``: source read in full -> why; ``unsampled_steps``: steps that read
    no sampled source (they ran on full data) -> seconds; ``failed``/``skipped``/``not_checked``:
    step -> why; ``durations``: step -> seconds; ``wall``: the whole check's seconds;
    ``report``: the text ``%dag check --sample`` prints."""
    type: ClassVar[EventType] = EventType.CHECK
    ok: bool
    rows: int
    breaks: list[CheckBreak]
    sampled: dict[str, int]
    full: dict[str, str]
    unsampled_steps: dict[str, float]
    failed: dict[str, str]
    skipped: dict[str, str]
    not_checked: dict[str, str]
    no_contract: list[str]
    durations: dict[str, float]
    wall: float
    report: str


# ---------------------------------------------------------------- frontend -> kernel

@dataclass
class StatusRequest(_Message):
    type: ClassVar[MessageType] = MessageType.STATUS
    id: str


@dataclass
class RunRequest(_Message):
    type: ClassVar[MessageType] = MessageType.RUN
    id: str
    targets: list[str] = field(default_factory=list)
    force: bool = False
    downstream: bool = False
    cells: list[CellSource] = field(default_factory=list)


@dataclass
class SyncRequest(_Message):
    type: ClassVar[MessageType] = MessageType.SYNC
    id: str
    cells: list[CellSource] = field(default_factory=list)


@dataclass
class ExportRequest(_Message):
    type: ClassVar[MessageType] = MessageType.EXPORT
    id: str
    name: str
    output: str
    notebook: Any = None          # the notebook's JSON, for a kernel that cannot read the file
    overwrite: bool = False


@dataclass
class OrderRequest(_Message):
    type: ClassVar[MessageType] = MessageType.ORDER
    id: str
    cells: list[CellInfo] = field(default_factory=list)


@dataclass
class PlanRequest(_Message):
    """Plan the notebook (its JSON) without running anything; answered by ``plan`` then ``reply``."""
    type: ClassVar[MessageType] = MessageType.PLAN
    id: str
    name: str
    notebook: Any = None


@dataclass
class CheckRequest(_Message):
    """Run a sample check of the notebook as last saved (as ``%dag check --sample ROWS``);
    answered by ``check`` then ``reply`` (not ok, with the message, when it cannot run)."""
    type: ClassVar[MessageType] = MessageType.CHECK
    id: str
    rows: int = 1000


@dataclass
class GraphChanged:
    """Engine event (not sent as is): definitions changed; the comm sends the graph."""
    type: ClassVar[str] = "graph_changed"


KERNEL_MESSAGES = (GraphMsg, PatchMsg, StateMsg, ProgressMsg, RunStartMsg, RunEndMsg, ReplyMsg, PlanMsg,
                   CheckMsg)
REQUESTS = (StatusRequest, RunRequest, SyncRequest, ExportRequest, OrderRequest, PlanRequest, CheckRequest)
ENGINE_EVENTS = (GraphChanged, StateMsg, ProgressMsg, RunStartMsg, RunEndMsg)
Event = Union[GraphChanged, StateMsg, ProgressMsg, RunStartMsg, RunEndMsg]
_BY_REQUEST = {c.type.value: c for c in REQUESTS}


def request_from_json(data: dict) -> Any:
    """The request a frontend sent; ``graph`` is the old name of ``status``.  A request
    without an id (an older frontend) gets ``None``.  Unknown types raise ValueError."""
    kind = "status" if data.get("type") == "graph" else data.get("type")
    cls = _BY_REQUEST.get(kind)
    if cls is None:
        raise ValueError(f"unknown message type {data.get('type')!r}")
    return cls.from_json({"id": None, **data})


if __name__ == "__main__":       # the generator lives in nb2pipe.protocol_schema
    from nb2pipe.protocol_schema import main
    sys.exit(main(sys.argv[1:]))
