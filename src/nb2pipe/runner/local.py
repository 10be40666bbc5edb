"""Run the stale steps of a notebook in one kernel, through nbclient.

The kernel gets, in order: ``%load_ext nb2pipe`` in define-only mode, the setup
cells, the parameters (with overrides), every step definition, and then one
``%dag run STEP --json`` cell per stale step.  A failing step skips only its
descendants; everything else that can run still runs.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Callable

from ..engine import Engine
from ..errors import Nb2pipeError
from ..report import OUTCOMES_PREFIX
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


def _parse_outcomes(outputs) -> list[dict]:
    for out in outputs:
        if out.get("output_type") == "stream":
            for line in out.get("text", "").splitlines():
                if line.startswith(OUTCOMES_PREFIX):
                    return json.loads(line[len(OUTCOMES_PREFIX):])
    return []


def prelude(nb: PipelineNotebook, engine: Engine, overrides: dict) -> list[str]:
    """The cells that give a kernel the pipeline's definitions without running any step.
    Paths are absolute: a remote kernel starts in its server's directory, not ours."""
    cells = [f"__import__('os').chdir({nb.project_dir!r}); __import__('sys').path.insert(0, {nb.project_dir!r})",
             "%load_ext nb2pipe\n%nb2pipe define-only on\n" + (
                 f"%nb2pipe env {engine.env_name}" if engine.env_name else f"%nb2pipe store {engine.store.url}"),
             "%nb2pipe params " + json.dumps(overrides)]
    cells += [c.source for c in nb.of_kind("setup")]
    cells += [c.source for c in nb.of_kind("params", "control")]
    if engine.contracts:
        cells.append("%nb2pipe contracts " + json.dumps(engine.contracts))
    cells += [c.source for c in nb.of_kind("step")]
    return cells


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
    cells = prelude(nb, engine, overrides)
    book = nbformat.v4.new_notebook(cells=[_code_cell(s) for s in cells])
    book.metadata["kernelspec"] = {"name": kernel_name or nb.kernel_name, "display_name": "", "language": "python"}
    env = {**os.environ, "NB2PIPE_STORE": engine.store.url, "NB2PIPE_PROGRESS": "text"}
    if kernel_manager_class is not None:
        from ..envforward import forwarded_env
        env = {"KERNEL_NB2PIPE_PROGRESS": "text", **forwarded_env()}
    extra = {"kernel_manager_class": kernel_manager_class} if kernel_manager_class else {
        "extra_arguments": ["--IPKernelApp.log_level=ERROR"]}
    client = NotebookClient(book, timeout=timeout, kernel_name=kernel_name or nb.kernel_name,
                            resources={"metadata": {"path": nb.project_dir}}, **extra)
    graph = engine.graph()
    failed: set[str] = set()
    # the kernel's own log: errors only (its TCP-transport warning is noise on every run)
    with client.setup_kernel(env=env, cwd=nb.project_dir):
        for i, cell in enumerate(book.cells):
            try:
                client.execute_cell(cell, i)
            except CellExecutionError as e:
                raise Nb2pipeError(f"the notebook's definitions failed in the kernel: {e.ename}: {e.evalue}",
                                   where=cell.source.splitlines()[0][:60],
                                   fix="run `nb2pipe check` and fix what it reports") from None
        for n, step in enumerate(todo, 1):
            blocked = [p for p in graph.parents(step) if p in failed]
            if blocked:
                failed.add(step)
                rep = StepReport(step, "skipped", error=f"upstream `{blocked[0]}` failed")
                report.steps.append(rep)
                on_event("end", rep, n, len(todo))
                continue
            on_event("start", StepReport(step, "running"), n, len(todo))
            rep = None
            for attempt in range(retries + 1):
                flag = " --force" if (step in force or attempt > 0) else ""
                cell = _code_cell(f"%dag run {step}{flag} --json")
                book.cells.append(cell)
                try:
                    client.execute_cell(cell, len(book.cells) - 1)
                except CellExecutionError as e:
                    rep = StepReport(step, "failed", error=f"{e.ename}: {e.evalue}", attempts=attempt + 1)
                    continue
                except DeadKernelError:
                    rep = StepReport(step, "failed", error="the kernel died while running this step"
                                     " (out of memory?)", attempts=attempt + 1)
                    failed.add(step)
                    report.steps.append(rep)
                    on_event("end", rep, n, len(todo))
                    return _finish(report, todo, n, failed)
                outs = {o["step"]: o for o in _parse_outcomes(cell.outputs)}
                o = outs.get(step, {"status": "failed", "error": "no outcome reported"})
                rep = StepReport(step, o["status"], o.get("duration") or 0.0, o.get("saved") or 0.0,
                                 o.get("key"), o.get("error"), o.get("traceback") or "", attempt + 1)
                if rep.status != "failed":
                    break
            if rep.status == "failed":
                failed.add(step)
            report.steps.append(rep)
            on_event("end", rep, n, len(todo))
    return report


def _finish(report: RunReport, todo: list[str], n: int, failed: set[str]) -> RunReport:
    for step in todo[n:]:
        report.steps.append(StepReport(step, "skipped", error="the kernel died"))
    return report
