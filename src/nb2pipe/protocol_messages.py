"""Kernel -> frontend messages of the comm protocol and the parts they are made of (see
:mod:`nb2pipe.protocol`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .protocol_base import EventType, OutcomeStatus, StepState, _build, _fields_json, _Message


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
    """One step as the sidebar draws it; ``group``: the ``--group`` it belongs to (the panel
    can collapse a group into one node), left out when it has none."""
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
    group: str | None = None

    def to_json(self) -> dict:
        return _fields_json(self)

    @classmethod
    def from_json(cls, data: dict) -> "StepStatus":
        """From ``nb2pipe.results.StepStatus.to_json()`` (or the wire)."""
        return _build(cls, data)


@dataclass
class Edge:
    """``data`` flows from step ``source`` to step ``target``; a table's ``rows`` x ``columns``
    as its producer's last stored entry has them (left out when not a table or not stored).
    A ``patch`` does not resend edges: the same counts are in the producer's ``summaries``."""
    source: str
    target: str
    data: str
    rows: int | None = None
    columns: int | None = None


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
class HistoryRun:
    """One run of a step from the run records, newest first: ``finished`` (epoch seconds),
    ``duration`` (seconds spent; a cached step's is the lookup), ``key`` (12 hex digits),
    ``status`` (ran, cached, fresh, failed, skipped), ``rows`` per output when its entry is
    still stored and the output is a table (None: not known), ``where`` it ran (``notebook``
    for a run in the kernel: a step cell, ``%dag run``, the panel; ``notebook cell (no run
    record)`` for a cell run that wrote no record, by an older nb2pipe), ``CLI`` with its
    executor and scheduler, e.g. ``CLI (dask)``, ``CLI (local, Airflow)``), ``user``,
    ``run_id`` (None: no run record) and ``error``."""
    finished: float | None
    duration: float | None
    key: str | None
    status: str
    rows: dict[str, int | None]
    where: str
    user: str | None = None
    run_id: str | None = None
    error: str | None = None


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


@dataclass
class HistoryMsg(_Message):
    """The answer to ``history``: the step's last ``limit`` runs from the run records (and its
    last result when no record holds it), newest first; ``diff``: a unified diff of the step's
    cell as its cached entry was made (``--- cached KEY``) to the cell now (``+++ now``), empty
    when they are the same or the entry does not keep its code (``diff_note`` then says why)."""
    type: ClassVar[EventType] = EventType.HISTORY
    step: str
    runs: list[HistoryRun]
    diff: str
    diff_note: str
    cached_key: str | None = None


@dataclass
class PreviewMsg(_Message):
    """The answer to ``preview``: one stored output of a step, read from the store (nothing
    executed, never the kernel's variable).  A table: ``rows`` x ``columns``, ``schema``
    [(column, Arrow type)] and ``head``, its first rows as strings, one list per row in
    ``schema``'s order.  Anything else: ``repr``, a short repr (``rows``/``columns`` None).
    ``key``: the entry read; ``type``: the stored value's type."""
    type: ClassVar[EventType] = EventType.PREVIEW
    step: str
    output: str
    key: str
    value_type: str
    nbytes: int
    rows: int | None = None
    columns: int | None = None
    schema: list[tuple[str, str]] = field(default_factory=list)
    head: list[list[str]] = field(default_factory=list)
    repr: str | None = None
