"""The ``nb2pipe`` comm protocol, one dataclass per message, and the engine's events.

Kernel -> frontend messages (:class:`EventType`): ``graph`` (every step with its state),
``patch`` (only the steps that changed), ``state`` (one step changed), ``progress``,
``run_start``, ``run_end`` -- the last four are also what the engine tells its
listeners -- and ``reply``, which answers one request and echoes its ``id``.
Frontend -> kernel requests (:class:`MessageType`): ``status``, ``run`` (``force``,
``downstream``), ``sync``, ``export`` (``overwrite``), ``order`` (the notebook's code
cells in order, with their tags), ``plan`` (the notebook planned without running anything,
answered by a ``plan`` message), ``check`` (a sample check of the notebook as last saved,
answered by a ``check`` message), ``history`` (a step's last runs and the diff of its code
since its cached run) and ``preview`` (the first rows of a stored output), each answered by the
message of the same name.

The dataclasses live by idea -- :mod:`nb2pipe.protocol_base` (version, enums, JSON),
:mod:`nb2pipe.protocol_messages` (kernel -> frontend), :mod:`nb2pipe.protocol_requests`
(frontend -> kernel) -- and are all importable from here.  This module is the single source: ``python -m nb2pipe.protocol`` writes the JSON Schema
(``js/protocol.schema.json``) and the TypeScript types generated from that schema
(``js/protocol.ts``) with :mod:`nb2pipe.protocol_schema`; ``tests/unit/test_protocol.py``
fails when they drift.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from .protocol_base import (COMM_TARGET, EVENT_MIME, PROTOCOL_VERSION, EventType, MessageType,  # noqa: F401
                            OutcomeStatus, StepState, _Message)
from .protocol_messages import (CellProblem, CheckBreak, CheckMsg, Edge, GraphMsg, HistoryMsg,  # noqa: F401
                                HistoryRun, OutputSummary, PatchMsg, PlanMsg, PreviewMsg, ProgressMsg,
                                ReplyMsg, RunEndMsg, RunStartMsg, StateMsg, StepStatus)
from .protocol_requests import (CellInfo, CellSource, CheckRequest, ExportRequest, HistoryRequest,  # noqa: F401
                                OrderRequest, PreviewRequest, PlanRequest, RunRequest, StatusRequest, SyncRequest)


@dataclass
class GraphChanged:
    """Engine event (not sent as is): definitions changed; the comm sends the graph."""
    type: ClassVar[str] = "graph_changed"


KERNEL_MESSAGES = (GraphMsg, PatchMsg, StateMsg, ProgressMsg, RunStartMsg, RunEndMsg, ReplyMsg, PlanMsg,
                   CheckMsg, HistoryMsg, PreviewMsg)
REQUESTS = (StatusRequest, RunRequest, SyncRequest, ExportRequest, OrderRequest, PlanRequest, CheckRequest,
            HistoryRequest, PreviewRequest)
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
