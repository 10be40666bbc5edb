"""The engine's bookkeeping: what it reads from the store, what it publishes, what it
derives from the definitions (and when it derives it again)."""
from collections import Counter

from test_engine import lab  # noqa: F401 - the fixture

from nb2pipe.steps import SetupCell
from nb2pipe.analysis import analyze
from nb2pipe.spec import parse_step_line


def test_a_run_publishes_each_name_once(lab):
    published = Counter()
    lab.engine._publish = lambda mapping: published.update(list(mapping))
    assert set(lab.run().values()) == {"ran"}
    assert published == {"raw": 1, "df": 1, "by_region": 1, "total": 1}


def test_learned_changes_are_read_once_per_code(lab):
    reads = Counter()
    get_learned = lab.engine.store.get_learned
    lab.engine.store.get_learned = lambda h: reads.update([h]) or get_learned(h)
    for _ in range(3):
        lab.define("clean")
    lab.define("clean", code="df = raw.dropna().copy()")
    assert reads == {lab.engine.defs.steps["clean"].code_hash: 1}   # the old code: read at Lab()


def test_derived_maps_follow_every_change_of_steps_and_setup(lab):
    d = lab.engine.defs
    assert d._step_index() == {"load": 0, "clean": 1, "summary": 2, "other": 3}
    v = d.version
    lab.engine.forget("other")
    lab.engine.define(parse_step_line("extra"), "extra = len(df)", cell_id="extra")
    assert d._step_index() == {"load": 0, "clean": 1, "summary": 2, "extra": 3}   # same length
    assert "extra" in d._written(d.steps)
    d.set_setup(SetupCell("late", "import math", analyze("import math")))
    assert d._definers()["math"] == ["late"] and d._positions()["late"] == -1
    d.drop_setup("late")
    assert "math" not in d._definers() and d.version > v



def _leases_seen(lab, version):
    """Run `other` at a new ``version`` of its code, which lists the store's lease files while
    it runs; what it saw."""
    lab.define("other", code="import os\nd = '.nb2pipe/leases'\n"
                             f"other = sorted(os.listdir(d)) if os.path.isdir(d) else []\nv = {version}")
    assert lab.run("other")["other"] == "ran"
    return lab.ns["other"]


def test_a_short_step_runs_without_a_lease_an_unknown_one_holds_one(lab, monkeypatch):
    from nb2pipe import leases
    first = _leases_seen(lab, 1)              # never ran: how long it takes is not known
    assert len(first) == 1 and first[0].endswith(".json")
    assert _leases_seen(lab, 2) == []         # its last run took well under leases.WORTH
    monkeypatch.setattr(leases, "WORTH", 0.0)   # every duration is worth a lease
    assert len(_leases_seen(lab, 3)) == 1
