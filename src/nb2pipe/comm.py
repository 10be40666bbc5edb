"""The ``nb2pipe`` comm: the sidebar's channel to the engine, over the kernel's
own connection (so it works unchanged with remote kernels).

The messages are the dataclasses of :mod:`nb2pipe.protocol` (requests ``status``,
``run``, ``sync``, ``export``, ``order``, ``plan``, ``check``, ``history``, ``preview``; each
answered by one ``reply`` with its id).
Comms opened with ``{"features": ["patch"]}`` -- the sidebar's -- get ``patch``
(only the steps that changed) instead of the whole ``graph`` when the structure is
the same, so the wire stays small.  ``order`` tells the kernel the notebook's cell
order (steps follow it) and which cells are tagged ``parameters``.
"""
from __future__ import annotations

from typing import Any

from . import protocol as P
from . import records
from .engine import Engine
from .commreplies import check_message, edges_with_sizes, export_notebook, plan_message, with_groups
from .errors import Nb2pipeError
from .notebook import classify
from .spec import parse_params_line, parse_step_line

PROTOCOL_VERSION = P.PROTOCOL_VERSION
TARGET = P.COMM_TARGET
PARAMETERS_TAG = "parameters"      # papermill's: such a cell is a %%params cell


def graph_message(engine: Engine) -> dict:
    try:
        graph = engine.graph()
        statuses = with_groups(engine, engine.plan(graph).values())
        edges = edges_with_sizes(graph, statuses)
        problems: list[str] = []
    except Nb2pipeError as e:
        statuses, edges, problems = [], [], getattr(e, "problems", [e.what])
    return P.GraphMsg(steps=statuses, edges=edges, problems=problems, store=engine.store.url,
                      env=engine.env_name).to_json()


