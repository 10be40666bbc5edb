"""Adding a step below the others (a Run All after a restart, a new cell at the end) extends
what was derived from the steps above instead of deriving it again: their graph nodes, their
key parts and the memory of which of them were fresh.  Whatever is kept must be exactly what
deriving everything anew gives, and a cell's "upstream is stale" note must never be missed
because something was kept (a forced re-run, an edit above, a step below that changes what a
step above reads)."""
import pytest

from nb2pipe.engine import Engine
from nb2pipe.spec import parse_step_line
from nb2pipe.store import Store

NOTEBOOKS = {
    "chain": [("a", "x = 1"), ("b", "y = x + 1"), ("c", "z = x + y")],
    # `b` writes `y`, which `a` above read as a global: `a` now reads it before it is written
    "a step below writes what a step above reads": [("a", "x = y + 1"), ("b", "y = 2"), ("c", "w = y")],
    "in place": [("a", "df = [1]"), ("b", "df.append(2)"), ("c", "n = len(df)")],
    "definitions in steps": [("a", "import math\nv = math.pi"), ("b", "def f(t):\n    return t\nw = f(v)"),
                             ("c", "z = f(w)")],
    "a name written again": [("a", "x = 1"), ("b", "x = x + 1"), ("c", "y = x")],
    "a step below a missing read": [("a", "x = q"), ("b", "p = 1"), ("c", "q = p")],
}


def _view(eng):
    """What the engine derives from its steps: the graph and every step's plan."""
    g = eng.defs.graph()
    plan = eng.plan()
    return (g.order, sorted(g.edges()), dict(g.missing), dict(g.below),
            {n: (s.state, s.key, s.reasons, s.inputs, tuple(s.outputs)) for n, s in plan.items()})


def _anew(eng):
    """The same engine with everything derived forgotten."""
    eng.defs._derived = (-1, {})
    eng._parts.clear()
    eng._keys.clear()
    eng._fresh_seen.clear()
    return eng


@pytest.mark.parametrize("ordered", [False, True], ids=["appended", "in cell order"])
@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_adding_steps_one_by_one_derives_what_deriving_anew_does(tmp_path, name, ordered):
    cells = NOTEBOOKS[name]
    eng = Engine(Store(tmp_path / "s"), tmp_path, warn=lambda m: None)
    if ordered:                       # the sidebar sent the notebook's order: the walk path
        eng.set_order([f"c{i}" for i in range(len(cells))])
    for i, (line, code) in enumerate(cells):
        eng.define(parse_step_line(line), code, cell_id=f"c{i}")
        incremental = _view(eng)
        assert incremental == _view(_anew(eng)), f"after adding `{line}`"
    if name == "a step below writes what a step above reads":
        assert eng.plan()["a"].state == "blocked"


def _run_all(tmp_path, cells):
    ns: dict = {}
    eng = Engine(Store(tmp_path / "s"), tmp_path, publish=ns.update, warn=lambda m: None)
    eng.run_setup("import random", cell_id="setup")
    for i, (line, code) in enumerate(cells):
        eng.define(parse_step_line(line), code, cell_id=f"c{i}")
        out = eng.run_cell(line)
        assert out.status in ("ran", "cached") and out.notes == [], (line, out.notes)
    return eng


CHAIN = [("a", "n = random.random()"), ("b", "m = n + 1"), ("c", "k = m * 2"), ("d", "j = k - 1")]


def test_a_forced_rerun_above_is_noted_in_the_cells_below(tmp_path):
    eng = _run_all(tmp_path, CHAIN)
    eng.run(["a"], force=["a"])       # another `n`, under the same key
    note = eng.run_cell("d").notes
    assert note == ["upstream `b`, `c` are stale; `%dag run d` refreshes them first"]


def test_an_edit_above_is_noted_in_the_cells_below(tmp_path):
    eng = _run_all(tmp_path, CHAIN)
    eng.define(parse_step_line("b"), "m = n + 2", cell_id="c1")      # edited, not run
    assert eng.run_cell("d").notes == ["upstream `b`, `c` are stale; `%dag run d` refreshes them first"]


def test_a_new_cell_below_a_fresh_pipeline_notes_nothing_and_an_edit_at_the_top_is_noted(tmp_path):
    eng = _run_all(tmp_path, CHAIN)
    eng.define(parse_step_line("e"), "i = j + k", cell_id="c4")
    assert eng.run_cell("e").notes == []
    eng.define(parse_step_line("a"), "n = random.random() + 1", cell_id="c0")
    assert eng.run_cell("e").notes == [
        "upstream `a`, `b`, `c`, `d` are stale; `%dag run e` refreshes them first"]
