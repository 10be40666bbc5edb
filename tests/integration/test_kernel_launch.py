"""A local run's kernel is started before jupyter_client is imported (nb2pipe.runner.launch)
and handed to a jupyter_client kernel manager once it is imported: it must be the kernel
jupyter_client would start, with the run's folder and environment, tied to this process, and
the manager must stop and restart it as one it started; nothing of it is left afterwards."""
import glob
import json
import os
import sys
import tempfile

from nbfiles import gone

from nb2pipe.runner.kernel import KernelSession

PROBE = ("import os, sys, json; print(json.dumps({'cwd': os.getcwd(), 'store': os.environ.get('NB2PIPE_STORE'),"
         " 'parent': os.environ.get('JPY_PARENT_PID'), 'python': sys.executable,"
         " 'debugger': sys.modules.get('debugpy', 0) is None, 'x': globals().get('x')}))")


def _probe(session) -> dict:
    cell = session.run_cell(PROBE, timeout=60)
    return json.loads(cell.outputs[0]["text"])


def _leftovers(launched) -> list[str]:
    prefix = launched.info["ip"]
    return glob.glob(prefix + "*")


def test_the_kernel_is_started_directly_then_managed_by_jupyter_client(tmp_path):
    env = {**os.environ, "NB2PIPE_STORE": str(tmp_path / "store")}
    session = KernelSession("python3", str(tmp_path), env).spawn()
    launched = session.launched
    assert launched is not None, "a local python3 kernel is started without jupyter_client"
    assert os.path.exists(launched.connection_file)
    session.connect()
    pid = session.pid
    assert pid == launched.process.pid and session.km.has_kernel
    seen = _probe(session)
    assert seen == {"cwd": os.path.realpath(str(tmp_path)), "store": str(tmp_path / "store"),
                    "parent": str(os.getpid()), "python": sys.executable, "debugger": True, "x": None}
    session.run_cell("x = 41", timeout=60)
    assert _probe(session)["x"] == 41
    session.restart()                     # jupyter_client restarts it as a kernel it started
    after = _probe(session)
    assert after["x"] is None and after["cwd"] == os.path.realpath(str(tmp_path))
    assert session.pid != pid and gone(pid, within=60)
    new_pid = session.pid
    session.close(wait=True)
    assert gone(new_pid, within=60)
    assert _leftovers(launched) == [], "connection file or sockets left in " + tempfile.gettempdir()


def test_a_kernel_jupyter_client_would_start_otherwise_is_replaced(tmp_path):
    # when the command started is not what jupyter_client would run for this kernel, the
    # process is stopped and jupyter_client starts the kernel itself
    session = KernelSession("python3", str(tmp_path), dict(os.environ)).spawn()
    launched = session.launched
    launched.argv = launched.argv + ["--something-else"]
    session.connect()
    assert gone(launched.process.pid, within=60)
    assert session.pid != launched.process.pid
    assert _probe(session)["cwd"] == os.path.realpath(str(tmp_path))
    session.close(wait=True)
    assert _leftovers(launched) == []


def test_a_kernel_never_connected_is_stopped_by_close(tmp_path):
    session = KernelSession("python3", str(tmp_path), dict(os.environ)).spawn()
    launched = session.launched
    session.close()
    assert gone(launched.process.pid, within=60)
    assert _leftovers(launched) == []
