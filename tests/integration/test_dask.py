"""Scale-out on a real Dask LocalCluster (127.0.0.1 only): parallel branches, failures,
a worker killed mid-step."""
import json
import os
import signal
import subprocess
import sys
import time

import distributed  # noqa: F401 - a test dependency: missing fails, never skips
import pytest

from test_cli_run import nb2pipe, write_nb


def fan_out(tmp_path, body="import time\ntime.sleep(1.5)\n", n=4):
    cells = ["%load_ext nb2pipe", "%%step root --out r\nr = 1"]
    for i in range(n):
        cells.append(f"%%step b{i} --in r --out x{i}\n{body}x{i} = r + {i}")
    cells.append(f"%%step join --in {' '.join(f'x{i}' for i in range(n))} --out total\n"
                 f"total = {' + '.join(f'x{i}' for i in range(n))}")
    return write_nb(tmp_path / "fan.ipynb", cells)


def run_dask(tmp_path, nb, *extra):
    code, out, err = nb2pipe("run", nb.name, "--executor", "dask", "--workers", "2", "--json", *extra,
                             cwd=tmp_path, env={"PYTHONWARNINGS": "default::ResourceWarning"})
    assert "unclosed event loop" not in err    # one left in a worker's thread (ResourceWarning)
    return code, json.loads(out) if out.strip().startswith("{") else None, err


