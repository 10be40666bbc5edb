"""One kernel driven by nbclient for a headless run: its process started early (it boots
while this process plans), handed cells one at a time, and shut down without waiting.

Shutdown hand-off: a local kernel gets its shutdown request and this process goes on (or
exits) at once; the kernel exits by itself a moment later.  Should it not answer the request,
ipykernel's own parent poller ends it within a second of this process exiting (jupyter_client
starts it with ``JPY_PARENT_PID``), so no kernel outlives the command.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable

from . import jupyter_imports


class KernelSession:
    """``spawn()`` starts the kernel process and returns at once; ``connect()`` waits until
    it answers.  ``hooks`` receives nbclient's cell hooks (on_cell_start/executed/error)."""

    def __init__(self, kernel_name: str, project_dir: str, env: dict[str, str],
                 kernel_manager_class: Any = None) -> None:
        self.kernel_name, self.env, self.cwd = kernel_name, env, project_dir
        self.manager_class = kernel_manager_class
        self.remote = kernel_manager_class is not None
        self.hooks: Any = None
        self.prelude: list[str] = []         # what define() last sent: re-sent after a restart
        self.km: Any = None
        self.client: Any = None
        self.launched: Any = None            # a process started without jupyter_client, until connect()
        self.on_ready: Callable[[], None] | None = None    # called once, when the kernel first answers

    def spawn(self, direct_only: bool = False) -> "KernelSession | None":
        """Start the kernel process.  A local one is started without jupyter_client where it
        can be (:mod:`.launch`), else with jupyter_client alone, so that jupyter_client,
        nbclient and nbformat are imported while the kernel boots.  ``direct_only``: return
        None instead of starting it through jupyter_client."""
        if self.remote:
            if direct_only:
                return None
            client = self._client()
            client.km = client.create_kernel_manager()
            client.start_new_kernel(env=self.env, cwd=self.cwd)
            self.km = client.km
            return self
        from . import launch
        self.launched = launch.launch(self.kernel_name, self.env, self.cwd, EXTRA_ARGUMENTS)
        if self.launched is not None:
            return self
        if direct_only:
            return None
        self._start()
        return self

    def _start(self) -> None:
        import subprocess
        from jupyter_client import AsyncKernelManager
        from jupyter_core.utils import run_sync
        self.km = AsyncKernelManager(kernel_name=self.kernel_name, kernel_spec_manager=kernel_specs())
        # its own stdout/stderr hold nothing for us (a step's output, fd-level too, comes on
        # iopub) and must not hold ours open: a caller reading this command's output through
        # a pipe would otherwise wait for the kernel's exit, not this process's
        run_sync(self.km.start_kernel)(env=self.env, cwd=self.cwd, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, extra_arguments=EXTRA_ARGUMENTS)

    def _adopt(self) -> None:
        """The process started by :mod:`.launch`, handed to a jupyter_client kernel manager
        (or, if jupyter_client would have started another command, replaced by its kernel)."""
        from jupyter_core.utils import run_sync

        from . import launch
        launched, self.launched = self.launched, None
        try:
            self.km = run_sync(launch.adopt)(launched, self.kernel_name, kernel_specs())
        except BaseException:
            launched.discard()
            raise
        if self.km is None:
            self._start()

    def _client(self):
        if self.client is None:
            nbformat = jupyter_imports.nbformat()      # without the optional packages that cost seconds
            self.new_cell = nbformat.v4.new_code_cell
            self.book = nbformat.v4.new_notebook()
            self.book.metadata["kernelspec"] = {"name": self.kernel_name, "display_name": "", "language": "python"}
            extra = {"kernel_manager_class": self.manager_class} if self.remote else {"km": self.km}
            self.client = _client_class()(
                self._on_output,
                self.book, timeout=None, kernel_name=self.kernel_name, resources={"metadata": {"path": self.cwd}},
                on_cell_start=self._hook("on_cell_start"), on_cell_executed=self._hook("on_cell_executed"),
                on_cell_error=self._hook("on_cell_error"), interrupt_on_timeout=True,
                error_on_timeout=TIME_LIMIT, **extra)
        return self.client

    def _on_output(self, output, cell_index: int) -> None:
        if self.hooks is not None and hasattr(self.hooks, "on_output"):
            self.hooks.on_output(cell=self.book.cells[cell_index], output=output)

    def _hook(self, name: str) -> Callable:
        def call(**kw):
            if self.hooks is not None:
                getattr(self.hooks, name)(**kw)
        return call

    def connect(self) -> "KernelSession":
        if self.launched is not None:
            try:
                self._adopt()
            except BaseException:
                self.close(wait=True)
                raise
        client = self._client()
        if client.kc is None:
            try:
                if self.remote:
                    client.start_new_kernel_client()
                else:
                    from jupyter_core.utils import run_sync
                    client.kc = run_sync(ready_client)(self.km, client.startup_timeout)
            except BaseException:
                self.close(wait=True)
                raise
            ready, self.on_ready = self.on_ready, None
            if ready is not None:
                ready()
        return self

    @property
    def pid(self) -> int | None:
        if self.launched is not None:
            return self.launched.process.pid
        return getattr(getattr(self.km, "provisioner", None), "pid", None) if self.km is not None else None

    def alive(self) -> bool:
        from jupyter_core.utils import ensure_async, run_sync
        return self.km is not None and bool(run_sync(ensure_async)(self.km.is_alive()))

    def run_cell(self, source: str, *, timeout: int | None, step: str | None = None,
                 steps: list[str] | None = None, keep_going: bool = False):
        """Execute one cell (appended to the session's notebook); returns it with its outputs.
        ``step``: the step whose outputs land in this cell; ``steps``: the steps it runs in
        order (each one's outputs end with its outcome).  ``keep_going``: sent with
        stop_on_error off, so a cell stopped at its time limit does not abort the cells queued
        behind it (on_cell_error still reports its error)."""
        cell = self.new_cell(source)
        if step is not None:
            cell.metadata["nb2pipe"] = {"step": step}
        elif steps is not None:
            cell.metadata["nb2pipe"] = {"steps": steps}
        if keep_going:
            cell.metadata["tags"] = ["raises-exception"]
        self.book.cells.append(cell)
        self.client.timeout = timeout
        self.client.execute_cell(cell, len(self.book.cells) - 1)
        return cell

    def forget_cells(self) -> None:
        """Drop the cells (and their outputs) of earlier runs: a warm session keeps no history."""
        self.book.cells = []

    def restart(self) -> None:
        """A new kernel process in place of this one; returns once it answers (a cell sent
        before the client's sockets reconnected would lose its outputs)."""
        from jupyter_core.utils import run_sync
        run_sync(self.km.restart_kernel)(now=True)
        if self.client is not None and self.client.kc is not None:
            run_sync(answering)(self.client.kc, self.km, self.client.startup_timeout)

    def stop_now(self) -> None:
        """Stop the kernel at once, booted or not (it has nothing to run); a session already
        closed is left as it is."""
        if self.km is not None:
            from jupyter_core.utils import run_sync
            try:
                run_sync(self.km.shutdown_kernel)(now=True)
            finally:
                self.close()
        else:
            self.close()             # a process not handed over yet is killed there

    def close(self, wait: bool = False) -> None:
        """Shut the kernel down.  ``wait=False`` (a local kernel that finished its work): send
        the shutdown request and return without waiting for the process to exit."""
        if self.launched is not None:      # started, never connected
            self.launched.discard()
            self.launched = None
        from jupyter_core.utils import ensure_async, run_sync
        km, kc = self.km, self.client.kc if self.client is not None else None
        if km is None:
            return
        self.km = None
        process = None
        try:
            if wait or self.remote or not run_sync(ensure_async)(km.is_alive()):
                if run_sync(ensure_async)(km.is_alive()):
                    run_sync(ensure_async)(km.shutdown_kernel(now=False))
            else:
                process = getattr(getattr(km, "provisioner", None), "process", None)
                run_sync(ensure_async)(km.request_shutdown())
        finally:
            run_sync(ensure_async)(km.cleanup_resources())
            if kc is not None:
                kc.stop_channels()
            if self.client is not None:
                self.client.kc = self.client.km = None
        if process is not None:
            threading.Thread(target=_reap, args=(process,), name="nb2pipe-kernel-reaper", daemon=True).start()


