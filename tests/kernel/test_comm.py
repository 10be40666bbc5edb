"""The `nb2pipe` comm, as the JupyterLab sidebar uses it, against a real kernel."""
import json
import re

from test_notebook_flow import CELLS, run_all


def test_comm_closes_when_extension_not_loaded(kernel):
    kernel.comm_open()
    msgs = kernel.comm_messages(timeout=2)
    assert {"type": "__closed__"} in msgs   # the sidebar shows "run %load_ext nb2pipe"


def test_comm_serves_graph_with_states_and_cell_ids(kernel):
    run_all(kernel)
    kernel.comm_open()
    msgs = kernel.comm_messages(timeout=2)
    graph = next(m for m in msgs if m.get("type") == "graph")
    assert graph["v"] == 1
    steps = {s["step"]: s for s in graph["steps"]}
    assert [s["state"] for s in steps.values()] == ["fresh"] * 3
    assert steps["clean"]["cell_id"] == "c4"        # the id JupyterLab sent with the execution
    assert steps["load"]["summaries"]["raw"]["rows"] == 4
    assert {(e["source"], e["target"], e["data"]) for e in graph["edges"]} == {
        ("load", "clean", "raw"), ("clean", "summary", "df")}


def test_comm_pushes_state_changes_and_runs(kernel):
    run_all(kernel)
    kernel.comm_open()
    kernel.comm_messages(timeout=1)
    r = kernel.ok("%%step clean --in raw --out df\ndf = raw.fillna(0)", cell_id="c4")
    states = [(m["step"], m["state"]) for m in r.comm if m.get("type") == "state"]
    assert ("clean", "running") in states and ("clean", "fresh") in states
    graphs = [m for m in r.comm if m.get("type") == "graph"]
    assert graphs, "a definition change pushes the graph"
    summary = {s["step"]: s for s in graphs[-1]["steps"]}["summary"]
    assert summary["state"] == "stale"
    kernel.comm_send({"type": "run", "targets": ["summary"]})
    msgs = kernel.comm_messages(timeout=3)
    assert ("summary", "fresh") in [(m.get("step"), m.get("state")) for m in msgs if m.get("type") == "state"]
    final = [m for m in msgs if m.get("type") == "graph"][-1]
    assert {s["step"]: s["state"] for s in final["steps"]} == {
        "load": "fresh", "clean": "fresh", "summary": "fresh"}


def test_comm_reports_errors_without_breaking(kernel):
    run_all(kernel)
    kernel.comm_open()
    kernel.comm_messages(timeout=1)
    kernel.comm_send({"type": "run", "id": "r1", "targets": ["sumary"]})
    msgs = kernel.comm_messages(timeout=2)
    err = next(m for m in msgs if m.get("type") == "reply")
    assert (err["id"], err["request"], err["ok"]) == ("r1", "run", False)
    assert "did you mean `summary`" in err["message"]


# -- the sidebar's additions: incremental patches, cell sync, runs from cell contents

def _open_patch_comm(kernel, comm_id="side"):
    msg = kernel.kc.session.msg("comm_open", {"comm_id": comm_id, "target_name": "nb2pipe",
                                              "data": {"v": 1, "features": ["patch"]}})
    kernel.kc.shell_channel.send(msg)
    return kernel.comm_messages(timeout=1)


def test_patch_comm_gets_only_changed_steps(kernel):
    run_all(kernel)
    first = _open_patch_comm(kernel)
    assert [m["type"] for m in first] == ["graph"]
    r = kernel.ok("%%step clean --in raw --out df\ndf = raw.fillna(0)", cell_id="c4")
    kinds = [m.get("type") for m in r.comm]
    assert "graph" not in kinds, "same structure: patches, not the whole graph"
    patches = [m for m in r.comm if m.get("type") == "patch"]
    last = {}
    for p in patches:
        last.update({s["step"]: s["state"] for s in p["steps"]})
    assert last == {"clean": "fresh", "summary": "stale"}
    assert all("load" not in {s["step"] for s in p["steps"]} for p in patches)
    r = kernel.ok("%%step extra\nn = len(df)", cell_id="c9")   # new node: the full graph
    assert any(m.get("type") == "graph" for m in r.comm)


def _plans(kernel):
    out = kernel.ok("print(get_ipython()._nb2pipe_session.engine.plan_count)").stdout
    return int(out.strip())


