"""Scale-out on Dask: independent steps run in parallel, each worker holding one warm
kernel reused across steps.  Data moves through the shared store, never through the
scheduler: a task gets step names and returns small outcomes.

Steps are submitted from the client as soon as their parents finished (not as a
graph of futures), which keeps Dask from chasing data locality and piling
independent branches onto one worker.  A chain of steps (each one the only consumer in
the run of the one before) is one task: one ``%dag run`` cell in one kernel, whose
values stay in memory between its steps.  Each step's outcome reaches the client as the
kernel publishes it (an event topic), so its dependants start without waiting for the
rest of the task.  Ready chains leave at most two tasks per worker thread at a time;
short ones share a task once the steps that ended show they are short (``dask_batches``),
which pays a task's cost (scheduler round trips, a kernel cell) once for all of them.
"""
from __future__ import annotations

import os
import queue
import time
from dataclasses import dataclass
from typing import Callable

from ..engine import Engine
from ..errors import Nb2pipeError
from ..notebook import PipelineNotebook
from .dask_batches import ReadyPool
from .dask_kernels import KERNEL_DIED, WarmKernels, plugin_name, run_steps, topic
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
    each, with as many cpus as the biggest --cpu (a step asking for 2 can run).  Its workers
    are threads of this process: a step runs in the worker's kernel, a process of its own,
    so worker processes would only add their start (seconds: an interpreter and its imports
    each, with a nanny) and their shutdown to every run."""
    import psutil
    from distributed import LocalCluster
    n = n_workers or 2
    cpu = max([1.0] + [_resources(engine, s).get("cpu", 0.0) for s in todo])
    return LocalCluster(n_workers=n, threads_per_worker=1, host="127.0.0.1", protocol="tcp://",
                        dashboard_address="127.0.0.1:0", processes=False,
                        resources={"cpu": cpu, "memory": psutil.virtual_memory().total // n})


def execute_dask(nb: PipelineNotebook, engine: Engine, todo: list[str], *, overrides: dict,
                 force: set[str], retries: int = 0, kernel_name: str | None = None,
                 scheduler: str | None = None, n_workers: int | None = None,
                 on_event: Callable = lambda *a: None, timeout: float | None = None) -> RunReport:
    """Run ``todo`` on Dask; ``timeout``: seconds the whole run may take.  The report's
    ``startup`` says what came before the steps: the cluster, the client's connection,
    the plugin carrying the definitions, and each worker's kernel and definitions."""
    from distributed import Client
    began = time.time()
    cells = prelude(nb, engine, overrides)
    name = plugin_name(os.urandom(6).hex())       # this run's kernels, apart from any other run's
    cluster = None if scheduler else _local_cluster(engine, todo, n_workers)
    startup = {"executor": "dask", "cluster": "external" if scheduler else "local",
               "cluster_s": time.time() - began}
    client = Client(scheduler or cluster, timeout="30s")
    startup["connect_s"] = time.time() - began - startup["cluster_s"]
    report = None
    try:
        workers = client.scheduler_info()["workers"]
        _check_resources(engine, todo, workers)
        run = _Run(client, engine, todo, name, force=force, retries=retries,
                   slots=sum(w.get("nthreads", 1) for w in workers.values()),
                   deadline=Deadline.of(engine, timeout), on_event=on_event)
        client.subscribe_topic(topic(name), run.on_log)
        t = time.time()
        plugin = WarmKernels(name, cells, nb.project_dir, kernel_name or nb.kernel_name, engine.store.url,
                             warm=run.width() > 1)    # each worker starts its kernel now, in a thread
        client.register_plugin(plugin, name=name)
        startup["plugin_s"] = time.time() - t
        report = run.loop()
        startup.update(run.startup(began))
    finally:
        t = time.time()
        try:
            client.unregister_worker_plugin(name)    # shuts the run's kernels down on every worker
        except Exception:  # noqa: BLE001 - a scheduler gone away took them with it
            pass
        client.close()
        if cluster is not None:
            cluster.close()
        startup["shutdown_s"] = time.time() - t
    report.startup = _rounded(startup)
    return report


