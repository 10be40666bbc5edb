"""A forced re-run (`%dag run --force STEP`, the panel's Force re-run) writes the step's entry
again under the same key; what the engine plans afterwards is that new run, not the one the
store held before (issue 12: the kernel's plan kept reporting the earlier finished time)."""
import time

from nb2pipe.engine import Engine
from nb2pipe.spec import parse_step_line
from nb2pipe.store import Store


def _engine(tmp_path):
    ns: dict = {}
    e = Engine(Store(tmp_path / ".nb2pipe"), tmp_path, publish=ns.update, warn=lambda m: None)
    e.run_setup("import random", cell_id="s")
    e.define(parse_step_line("make"), "n = random.random()", cell_id="c1")   # another value each time
    e.define(parse_step_line("use"), "m = n + 100", cell_id="c2")
    return e, ns


def test_a_forced_rerun_is_what_the_plan_reports(tmp_path):
    e, ns = _engine(tmp_path)
    e.run()
    before = e.plan()["make"].finished
    time.sleep(0.05)
    assert {o.step: o.status for o in e.run(["make"], force=["make"])} == {"make": "ran"}
    plan = e.plan()
    assert plan["make"].finished == e.results["make"].finished > before
    assert plan["make"].duration == e.results["make"].duration
    # the new run made another `n`: the plan keys `use` on it, so `use` is stale, not fresh
    assert plan["use"].state == "stale"
    assert {o.step: o.status for o in e.run(["use"])} == {"make": "fresh", "use": "ran"}
    assert ns["m"] == ns["n"] + 100


def test_a_new_session_plans_the_forced_rerun_too(tmp_path):
    e, _ = _engine(tmp_path)
    e.run()
    e.plan()
    e.run(["make"], force=["make"])
    finished = e.results["make"].finished
    again, _ = _engine(tmp_path)
    assert again.plan()["make"].finished == finished
