"""The ``nb2pipe`` comm: the sidebar's channel to the engine, over the kernel's
own connection (so it works unchanged with remote kernels).

Messages are JSON dicts with ``v`` (protocol version) and ``type``.
Frontend -> kernel: ``{"type": "graph"}``, ``{"type": "run", "targets": [...],
"force": bool}``.  Kernel -> frontend: ``graph`` (every step with its state),
``state`` (one step changed), ``progress``, ``error``.
"""
from __future__ import annotations

from typing import Any

from .engine import Engine
from .errors import Nb2pipeError

PROTOCOL_VERSION = 1
TARGET = "nb2pipe"


def graph_message(engine: Engine) -> dict:
    try:
        graph = engine.graph()
        statuses = [s.to_json() for s in engine.plan(graph).values()]
        edges = [{"source": a, "target": b, "data": d} for a, b, d in graph.edges()]
        problems: list[str] = []
    except Nb2pipeError as e:
        statuses, edges, problems = [], [], getattr(e, "problems", [e.what])
    return {"v": PROTOCOL_VERSION, "type": "graph", "steps": statuses, "edges": edges,
            "problems": problems, "store": engine.store.url}


class CommServer:
    """Serves every open ``nb2pipe`` comm of one kernel."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.comms: list[Any] = []
        self._unsubscribe = engine.subscribe(self._on_event)

    def register(self) -> None:
        from comm import get_comm_manager
        get_comm_manager().register_target(TARGET, self._on_open)

    def close(self) -> None:
        from comm import get_comm_manager
        self._unsubscribe()
        try:
            get_comm_manager().unregister_target(TARGET, self._on_open)
        except Exception:  # noqa: BLE001 - already gone
            pass

    # -- comm life cycle
    def _on_open(self, comm, open_msg) -> None:
        self.comms.append(comm)
        comm.on_msg(lambda msg: self._on_msg(comm, msg))
        comm.on_close(lambda msg: self.comms.remove(comm) if comm in self.comms else None)
        comm.send(graph_message(self.engine))

    def _on_msg(self, comm, msg) -> None:
        data = msg.get("content", {}).get("data", {}) or {}
        kind = data.get("type")
        try:
            if kind == "graph":
                comm.send(graph_message(self.engine))
            elif kind == "run":
                self.engine.run(data.get("targets") or (), force=bool(data.get("force")),
                                downstream=bool(data.get("downstream")))
                comm.send(graph_message(self.engine))
            else:
                comm.send({"v": PROTOCOL_VERSION, "type": "error",
                           "message": f"unknown message type {kind!r}"})
        except Nb2pipeError as e:
            comm.send({"v": PROTOCOL_VERSION, "type": "error", "message": str(e)})

    def _broadcast(self, data: dict) -> None:
        for c in list(self.comms):
            try:
                c.send(data)
            except Exception:  # noqa: BLE001 - a closed comm
                self.comms.remove(c)

    def _on_event(self, event: dict) -> None:
        if not self.comms:
            return
        kind = event.get("type")
        if kind == "graph":
            self._broadcast(graph_message(self.engine))
        elif kind in ("state", "progress", "run_start", "run_end"):
            self._broadcast({"v": PROTOCOL_VERSION, **event})
