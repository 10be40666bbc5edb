"""Run the stale steps of a notebook in one kernel, through nbclient.

The kernel gets, in order: ``%load_ext nb2pipe`` in define-only mode, the setup
cells, the parameters (with overrides) and every step definition; then one cell per
stale step (``%dag run STEP --json``), so each step's outputs land in its own cell.
The step's outcome is an engine event (:class:`~nb2pipe.protocol.ProgressMsg`) the
kernel publishes as display data of type ``EVENT_MIME``; nbclient's ``on_cell_*`` hooks
read it from the cell's outputs, apart from anything the step prints.  A failing step
skips only its descendants; everything else that can run still runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .kernel import TIME_LIMIT, KernelSession, local_session
from ..engine import Engine
from ..errors import Nb2pipeError
from ..notebook import PipelineNotebook
from ..protocol import EVENT_MIME, EventType, ProgressMsg


@dataclass
class StepReport:
    step: str
    status: str            # ran | cached | fresh | failed | skipped
    duration: float = 0.0
    saved: float = 0.0
    key: str | None = None
    error: str | None = None
    traceback: str = ""
    attempts: int = 0
    start: float | None = None
    end: float | None = None
    worker: str | None = None
    timed_out: bool = False
    outputs: list = field(default_factory=list, repr=False)   # what its cell showed (audit)


@dataclass
class RunReport:
    steps: list[StepReport] = field(default_factory=list)
    kernel_started: bool = False
    kernel_unused: bool = False     # one started ahead of the plan (runner.early), stopped unused
    wall: float = 0.0
    startup: dict = field(default_factory=dict)   # what came before the steps, by the executor (seconds)

    @property
    def ok(self) -> bool:
        return all(s.status != "failed" and s.status != "skipped" for s in self.steps)


def prelude(nb: PipelineNotebook, engine: Engine, overrides: dict) -> list[str]:
    """The cells that give a kernel the pipeline's definitions without running any step.
    Paths are absolute: a remote kernel starts in its server's directory, not ours."""
    cells = [f"__import__('os').chdir({nb.project_dir!r}); __import__('sys').path.insert(0, {nb.project_dir!r})",
             "%load_ext nb2pipe\n%nb2pipe define-only on\n" + (
                 f"%nb2pipe env {engine.env_name}" if engine.env_name else f"%nb2pipe store {engine.store.url}"),
             "%nb2pipe params " + json.dumps(overrides) + "\n%nb2pipe pipeline " + nb.pipeline]
    cells += [c.source for c in nb.of_kind("setup")]
    # a papermill `parameters`-tagged cell is plain Python: the kernel sees no tags, so say it
    cells += [c.source if c.kind != "params" or c.source.lstrip().startswith("%%params")
              else "%%params\n" + c.source for c in nb.of_kind("params", "control")]
    if engine.contracts:
        cells.append("%nb2pipe contracts " + json.dumps(engine.contracts))
    steps = [{"line": c.line, "body": c.body, "where": c.where, "cell_id": c.cell_id, "source": c.source}
             for c in nb.of_kind("step")]
    cells.append("%%nb2pipe_define\n" + json.dumps(steps))   # every step in one round trip
    return cells


def step_cell(step: str, *, force: bool = False, retries: int = 0, reuse: Iterable[str] = ()) -> str:
    """The cell that runs one step and publishes its outcome.  ``reuse``: its upstream steps
    this kernel already ran in this run (they are not looked up again)."""
    return batch_cell([step], force=[step] if force else (), retries=retries, reuse=reuse)


def batch_cell(steps: list[str], *, force: Iterable[str] = (), retries: int = 0, reuse: Iterable[str] = ()) -> str:
    """The cell that runs ``steps`` (in order) in one go and publishes each one's outcome as
    it ends; ``force``: those of them to re-run even if cached; ``reuse``: steps above them
    this kernel already holds (they are not looked up again)."""
    cmd = f"%dag run {' '.join(steps)} --json"
    forced = [s for s in steps if s in set(force)]
    if forced:
        cmd += " --force-steps=" + ",".join(forced)
    if retries:
        cmd += f" --retries={retries}"
    reuse = list(reuse)
    if reuse:
        cmd += " --reuse=" + ",".join(reuse)
    return cmd


