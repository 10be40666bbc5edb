"""A run's kernel is used as soon as it answers: its session does not wait for IOPub to fall
silent (jupyter_client's ``wait_for_ready`` ends with a 0.2 s wait that drops what is left
there).  What is left — the replies' status messages, IPython's welcome — must then not reach
the first cell, and a kernel that dies while booting is still an error, not a hang."""
import json
import os
import sys

import pytest
from nbfiles import gone

from nb2pipe.runner.kernel import KernelSession


def test_the_first_cell_gets_its_own_outputs_only(tmp_path):
    session = KernelSession("python3", str(tmp_path), dict(os.environ)).spawn().connect()
    try:
        first = session.run_cell("print('first'); 6 * 7", timeout=60)
        second = session.run_cell("print('second')", timeout=60)
    finally:
        session.close(wait=True)
    assert [(o["output_type"], o.get("text"), o.get("data", {}).get("text/plain")) for o in first.outputs] == [
        ("stream", "first\n", None), ("execute_result", None, "42")]
    assert [(o["output_type"], o.get("text")) for o in second.outputs] == [("stream", "second\n")]


def test_a_kernel_that_dies_while_booting_is_an_error(tmp_path, monkeypatch):
    spec = tmp_path / "jupyter" / "kernels" / "dies"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", "import sys; sys.exit(3)", "{connection_file}"],
        "display_name": "dies at boot", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    session = KernelSession("dies", str(tmp_path), dict(os.environ)).spawn()
    pid = session.pid
    with pytest.raises(RuntimeError, match="died before replying"):
        session.connect()
    assert gone(pid, within=30)
