"""Run the stale steps of a notebook in one kernel, through nbclient.

The kernel gets, in order: ``%load_ext nb2pipe`` in define-only mode, the setup
cells, the parameters (with overrides), every step definition, and then one
``%dag run STEP --json`` cell per stale step.  A failing step skips only its
descendants; everything else that can run still runs.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable

from ..engine import Engine
from ..errors import Nb2pipeError
from ..report import PROGRESS_PREFIX, START_PREFIX
from ..notebook import PipelineNotebook


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


@dataclass
class RunReport:
    steps: list[StepReport] = field(default_factory=list)
    kernel_started: bool = False
    wall: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.status != "failed" and s.status != "skipped" for s in self.steps)


def _code_cell(source: str):
    import nbformat
    return nbformat.v4.new_code_cell(source)


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


def run_command(todo: list[str], force: set[str], retries: int) -> str:
    """The one cell that runs the stale steps, reporting each as it starts and ends."""
    cmd = f"%dag run {' '.join(todo)} --json"
    forced = [s for s in todo if s in force]
    if forced:
        cmd += " --force-steps=" + ",".join(forced)
    if retries:
        cmd += f" --retries={retries}"
    return cmd


def parse_line(line: str) -> tuple[str, dict] | None:
    for kind, prefix in (("start", START_PREFIX), ("end", PROGRESS_PREFIX)):
        if line.startswith(prefix):
            return kind, json.loads(line[len(prefix):])
    return None


def execute(nb: PipelineNotebook, engine: Engine, todo: list[str], *, overrides: dict,
            force: set[str], retries: int = 0, kernel_name: str | None = None,
            on_event: Callable[[str, StepReport | None, int, int], None] = lambda *a: None,
            timeout: float | None = None, gateway: tuple[str, str] | None = None) -> RunReport:
    """Execute ``todo`` (stale steps, in order) in one fresh kernel — local, or on the
    Jupyter server / Kernel Gateway ``gateway = (url, token)``."""
    if gateway is None:
        return _execute(nb, engine, todo, overrides=overrides, force=force, retries=retries,
                        kernel_name=kernel_name, on_event=on_event, timeout=timeout)
    from . import remote
    url, token = remote.configure(*gateway)
    try:
        return _execute(nb, engine, todo, overrides=overrides, force=force, retries=retries,
                        kernel_name=kernel_name, on_event=on_event, timeout=timeout,
                        kernel_manager_class=remote.manager_class())
    except (Nb2pipeError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - HTTP, websocket and socket errors
        raise remote.explain(e, url) from None


def _execute(nb, engine, todo, *, overrides, force, retries, kernel_name, on_event, timeout,
             kernel_manager_class=None) -> RunReport:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    report = RunReport(kernel_started=True)
    wanted = set(todo)
    mask = engine.redactor()          # the kernel masks too; this process knows the same values
    running: list[str] = []

    def on_line(line: str) -> None:
        parsed = parse_line(line)
        if parsed is None or parsed[1]["step"] not in wanted:
            return
        kind, d = parsed
        if kind == "start":
            running.append(d["step"])
            on_event("start", StepReport(d["step"], "running"), len(report.steps) + 1, len(todo))
            return
        rep = StepReport(d["step"], d["status"], d.get("duration") or 0.0, d.get("saved") or 0.0,
                         d.get("key"), mask.text(d.get("error")), mask.text(d.get("traceback") or ""))
        report.steps.append(rep)
        on_event("end", rep, len(report.steps), len(todo))

    class LiveClient(NotebookClient):
        def process_message(self, msg, cell, cell_index):
            out = super().process_message(msg, cell, cell_index)
            if msg["msg_type"] == "stream":
                for line in msg["content"].get("text", "").splitlines():
                    on_line(line)
            return out

    book = nbformat.v4.new_notebook(cells=[_code_cell(c) for c in prelude(nb, engine, overrides)])
    book.metadata["kernelspec"] = {"name": kernel_name or nb.kernel_name, "display_name": "", "language": "python"}
    env = {**os.environ, "NB2PIPE_STORE": engine.store.url, "NB2PIPE_PROGRESS": "text"}
    if kernel_manager_class is not None:
        from ..envforward import forwarded_env
        env = {"KERNEL_NB2PIPE_PROGRESS": "text", **forwarded_env()}
    extra = {"kernel_manager_class": kernel_manager_class} if kernel_manager_class else {
        "extra_arguments": ["--IPKernelApp.log_level=ERROR"]}
    client = LiveClient(book, timeout=timeout, kernel_name=kernel_name or nb.kernel_name,
                        resources={"metadata": {"path": nb.project_dir}}, **extra)
    with client.setup_kernel(env=env, cwd=nb.project_dir):
        for i, cell in enumerate(book.cells):
            try:
                client.execute_cell(cell, i)
            except CellExecutionError as e:
                raise Nb2pipeError(mask.text(f"the notebook's definitions failed in the kernel: {e.ename}: {e.evalue}"),
                                   where=cell.source.splitlines()[0][:60],
                                   fix="run `nb2pipe check` and fix what it reports") from None
        cell = _code_cell(run_command(todo, force, retries))
        book.cells.append(cell)
        try:
            client.execute_cell(cell, len(book.cells) - 1)
        except CellExecutionError as e:
            raise Nb2pipeError(mask.text(f"the run failed in the kernel: {e.ename}: {e.evalue}"),
                               fix="see the traceback above; finished steps are kept") from None
        except DeadKernelError:
            done = {r.step for r in report.steps}
            for step in todo:
                if step not in done:
                    died = running and running[-1] == step
                    rep = StepReport(step, "failed" if died else "skipped",
                                     error="the kernel died while running this step (out of memory?)"
                                     if died else "the kernel died")
                    report.steps.append(rep)
                    on_event("end", rep, len(report.steps), len(todo))
    done = {r.step for r in report.steps}
    report.steps += [StepReport(s, "skipped", error="not reported by the kernel") for s in todo if s not in done]
    return report