def progress_in(bundles: Iterable[dict], step: str) -> ProgressMsg | None:
    """The outcome of ``step`` among display-data bundles (MIME type -> data), if any."""
    found = None
    for data in bundles:
        ev = data.get(EVENT_MIME)
        if isinstance(ev, dict) and ev.get("type") == EventType.PROGRESS.value and ev.get("step") == step:
            found = ProgressMsg.from_json(ev)
    return found


def _step_of(cell) -> str | None:
    return cell.get("metadata", {}).get("nb2pipe", {}).get("step")


class _StepCells:
    """nbclient's hooks for the step cells: a step's report comes from the event in its
    cell's outputs (``on_cell_executed``), or from the cell's error when the run itself
    failed (``on_cell_error``)."""

    def __init__(self, todo: list[str], on_event: Callable, mask) -> None:
        self.todo, self.on_event, self.mask = todo, on_event, mask
        self.report = RunReport(kernel_started=True)
        self.ok: set[str] = set()
        self.bad: set[str] = set()       # failed or skipped: their descendants are skipped
        self.stopped: set[str] = set()   # stopped at their time limit
        self.why = ""                    # what to report if the running step reaches its limit
        self.shown: list = []            # a batch cell's outputs since its last step ended

    def finish(self, rep: StepReport) -> None:
        self.report.steps.append(rep)
        (self.bad if rep.status in ("failed", "skipped") else self.ok).add(rep.step)
        self.on_event("end", rep, len(self.report.steps), len(self.todo))

    def on_cell_start(self, cell, cell_index):
        step = _step_of(cell)
        if step is not None:
            self.on_event("start", StepReport(step, "running"), len(self.report.steps) + 1, len(self.todo))

    def on_cell_executed(self, cell, cell_index, execute_reply):
        step = _step_of(cell)
        ev = step and progress_in((o.get("data", {}) for o in cell.outputs
                                   if o.get("output_type") == "display_data"), step)
        if ev:
            self._reported(ev, [o for o in cell.outputs if EVENT_MIME not in o.get("data", {})])

    def on_output(self, cell, output):
        """An output of a batch cell (several steps), as it arrives: a step's outcome ends it
        (with what it showed since the previous one), and the next step starts."""
        steps = cell.get("metadata", {}).get("nb2pipe", {}).get("steps")
        if not steps:
            return
        ev = output.get("data", {}).get(EVENT_MIME) if output.get("output_type") == "display_data" else None
        if not (isinstance(ev, dict) and ev.get("type") == EventType.PROGRESS.value and ev.get("step") in steps):
            self.shown.append(output)
            return
        shown, self.shown = self.shown, []
        if ev["step"] not in self.ok | self.bad:
            self._reported(ProgressMsg.from_json(ev), shown)
            self.starting()

    def starting(self) -> None:
        """Say that the next step not reported yet starts (a batch cell runs them in order)."""
        step = next((s for s in self.todo if s not in self.ok | self.bad), None)
        if step is not None:
            self.on_event("start", StepReport(step, "running"), len(self.report.steps) + 1, len(self.todo))

    def _reported(self, ev: ProgressMsg, shown: list) -> None:
        self.finish(StepReport(ev.step, ev.status.value, ev.duration or 0.0, ev.saved or 0.0, ev.key,
                               self.mask.text(ev.error), self.mask.text(ev.traceback or ""),
                               outputs=self.mask.scrub(json.loads(json.dumps(shown)))))

    def on_cell_error(self, cell, cell_index, execute_reply):
        step = _step_of(cell)
        if step is not None and step not in self.ok | self.bad:   # the run failed, not the step's code
            c = execute_reply["content"]
            if c.get("ename") == TIME_LIMIT["ename"]:               # nbclient's reply at the limit
                self.timed_out(step, self.why)
                return
            self.finish(StepReport(step, "failed", error=self.mask.text(f"{c['ename']}: {c['evalue']}")))

    def timed_out(self, step: str, message: str) -> None:
        self.stopped.add(step)
        self.finish(StepReport(step, "failed", error=message, timed_out=True))

    def kernel_died(self, step: str) -> None:
        self.finish(StepReport(step, "failed", error="the kernel died while running this step (out of memory?)"))
        for s in self.todo:
            if s not in self.ok | self.bad:
                self.finish(StepReport(s, "skipped", error="the kernel died"))


