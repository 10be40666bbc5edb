"""The worker side of the Dask executor: one warm kernel per (worker, pipeline), held by a
worker plugin whose name is scoped to one run (two runs on one scheduler never replace
each other's kernels), and a step task that never waits without a limit: a kernel that
dies or overruns its time limit is reported within a second or so."""
from __future__ import annotations

import os
import queue
import time

from distributed.diagnostics.plugin import WorkerPlugin

from .local import progress_in, step_cell

KERNEL_DIED = "the kernel died while running this step (out of memory, or killed)"
POLL = 0.5          # seconds between liveness checks while a step runs


def plugin_name(run_id: str) -> str:
    return f"nb2pipe-kernels-{run_id}"


class WarmKernels(WorkerPlugin):
    """Worker plugin: one kernel per pipeline, started on first use, reused by the run's
    steps; shut down when the run unregisters the plugin (or the worker closes)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.kernels: dict[str, tuple] = {}

    def setup(self, worker=None) -> None:
        self.worker = worker

    def teardown(self, worker=None) -> None:
        for key in list(self.kernels):
            self.drop(key)

    def drop(self, key: str) -> None:
        km, kc = self.kernels.pop(key, (None, None))
        if km is None:
            return
        try:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 - a dead kernel has nothing left to shut down
            pass

    def kernel(self, key: str, cells: list[str], cwd: str, kernel_name: str, store_url: str = "") -> tuple:
        """(manager, client) of this pipeline's kernel, started and given its definitions;
        ``$NB2PIPE_STORE`` is the run's store, as a local run's kernel has it (a sample
        check's kernel then knows it runs on a sample: ``nb2pipe.sampling.active()``)."""
        if key in self.kernels and not self.kernels[key][0].is_alive():
            self.drop(key)
        if key not in self.kernels:
            from jupyter_client.manager import start_new_kernel
            km, kc = start_new_kernel(kernel_name=kernel_name, cwd=cwd, startup_timeout=120,
                                      extra_arguments=["--IPKernelApp.log_level=ERROR"],
                                      env={**os.environ, "NB2PIPE_PROGRESS": "text",
                                           **({"NB2PIPE_STORE": store_url} if store_url else {})})
            self.kernels[key] = (km, kc)
            for code in cells:
                status, _, err = execute(km, kc, code, timeout=600)
                if status != "ok":
                    self.drop(key)
                    raise RuntimeError(f"pipeline definitions failed in the worker's kernel: {err or status}")
        return self.kernels[key]


def execute(km, kc, code: str, timeout: float | None) -> tuple[str, list[dict], str]:
    """Run ``code``: (status, the display-data bundles it published, its error).  Status is
    the kernel's (ok, error, aborted), or "died" (the kernel process is gone) or "timeout"."""
    shown: list[dict] = []
    err: list[str] = []
    msg_id = kc.execute(code, stop_on_error=False)
    end = None if timeout is None else time.monotonic() + timeout
    reply = None
    while reply is None:
        _drain_iopub(kc, msg_id, shown, err)
        try:
            msg = kc.get_shell_msg(timeout=POLL)
            if msg["parent_header"].get("msg_id") == msg_id:
                reply = msg
        except queue.Empty:
            if not km.is_alive():
                return "died", shown, "".join(err)
            if end is not None and time.monotonic() > end:
                return "timeout", shown, "".join(err)
    settle = time.monotonic() + 5             # outputs published just before the reply
    while not _drain_iopub(kc, msg_id, shown, err, until_idle=True) and time.monotonic() < settle:
        pass
    return reply["content"]["status"], shown, "".join(err)


def _drain_iopub(kc, msg_id: str, shown: list, err: list, until_idle: bool = False) -> bool:
    """Collect the outputs of ``msg_id`` waiting on iopub; True once its idle status came."""
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=0.2 if until_idle else 0)
        except queue.Empty:
            return False
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        c, kind = msg["content"], msg["msg_type"]
        if kind == "display_data":
            shown.append(c.get("data", {}))
        elif kind == "error":
            err.append(f"{c['ename']}: {c['evalue']}")
        elif kind == "status" and c.get("execution_state") == "idle":
            return True


def _stop(plugin: WarmKernels, key: str, km, kc, grace: float = 10.0) -> None:
    """After a time limit: interrupt the step; a kernel still busy after ``grace`` seconds
    (native code ignoring the interrupt) is shut down, the next step starts a new one."""
    km.interrupt_kernel()
    status, _, _ = execute(km, kc, "pass", timeout=grace)
    if status != "ok":
        plugin.drop(key)


def run_step(name: str, pipeline_key: str, cells: list[str], cwd: str, kernel_name: str, step: str,
             force: bool, retries: int = 0, timeout: float | None = None,
             timeout_message: str = "", store_url: str = "") -> dict:
    """The Dask task: run one step on this worker's warm kernel."""
    from distributed import get_worker
    worker = get_worker()
    plugin = worker.plugins[name]
    km, kc = plugin.kernel(pipeline_key, cells, cwd, kernel_name, store_url)
    start = time.time()
    status, shown, err = execute(km, kc, step_cell(step, force=force, retries=retries), timeout)
    result = {"step": step, "status": "failed", "error": err or "no outcome reported",
              "start": start, "end": time.time(), "worker": worker.address, "pid": os.getpid()}
    if status == "died":
        plugin.drop(pipeline_key)
        return {**result, "error": KERNEL_DIED, "died": True}
    if status == "timeout":
        _stop(plugin, pipeline_key, km, kc)
        return {**result, "error": timeout_message, "timed_out": True}
    ev = progress_in(shown, step)
    if ev is not None:
        result.update(status=ev.status.value, key=ev.key, duration=ev.duration, saved=ev.saved,
                      error=ev.error, traceback=ev.traceback)
    return result


def warm(name: str, pipeline_key: str, cells: list[str], cwd: str, kernel_name: str,
         store_url: str = "", dask_worker=None) -> bool:
    """Start this worker's kernel and give it the pipeline's definitions, before any step
    arrives (run on every worker at once, so no branch waits for a cold kernel)."""
    dask_worker.plugins[name].kernel(pipeline_key, cells, cwd, kernel_name, store_url)
    return True
