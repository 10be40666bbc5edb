"""The worker side of the Dask executor: one warm kernel per worker and run, held by a
worker plugin whose name is scoped to one run (two runs on one scheduler never replace
each other's kernels).  The plugin carries the pipeline's definitions, so a task is a
few step names; it starts its kernel as soon as it is registered, in a thread (every
worker at once, while the client plans and submits).  A task runs a chain of steps in
one ``%dag run`` cell, sends each outcome to the client as the kernel publishes it, and
never waits without a limit: a kernel that dies or overruns its time limit is reported
within a second or so."""
from __future__ import annotations

import os
import queue
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from distributed.diagnostics.plugin import WorkerPlugin

from ..protocol import EVENT_MIME, EventType

KERNEL_DIED = "the kernel died while running this step (out of memory, or killed)"
POLL = 0.5          # seconds between liveness checks while a step runs
OK = ("ran", "cached", "fresh")


def plugin_name(run_id: str) -> str:
    return f"nb2pipe-kernels-{run_id}"


def topic(name: str) -> str:
    """The event topic on which a run's tasks report each step's outcome."""
    return name + "-outcomes"


class WarmKernels(WorkerPlugin):
    """Worker plugin: this run's kernel on one worker, given the pipeline's definitions
    (``cells``), reused by the run's tasks; shut down when the run unregisters the plugin
    (or the worker closes).  ``warm``: start it at once, not at the first task."""

    def __init__(self, name: str, cells: list[str], cwd: str, kernel_name: str, store_url: str,
                 warm: bool = True) -> None:
        self.name, self.cells, self.cwd, self.kernel_name = name, cells, cwd, kernel_name
        self.store_url, self.warm = store_url, warm

    def setup(self, worker=None) -> None:
        self.worker = worker
        self.lock = threading.Lock()
        self.current: tuple | None = None      # (manager, client) of the live kernel
        self.ran: set[str] = set()             # steps whose results the live kernel holds
        self.starts: list[dict] = []           # what each kernel start cost, for the report
        self.busy = threading.Lock()           # one task at a time in the kernel
        self.closed = False
        if self.warm:
            threading.Thread(target=self._warm, args=(time.time(),), name=self.name, daemon=True).start()

    def _warm(self, requested: float) -> None:
        try:
            with closing_loop():
                self.kernel(requested)
        except Exception:  # noqa: BLE001 - the first task starts it again and reports why
            pass

    def teardown(self, worker=None) -> None:
        self.closed = True                     # a start under way drops its kernel when done
        if self.lock.acquire(timeout=5):
            try:
                self.drop()
            finally:
                self.lock.release()

    def drop(self) -> None:
        km, kc = self.current or (None, None)
        self.current, self.ran = None, set()
        if km is None:
            return
        try:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 - a dead kernel has nothing left to shut down
            pass

    def kernel(self, requested: float | None = None) -> tuple:
        """(manager, client) of this run's kernel, started and given its definitions;
        ``$NB2PIPE_STORE`` is the run's store, as a local run's kernel has it (a sample
        check's kernel then knows it runs on a sample: ``nb2pipe.sampling.active()``)."""
        with self.lock:
            if self.current is not None and not self.current[0].is_alive():
                self.drop()
            if self.current is None:
                self._start(requested or time.time())
            return self.current

    def _start(self, requested: float) -> None:
        from jupyter_client.manager import KernelManager
        from jupyter_core.utils import run_sync

        from .kernel import kernel_specs, ready_client
        t0 = time.time()
        # the specs' headless command: the worker's kernel starts without ipykernel's debugger
        km = KernelManager(kernel_name=self.kernel_name, kernel_spec_manager=kernel_specs())
        km.start_kernel(cwd=self.cwd, extra_arguments=["--IPKernelApp.log_level=ERROR"],
                        env={**os.environ, "NB2PIPE_PROGRESS": "text",
                             **({"NB2PIPE_STORE": self.store_url} if self.store_url else {})})
        try:
            kc = run_sync(ready_client)(km, 120)
        except BaseException:
            km.shutdown_kernel(now=True)
            raise
        self.current, self.ran = (km, kc), set()
        t1 = time.time()
        for code in self.cells:
            status, err = execute(km, kc, code, timeout=600)
            if status != "ok":
                self.drop()
                raise RuntimeError(f"pipeline definitions failed in the worker's kernel: {err or status}")
        start = {"worker": getattr(self.worker, "address", None), "requested": requested,
                 "kernel_s": round(t1 - t0, 4), "definitions_s": round(time.time() - t1, 4), "ready": time.time()}
        self.starts.append(start)
        if self.worker is not None:
            self.worker.log_event(topic(self.name), {"kernel": start})   # the run's report says it
        if self.closed:
            self.drop()