def execute(nb: PipelineNotebook, engine: Engine, todo: list[str], *, overrides: dict,
            force: set[str], retries: int = 0, kernel_name: str | None = None,
            on_event: Callable[[str, StepReport | None, int, int], None] = lambda *a: None,
            timeout: float | None = None, gateway: tuple[str, str] | None = None,
            session: KernelSession | None = None, warm=None, held: set[str] = frozenset()) -> RunReport:
    """Execute ``todo`` (stale steps, in order) in one fresh kernel — local, or on the
    Jupyter server / Kernel Gateway ``gateway = (url, token)``.  ``timeout``: seconds the
    whole run may take (steps' own ``--timeout`` apply too).  ``session``: a local kernel
    spawned for this run beforehand (see :func:`spawn`); ``warm``: run --watch's
    :class:`~nb2pipe.runner.warm.WarmKernel`, whose kernel the run uses and leaves running;
    ``held``: fresh steps whose results that kernel holds (they are handed on from memory)."""
    run = dict(overrides=overrides, force=force, retries=retries, kernel_name=kernel_name,
               on_event=on_event, timeout=timeout)
    if gateway is None:
        return _execute(nb, engine, todo, session=session, warm=warm, held=held, **run)
    from . import remote
    url, token = remote.configure(*gateway)
    try:
        return _execute(nb, engine, todo, kernel_manager_class=remote.manager_class(), **run)
    except (Nb2pipeError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - HTTP, websocket and socket errors
        raise remote.explain(e, url) from None


def spawn(nb: PipelineNotebook, engine: Engine, kernel_name: str | None = None,
          kernel_manager_class=None, direct_only: bool = False) -> KernelSession | None:
    """Start the kernel process for a run of ``nb`` and return at once (it boots meanwhile).
    ``direct_only``: None unless it could be started without jupyter_client."""
    if kernel_manager_class is None:
        return local_session(kernel_name or nb.kernel_name, nb.project_dir,
                             engine.store.url).spawn(direct_only=direct_only)
    from ..envforward import forwarded_env
    env = {"KERNEL_NB2PIPE_PROGRESS": "text", **forwarded_env()}
    return KernelSession(kernel_name or nb.kernel_name, nb.project_dir, env,
                         kernel_manager_class).spawn(direct_only=direct_only)


def _execute(nb, engine, todo, *, overrides, force, retries, kernel_name, on_event, timeout,
             kernel_manager_class=None, session=None, warm=None, held=frozenset()) -> RunReport:
    from .deadline import Deadline
    mask = engine.redactor()          # the kernel masks too; this process knows the same values
    deadline = Deadline.of(engine, timeout)
    cells = _StepCells(todo, on_event, mask)
    if warm is not None:
        s = warm.session_for(nb, engine, overrides, kernel_name,
                             lambda session, src: define(session, src, mask, deadline))
        return _run_steps(s, engine.graph(), todo, cells, force, retries, deadline, mask, held)
    s = session or spawn(nb, engine, kernel_name, kernel_manager_class)
    done = False
    try:
        s.connect()
        s.prelude = prelude(nb, engine, overrides)
        define(s, s.prelude, mask, deadline)
        report = _run_steps(s, engine.graph(), todo, cells, force, retries, deadline, mask)
        done = True
        return report
    finally:
        s.close(wait=not done)      # finished: the kernel's shutdown is not waited for


def _run_steps(session: KernelSession, graph, todo, cells: _StepCells, force, retries, deadline,
               mask, held=frozenset()) -> RunReport:
    """One cell per step of ``todo`` in ``session``'s kernel, which has the definitions
    (``held``: fresh steps whose results it holds from earlier runs)."""
    from nbclient.exceptions import CellExecutionError, DeadKernelError
    session.hooks = cells
    lost: set[str] = set()         # steps run in a kernel since restarted: not in memory
    try:
        if all(deadline.limit(s) is None for s in todo) and not _batch(session, todo, cells, force, retries, held):
            return cells.report     # the kernel died
        for step in todo:
            if step in cells.ok | cells.bad:
                continue            # reported by the batch
            blocked = [p for p in graph.parents(step) if p in cells.bad]
            if blocked:
                cells.finish(StepReport(step, "skipped", error=f"upstream `{blocked[0]}` failed"))
                continue
            if deadline.expired():
                cells.timed_out(step, deadline.not_started())
                continue
            reuse = [s for s in graph.upto(step) if s in (cells.ok | held) - lost and s != step]
            cells.why = deadline.reason(step)
            try:
                session.run_cell(step_cell(step, force=step in force, retries=retries, reuse=reuse),
                                 timeout=_whole(deadline.limit(step)), step=step, keep_going=True)
                if step in cells.stopped and _stop(session):     # interrupted at its limit
                    lost |= cells.ok | held
                    define(session, session.prelude, mask, deadline)
            except CellExecutionError:
                pass                    # on_cell_error reported it
            except DeadKernelError:
                cells.kernel_died(step)
                break
            if step not in cells.ok | cells.bad:
                cells.finish(StepReport(step, "skipped", error="not reported by the kernel"))
    finally:
        session.hooks = None
    return cells.report


def _batch(session: KernelSession, todo, cells: _StepCells, force, retries, held) -> bool:
    """Run ``todo`` in one cell (no time limit applies): one round trip and one plan in the
    kernel for all of them, each step reported as it ends.  What it leaves unreported (the
    cell failed before they ran) runs one cell per step afterwards.  False: the kernel died."""
    from nbclient.exceptions import CellExecutionError, DeadKernelError
    cells.shown = []
    cells.starting()
    try:
        session.run_cell(batch_cell(todo, force=force, retries=retries, reuse=sorted(held)), timeout=None,
                         steps=list(todo), keep_going=True)
    except CellExecutionError:
        pass                           # the steps it did not report run one by one
    except DeadKernelError:
        running = next((s for s in todo if s not in cells.ok | cells.bad), None)
        if running is not None:
            cells.kernel_died(running)
        return False
    return True


def _whole(seconds: float | None) -> int | None:
    """nbclient takes whole seconds."""
    import math
    return None if seconds is None else max(1, math.ceil(seconds))


def define(session: KernelSession, sources: list[str], mask, deadline) -> None:
    """Give the kernel the pipeline's definitions (prelude cells, or a warm kernel's changes)."""
    from nbclient.exceptions import CellExecutionError
    for source in sources:
        try:
            session.run_cell(source, timeout=_whole(deadline.remaining()))
        except CellExecutionError as e:
            if e.ename == TIME_LIMIT["ename"]:
                raise Nb2pipeError(deadline.not_started().replace("not started: ", "") +
                                   " while the kernel read the notebook's definitions",
                                   fix="raise --timeout") from None
            raise Nb2pipeError(mask.text(f"the notebook's definitions failed in the kernel: {e.ename}: {e.evalue}"),
                               where=source.splitlines()[0][:60],
                               fix="run `nb2pipe check` and fix what it reports") from None


def _stop(session: KernelSession, grace: float = 10.0) -> bool:
    """After a step's time limit (nbclient interrupted the kernel): wait for the reply of the
    interrupted cell, so the next cell is not queued behind it; a kernel that does not answer
    within ``grace`` seconds (a step stuck in native code) is restarted.  True when it was
    restarted (it lost the pipeline's definitions and every value)."""
    import queue
    import time
    from nbclient.util import run_sync
    end = time.monotonic() + grace
    while time.monotonic() < end:
        try:
            msg = run_sync(session.client.kc.shell_channel.get_msg)(timeout=max(0.1, end - time.monotonic()))
        except queue.Empty:
            break
        if msg.get("msg_type") == "execute_reply":
            return False
    session.restart()
    return True
