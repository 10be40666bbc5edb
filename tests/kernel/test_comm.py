"""The `nb2pipe` comm, as the JupyterLab sidebar uses it, against a real kernel."""
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
    kernel.comm_send({"type": "run", "targets": ["sumary"]})
    msgs = kernel.comm_messages(timeout=2)
    err = next(m for m in msgs if m.get("type") == "error")
    assert "did you mean `summary`" in err["message"]
