"""The sidebar's *History*: a `history` request on the `nb2pipe` comm answers with the step's last
runs from the run records -- whoever made them: `nb2pipe run` on Dask, in an Airflow task, `%dag run`,
a step cell that executed -- and the diff of its code since its cached run (real kernel, real CLI runs)."""
from kernelharness import Kernel
from nbfiles import nb2pipe, write_nb

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
CELLS = [
    "%load_ext nb2pipe\n%nb2pipe pipeline flow.ipynb",
    "%%setup\nimport pandas as pd",
    "%%step load\nraw = pd.read_csv('data/people.csv')",
    "%%step clean\ndf = raw[raw.amount >= 3].copy()",
]
EDITED = "%%step clean\ndf = raw[raw.amount >= 5].copy()"


def _project(tmp_path):
    (tmp_path / "data").mkdir()
    rows = "\n".join(f"{i},{20 + i},{i * 1.0}" for i in range(10))
    (tmp_path / "data" / "people.csv").write_text("id,age,amount\n" + rows + "\n")
    write_nb(tmp_path / "flow.ipynb", CELLS, **KERNEL)


def _answer(k, request, kind="history"):
    k.comm_send(request)
    msgs = [m for m in k.comm_messages(timeout=3) if m.get("type") in (kind, "reply")]
    assert msgs[-1]["type"] == "reply", msgs
    return msgs


def test_history_lists_runs_from_dask_airflow_dag_run_and_cells_with_the_code_diff(tmp_path):
    _project(tmp_path)
    code, out, err = nb2pipe("run", "flow.ipynb", "--executor", "dask", "--workers", "1", cwd=tmp_path)
    assert code == 0, out + err
    code, out, err = nb2pipe("run", "flow.ipynb", "--only", "clean", "--force", cwd=tmp_path,
                             env={"AIRFLOW_CTX_DAG_ID": "flow"})      # what Airflow sets in a task
    assert code == 0, out + err
    k = Kernel(str(tmp_path))
    try:
        k.ok(CELLS[0])
        for i, cell in enumerate(CELLS[1:], start=1):
            k.ok(cell, cell_id=f"c{i}")                   # served from the CLI's entries
        k.ok("%dag run --force clean")                    # a run record of kind notebook
        k.ok(EDITED, cell_id="c3")                        # a cell run that executes: one too
        k.comm_open()
        k.comm_messages(timeout=1)
        hist, reply = _answer(k, {"type": "history", "id": "h1", "step": "clean", "limit": 10})
        assert (reply["id"], reply["request"], reply["ok"]) == ("h1", "history", True)
        runs = hist["runs"]
        assert [r["where"] for r in runs] == ["notebook", "notebook", "CLI (local, Airflow)", "CLI (dask)"]
        assert [r["status"] for r in runs] == ["ran"] * 4
        assert [r["rows"] for r in runs] == [{"df": 5}, {"df": 7}, {"df": 7}, {"df": 7}]
        assert [len(r["key"]) for r in runs] == [12] * 4
        assert runs[0]["key"] != runs[1]["key"] and len({r["key"] for r in runs[1:]}) == 1
        assert all(r["run_id"] for r in runs) and runs[0]["user"] == runs[1]["user"]
        assert all(r["duration"] >= 0 for r in runs)
        assert [r["finished"] for r in runs] == sorted((r["finished"] for r in runs), reverse=True)
        assert (hist["cached_key"], hist["diff"]) == (runs[0]["key"], "")
        assert hist["diff_note"] == "the code is the same as in the cached run"

        hist, _ = _answer(k, {"type": "history", "id": "h2", "step": "clean", "limit": 2})
        assert [r["key"] for r in hist["runs"]] == [r["key"] for r in runs[:2]]

        # edited in the notebook, not run: the diff from the cached run's code to the cell now
        k.comm_send({"type": "sync", "id": "s1", "cells": [
            {"cell_id": "c3", "source": "%%step clean\ndf = raw[raw.amount >= 6].copy()"}]})
        k.comm_messages(timeout=2)
        hist, _ = _answer(k, {"type": "history", "id": "h3", "step": "clean"})
        assert hist["diff"].splitlines() == [
            f"--- cached {runs[0]['key']}", "+++ now", "@@ -1,2 +1,2 @@", " %%step clean",
            "-df = raw[raw.amount >= 5].copy()", "+df = raw[raw.amount >= 6].copy()"]
        assert hist["diff_note"] == ""

        [reply] = _answer(k, {"type": "history", "id": "h4", "step": "nope"})
        assert (reply["request"], reply["ok"]) == ("history", False)
        assert reply["message"] == ("history: no step `nope` in this kernel (its steps: `load`, `clean`)\n"
                                    "  fix:   run the step's cell first, or pick a step of this notebook")

        # after a restart, before any step cell runs: the store still answers
        k.restart()
        k.ok(CELLS[0])
        k.comm_open()
        k.comm_messages(timeout=1)
        hist, _ = _answer(k, {"type": "history", "id": "h5", "step": "clean"})
        assert [r["key"] for r in hist["runs"]] == [r["key"] for r in runs]
        assert (hist["diff"], hist["diff_note"]) == (
            "", "step `clean` is not defined in this kernel: run its cell to compare")
        preview, _ = _answer(k, {"type": "preview", "id": "p1", "step": "clean", "output": "df"}, "preview")
        assert (preview["key"], preview["rows"], preview["columns"]) == (runs[0]["key"], 5, 3)
    finally:
        k.shutdown()
