"""Two concurrent runs of one notebook compute a step once: a lease per key in the store,
the other run waits for the holder's entry; a holder killed with -9 is taken over
(issue 11, item 10).  Executions are counted with one marker file each; the step holds
on until the test lets it go, so the runs overlap for sure (no timing involved)."""
import json
import os
import signal
import subprocess
import sys
import time

from nb2pipe import notebook
from nb2pipe.runner import plan
from nbfiles import write_nb

GUARD = 240          # hang guard only: a run that never ends fails here


def cells():
    return ["%load_ext nb2pipe",
            "%%step slow --out x\nimport os, time, uuid\n"
            "d = os.environ['LEASE_TEST_DIR']\n"
            "open(os.path.join(d, 'markers', uuid.uuid4().hex), 'w').close()\n"
            "for _ in range(3000):\n"
            "    if os.path.exists(os.path.join(d, 'go')):\n"
            "        break\n"
            "    time.sleep(0.1)\n"
            "x = 41",
            "%%step use --in x --out y\ny = x + 1\nprint('y is', y)"]


def start(project, name, runs):
    err = open(project / f"{name}.err", "w")
    env = {**os.environ, "LEASE_TEST_DIR": str(project)}
    return runs.start([sys.executable, "-m", "nb2pipe", "run", "nb.ipynb", "--json"], cwd=project,
                      stdout=subprocess.PIPE, stderr=err, text=True, env=env)


def wait_for(what, check):
    deadline = time.monotonic() + GUARD
    while not check():
        assert time.monotonic() < deadline, f"hang guard: still waiting for {what}"
        time.sleep(0.1)


def markers(project):
    return sorted(os.listdir(project / "markers"))


def lease_files(project):
    d = project / ".nb2pipe" / "leases"
    return sorted(os.listdir(d)) if d.exists() else []


def waiting(project):
    """A run waiting on a lease says so in the store (leases/<key>.<pid>-<id>.wait)."""
    return any(f.endswith(".wait") for f in lease_files(project))


def finish(proc):
    out, _ = proc.communicate(timeout=GUARD)
    return proc.returncode, out


def stored_y(project):
    nb = notebook.read(str(project / "nb.ipynb"))
    return plan.engine_for(nb, plan.project_store(nb, None)).values_of("use")["y"]


def two_runs_one_waiting(project, runs):
    """Run A computes `slow` (held until `go` exists); run B waits on A's lease."""
    (project / "markers").mkdir()
    write_nb(project / "nb.ipynb", cells())
    a = start(project, "a", runs)
    wait_for("the first run's step to start", lambda: len(markers(project)) == 1)
    b = start(project, "b", runs)
    wait_for("the second run to wait on the lease", lambda: waiting(project))
    return a, b


def test_two_concurrent_runs_compute_a_step_once(tmp_path, runs):
    a, b = two_runs_one_waiting(tmp_path, runs)
    (tmp_path / "go").touch()
    (code_a, out_a), (code_b, out_b) = finish(a), finish(b)
    assert code_a == 0, out_a + (tmp_path / "a.err").read_text()
    assert code_b == 0, out_b + (tmp_path / "b.err").read_text()
    assert len(markers(tmp_path)) == 1
    steps_b = {s["step"]: s["status"] for s in json.loads(out_b)["steps"]}
    assert steps_b["slow"] == "cached"
    assert stored_y(tmp_path) == 42
    assert lease_files(tmp_path) == []


def test_a_killed_holder_is_taken_over(tmp_path, runs):
    a, b = two_runs_one_waiting(tmp_path, runs)
    [lease] = [f for f in lease_files(tmp_path) if not f.endswith(".wait")]
    holder = json.loads((tmp_path / ".nb2pipe" / "leases" / lease).read_text())["pid"]
    os.kill(holder, signal.SIGKILL)              # the process computing the step
    (tmp_path / "go").touch()
    code_b, out_b = finish(b)
    code_a, out_a = finish(a)
    assert code_b == 0, out_b + (tmp_path / "b.err").read_text()
    assert code_a != 0
    assert len(markers(tmp_path)) == 2           # the killed execution, and the take-over
    steps_b = {s["step"]: s["status"] for s in json.loads(out_b)["steps"]}
    assert steps_b == {"slow": "ran", "use": "ran"}
    assert stored_y(tmp_path) == 42
    assert lease_files(tmp_path) == []