async def ready_client(km, timeout: float):
    """A started client of ``km``'s kernel, returned once the kernel answers on the shell
    channel and IOPub delivers: what jupyter_client's ``wait_for_ready`` checks, without its
    last step, a wait for 0.2 s of silence on IOPub to drop what is left there — a fixed
    fifth of a second of every kernel start.  Dropping it is harmless: nbclient reads only
    the IOPub messages whose parent is the request it sent."""
    kc = km.client()
    kc.start_channels()
    await answering(kc, km, timeout)
    return kc


async def answering(kc, km, timeout: float) -> None:
    """Until the kernel answers a kernel_info request on the shell channel and IOPub brings
    a message of that request (its subscription is in place, else a message would be lost):
    after a start, and after a restart (the client's sockets reconnect meanwhile).  Messages
    of earlier requests are passed over."""
    import time
    from queue import Empty
    from jupyter_core.utils import ensure_async
    deadline = time.monotonic() + timeout
    while True:
        asked = kc.kernel_info()
        reply = None
        try:
            while reply is None or reply.get("parent_header", {}).get("msg_id") != asked:
                reply = await ensure_async(kc.shell_channel.get_msg(timeout=1))
        except Empty:
            reply = None
        if reply is not None:
            heard = time.monotonic() + 0.2
            try:
                while True:
                    msg = await ensure_async(kc.iopub_channel.get_msg(timeout=max(0.01, heard - time.monotonic())))
                    if msg.get("parent_header", {}).get("msg_id") == asked:
                        kc._handle_kernel_info_reply(reply)
                        kc.allow_stdin = False
                        return
            except Empty:
                pass                   # not subscribed yet: ask again
        if not await ensure_async(km.is_alive()):
            kc.stop_channels()
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            kc.stop_channels()
            raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")


