"""nb2pipe gc: keeps what last results and recent runs reach, deletes the rest, and is safe
for a concurrent writer; nb2pipe store: size per step (issue 11, item 11)."""
import json

from nb2pipe import notebook
from nb2pipe.runner import plan
from nbfiles import nb2pipe, write_nb


def cells(i):
    return ["%load_ext nb2pipe",
            f"%%step make --out x\nimport numpy as np\nx = np.arange(20000) + {i}",
            "%%step use --in x --out n\nn = int(x.sum())\nprint(n)"]


def edit_and_run_in_process(project, i):
    """One edit of `make`, run without a kernel (as fast as a test of 50 edits needs)."""
    write_nb(project / "nb.ipynb", cells(i))
    nb = notebook.read(str(project / "nb.ipynb"))
    engine = plan.engine_for(nb, plan.project_store(nb, None))
    outcomes = engine.run()
    assert [o.status for o in outcomes] == ["ran", "ran"]


def objects(project):
    return {p.name for p in (project / ".nb2pipe" / "objects").rglob("*") if p.is_file()}


def reachable(project):
    """Recomputed here, independently of nb2pipe.gc: last results -> entries -> objects."""
    out = set()
    for last in (project / ".nb2pipe" / "steps" / "nb").glob("*.json"):
        key = json.loads(last.read_text())["key"]
        entry = json.loads((project / ".nb2pipe" / "entries" / key[:2] / f"{key}.json").read_text())
        refs = list(entry["outputs"].values()) + ([entry["display"]] if "display" in entry else [])
        out |= {r["oid"] + {"npy": ".npy", "json": ".json", "pickle": ".pkl", "arrow": ".arrow"}[r["codec"]]
                for r in refs}
    return out


def test_gc_after_50_edits_keeps_what_is_reachable_and_the_next_run_is_fresh(tmp_path):
    for i in range(50):
        edit_and_run_in_process(tmp_path, i)
    assert len(objects(tmp_path)) >= 100
    code, out, err = nb2pipe("gc", "nb.ipynb", "--dry-run", cwd=tmp_path)        # all younger than 1 h
    assert code == 0, out + err
    assert "would delete 0 files" in out
    code, out, err = nb2pipe("gc", "nb.ipynb", "--keep-runs", "0", "--grace-seconds", "0", cwd=tmp_path)
    assert code == 0, out + err
    assert "Traceback" not in err
    assert objects(tmp_path) == reachable(tmp_path)
    assert len(list((tmp_path / ".nb2pipe" / "entries").rglob("*.json"))) == 2
    verified = {p.name for p in (tmp_path / ".nb2pipe" / "verified").rglob("*") if p.is_file()}
    assert verified <= objects(tmp_path)
    code, out, err = nb2pipe("run", "nb.ipynb", "--json", cwd=tmp_path)
    assert code == 0, out + err
    report = json.loads(out)
    assert report["kernel_started"] is False
    assert {s["status"] for s in report["steps"]} == {"fresh"}
    code, out, err = nb2pipe("verify", "nb.ipynb", cwd=tmp_path)
    assert code == 0, out + err


def test_gc_keeps_what_the_last_n_runs_reach(tmp_path):
    write_nb(tmp_path / "nb.ipynb", cells(1))
    assert nb2pipe("run", "nb.ipynb", cwd=tmp_path)[0] == 0
    first = objects(tmp_path)
    write_nb(tmp_path / "nb.ipynb", cells(2))
    assert nb2pipe("run", "nb.ipynb", cwd=tmp_path)[0] == 0
    code, out, err = nb2pipe("gc", "nb.ipynb", "--keep-runs", "2", "--grace-seconds", "0", cwd=tmp_path)
    assert code == 0, out + err
    assert first <= objects(tmp_path)
    code, out, err = nb2pipe("gc", "nb.ipynb", "--keep-runs", "1", "--grace-seconds", "0", cwd=tmp_path)
    assert code == 0, out + err
    assert objects(tmp_path) == reachable(tmp_path)
    assert not first & objects(tmp_path)


def test_store_shows_the_size_of_each_step(tmp_path):
    edit_and_run_in_process(tmp_path, 0)
    code, out, err = nb2pipe("store", "nb.ipynb", "--json", cwd=tmp_path)
    assert code == 0, out + err
    rows = {r["step"]: r for r in json.loads(out)["steps"]}
    assert rows["make"]["bytes"] > 20000 * 8
    assert rows["make"]["pipeline"] == "nb"
    code, out, err = nb2pipe("store", "nb.ipynb", cwd=tmp_path)
    assert "nb/make" in out


def test_gc_removes_the_leases_a_killed_run_left_and_keeps_a_live_holders(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time
    edit_and_run_in_process(tmp_path, 0)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                   # a pid that no longer exists
    leases = tmp_path / ".nb2pipe" / "leases"
    leases.mkdir(exist_ok=True)
    host = socket.gethostname()

    def lease(name, pid, expires):
        (leases / name).write_text(json.dumps({"pid": pid, "host": host, "token": name,
                                               "expires": expires}))

    lease("a" * 64 + ".json", dead.pid, time.time() + 60)          # holder killed
    lease("b" * 64 + ".json", os.getpid(), time.time() + 60)       # holder alive
    lease("c" * 64 + ".json", os.getpid(), time.time() - 1)        # renewals stopped
    (leases / f"{'b' * 64}.{dead.pid}-0a1b2c3d.wait").write_text(
        json.dumps({"pid": dead.pid, "host": host, "holder": os.getpid()}))
    (leases / f"{'b' * 64}.{os.getpid()}-0a1b2c3e.wait").write_text(
        json.dumps({"pid": os.getpid(), "host": host, "holder": os.getpid()}))
    code, out, err = nb2pipe("gc", "nb.ipynb", "--dry-run", cwd=tmp_path)
    assert code == 0, out + err
    assert "would delete 3 files" in out
    assert len(list(leases.iterdir())) == 5
    code, out, err = nb2pipe("gc", "nb.ipynb", cwd=tmp_path)
    assert code == 0, out + err
    assert sorted(p.name for p in leases.iterdir()) == sorted(
        ["b" * 64 + ".json", f"{'b' * 64}.{os.getpid()}-0a1b2c3e.wait"])
