"""The comm protocol: one set of dataclasses, the schema and the TypeScript generated from them."""
import json
from pathlib import Path

import pytest

from nb2pipe import protocol as p
from nb2pipe import protocol_schema as gen

ROOT = Path(__file__).resolve().parents[2]

EXAMPLES = [
    p.GraphMsg(steps=[p.StepStatus(
        step="clean", state=p.StepState.STALE, reasons=["code changed"], key="ab12", duration=1.5,
        finished=1700000000.0, where="cell [4]", cell_id="c4", inputs=["raw"], outputs=["df"],
        summaries={"df": p.OutputSummary(type="pyarrow.Table", rows=4, columns=2,
                                         schema=[("a", "int64"), ("b", "string")], nbytes=99)},
        error=None)], edges=[p.Edge("load", "clean", "raw", rows=4, columns=2)], problems=[], store="/tmp/s",
        env="dev"),
    p.PatchMsg(steps=[]),
    p.StateMsg(step="clean", state=p.StepState.FRESH, cached=False, duration=0.25),
    p.StateMsg(step="clean", state=p.StepState.FAILED, error="boom"),
    p.ProgressMsg(done=1, total=2, step="clean", status=p.OutcomeStatus.RAN, key="ab12",
                  duration=0.5, saved=0.0, error=None, traceback=""),
    p.RunStartMsg(steps=["load", "clean"]),
    p.RunEndMsg(outcomes=[("load", p.OutcomeStatus.CACHED), ("clean", p.OutcomeStatus.FAILED)]),
    p.ReplyMsg(id="r1", request="sync", ok=False, message="bad",
               problems=[p.CellProblem(cell_id="c4", message="SyntaxError")]),
    p.ReplyMsg(id="r2", request="export", ok=True, message="exported", output="build/x"),
    p.StatusRequest(id="q1"),
    p.RunRequest(id="q2", targets=["clean"], force=True, downstream=True,
                 cells=[p.CellSource(cell_id="c4", source="%%step clean\ndf = raw")]),
    p.SyncRequest(id="q3", cells=[p.CellSource(cell_id="c4", source="x = 1")]),
    p.ExportRequest(id="q4", name="nb.ipynb", output="build/x", notebook={"cells": []}, overwrite=True),
    p.OrderRequest(id="q5", cells=[p.CellInfo("c2", ["parameters"]), p.CellInfo("c1")]),
    p.PlanRequest(id="q6", name="nb.ipynb", notebook={"cells": []}),
    p.PlanMsg(steps=[], edges=[p.Edge("load", "clean", "raw")], problems=["a problem"]),
    p.CheckRequest(id="q7", rows=100),
    p.CheckMsg(ok=False, rows=100, breaks=[p.CheckBreak(
        step="features", output="X", column="age", expected="int64", got="double", made_by="load", line=2,
        message="step `features` output `X` column `age`: double, the contract says int64"
                " (made by step `load`, line 2)")],
        sampled={"data/people.csv": 100}, full={"data/x.bin": "a .bin file cannot be cut"},
        unsampled_steps={"const": 0.01}, failed={"total": "boom"}, skipped={"after": "upstream `total` failed"},
        not_checked={"heavy": "it is --sample-skip"}, no_contract=["new"], durations={"load": 0.2},
        wall=3.5, report="BROKEN"),
    p.HistoryRequest(id="q8", step="clean", limit=5),
    p.HistoryMsg(step="clean", runs=[
        p.HistoryRun(finished=1700000000.0, duration=0.5, key="ab12ab12ab12", status="ran",
                     rows={"df": 4, "model": None}, where="CLI (dask)", user="ann", run_id="r1"),
        p.HistoryRun(finished=1690000000.0, duration=0.1, key=None, status="failed", rows={},
                     where="notebook", error="boom")],
        diff="--- cached ab12\n+++ now\n@@ -1 +1 @@\n-a\n+b\n", diff_note="", cached_key="ab12"),
    p.PreviewRequest(id="q9", step="clean", output="df", rows=3),
    p.PreviewMsg(step="clean", output="df", key="ab12", value_type="pandas.core.frame.DataFrame",
                 nbytes=99, rows=4, columns=2, schema=[("a", "int64"), ("b", "string")],
                 head=[["1", "x"], ["2", "None"]]),
    p.PreviewMsg(step="fit", output="k", key="cd34", value_type="builtins.int", nbytes=1, repr="3"),
]


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_json(msg):
    wire = json.loads(json.dumps(msg.to_json()))
    assert wire["v"] == p.PROTOCOL_VERSION
    assert wire["type"] == msg.type.value
    assert type(msg).from_json(wire) == msg


def test_every_message_type_has_an_example_and_a_schema():
    assert {type(m) for m in EXAMPLES} == set(p.KERNEL_MESSAGES + p.REQUESTS)
    defs = gen.json_schema()["$defs"]
    assert {d["$ref"].rsplit("/", 1)[1] for d in defs["KernelMessage"]["oneOf"]} == {
        c.__name__ for c in p.KERNEL_MESSAGES}
    assert [m.value for m in p.EventType] == defs["EventType"]["enum"]


def test_examples_validate_against_the_schema_required_fields():
    """Each example has every property its schema requires, and no other."""
    defs = gen.json_schema()["$defs"]
    for msg in EXAMPLES:
        d = defs[type(msg).__name__]
        wire = msg.to_json()
        assert set(d["required"]) <= set(wire), type(msg).__name__
        assert set(wire) <= set(d["properties"]), type(msg).__name__
        assert d["properties"]["type"]["const"] == wire["type"]


def test_requests_from_older_frontends_parse():
    req = p.request_from_json({"type": "graph"})
    assert req == p.StatusRequest(id=None)
    run = p.request_from_json({"type": "run", "targets": ["x"], "comm": "extra key"})
    assert run == p.RunRequest(id=None, targets=["x"])
    with pytest.raises(ValueError, match="unknown message type 'nope'"):
        p.request_from_json({"type": "nope"})


def test_state_leaves_out_unset_optional_fields():
    assert p.StateMsg(step="a", state=p.StepState.RUNNING).to_json() == {
        "v": 1, "type": "state", "step": "a", "state": "running"}


@pytest.mark.parametrize("name", ["protocol.schema.json", "protocol.ts"])
def test_committed_schema_and_typescript_match_the_generator(name):
    generated = {path.name: text for path, text in gen.outputs(ROOT).items()}
    committed = (ROOT / "js" / name).read_text(encoding="utf-8")
    assert committed == generated[name], (
        f"js/{name} is out of date: run `python -m nb2pipe.protocol`")