def _rounded(d: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


@dataclass
class _Task:
    steps: list[str]
    left: list[str]          # its steps whose outcome has not come yet
    attempt: int
    stuck: float | None      # past this (monotonic) time its worker does not answer
    reason: str              # what its first step's time limit reports
    future: object = None


class _Run:
    """Submit chains of steps as their parents finish; take each outcome as it comes;
    resubmit what a dead kernel did not finish (per --retries); never wait on a future
    without a limit."""

    def __init__(self, client, engine: Engine, todo: list[str], name: str, *, force: set[str],
                 retries: int, deadline: Deadline, on_event: Callable, slots: int = 1) -> None:
        self.client, self.engine, self.todo, self.name = client, engine, todo, name
        self.force, self.retries, self.deadline, self.on_event = force, retries, deadline, on_event
        graph = engine.graph()
        in_run = set(todo)
        self.parents = {s: [p for p in graph.parents(s) if p in in_run] for s in todo}
        self.children = {s: [c for c in graph.children(s) if c in in_run] for s in todo}
        self.waiting = {s: len(self.parents[s]) for s in todo}    # parents not finished well
        self.order = {s: i for i, s in enumerate(todo)}
        self.report = RunReport(kernel_started=True)
        self.finished: set[str] = set()
        self.started: set[str] = set()
        self.tasks: dict[str, _Task] = {}
        self.events: queue.Queue = queue.Queue()     # outcomes and finished tasks, in arrival order
        self.kernels: dict[tuple, dict] = {}
        self.first_task: float | None = None
        self.pool = ReadyPool(slots)                 # ready chains not submitted yet

    # -- what runs next
    def width(self) -> int:
        """How many tasks can run at once, at most: the chains that start at one depth.
        One (a chain): a single kernel, started by the first task, serves the whole run."""
        depth: dict[str, int] = {}
        heads: dict[int, int] = {}
        for s in self.todo:                       # in order: parents first
            ps = self.parents[s]
            depth[s] = 1 + max((depth[p] for p in ps), default=-1)
            if not (len(ps) == 1 and self.children[ps[0]] == [s]):   # not the next of a chain
                heads[depth[s]] = heads.get(depth[s], 0) + 1
        return max(heads.values(), default=0)

    def chain_from(self, step: str) -> list[str]:
        """``step`` and the steps after it that only it feeds, as long as each next one
        needs nothing else still to come and asks for the same resources and no time limit."""
        chain, need = [step], _resources(self.engine, step)
        own = self.deadline.step_timeouts
        while step not in own:
            kids = self.children[chain[-1]]
            if len(kids) != 1:
                break
            nxt = kids[0]
            if (self.waiting[nxt] != 1 or nxt in self.started or nxt in own
                    or _resources(self.engine, nxt) != need):
                break
            chain.append(nxt)
        return chain

    def submit_ready(self, steps) -> None:
        """The chains that start at ``steps`` (ready now): one with a time limit of its own
        or asking for resources leaves at once, alone; the others wait in the pool."""
        for s in dict.fromkeys(steps):
            if s in self.started or s in self.finished:
                continue
            chain = self.chain_from(s)
            if s in self.deadline.step_timeouts or _resources(self.engine, s):
                self.submit(chain)
            else:
                self.started.update(chain)
                self.pool.add(chain)
        self.refill()

    def refill(self) -> None:
        """Submit tasks from the pool while fewer than two per worker thread are out."""
        while True:
            steps = self.pool.take(len(self.tasks), alone=self.deadline.expired())
            if steps is None:
                return
            self.submit(steps)

    def submit(self, steps: list[str], attempt: int = 1) -> None:
        if attempt == 1:
            self.started.update(steps)
            self.on_event("start", StepReport(steps[0], "running"), len(self.report.steps) + 1, len(self.todo))
        if self.deadline.expired():
            self.started.difference_update(steps[1:])
            self.finish(StepReport(steps[0], "failed", error=self.deadline.not_started(), timed_out=True))
            return
        limit = self.deadline.limit(steps[0])
        key = f"nb2pipe-{steps[0]}-{os.urandom(4).hex()}"
        task = _Task(steps, list(steps), attempt, None if limit is None else time.monotonic() + limit + STUCK_GRACE,
                     self.deadline.reason(steps[0]))
        self.tasks[key] = task
        task.future = self.client.submit(run_steps, self.name, key, steps, [s for s in steps if s in self.force],
                                         self.retries, limit, key=key, pure=False,
                                         resources=_resources(self.engine, steps[0]) or None, retries=self.retries)
        task.future.add_done_callback(lambda fut: self.events.put(("done", fut.key)))
        self.first_task = self.first_task or time.time()

    # -- what comes back
    def on_log(self, event) -> None:
        """The event topic's handler (on the client's event loop): hand it to the run."""
        self.events.put(("outcome", event[1]))

    def finish(self, rep: StepReport) -> None:
        """Report ``rep``; its dependants are submitted when ready, or skipped (with theirs)."""
        todo, ready = [rep], []
        while todo:
            rep = todo.pop()
            self.report.steps.append(rep)
            self.finished.add(rep.step)
            self.on_event("end", rep, len(self.report.steps), len(self.todo))
            ok = rep.status not in ("failed", "skipped")
            for c in reversed(self.children.get(rep.step, ())):
                if ok:
                    self.waiting[c] -= 1
                    if self.waiting[c] == 0:
                        ready.append(c)
                elif c not in self.started and c not in self.finished:
                    self.finished.add(c)          # once, whichever failed parent comes first
                    todo.append(StepReport(c, "skipped", error=f"upstream `{rep.step}` failed"))
        self.submit_ready(sorted(ready, key=self.order.__getitem__))     # in run order

    def outcome(self, task: _Task, out: dict, worker: str | None) -> None:
        if out.get("step") not in task.left:
            return                                   # already taken (the topic, then the result)
        task.left.remove(out["step"])
        rep = StepReport(out["step"], out["status"], out.get("duration") or 0.0, out.get("saved") or 0.0,
                         out.get("key"), out.get("error"), out.get("traceback") or "", task.attempt)
        rep.start, rep.end, rep.worker = out.get("start"), out.get("end"), worker
        if rep.status == "ran":
            self.pool.ended(rep.duration)
        self.finish(rep)
        if task.left:
            self.on_event("start", StepReport(task.left[0], "running"), len(self.report.steps) + 1,
                          len(self.todo))

    def done(self, key: str) -> None:
        task = self.tasks.pop(key, None)
        if task is None:
            return                                   # given up as stuck
        if not task.left and task.future.status == "finished":
            return          # every outcome came on the topic (kernel starts too): no fetch
        try:
            r = task.future.result(timeout=60)
        except Exception as e:  # noqa: BLE001 - a task that died on every worker
            r = {"status": "failed", "error": f"{type(e).__name__}: {e}", "outcomes": []}
        for k in r.get("kernels", []):
            self.kernels[(k["worker"], k["requested"])] = k
        for out in r["outcomes"]:
            self.outcome(task, out, r.get("worker"))
        if task.left:
            self.unfinished(task, r)

    def unfinished(self, task: _Task, r: dict) -> None:
        """Steps of a task with no outcome: resubmit them after a dead kernel (per
        --retries), else the first one failed and the rest skipped."""
        first, status = task.left[0], r["status"]
        allowed = max(self.retries, self.engine.defs.steps[first].spec.retries)
        if status == "died" and task.attempt <= allowed:
            self.submit(task.left, task.attempt + 1)      # a new kernel on whichever worker is free
            return
        rest = task.left[1:]
        self.started.difference_update(rest)    # its descendants are skipped once it is failed
        if status == "died":
            rep = StepReport(first, "failed", error=KERNEL_DIED, attempts=task.attempt)
        elif status == "timeout":
            why = task.reason if first == task.steps[0] else self.deadline.reason(first)
            rep = StepReport(first, "failed", error=why, attempts=task.attempt, timed_out=True)
        else:
            rep = StepReport(first, "failed", error=r.get("error") or "no outcome reported", attempts=task.attempt)
        rep.worker = r.get("worker")
        self.finish(rep)
        self.submit_ready([s for s in rest if self.waiting[s] == 0])   # batch mates it does not feed

    def give_up_stuck(self) -> None:
        """A task far past its time limit: its worker does not answer; report, stop waiting."""
        now = time.monotonic()
        for key, task in list(self.tasks.items()):
            if task.stuck is not None and now > task.stuck:
                del self.tasks[key]
                task.future.cancel()
                rest = task.left[1:]
                self.started.difference_update(rest)
                first = task.left[0]
                why = task.reason if first == task.steps[0] else self.deadline.reason(first)
                self.finish(StepReport(first, "failed", error=why + " (its worker did not answer)",
                                       attempts=task.attempt, timed_out=True))
                self.submit_ready([s for s in rest if self.waiting[s] == 0])

    def loop(self) -> RunReport:
        self.submit_ready([s for s in self.todo if self.waiting[s] == 0])
        while True:
            self.refill()          # a task ended, or a chain became ready: the pool's next ones
            if not self.tasks:     # (with none out, the pool is empty after a refill)
                break
            try:
                kind, what = self.events.get(timeout=5)
            except queue.Empty:
                kind = None
            if kind == "outcome" and "kernel" in what:
                k = what["kernel"]
                self.kernels[(k["worker"], k["requested"])] = k
            elif kind == "outcome" and what["task"] in self.tasks:
                self.outcome(self.tasks[what["task"]], what["outcome"], what.get("worker"))
            elif kind == "done":
                self.done(what)
            self.give_up_stuck()
        for s in self.todo:       # skipped because an ancestor failed, found after the last completion
            if s not in self.finished:
                self.report.steps.append(StepReport(s, "skipped", error="an upstream step failed"))
        return self.report

    def startup(self, began: float) -> dict:
        """When the first task left, and what each worker's kernel cost (seconds)."""
        kernels = sorted(self.kernels.values(), key=lambda k: k["requested"])
        return {"first_task_s": None if self.first_task is None else self.first_task - began,
                "kernels": [{"worker": k["worker"], "requested_s": round(k["requested"] - began, 4),
                             "kernel_s": k["kernel_s"], "definitions_s": k["definitions_s"],
                             "ready_s": round(k["ready"] - began, 4)} for k in kernels]}
