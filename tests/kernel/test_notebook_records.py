"""Runs in the kernel leave run records (issue 12, the sidebar's History): each step cell that
executes writes one (who, where = notebook), so does a panel run that executes a step, a cell
the store serves writes none, and after `%dag run --force STEP` the panel's graph says when that
new run finished (real kernel)."""
import os

import pytest
from kernelharness import Kernel

SETUP = "%load_ext nb2pipe\n%nb2pipe pipeline records.ipynb"
MAKE = "%%step make\nrows = list(range(5))"
MAKE_EDITED = "%%step make\nrows = list(range(7))"
USE = "%%step use\ntotal = sum(rows)"


@pytest.fixture
def k(tmp_path):
    """A kernel in tmp_path with nb2pipe loaded for the notebook records.ipynb."""
    kernel = Kernel(str(tmp_path))
    try:
        kernel.ok(SETUP)
        yield kernel
    finally:
        kernel.shutdown()


def _history(k, step, id_):
    k.comm_send({"type": "history", "id": id_, "step": step, "limit": 10})
    msgs = k.comm_messages(timeout=3)
    assert msgs[-1]["type"] == "reply" and msgs[-1]["ok"], msgs
    return next(m for m in msgs if m["type"] == "history")["runs"]


def _graph(k):
    k.comm_send({"type": "status", "id": "st"})
    return {s["step"]: s for s in [m for m in k.comm_messages(timeout=2) if m["type"] == "graph"][-1]["steps"]}


def _records(tmp_path):
    return sorted(os.listdir(tmp_path / ".nb2pipe" / "runs"))


def test_each_executed_step_cell_is_a_run_in_history_and_a_cached_one_writes_nothing(k, tmp_path):
    k.ok(MAKE, cell_id="c1")
    k.ok(MAKE_EDITED, cell_id="c1")                  # edited and run again: executes
    k.comm_open()
    k.comm_messages(timeout=1)
    runs = _history(k, "make", "h1")
    assert [(r["where"], r["status"]) for r in runs] == [("notebook", "ran")] * 2
    assert all(r["run_id"] and r["user"] for r in runs)
    assert runs[0]["key"] != runs[1]["key"] and runs[0]["finished"] > runs[1]["finished"]
    written = _records(tmp_path)
    assert len(written) == 2
    k.ok(MAKE_EDITED, cell_id="c1")                  # unchanged: served from the store
    k.ok(MAKE, cell_id="c1")                         # the first version: its entry is stored
    assert _records(tmp_path) == written
    assert len(_history(k, "make", "h2")) == 2
    # another notebook sharing the store, with a step of the same name: not this one's runs
    other = Kernel(str(tmp_path))
    try:
        other.ok("%load_ext nb2pipe\n%nb2pipe pipeline other.ipynb")
        other.ok("%%step make\nrows = list(range(9))", cell_id="o1")
    finally:
        other.shutdown()
    assert len(_records(tmp_path)) == 3
    assert len(_history(k, "make", "h2b")) == 2
    # a failed run is a run too, with its error
    k.fails("%%step use\ntotal = sum(rows) / 0", cell_id="c2")
    [failed] = _history(k, "use", "h3")
    assert (failed["where"], failed["status"]) == ("notebook", "failed")
    assert "ZeroDivisionError" in failed["error"]


def test_a_forced_dag_run_is_the_finished_time_the_graph_shows(k, tmp_path):
    k.ok(MAKE, cell_id="c1")
    k.ok(USE, cell_id="c2")
    k.comm_open()
    k.comm_messages(timeout=1)
    before = _graph(k)["make"]["finished"]
    k.ok("%dag run --force make")
    runs = _history(k, "make", "h1")
    assert [(r["where"], r["status"]) for r in runs] == [("notebook", "ran")] * 2
    after = _graph(k)["make"]
    assert after["state"] == "fresh"
    assert before < after["finished"] <= runs[0]["finished"]
    assert after["finished"] > runs[1]["finished"]
    # the panel's forced run (a comm `run`) is one more; a panel run with nothing to do, none
    written = _records(tmp_path)
    k.comm_send({"type": "run", "id": "r1", "targets": ["use"], "force": False})
    k.comm_messages(timeout=3)
    assert _records(tmp_path) == written
    k.comm_send({"type": "run", "id": "r2", "targets": ["make"], "force": True})
    k.comm_messages(timeout=3)
    runs = _history(k, "make", "h2")
    assert [(r["where"], r["status"]) for r in runs] == [("notebook", "ran")] * 3
    assert _graph(k)["make"]["finished"] <= runs[0]["finished"]


def test_the_graph_and_the_plan_carry_each_step_s_group(k, tmp_path):
    k.ok("%%step make --group prep\nrows = list(range(5))", cell_id="c1")
    k.ok(USE, cell_id="c2")
    k.comm_open()
    k.comm_messages(timeout=1)
    steps = _graph(k)
    assert (steps["make"]["group"], "group" in steps["use"]) == ("prep", False)
    cells = ["%%step make --group prep\nrows = list(range(5))", "%%step more --group prep\nn = len(rows)"]
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": f"p{i}", "metadata": {}, "source": s, "outputs": [],
         "execution_count": None} for i, s in enumerate(cells)]}
    k.comm_send({"type": "plan", "id": "p", "name": "records.ipynb", "notebook": notebook})
    plan = next(m for m in k.comm_messages(timeout=3) if m["type"] == "plan")
    assert {s["step"]: s.get("group") for s in plan["steps"]} == {"make": "prep", "more": "prep"}
