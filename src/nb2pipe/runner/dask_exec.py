"""Scale-out on Dask: independent steps run in parallel, each worker holding one warm
kernel reused across steps.  Data moves through the shared store, never through the
scheduler: a task gets a step name and returns a small outcome.

Steps are submitted from the client as soon as their parents finished (not as a
graph of futures), which keeps Dask from chasing data locality and piling
independent branches onto one worker.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Callable

from ..engine import Engine
from ..errors import Nb2pipeError
from ..notebook import PipelineNotebook
from .dask_kernels import WarmKernels, plugin_name, run_step, warm
from .deadline import Deadline
from .local import RunReport, StepReport, prelude

STUCK_GRACE = 60.0   # a task past its time limit by this much is on a stuck worker: stop waiting


def _resources(engine: Engine, step: str) -> dict:
    from dask.utils import parse_bytes
    out = {}
    for k, v in engine.defs.steps[step].spec.resources:
        out[k] = float(parse_bytes(v)) if k == "memory" else float(v)
    return out


def _check_resources(engine: Engine, todo: list[str], workers: dict) -> None:
    have = [w.get("resources") or {} for w in workers.values()]
    problems = []
    for step in todo:
        need = _resources(engine, step)
        if need and not any(all(h.get(k, 0) >= v for k, v in need.items()) for h in have):
            problems.append(f"step `{step}` needs {need}, but no worker offers that")
    if problems:
        raise Nb2pipeError("; ".join(problems),
                           fix="start workers with matching --resources (e.g. `dask worker ... "
                               "--resources \"gpu=1\"`), or lower the step's --cpu/--memory/--gpu")


def _local_cluster(engine: Engine, todo: list[str], n_workers: int | None):
    """A cluster on 127.0.0.1 whose workers offer what the steps ask for: one task at a time
    each, with as many cpus as the biggest --cpu (a step asking for 2 can run)."""
    import psutil
    from distributed import LocalCluster
    n = n_workers or 2
    cpu = max([1.0] + [_resources(engine, s).get("cpu", 0.0) for s in todo])
    return LocalCluster(n_workers=n, threads_per_worker=1, host="127.0.0.1",
                        dashboard_address="127.0.0.1:0", processes=True,
                        resources={"cpu": cpu, "memory": psutil.virtual_memory().total // n})


def execute_dask(nb: PipelineNotebook, engine: Engine, todo: list[str], *, overrides: dict,
                 force: set[str], retries: int = 0, kernel_name: str | None = None,
                 scheduler: str | None = None, n_workers: int | None = None,
                 on_event: Callable = lambda *a: None, timeout: float | None = None) -> RunReport:
    """Run ``todo`` on Dask; ``timeout``: seconds the whole run may take."""
    from distributed import Client

    cells = prelude(nb, engine, overrides)
    key = hashlib.sha256(json.dumps(cells).encode()).hexdigest()[:16]
    name = plugin_name(os.urandom(6).hex())       # this run's kernels, apart from any other run's
    cluster = None if scheduler else _local_cluster(engine, todo, n_workers)
    client = Client(scheduler or cluster, timeout="30s")
    try:
        client.register_plugin(WarmKernels(name), name=name)
        _check_resources(engine, todo, client.scheduler_info()["workers"])
        task = (name, key, cells, nb.project_dir, kernel_name or nb.kernel_name)
        if len(todo) > 1:
            client.run(warm, *task, engine.store.url)
        run = _Run(client, engine, todo, task, force=force, retries=retries,
                   deadline=Deadline.of(engine, timeout), on_event=on_event)
        return run.loop()
    finally:
        try:
            client.unregister_worker_plugin(name)    # shuts the run's kernels down on every worker
        except Exception:  # noqa: BLE001 - a scheduler gone away took them with it
            pass
        client.close()
        if cluster is not None:
            cluster.close()


class _Run:
    """Submit steps as their parents finish; collect outcomes; resubmit a step whose kernel
    died (per --retries); never wait on a future without a limit."""

    def __init__(self, client, engine: Engine, todo: list[str], task: tuple, *, force: set[str],
                 retries: int, deadline: Deadline, on_event: Callable) -> None:
        self.client, self.engine, self.todo, self.task = client, engine, todo, task
        self.force, self.retries, self.deadline, self.on_event = force, retries, deadline, on_event
        self.graph = engine.graph()
        self.report = RunReport(kernel_started=True)
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self.futures: dict = {}        # future -> (step, attempt, time after which it is stuck)
        self.started: set[str] = set()

    def finish(self, rep: StepReport) -> None:
        self.report.steps.append(rep)
        (self.failed if rep.status in ("failed", "skipped") else self.done).add(rep.step)
        self.on_event("end", rep, len(self.report.steps), len(self.todo))

    def ready(self) -> list[str]:
        out = []
        for s in self.todo:
            if s in self.started or s in self.done or s in self.failed:
                continue
            parents = [p for p in self.graph.parents(s) if p in self.todo]
            bad = [p for p in parents if p in self.failed]
            if bad:
                self.finish(StepReport(s, "skipped", error=f"upstream `{bad[0]}` failed"))
            elif all(p in self.done for p in parents):
                out.append(s)
        return out

    def submit(self, step: str, attempt: int = 1) -> None:
        if attempt == 1:
            self.started.add(step)
            self.on_event("start", StepReport(step, "running"), len(self.report.steps) + 1, len(self.todo))
        if self.deadline.expired():
            self.finish(StepReport(step, "failed", error=self.deadline.not_started(), timed_out=True))
            return
        limit = self.deadline.limit(step)
        fut = self.client.submit(run_step, *self.task, step, step in self.force, self.retries, limit,
                                 self.deadline.reason(step), self.engine.store.url,
                                 key=f"nb2pipe-{step}-{os.urandom(4).hex()}",
                                 pure=False, resources=_resources(self.engine, step) or None,
                                 retries=self.retries)
        stuck = None if limit is None else time.monotonic() + limit + STUCK_GRACE
        self.futures[fut] = (step, attempt, stuck)

    def collect(self, fut) -> None:
        step, attempt, _ = self.futures.pop(fut)
        try:
            r = fut.result(timeout=60)
        except Exception as e:  # noqa: BLE001 - a task that died on every worker
            r = {"step": step, "status": "failed", "error": f"{type(e).__name__}: {e}"}
        allowed = max(self.retries, self.engine.defs.steps[step].spec.retries)
        if r.get("died") and attempt <= allowed:
            self.submit(step, attempt + 1)        # a new kernel on whichever worker is free
            return
        rep = StepReport(step, r["status"], r.get("duration") or 0.0, r.get("saved") or 0.0,
                         r.get("key"), r.get("error"), r.get("traceback") or "", attempt,
                         timed_out=bool(r.get("timed_out")))
        rep.start, rep.end, rep.worker = r.get("start"), r.get("end"), r.get("worker")
        self.finish(rep)

    def give_up_stuck(self) -> None:
        """A task far past its time limit: its worker does not answer; report, stop waiting."""
        now = time.monotonic()
        for fut, (step, attempt, stuck) in list(self.futures.items()):
            if stuck is not None and now > stuck:
                del self.futures[fut]
                fut.cancel()
                self.finish(StepReport(step, "failed", error=self.deadline.reason(step)
                                       + " (its worker did not answer)", attempts=attempt, timed_out=True))

    def loop(self) -> RunReport:
        from distributed import wait
        for s in self.ready():
            self.submit(s)
        while self.futures:
            try:
                done = wait(list(self.futures), timeout=5, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            for fut in done:
                self.collect(fut)
            self.give_up_stuck()
            for s in self.ready():
                self.submit(s)
        for s in self.todo:       # skipped because an ancestor failed, found after the last completion
            if s not in self.done and s not in self.failed:
                self.report.steps.append(StepReport(s, "skipped", error="an upstream step failed"))
        return self.report
