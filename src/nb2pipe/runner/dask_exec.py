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

from distributed.diagnostics.plugin import WorkerPlugin

from ..engine import Engine
from ..errors import Nb2pipeError
from ..notebook import PipelineNotebook
from .local import RunReport, StepReport, prelude, progress_in, step_cell

PLUGIN = "nb2pipe-kernels"


class WarmKernels(WorkerPlugin):
    """Worker plugin: one kernel per (worker, pipeline), started on first use, reused."""

    name = PLUGIN

    def __init__(self) -> None:
        self.kernels: dict[str, tuple] = {}

    def setup(self, worker=None) -> None:
        self.worker = worker

    def teardown(self, worker=None) -> None:
        for km, kc in self.kernels.values():
            try:
                kc.stop_channels()
                km.shutdown_kernel(now=True)
            except Exception:  # noqa: BLE001 - the worker is going away anyway
                pass
        self.kernels.clear()

    def kernel(self, key: str, cells: list[str], cwd: str, kernel_name: str):
        if key not in self.kernels:
            from jupyter_client.manager import start_new_kernel
            km, kc = start_new_kernel(kernel_name=kernel_name, cwd=cwd,
                                      extra_arguments=["--IPKernelApp.log_level=ERROR"],
                                      env={**os.environ, "NB2PIPE_PROGRESS": "text"})
            self.kernels[key] = (km, kc)
            for code in cells:
                status, _, err = execute(kc, code)
                if status != "ok":
                    raise RuntimeError(f"pipeline definitions failed in the worker's kernel: {err}")
        return self.kernels[key][1]


def execute(kc, code: str, timeout: float | None = None) -> tuple[str, list[dict], str]:
    """Run ``code``: (status, the display-data bundles it published, its error)."""
    shown: list[dict] = []
    err: list[str] = []

    def hook(msg):
        c = msg["content"]
        if msg["msg_type"] == "display_data":
            shown.append(c.get("data", {}))
        elif msg["msg_type"] == "error":
            err.append(f"{c['ename']}: {c['evalue']}")

    reply = kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    return reply["content"]["status"], shown, "".join(err)


def run_step(pipeline_key: str, cells: list[str], cwd: str, kernel_name: str, step: str,
             force: bool) -> dict:
    """The Dask task: run one step on this worker's warm kernel."""
    from distributed import get_worker
    worker = get_worker()
    kc = worker.plugins[PLUGIN].kernel(pipeline_key, cells, cwd, kernel_name)
    start = time.time()
    status, shown, err = execute(kc, step_cell(step, force=force))
    end = time.time()
    result = {"step": step, "status": "failed", "error": err or "no outcome reported",
              "start": start, "end": end, "worker": worker.address, "pid": os.getpid()}
    ev = progress_in(shown, step)
    if ev is not None:
        result.update(status=ev.status.value, key=ev.key, duration=ev.duration, saved=ev.saved,
                      error=ev.error, traceback=ev.traceback)
    return result


def warm(pipeline_key: str, cells: list[str], cwd: str, kernel_name: str, dask_worker=None) -> bool:
    """Start this worker's kernel and give it the pipeline's definitions, before any step
    arrives (run on every worker at once, so no branch waits for a cold kernel)."""
    dask_worker.plugins[PLUGIN].kernel(pipeline_key, cells, cwd, kernel_name)
    return True


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


def execute_dask(nb: PipelineNotebook, engine: Engine, todo: list[str], *, overrides: dict,
                 force: set[str], retries: int = 0, kernel_name: str | None = None,
                 scheduler: str | None = None, n_workers: int | None = None,
                 on_event: Callable = lambda *a: None) -> RunReport:
    from distributed import Client, LocalCluster, as_completed

    cells = prelude(nb, engine, overrides)
    key = hashlib.sha256(json.dumps(cells).encode()).hexdigest()[:16]
    kname = kernel_name or nb.kernel_name
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        import psutil
        n = n_workers or 2
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", processes=True,
                               resources={"cpu": 1, "memory": psutil.virtual_memory().total // n})
        client = Client(cluster)
    report = RunReport(kernel_started=True)
    try:
        client.register_plugin(WarmKernels(), name=PLUGIN)
        _check_resources(engine, todo, client.scheduler_info()["workers"])
        if len(todo) > 1:
            client.run(warm, key, cells, nb.project_dir, kname)
        graph = engine.graph()
        wanted = set(todo)
        done: set[str] = set()
        failed: set[str] = set()
        submitted: dict = {}
        n_total = len(todo)

        def ready():
            for s in todo:
                if s in submitted or s in done or s in failed:
                    continue
                parents = [p for p in graph.parents(s) if p in wanted]
                if any(p in failed for p in parents):
                    failed.add(s)
                    rep = StepReport(s, "skipped", error=f"upstream `{next(p for p in parents if p in failed)}` failed")
                    report.steps.append(rep)
                    on_event("end", rep, len(report.steps), n_total)
                    continue
                if all(p in done for p in parents):
                    yield s

        def submit(s):
            on_event("start", StepReport(s, "running"), len(report.steps) + 1, n_total)
            fut = client.submit(run_step, key, cells, nb.project_dir, kname, s, s in force,
                                key=f"nb2pipe-{s}-{os.urandom(4).hex()}", pure=False,
                                resources=_resources(engine, s) or None, retries=retries)
            submitted[s] = fut
            return fut

        pending = as_completed([submit(s) for s in list(ready())])
        for fut in pending:
            try:
                r = fut.result()
            except Exception as e:  # noqa: BLE001 - a task that died on every worker
                step = next(s for s, f in submitted.items() if f is fut)
                r = {"step": step, "status": "failed", "error": f"{type(e).__name__}: {e}"}
            step = r["step"]
            rep = StepReport(step, r["status"], r.get("duration") or 0.0, r.get("saved") or 0.0,
                             r.get("key"), r.get("error"), r.get("traceback") or "", 1)
            rep.start, rep.end, rep.worker = r.get("start"), r.get("end"), r.get("worker")
            report.steps.append(rep)
            (failed if rep.status == "failed" else done).add(step)
            on_event("end", rep, len(report.steps), n_total)
            for s in list(ready()):
                pending.add(submit(s))
        for s in todo:       # skipped because an ancestor failed, found after the last completion
            if s not in done and s not in failed and s not in submitted:
                report.steps.append(StepReport(s, "skipped", error="an upstream step failed"))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return report