def test_independent_steps_run_in_parallel(tmp_path):
    nb = fan_out(tmp_path)
    code, rep, err = run_dask(tmp_path, nb)
    assert code == 0, err
    steps = {s["step"]: s for s in rep["steps"]}
    assert {s["status"] for s in steps.values()} == {"ran"}
    branches = [steps[f"b{i}"] for i in range(4)]
    overlapping = [(a["step"], b["step"]) for i, a in enumerate(branches) for b in branches[i + 1:]
                   if a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping, f"no two branches overlapped: {[(s['start'], s['end']) for s in branches]}"
    assert len({s["worker"] for s in branches}) == 2
    assert steps["join"]["start"] >= max(s["end"] for s in branches) - 0.01
    # the shared store: a local run afterwards finds everything fresh
    code, out, _ = nb2pipe("run", nb.name, "--json", cwd=tmp_path)
    assert not json.loads(out)["kernel_started"]


def test_failure_skips_only_descendants(tmp_path):
    nb = write_nb(tmp_path / "p.ipynb", [
        "%load_ext nb2pipe",
        "%%step root --out r\nr = 1",
        "%%step bad --in r --out y\ny = r / 0",
        "%%step after_bad --in y --out z\nz = y",
        "%%step good --in r --out w\nw = r * 2",
    ])
    code, rep, err = run_dask(tmp_path, nb)
    assert code == 1
    st = {s["step"]: s["status"] for s in rep["steps"]}
    assert st == {"root": "ran", "bad": "failed", "after_bad": "skipped", "good": "ran"}


def _ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def test_killed_worker_step_is_retried_elsewhere(tmp_path):
    # worker processes (a scheduler of one's own): the local cluster's workers are threads
    from distributed import LocalCluster
    nb = fan_out(tmp_path, body="import os, time\nopen(f'pid-{os.getpid()}', 'w').close()\ntime.sleep(6)\n",
                 n=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                      processes=True) as cluster:
        _kill_the_worker_mid_step(tmp_path, nb, cluster.scheduler_address)


def _kill_the_worker_mid_step(tmp_path, nb, address):
    proc = subprocess.Popen([sys.executable, "-m", "nb2pipe", "run", nb.name, "--executor", "dask",
                             "--scheduler", address, "--json"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(tmp_path.glob("pid-*")):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.2)
    kernel_pid = int(next(tmp_path.glob("pid-*")).name[4:])
    worker_pid = _ppid(kernel_pid)
    os.kill(worker_pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    st = {s["step"]: s["status"] for s in json.loads(out)["steps"]}
    assert st == {"root": "ran", "b0": "ran", "join": "ran"}
    assert len(list(tmp_path.glob("pid-*"))) == 2          # ran twice: killed, then elsewhere


def test_resources_no_worker_offers(tmp_path):
    nb = write_nb(tmp_path / "p.ipynb", ["%load_ext nb2pipe", "%%step big --gpu 1 --out y\ny = 1"])
    code, rep, err = run_dask(tmp_path, nb)
    assert code == 2 and "needs {'gpu': 1.0}, but no worker offers that" in err


def test_unterminated_print_keeps_the_per_step_report(tmp_path):
    # the step's output and the runner's events travel apart on the worker too
    nb = write_nb(tmp_path / "p.ipynb", [
        "%load_ext nb2pipe",
        "%%step talk --out x\nx = 1\nprint('x', end='')",
        "%%step after --in x --out y\ny = x + 1\nprint('y', end='')",
    ])
    code, rep, err = run_dask(tmp_path, nb)
    assert code == 0, err
    assert [(s["step"], s["status"]) for s in rep["steps"]] == [("talk", "ran"), ("after", "ran")]
    assert all(len(s["key"]) > 8 for s in rep["steps"])


@pytest.fixture(scope="module")
def scheduler():
    """An external cluster on 127.0.0.1 that several runs share."""
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                      processes=True) as cluster, Client(cluster) as client:
        yield cluster.scheduler_address, client


def _kernels_on_workers(client):
    def kernels(dask_worker):
        import psutil
        return ([n for n in dask_worker.plugins if n.startswith("nb2pipe")],
                [p.pid for p in psutil.Process().children(recursive=True)
                 if "ipykernel" in " ".join(p.cmdline())])
    return client.run(kernels)


def test_two_runs_share_a_scheduler_and_leave_no_kernel(tmp_path, scheduler):
    address, client = scheduler
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        nb = fan_out(tmp_path / name, body="import time\ntime.sleep(3)\n", n=2)
        runs.append(subprocess.Popen([sys.executable, "-m", "nb2pipe", "run", nb.name, "--executor", "dask",
                                      "--scheduler", address, "--json"], cwd=tmp_path / name,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in runs:
        out, err = proc.communicate(timeout=300)       # a hang-guard: before, run A waited forever
        assert proc.returncode == 0, err
        assert {s["step"]: s["status"] for s in json.loads(out)["steps"]} == {
            "root": "ran", "b0": "ran", "b1": "ran", "join": "ran"}
    # the runs' kernels were released: no plugin, no kernel process left on any worker
    assert {w: v for w, v in _kernels_on_workers(client).items()} == {
        w: ([], []) for w in client.scheduler_info()["workers"]}


def test_kernel_killed_inside_a_worker_is_reported_and_retried(tmp_path, scheduler):
    address, client = scheduler
    body = ("import os, time\nopen(f'pid-{os.getpid()}', 'w').close()\n"
            "if len([f for f in os.listdir('.') if f.startswith('pid-')]) == 1:\n    time.sleep(600)\n")
    nb = fan_out(tmp_path, body=body, n=1)
    proc = subprocess.Popen([sys.executable, "-m", "nb2pipe", "run", nb.name, "--executor", "dask",
                             "--scheduler", address, "--retries", "1", "--json"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while not list(tmp_path.glob("pid-*")):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.2)
    kernel_pid = int(next(tmp_path.glob("pid-*")).name[4:])
    workers = client.run(os.getpid)
    assert _ppid(kernel_pid) in workers.values()          # a kernel inside a worker
    os.kill(kernel_pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=180)               # a hang-guard: before, it never returned
    assert proc.returncode == 0, err
    steps = {s["step"]: s for s in json.loads(out)["steps"]}
    assert (steps["b0"]["status"], steps["b0"]["attempts"]) == ("ran", 2)
    assert len(list(tmp_path.glob("pid-*"))) == 2          # killed, then a new kernel


def test_retries_and_cpu_on_the_local_cluster(tmp_path):
    nb = write_nb(tmp_path / "p.ipynb", [
        "%load_ext nb2pipe",
        "%%step flaky --out x\nimport os\nif not os.path.exists('tried'):\n"
        "    open('tried', 'w').close()\n    raise RuntimeError('first attempt fails')\nx = 1",
        "%%step big --cpu 2 --out y\ny = 2",
    ])
    code, rep, err = run_dask(tmp_path, nb, "--retries", "1")
    assert code == 0, err
    assert {s["step"]: s["status"] for s in rep["steps"]} == {"flaky": "ran", "big": "ran"}


def test_the_report_says_what_the_start_up_cost(tmp_path):
    nb = fan_out(tmp_path, body="", n=2)
    code, rep, err = run_dask(tmp_path, nb)
    assert code == 0, err
    st = rep["startup"]
    assert (st["executor"], st["cluster"]) == ("dask", "local")
    assert all(st[k] >= 0 for k in ("cluster_s", "connect_s", "plugin_s", "first_task_s", "shutdown_s"))
    # a kernel on each of the 2 workers, asked for before the first step left the client (not
    # at each worker's first step), ready only after the cluster and the client were
    kernels = st["kernels"]
    assert len({k["worker"] for k in kernels}) == len(kernels) == 2
    assert {s["worker"] for s in rep["steps"]} <= {k["worker"] for k in kernels}
    for k in kernels:
        assert k["kernel_s"] > 0 and k["definitions_s"] > 0
        assert k["requested_s"] <= st["first_task_s"]
        assert k["ready_s"] >= st["cluster_s"] + st["connect_s"]
        assert k["ready_s"] >= k["requested_s"] + k["kernel_s"] + k["definitions_s"] - 1e-3
    # the run record keeps it (`nb2pipe log` and the history read records)
    records = [json.loads(p.read_text()) for p in tmp_path.rglob("runs/*.json")]
    assert [r["startup"] for r in records] == [st]


def test_a_chain_stopped_by_the_run_s_time_limit(tmp_path):
    # a, b, c: each the only consumer of the one before, run in one kernel call; the run's
    # limit stops b, c never starts; d (a's other branch) is not part of the chain
    nb = write_nb(tmp_path / "p.ipynb", [
        "%load_ext nb2pipe",
        "%%step a --out x\nx = 1",
        "%%step b --in x --out y\nimport time\ntime.sleep(600)\ny = x",
        "%%step c --in y --out z\nz = y",
    ])
    code, rep, err = run_dask(tmp_path, nb, "--timeout", "8s")
    assert code == 1, err
    steps = {s["step"]: s for s in rep["steps"]}
    assert steps["a"]["status"] == "ran"
    assert (steps["b"]["status"], steps["b"]["timed_out"]) == ("failed", True)
    assert steps["b"]["error"] == "step `b` stopped: the run timed out after 8s (--timeout)"
    assert steps["c"]["status"] == "skipped"
    assert steps["a"]["worker"] == steps["b"]["worker"]
    # nothing could run beside the chain: one kernel, no other worker started one
    assert [k["worker"] for k in rep["startup"]["kernels"]] == [steps["a"]["worker"]]


def test_short_independent_steps_share_kernel_cells_with_the_same_keys_and_outcomes(tmp_path):
    # root, then 12 independent short steps (one of them failing, with a dependant): once the
    # root's duration shows the steps are short, several share one %dag run cell (a task);
    # each keeps its own outcome, the same key as a local run's, and a failing one stops
    # only its own dependant, not its batch mates
    body = ("import os\nopen('cell-STEP', 'w').write(f'{os.getpid()}-{get_ipython().execution_count}')\n")
    cells = ["%load_ext nb2pipe", "%%step root --out r\nr = 1"]
    names = [f"w{i}" for i in range(12)]
    for i, n in enumerate(names):
        cells.append(f"%%step {n} --in r --out y{i}\n{body.replace('STEP', n)}y{i} = r {'/ 0' if i == 5 else f'+ {i}'}")
    cells.append("%%step after_bad --in y5 --out z5\nz5 = y5")
    cells.append("%%step after_good --in y6 --out z6\nz6 = y6")
    nb = write_nb(tmp_path / "wide.ipynb", cells)
    code, rep, err = run_dask(tmp_path, nb, "--store", "dask-store")
    assert code == 1, err
    st = {s["step"]: s for s in rep["steps"]}
    assert {n: s["status"] for n, s in st.items()} == {
        "root": "ran", **{n: "failed" if n == "w5" else "ran" for n in names},
        "after_bad": "skipped", "after_good": "ran"}
    assert "ZeroDivisionError" in st["w5"]["error"]
    assert all(st[n]["start"] <= st[n]["end"] for n in names)
    shared = [(tmp_path / f"cell-{n}").read_text() for n in names]
    assert len(set(shared)) < len(names), f"every step had a cell of its own: {shared}"
    # the same keys as the local executor's, and the store serves them: nothing left to run
    code, out, err = nb2pipe("run", nb.name, "--store", "local-store", "--json", cwd=tmp_path)
    local = {s["step"]: s for s in json.loads(out)["steps"]}
    assert {n: s["key"] for n, s in st.items() if s["status"] == "ran"} == {
        n: s["key"] for n, s in local.items() if s["status"] == "ran"}
    code, out, err = nb2pipe("run", nb.name, "--store", "dask-store", "--json", cwd=tmp_path)
    again = {s["step"]: s["status"] for s in json.loads(out)["steps"]}
    assert not any(v == "ran" for n, v in again.items() if n not in ("w5", "after_bad")), again


def test_steps_sharing_a_task_with_one_the_run_s_limit_stops_are_not_skipped(tmp_path):
    # 40 short steps, w9 sleeping: the first few leave one to a task (nothing known yet), then
    # nine to a task, w9 among w4..w14 (not last); the run's limit stops w9, and its batch mates
    # after it, which do not depend on it, are reported as not started (timed out), not skipped
    cells = ["%load_ext nb2pipe", "%%step root --out r\nr = 1"]
    cells += [f"%%step w{i} --in r --out y{i}\n" + ("import time\ntime.sleep(600)\n" if i == 9 else "")
              + f"y{i} = r + {i}" for i in range(40)]
    nb = write_nb(tmp_path / "p.ipynb", cells)
    code, rep, err = run_dask(tmp_path, nb, "--timeout", "15s")
    assert code == 1, err
    st = {s["step"]: s for s in rep["steps"]}
    assert (st["w9"]["status"], st["w9"]["timed_out"]) == ("failed", True)
    assert st["w9"]["error"] == "step `w9` stopped: the run timed out after 15s (--timeout)"
    others = {n: (s["status"], s.get("error")) for n, s in st.items() if n not in ("root", "w9")}
    not_started = [n for n, (status, error) in others.items()
                   if (status, error) == ("failed", "not started: the run timed out after 15s (--timeout)")]
    assert "w10" in not_started, others
    assert all(st[n]["timed_out"] for n in not_started)
    assert all(status == "ran" for n, (status, _) in others.items() if n not in not_started), others