def test_a_cell_run_with_the_sidebar_open_is_planned_once(kernel):
    run_all(kernel)
    _open_patch_comm(kernel)
    cells = [("%%step clean --in raw --out df\ndf = raw.fillna(0)", "c4"),     # edited: runs
             ("%%step clean --in raw --out df\ndf = raw.fillna(0)", "c4"),     # again: cached
             ("%%step extra\nn = len(df)", "c9")]                              # a new step
    for code, cell_id in cells:
        before = _plans(kernel)
        r = kernel.ok(code, cell_id=cell_id)
        pushed = [m for m in r.comm if m.get("type") in ("graph", "patch")]
        assert (_plans(kernel) - before, len(pushed)) == (1, 1), (code, r.stdout)
    states = {s["step"]: s["state"] for s in pushed[-1]["steps"]}
    assert states == {"load": "fresh", "clean": "fresh", "summary": "stale", "extra": "fresh"}


def test_sync_marks_edited_step_and_descendants_stale_without_running(kernel):
    run_all(kernel)
    _open_patch_comm(kernel)
    kernel.comm_send({"type": "sync", "id": "s1", "comm": "side", "cells": [
        {"cell_id": "c4", "source": "%%step clean --in raw --out df\ndf = raw.fillna(-1)"},
        {"cell_id": "c7", "source": "%%step unseen\nz = 1"}]}, comm_id="side")
    msgs = kernel.comm_messages(timeout=2)
    assert next(m for m in msgs if m["type"] == "reply")["problems"] == []
    states = {}
    for m in msgs:
        if m["type"] in ("graph", "patch"):
            states.update({s["step"]: s["state"] for s in m["steps"]})
    assert states["clean"] == "stale" and states["summary"] == "stale"
    assert "unseen" not in states, "a step cell never run is not defined by typing"
    assert "fillna(-1)" not in kernel.ok("print(df)").stdout and "-1" not in kernel.ok("print(df)").stdout


def test_run_uses_current_cell_contents_and_reports_cell_problems(kernel):
    run_all(kernel)
    _open_patch_comm(kernel)
    kernel.comm_send({"type": "run", "targets": [], "cells": [
        {"cell_id": "c4", "source": "%%step clean --in raw --out df\ndf = raw.fillna(-1)"},
        {"cell_id": "c8", "source": "%%step total\nt = float(df['amount'].sum())"}]}, comm_id="side")
    msgs = kernel.comm_messages(timeout=3)
    assert ("total", "fresh") in [(m.get("step"), m.get("state")) for m in msgs if m["type"] == "state"]
    assert kernel.ok("print(t)").stdout.strip() == "7.0"      # 1 + 2 + (-1) + 5
    kernel.comm_send({"type": "run", "cells": [
        {"cell_id": "c4", "source": "%%step clean --in raw --out df\ndf = raw.dropna(\n"}]}, comm_id="side")
    msgs = kernel.comm_messages(timeout=2)
    reply = next(m for m in msgs if m["type"] == "reply")
    assert reply["problems"][0]["cell_id"] == "c4"
    assert not reply["ok"]
    assert "cannot run" in reply["message"]


def _export(kernel, request):
    kernel.comm_send({"type": "export", **request}, comm_id="side")
    return next(m for m in kernel.comm_messages(timeout=60) if m["type"] == "reply")


def test_export_of_an_empty_notebook_says_why(kernel):
    run_all(kernel)
    _open_patch_comm(kernel)
    res = _export(kernel, {"id": "e1", "name": "empty.ipynb", "output": "build/x",
                           "notebook": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}})
    assert (res["id"], res["ok"]) == ("e1", False)
    assert res["message"] == (
        "nb2pipe: empty.ipynb has no %%step cells, so there is no pipeline to run\n"
        "  fix:   tag the cells that make up the pipeline with `%%step NAME` (after `%load_ext nb2pipe`)")