class CommServer:
    """Serves every open ``nb2pipe`` comm of one kernel."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.comms: list[Any] = []
        self._in_run = False
        self.parameter_cells: set[str] = set()     # cell ids tagged `parameters` (from `order`)
        self._sent: dict[str, tuple | None] = {}    # comm id of a patch-capable comm -> last graph sent
        # graph pushes are coalesced while a cell or a request runs: one plan at its end
        self._holding = 0                          # cells/requests running (nesting depth)
        self._due: tuple[bool, set] | None = None  # a push is due: (to legacy comms too, and to these)
        self._shell = None
        self._unsubscribe = engine.subscribe(self._on_event)

    def register(self, shell=None) -> None:
        from comm import get_comm_manager
        get_comm_manager().register_target(TARGET, self._on_open)
        self._shell = shell or _shell()
        if self._shell is not None:
            self._shell.events.register("pre_run_cell", self._cell_starts)
            self._shell.events.register("post_run_cell", self._cell_ends)

    def close(self) -> None:
        from comm import get_comm_manager
        self._unsubscribe()
        if self._shell is not None:
            for event, fn in (("pre_run_cell", self._cell_starts), ("post_run_cell", self._cell_ends)):
                try:
                    self._shell.events.unregister(event, fn)
                except ValueError:
                    pass                   # not registered
            self._shell = None
        try:
            get_comm_manager().unregister_target(TARGET, self._on_open)
        except Exception:  # noqa: BLE001 - already gone
            pass

    # -- coalescing: a cell run defines a step (graph changed) and runs it (state changed);
    # the open comms get one graph, planned once, when the cell or the request is done
    def _cell_starts(self, *_info) -> None:
        self._holding = 1                  # a cell left unfinished (interrupted) is over now

    def _cell_ends(self, *_result) -> None:
        self._holding = 0
        self._push_due()

    def _graph_due(self, *, legacy: bool, comm=None) -> None:
        """The graph changed: push it now, or once when the running cell or request ends.
        ``legacy``: to every comm, else to patch-capable ones (and ``comm``)."""
        old_legacy, extra = self._due or (False, set())
        self._due = (legacy or old_legacy, extra | ({comm.comm_id} if comm is not None else set()))
        if not self._holding:
            self._push_due()

    def _push_due(self) -> None:
        due, self._due = self._due, None
        if due is None or not self.comms:
            return
        legacy, extra = due
        msg = graph_message(self.engine)
        for c in list(self.comms):
            if not (legacy or c.comm_id in self._sent or c.comm_id in extra):
                continue
            try:
                self._send_graph(c, message=msg)
            except Exception:  # noqa: BLE001 - a closed comm
                self.comms.remove(c)

    # -- comm life cycle
    def _on_open(self, comm, open_msg) -> None:
        data = ((open_msg or {}).get("content") or {}).get("data") or {}
        if "patch" in (data.get("features") or ()):
            self._sent[comm.comm_id] = None
        self.comms.append(comm)
        comm.on_msg(lambda msg: self._on_msg(comm, msg))
        comm.on_close(lambda msg: self._forget(comm))
        self._send_graph(comm, full=True)

    def _forget(self, comm) -> None:
        if comm in self.comms:
            self.comms.remove(comm)
        self._sent.pop(comm.comm_id, None)

    def _on_msg(self, comm, msg) -> None:
        data = msg.get("content", {}).get("data", {}) or {}
        try:
            req = P.request_from_json(data)
        except (ValueError, TypeError) as e:
            self._send(comm, P.ReplyMsg(id=data.get("id"), request=str(data.get("type")), ok=False,
                                        message=str(e)).to_json())
            return
        self._holding += 1
        try:
            reply = self._handle(comm, req)
        except Nb2pipeError as e:
            reply = P.ReplyMsg(id=req.id, request=req.type.value, ok=False, message=str(e))
        except Exception as e:  # noqa: BLE001 - the panel waits for this reply: never leave it hanging
            reply = P.ReplyMsg(id=req.id, request=req.type.value, ok=False,
                               message=f"nb2pipe could not answer `{req.type.value}`: {type(e).__name__}: {e}")
        finally:
            self._holding -= 1
        try:
            if not self._holding:
                self._push_due()           # the graph the request changed, then its reply
        finally:
            self._send(comm, reply.to_json())

    def _send(self, comm, data: dict) -> None:
        """Every message leaves through here, with secret values masked."""
        comm.send(self.engine.redactor().scrub(data))

    def _handle(self, comm, req) -> P.ReplyMsg:
        ok = P.ReplyMsg(id=req.id, request=req.type.value, ok=True)
        if isinstance(req, P.StatusRequest):
            self._send_graph(comm, full=True)
        elif isinstance(req, P.RunRequest):
            ok.problems = sync_cells(self.engine, req.cells, execute=True)
            if ok.problems:
                ok.ok = False
                ok.message = "cannot run: a cell has a problem:\n" + "\n".join(
                    p.message for p in ok.problems)
                return ok
            outcomes = self.engine.run(req.targets, force=req.force, downstream=req.downstream)
            records.notebook_run(self.engine, outcomes, "panel", req.targets)
            self._graph_due(legacy=False, comm=comm)
        elif isinstance(req, P.SyncRequest):
            ok.problems = sync_cells(self.engine, req.cells, execute=False)
            self._graph_due(legacy=False, comm=comm)
        elif isinstance(req, P.ExportRequest):
            res = export_notebook(req, self.engine)
            ok.ok, ok.message, ok.output = res["ok"], res["message"], res.get("output")
        elif isinstance(req, P.PlanRequest):
            self._send(comm, plan_message(self.engine, req))
        elif isinstance(req, P.CheckRequest):
            self._send(comm, check_message(self.engine, req.rows))
        elif isinstance(req, P.HistoryRequest):
            from .history import history_message
            self._send(comm, history_message(self.engine, req))
        elif isinstance(req, P.PreviewRequest):
            from .preview import preview_message
            self._send(comm, preview_message(self.engine, req))
        elif isinstance(req, P.OrderRequest):
            self.parameter_cells = {c.cell_id for c in req.cells if PARAMETERS_TAG in c.tags}
            self.engine.set_order(c.cell_id for c in req.cells)
        return ok

    def _send_graph(self, comm, *, full: bool = False, message: dict | None = None) -> None:
        """The whole graph to legacy comms; to patch-capable ones only what changed
        since the last message they got (a full graph when the structure changed)."""
        msg = message or graph_message(self.engine)
        if comm.comm_id not in self._sent:
            self._send(comm, msg)
            return
        steps = {s["step"]: s for s in msg["steps"]}
        # an edge's rows x columns is not structure: a patch carries them in the producer's summaries
        edges = [(e["source"], e["target"], e["data"]) for e in msg["edges"]]
        shape = (list(steps), edges, msg["problems"], msg["store"])
        sent = self._sent[comm.comm_id]
        self._sent[comm.comm_id] = (shape, steps)
        if full or sent is None or sent[0] != shape:
            self._send(comm, msg)
            return
        changed = [s for name, s in steps.items() if sent[1].get(name) != s]
        if changed:
            self._send(comm, P.PatchMsg(steps=[P.StepStatus.from_json(s) for s in changed]).to_json())

    def _broadcast(self, data: dict) -> None:
        for c in list(self.comms):
            try:
                self._send(c, data)
            except Exception:  # noqa: BLE001 - a closed comm
                self.comms.remove(c)

    def _on_event(self, event: P.Event) -> None:
        if not self.comms:
            return
        if isinstance(event, P.GraphChanged):
            self._graph_due(legacy=True)
            return
        self._broadcast(event.to_json())
        # a finished step can change its descendants' states (new data, or
        # early cutoff): refresh patch-capable comms once per cell / per run
        if isinstance(event, P.RunStartMsg):
            self._in_run = True
        elif isinstance(event, P.RunEndMsg):
            self._in_run = False
            self._graph_due(legacy=False)
        elif isinstance(event, P.StateMsg) and event.state in (P.StepState.FRESH, P.StepState.FAILED) \
                and not self._in_run:
            self._graph_due(legacy=False)


# ---------------------------------------------------------------- notebook cells

def _shell():
    try:
        from IPython import get_ipython
        return get_ipython()
    except ImportError:  # pragma: no cover - the comm only exists inside IPython
        return None


def sync_cells(engine: Engine, cells: list[P.CellSource], *, execute: bool) -> list[P.CellProblem]:
    """Bring the engine's definitions in line with the notebook's current cells
    (in notebook order), so a run from the sidebar
    uses what the user sees, even in cells not executed since they were edited.

    ``execute=False`` (as the user types): only redefine steps the kernel already
    knows -- cheap, no user code runs.  ``execute=True`` (a run): also define new
    step cells and run changed %%setup and every %%params cell first.
    Returns the problems, one per cell, without stopping at the first."""
    shell = _shell()
    transform = shell.transform_cell if shell is not None else (lambda c: c)
    problems: list[P.CellProblem] = []
    by_cell = {s.cell_id: s for s in engine.defs.steps.values() if s.cell_id}
    for cell in cells:
        cid, source = cell.cell_id, cell.source or ""
        kind, line, body = classify(source, [])
        try:
            if kind == "step":
                spec = parse_step_line(line)
                current = by_cell.get(cid) or engine.defs.steps.get(spec.name)
                if current is None and not execute:
                    continue
                text = f"%%step {line}\n{body}"
                if current is not None and current.cell_text == text and current.name == spec.name:
                    continue
                where = current.where if current is not None else "cell (not run yet)"
                engine.define(spec, transform(body) if body.strip() else "", cell_id=cid,
                              where=where, line_offset=1, cell_text=text)
            elif kind == "setup" and execute:
                code = transform(body) if body.strip() else ""
                old = engine.defs.setup.get(cid)
                if old is None or old.code != code:
                    engine.run_setup(code, cell_id=cid, where="cell (from the Pipeline panel)")
            elif kind == "params" and execute:
                ps = parse_params_line(line)
                overrides = (shell.user_ns.get("__nb2pipe_overrides__") if shell is not None else None) or {}
                engine.set_params(transform(body) if body.strip() else "", overrides=overrides,
                                  secret=ps.secret, credential=ps.credential)
        except Nb2pipeError as e:
            problems.append(P.CellProblem(cid, str(e)))
        except Exception as e:  # noqa: BLE001 - user code in a setup/params cell
            problems.append(P.CellProblem(cid, f"{type(e).__name__}: {e}"))
    return problems