@contextmanager
def closing_loop() -> Iterator[None]:
    """Close the event loop jupyter_client's blocking calls made in this thread.  They make
    one per thread and context (Dask runs each task in a context of its own, so each task
    made another) and never close it; the garbage collector then finalizes it whenever it
    runs, in the run's own process, and when it happens to close the loop's socket first
    the loop's finalizer prints a traceback on stderr."""
    try:
        yield
    finally:
        import asyncio

        from jupyter_core.utils import ensure_event_loop
        loop = ensure_event_loop()           # the one run_sync used here (or a new one)
        if not loop.is_running():
            loop.close()
            asyncio.set_event_loop(None)


def execute(km, kc, code: str, timeout: float | None,
            on_output: Callable[[dict, float], None] = lambda data, when: None) -> tuple[str, str]:
    """Run ``code``: (status, its error).  Status is the kernel's (ok, error, aborted), or
    "died" (the kernel process is gone) or "timeout".  Each display-data bundle it publishes
    goes to ``on_output`` as it comes, with when the kernel published it (epoch seconds): the
    wait is on the kernel's output channel, which says when the cell is done (status idle),
    then its reply."""
    err: list[str] = []
    msg_id = kc.execute(code, stop_on_error=False)
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=POLL if end is None else max(0.0, min(POLL, end - time.monotonic())))
        except queue.Empty:
            if not km.is_alive():
                return "died", "".join(err)
            if end is not None and time.monotonic() > end:
                return "timeout", "".join(err)
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        c, kind = msg["content"], msg["msg_type"]
        if kind == "display_data":
            on_output(c.get("data", {}), _published(msg))
        elif kind == "error":
            err.append(f"{c['ename']}: {c['evalue']}")
        elif kind == "status" and c.get("execution_state") == "idle":
            break
    return _reply(km, kc, msg_id), "".join(err)


def _published(msg: dict) -> float:
    """When the kernel sent ``msg`` (its header's date), not when it arrived here: outputs
    can arrive in bursts on a busy machine."""
    date = msg.get("header", {}).get("date")
    return date.timestamp() if hasattr(date, "timestamp") else time.time()


def _reply(km, kc, msg_id: str) -> str:
    """The status of ``msg_id``'s reply (sent before its idle status, so here or nearly)."""
    while True:
        try:
            msg = kc.get_shell_msg(timeout=POLL)
        except queue.Empty:
            if not km.is_alive():
                return "died"
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]["status"]


def _stop(plugin: WarmKernels, km, kc, grace: float = 10.0) -> None:
    """After a time limit: interrupt the step; a kernel still busy after ``grace`` seconds
    (native code ignoring the interrupt) is shut down, the next step starts a new one."""
    km.interrupt_kernel()
    status, _ = execute(km, kc, "pass", timeout=grace)
    if status != "ok":
        with plugin.lock:
            plugin.drop()


def chain_cell(steps: list[str], force: list[str], retries: int, reuse: set[str]) -> str:
    """One cell that runs ``steps`` (in order) and publishes each one's outcome; the steps
    this kernel already ran in this run are handed on from memory, not looked up."""
    cmd = "%dag run " + " ".join(steps) + " --json"
    if force:
        cmd += " --force-steps=" + ",".join(force)
    if retries:
        cmd += f" --retries={retries}"
    reuse = sorted(reuse - set(steps))
    if reuse:
        cmd += " --reuse=" + ",".join(reuse)
    return cmd


def run_steps(name: str, task: str, steps: list[str], force: list[str], retries: int = 0,
              timeout: float | None = None) -> dict:
    """The Dask task: run ``steps`` (a chain, each one's only consumer in the run the next,
    or several independent short chains one after the other) in this worker's warm kernel.
    Each outcome goes to the client as it comes (event topic of the run); the result
    repeats them all."""
    from distributed import get_worker
    worker = get_worker()
    plugin: WarmKernels = worker.plugins[name]
    with plugin.busy, closing_loop():
        return _run_steps(worker, plugin, name, task, steps, force, retries, timeout)


def _run_steps(worker, plugin: WarmKernels, name: str, task: str, steps: list[str], force: list[str],
               retries: int, timeout: float | None) -> dict:
    picked = time.time()
    km, kc = plugin.kernel()
    outcomes: list[dict] = []
    last = [time.time()]

    def on_output(data: dict, now: float) -> None:
        ev = data.get(EVENT_MIME)
        if not (isinstance(ev, dict) and ev.get("type") == EventType.PROGRESS.value and ev.get("step") in steps):
            return
        out = {k: ev.get(k) for k in ("step", "status", "key", "duration", "saved", "error", "traceback")}
        out.update(start=last[0], end=now)
        last[0] = now
        outcomes.append(out)
        if out["status"] in OK:
            plugin.ran.add(out["step"])
        worker.log_event(topic(name), {"task": task, "outcome": out, "worker": worker.address})

    status, err = execute(km, kc, chain_cell(steps, force, retries, plugin.ran), timeout, on_output)
    result = {"task": task, "outcomes": outcomes, "status": status, "error": err, "worker": worker.address,
              "picked": picked, "kernels": list(plugin.starts)}
    if status == "died":
        with plugin.lock:
            plugin.drop()
    elif status == "timeout":
        _stop(plugin, km, kc)
    return result
