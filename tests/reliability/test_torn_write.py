"""kill -9 while a large object is being written (issue 15): the store is never left with a
torn object.  The test watches the store's tmp folder for the 200 MB value's temporary
file, kills its writer (the kernel; temporary names start with the writer's pid), and does
so a bounded number of times; then `nb2pipe verify` finds nothing damaged and a rerun
completes with the right value."""
import os
import signal
import subprocess
import sys
import time

from nb2pipe import notebook
from nb2pipe.runner import plan
from nbfiles import nb2pipe, write_nb

SIZE = 200 * 2**20
KILLS = 5
GUARD = 240              # hang guard only
CELLS = ["%load_ext nb2pipe",
         f"%%step big --out blob\nblob = bytes(range(256)) * ({SIZE} // 256)",
         "%%step check --in blob --out n\nn = sum(blob[::65536]) + len(blob)"]
EXPECTED = sum((bytes(range(256)) * (SIZE // 256))[::65536]) + SIZE

def big_temp_file(tmp_dir, before):
    """(writer pid, path) of a new temporary file of over 1 MB, or None."""
    for name in set(os.listdir(tmp_dir)) - before:
        pid = name.split("-", 1)[0]
        path = os.path.join(tmp_dir, name)
        try:
            if pid.isdigit() and os.path.getsize(path) > 2**20:
                return int(pid), path
        except FileNotFoundError:
            continue
    return None


def kill_during_write(project, runs):
    """Start a run, kill -9 the writer of the big object mid-put.  True when the kill
    left its temporary file behind (it landed before the object was published)."""
    tmp_dir = project / ".nb2pipe" / "tmp"
    before = set(os.listdir(tmp_dir)) if tmp_dir.exists() else set()
    proc = runs.start([sys.executable, "-m", "nb2pipe", "run", "nb.ipynb"], cwd=project,
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + GUARD
    found = None
    while found is None:
        assert time.monotonic() < deadline, "hang guard: the big object's write never started"
        assert proc.poll() is None, "the run ended before the big object was written"
        found = big_temp_file(tmp_dir, before) if tmp_dir.exists() else None
        time.sleep(0.005)
    pid, path = found
    os.kill(pid, signal.SIGKILL)
    torn = os.path.exists(path)
    proc.wait(timeout=GUARD)
    assert proc.returncode != 0
    return torn


def test_kill_during_a_large_write_leaves_no_torn_object(tmp_path, runs):
    write_nb(tmp_path / "nb.ipynb", CELLS)
    code, out, err = nb2pipe("status", "nb.ipynb", cwd=tmp_path)      # creates the store
    assert code == 0, out + err
    torn = [kill_during_write(tmp_path, runs) for _ in range(KILLS)]
    assert any(torn), "no kill landed while the object was being written"
    assert not list((tmp_path / ".nb2pipe" / "entries").rglob("*.json"))
    code, out, err = nb2pipe("verify", "nb.ipynb", cwd=tmp_path)
    assert code == 0, out + err
    assert "all intact" in out
    code, out, err = nb2pipe("run", "nb.ipynb", cwd=tmp_path)
    assert code == 0, out + err
    nb = notebook.read(str(tmp_path / "nb.ipynb"))
    assert plan.engine_for(nb, plan.project_store(nb, None)).values_of("check")["n"] == EXPECTED
