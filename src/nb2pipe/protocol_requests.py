"""Frontend -> kernel requests of the comm protocol (see :mod:`nb2pipe.protocol`); each is
answered by one ``reply`` with its id."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .protocol_base import MessageType, _Message


# ---------------------------------------------------------------- parts of requests

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


# ---------------------------------------------------------------- requests

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
class HistoryRequest(_Message):
    """The step's last ``limit`` runs and the diff of its code since its cached run; answered
    by ``history`` then ``reply`` (not ok, with what/fix, for an unknown step)."""
    type: ClassVar[MessageType] = MessageType.HISTORY
    id: str
    step: str
    limit: int = 10


@dataclass
class PreviewRequest(_Message):
    """The first ``rows`` rows of one stored output of a step, read from the store without
    executing anything; answered by ``preview`` then ``reply`` (not ok, with what/fix, for an
    unknown step or output, or a missing object)."""
    type: ClassVar[MessageType] = MessageType.PREVIEW
    id: str
    step: str
    output: str
    rows: int = 10