def test_export_from_the_sidebar_writes_the_package(kernel, project):
    run_all(kernel)
    _open_patch_comm(kernel)
    nb = {"cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": c, "outputs": [],
                     "execution_count": None} for i, c in enumerate(CELLS)],
          "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    (project / "flow.ipynb").write_text(json.dumps(nb))          # saved beside the kernel
    res = _export(kernel, {"id": "e2", "name": "flow.ipynb", "output": "build/flow", "notebook": nb})
    files = {str(p.relative_to(project / "build" / "flow"))
             for p in (project / "build" / "flow").rglob("*") if p.is_file()}
    assert (res["id"], res["ok"], res["output"]) == ("e2", True, "build/flow")
    assert re.fullmatch(rf"exported flow \S+ to build/flow \({len(files)} files\)", res["message"].splitlines()[0])
    assert {"pyproject.toml", "flow/pipeline.ipynb", "flow/manifest.json", "tests/test_pipeline.py",
            "flow/data/sales.csv"} <= files
    manifest = json.loads((project / "build" / "flow" / "flow" / "manifest.json").read_text())
    assert [s["name"] for s in manifest["steps"]] == ["load", "clean", "summary"]


# -- the notebook's cell order and tags, as JupyterLab has them (`order`)

def test_order_from_the_frontend_reorders_the_graph(kernel):
    kernel.ok("%load_ext nb2pipe", cell_id="c0")
    kernel.ok("%%step first\na = 1", cell_id="c1")
    kernel.ok("%%step second\nb = 2", cell_id="c2")
    first = _open_patch_comm(kernel)
    assert [s["step"] for s in first[-1]["steps"]] == ["first", "second"]
    # the user drags `second` above `first`; the panel sends the new order
    kernel.comm_send({"type": "order", "id": "o1", "cells": [
        {"cell_id": "c0", "tags": []}, {"cell_id": "c2", "tags": []}, {"cell_id": "c1", "tags": []}]},
        comm_id="side")
    msgs = kernel.comm_messages(timeout=2)
    graph = next(m for m in msgs if m["type"] == "graph")
    assert [s["step"] for s in graph["steps"]] == ["second", "first"]
    reply = next(m for m in msgs if m["type"] == "reply")
    assert (reply["id"], reply["request"], reply["ok"]) == ("o1", "order", True)


def test_a_cell_tagged_parameters_is_a_params_cell(kernel):
    kernel.ok("%load_ext nb2pipe", cell_id="c0")
    _open_patch_comm(kernel)
    kernel.comm_send({"type": "order", "id": "o1", "cells": [
        {"cell_id": "c0", "tags": []}, {"cell_id": "c1", "tags": ["parameters"]},
        {"cell_id": "c2", "tags": []}]}, comm_id="side")
    kernel.comm_messages(timeout=2)
    kernel.ok("n_rows = 3", cell_id="c1")          # papermill's convention, no %%params
    r = kernel.ok("%%step head\nfirst = list(range(n_rows))", cell_id="c2")
    assert "head  ran in" in r.stdout
    assert kernel.ok("print(first)").stdout.strip() == "[0, 1, 2]"
    params = kernel.ok("print(get_ipython()._nb2pipe_session.engine.defs.params)").stdout
    assert params.strip() == "{'n_rows': 3}"


# -- `plan`: the notebook's steps before its cells run (the panel after a restart)

def _notebook(cells):
    return {"cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": c, "outputs": [],
                       "execution_count": None} for i, c in enumerate(cells)],
            "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}


def test_plan_tells_fresh_in_store_from_never_run_without_running(kernel):
    run_all(kernel)
    _open_patch_comm(kernel)
    extra = "%%step extra\nn = len(df)"
    kernel.comm_send({"type": "plan", "id": "p1", "name": "nb.ipynb", "notebook": _notebook(CELLS + [extra])},
                     comm_id="side")
    msgs = kernel.comm_messages(timeout=5)
    plan = next(m for m in msgs if m["type"] == "plan")
    assert {s["step"]: s["state"] for s in plan["steps"]} == {
        "load": "fresh", "clean": "fresh", "summary": "fresh", "extra": "never run"}
    assert ("clean", "extra", "df") in {(e["source"], e["target"], e["data"]) for e in plan["edges"]}
    reply = next(m for m in msgs if m["type"] == "reply")
    assert (reply["id"], reply["request"], reply["ok"]) == ("p1", "plan", True)
    # nothing ran and the live engine did not learn the planned step
    assert kernel.ok("print(sorted(get_ipython()._nb2pipe_session.engine.defs.steps))").stdout.strip() == \
        "['clean', 'load', 'summary']"