def _reap(process, grace: float = 10.0) -> None:
    """A kernel sent its shutdown request exits by itself, and is reaped here.  The request
    can be lost: jupyter_client closes the control socket 0.1 s after it (under load the
    message may not have left), and the kernel would run on beside a long-lived process
    (`run --watch` replacing its kernel).  Such a kernel is killed after ``grace``."""
    import subprocess
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _client_class():
    """nbclient's NotebookClient that also hands each output of a cell, as it arrives, to
    ``on_output(output, cell_index)``: a cell running several steps reports each at its end."""
    from nbclient import NotebookClient

    class Client(NotebookClient):
        def __init__(self, on_output: Callable, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.nb2pipe_on_output = on_output

        def output(self, outs, msg, display_id, cell_index):
            out = None
            if not (display_id or self.clear_before_next_output
                    or self.output_hook_stack[msg["parent_header"].get("msg_id")]):
                out = _event_output(msg)
                if out is not None:
                    outs.append(out)
            if out is None:
                out = super().output(outs, msg, display_id, cell_index)
            if out is not None:
                self.nb2pipe_on_output(out, cell_index)
            return out
    return Client


def _event_output(msg: dict):
    """nb2pipe's own event (a step's outcome) as the output node nbformat would make of it,
    or None for any other message.  Its shape is nb2pipe's: nbformat's schema validation of
    each output (~0.5 ms, one per step of a run) is left to the outputs the steps make."""
    from nbformat import from_dict

    from ..protocol_base import EVENT_MIME
    content = msg["content"]
    if msg["msg_type"] != "display_data" or EVENT_MIME not in content.get("data", {}):
        return None
    return from_dict({"output_type": "display_data", "metadata": content.get("metadata", {}),
                      "data": content["data"]})


def kernel_specs():
    """jupyter_client's KernelSpecManager without the imports it makes to find the
    built-in ``python3`` kernel: IPython (for ``~/.ipython/kernels``) and ipykernel, 0.2-0.3 s
    of a run's start-up spent before the kernel is started."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from jupyter_client.provisioning import KernelProvisionerFactory

    from .launch import NATIVE_ARGV, NATIVE_NAME, headless_argv, kernel_dirs, native_resources

    class Specs(KernelSpecManager):
        def find_kernel_specs(self) -> dict[str, str]:
            found = super().find_kernel_specs()
            if NATIVE_NAME not in found and native_resources():
                found[NATIVE_NAME] = native_resources()
            return found

        def get_kernel_spec(self, kernel_name: str):
            found = super().find_kernel_specs()
            if kernel_name.lower() in found:
                spec = self.kernel_spec_class.from_resource_dir(found[kernel_name.lower()])
            elif kernel_name == NATIVE_NAME and native_resources():
                spec = self.kernel_spec_class(
                    resource_dir=native_resources(), display_name="Python 3 (ipykernel)", language="python",
                    argv=list(NATIVE_ARGV), metadata={"debugger": True})
            else:
                raise NoSuchKernel(kernel_name)
            if not KernelProvisionerFactory.instance(parent=self.parent).is_provisioner_available(spec):
                raise NoSuchKernel(kernel_name)
            spec.argv = headless_argv(spec.argv)
            return spec

    return Specs(ensure_native_kernel=False, kernel_dirs=kernel_dirs())


# what a headless kernel is started with: only critical log lines, history kept in memory
EXTRA_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL", "--HistoryManager.hist_file=:memory:"]


# nbclient's reply for a cell that reached its time limit (it interrupts the kernel, then
# reports this instead of raising, and stops reading that cell's output)
TIME_LIMIT = {"ename": "Nb2pipeTimeLimit", "evalue": "the step's time limit passed", "traceback": []}


def local_env(store_url: str) -> dict[str, str]:
    return {**os.environ, "NB2PIPE_STORE": store_url, "NB2PIPE_PROGRESS": "text"}


def local_session(kernel_name: str, project_dir: str, store_url: str) -> KernelSession:
    """The session (not started) of a local headless kernel working in ``project_dir`` on the
    store at ``store_url``: the one place such a kernel's environment is decided."""
    return KernelSession(kernel_name, project_dir, local_env(store_url))
