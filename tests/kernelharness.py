"""A real IPython kernel for tests, driven through jupyter_client."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from jupyter_client.manager import start_new_kernel


@dataclass
class Reply:
    status: str
    stdout: str = ""
    stderr: str = ""
    error: dict | None = None
    data: list = field(default_factory=list)
    comm: list = field(default_factory=list)
    payload: list = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.stdout + self.stderr

    @property
    def error_text(self) -> str:
        if not self.error:
            return ""
        import re
        tb = "\n".join(self.error.get("traceback") or [])
        return re.sub(r"\x1b\[[0-9;]*m", "", f"{self.error['ename']}: {self.error['evalue']}\n{tb}")


class Kernel:
    def __init__(self, cwd: str, env: dict | None = None):
        kenv = {**os.environ, **(env or {})}
        kenv.setdefault("NB2PIPE_PROGRESS", "text")
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=cwd, env=kenv,
                                            startup_timeout=60)
        self.cwd = cwd
        self._cell = 0

    def run(self, code: str, *, timeout: float = 120, cell_id: str | None = None) -> Reply:
        out = Reply(status="?")

        def hook(msg):
            t = msg["msg_type"]
            c = msg["content"]
            if t == "stream":
                if c["name"] == "stdout":
                    out.stdout += c["text"]
                else:
                    out.stderr += c["text"]
            elif t == "error":
                out.error = c
            elif t in ("display_data", "execute_result"):
                out.data.append(c["data"])
            elif t == "comm_msg":
                out.comm.append(c["data"])

        self._cell += 1
        # JupyterLab sends the cell id in the request's metadata; do the same
        content = {"code": code, "silent": False, "store_history": True,
                   "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}
        msg = self.kc.session.msg("execute_request", content,
                                  metadata={"cellId": cell_id or f"cell-{self._cell}"})
        self.kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        import time
        deadline = time.monotonic() + timeout
        while True:
            msg = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            hook(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        rep = self.kc.get_shell_msg(timeout=timeout)
        while rep["parent_header"].get("msg_id") != msg_id:
            rep = self.kc.get_shell_msg(timeout=timeout)
        out.status = rep["content"]["status"]
        out.payload = rep["content"].get("payload") or []
        return out

    def comm_open(self, target: str = "nb2pipe", comm_id: str = "test-comm") -> None:
        msg = self.kc.session.msg("comm_open", {"comm_id": comm_id, "target_name": target, "data": {}})
        self.kc.shell_channel.send(msg)

    def comm_send(self, data: dict, comm_id: str = "test-comm") -> None:
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.kc.shell_channel.send(msg)

    def comm_messages(self, timeout: float = 5.0) -> list[dict]:
        """Every comm message (data) and comm_close on iopub until quiet for ``timeout``."""
        import queue
        out = []
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                return out
            if msg["msg_type"] == "comm_msg":
                out.append(msg["content"]["data"])
            elif msg["msg_type"] == "comm_close":
                out.append({"type": "__closed__"})

    def ok(self, code: str, **kw) -> Reply:
        r = self.run(code, **kw)
        assert r.status == "ok", f"cell failed:\n{code}\n---\n{r.error_text}\n{r.text}"
        return r

    def fails(self, code: str, **kw) -> Reply:
        r = self.run(code, **kw)
        assert r.status == "error", f"cell should have failed:\n{code}\n---\n{r.text}"
        return r

    def restart(self) -> None:
        self.km.restart_kernel(now=True)
        self.kc.wait_for_ready(timeout=60)

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
