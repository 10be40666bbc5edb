"""Every memo of planning (the graph, a step's key parts, its last key) is invalidated by
each thing a key or the wiring depends on, and only then: after each change below, a step
that was fresh is stale with the reason a fresh session gives, and its key equals the key a
fresh engine (no memo) computes for the same notebook."""
import sys

import pytest

from nb2pipe.engine import Engine
from nb2pipe.spec import parse_step_line
from nb2pipe.store import Store

SETUP = "def helper(x):\n    return x + 1"
B = "import mymod\nb = abs(a) + helper(1) + mymod.K + cfg['n']{}\nif b < 0:\n    zz.append(yy)"
CELLS = [("a", "a = 1"), ("b --src data.txt", B.format("")), ("c", "c = a + 1")]


def session(tmp_path, cells=CELLS, setup=SETUP, params="cfg = {'n': 1}", secret=()):
    eng = Engine(Store(tmp_path / ".nb2pipe"), tmp_path, warn=lambda m: None)
    eng.run_setup(setup, cell_id="setup")
    eng.set_params(params, secret=secret)
    for i, (line, code) in enumerate(cells):
        eng.define(parse_step_line(line), code, cell_id=f"c{i}")
    return eng


def edit_code(eng, tmp):
    eng.define(parse_step_line("b --src data.txt"), B.format(" + 0"), cell_id="c1")


def edit_setup(eng, tmp):
    eng.run_setup("def helper(x):\n    return x + 2", cell_id="setup")


def edit_param(eng, tmp):
    eng.set_params("cfg = {'n': 2}")


def add_param(eng, tmp):                      # `yy` was nothing `b` could get; now a parameter
    eng.set_params("cfg = {'n': 1}\nyy = 3")


def add_writer(eng, tmp):                     # a new cell above `b` writes `zz`, which `b` changes
    eng.set_order(["setup", "c0", "new", "c1", "c2"])
    eng.define(parse_step_line("z"), "zz = []", cell_id="new")
    eng.run(["z"])


def mutate_param(eng, tmp):
    eng.defs.params["cfg"]["n"] = 3          # a step changed a dict parameter in place


def make_secret(eng, tmp):
    eng.set_params("cfg = {'n': 1}", secret=["cfg"])


def learn(eng, tmp):                          # `b` was seen changing `a` in place
    b = eng.defs.steps["b"]
    eng.defs.set_learned("b", b.code_hash, ["a"])


def edit_source(eng, tmp):
    (tmp / "data.txt").write_text("other rows")


def edit_module(eng, tmp):
    (tmp / "mymod.py").write_text("K = 2\n")


def rerun_upstream(eng, tmp):
    eng.define(parse_step_line("a"), "a = 2", cell_id="c0")
    eng.run(["a"])


def insert_writer(eng, tmp):                  # a new cell between `a` and `b` that writes `a`
    eng.set_order(["setup", "c0", "new", "c1", "c2"])
    eng.define(parse_step_line("a2"), "a = 5", cell_id="new")
    eng.run(["a2"])


# (change, the reason `status` gives for `b`)
CHANGES = [
    (edit_code, "code changed"), (edit_setup, "setup code changed"),
    (edit_param, "parameter `cfg` changed"), (add_param, "parameter `yy` added"),
    (add_writer, "outputs changed"), (mutate_param, "parameter `cfg` changed"),
    (make_secret, "parameter `cfg` changed"), (learn, "outputs changed"),
    (edit_source, "source `data.txt` changed"), (edit_module, "module `mymod` changed"),
    (rerun_upstream, "input `a` changed"), (insert_writer, "input `a` changed"),
]


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))       # a kernel started in the project folder
    monkeypatch.delitem(sys.modules, "mymod", raising=False)   # another test's project
    (tmp_path / "data.txt").write_text("rows")
    (tmp_path / "mymod.py").write_text("K = 1\n")
    return tmp_path


@pytest.mark.parametrize("change, reason", CHANGES, ids=[c[0].__name__ for c in CHANGES])
def test_each_input_of_a_key_makes_the_step_stale(project, change, reason):
    eng = session(project)
    assert {o.status for o in eng.run()} == {"ran"}
    before = eng.plan()                        # fills every memo
    assert before["b"].state == "fresh"
    change(eng, project)
    after = eng.plan()
    assert after["b"].state == "stale" and reason in after["b"].reasons, after["b"].reasons
    assert after["b"].key != before["b"].key
    fresh = Engine(eng.store, project, warn=lambda m: None)   # same definitions, no memo
    fresh.run_setup(eng.defs.setup["setup"].code, cell_id="setup")
    fresh.set_params(values=eng.defs.params, secret=eng.defs.secret_params)
    for s in eng.defs.steps.values():
        fresh.define(s.spec, s.code, cell_id=s.cell_id)
    if eng.defs.learned:
        fresh.defs.set_learned("b", *list(eng.defs.learned["b"]))
    fresh.results.update(eng.results)         # upstream results as this session has them
    assert eng.keyed(eng.defs.steps["b"], eng._input_versions(eng.defs.steps["b"], eng.results,
                                                              eng.graph()))[1] == \
        fresh.keyed(fresh.defs.steps["b"], fresh._input_versions(fresh.defs.steps["b"], fresh.results,
                                                                 fresh.graph()))[1]


def test_the_wiring_follows_learned_changes_and_moves(project):
    eng = session(project)
    assert eng.graph().source("c", "a") == "a"
    learn(eng, project)
    assert eng.graph().source("c", "a") == "b"          # `c` now reads the version `b` passes on
    eng.set_order(["setup", "c2", "c0", "c1"])          # `c` moved above `a`
    assert eng.graph().missing.get("c") == ("a",)


def test_nothing_changed_nothing_is_derived_again(project):
    eng = session(project)
    eng.run()
    graph, parts = eng.graph(), dict(eng._parts)
    keys_before = {n: s.key for n, s in eng.plan().items()}
    for i, (line, code) in enumerate(CELLS):            # every cell run again, unchanged
        eng.define(parse_step_line(line), code, cell_id=f"c{i}", where=f"cell [{i + 9}]")
    eng.run_setup(SETUP, cell_id="setup")
    eng.set_params("cfg = {'n': 1}")
    assert eng.graph() is graph                          # kept: only the prompts moved
    assert eng.defs.steps["b"].where == "cell [10]"
    assert {n: s.key for n, s in eng.plan().items()} == keys_before
    assert eng.plan()["b"].state == "fresh"
    assert eng._parts["a"][2] is parts["a"][2]          # the key parts of `a` were kept


# the note a cached cell gets when its upstream is stale: each change of an ancestor's key
UPSTREAM = [("a --src data.txt", "import mymod\na = helper(1) + mymod.K + cfg['n']"), ("b", "b = a + 1"),
            ("c", "c = b + 1")]
NOTE_CHANGES = [
    ("code", lambda eng, tmp: eng.define(parse_step_line("a --src data.txt"), UPSTREAM[0][1] + " + 0",
                                         cell_id="c0")),
    ("setup", edit_setup), ("parameter", edit_param), ("parameter in place", mutate_param),
    ("secret", make_secret), ("source", edit_source), ("module", edit_module),
]


@pytest.mark.parametrize("change", [c[1] for c in NOTE_CHANGES], ids=[c[0] for c in NOTE_CHANGES])
def test_a_cached_cell_says_which_upstream_became_stale(project, change):
    eng = session(project, cells=UPSTREAM)
    eng.run()
    for _ in range(2):                                 # the second time from what was kept
        out = eng.run_cell("c")
        assert out.status == "cached" and out.notes == []
    change(eng, project)
    out = eng.run_cell("c")
    assert out.status == "cached" and any("upstream `a`" in n for n in out.notes), out.notes


@pytest.mark.parametrize("derived", ["cell_ids", "writers", "_written", "_step_index", "_positions",
                                     "_definers"])
def test_maps_grown_by_appended_steps_equal_maps_derived_again(project, derived):
    eng = session(project)
    d = eng.defs

    def get():
        return getattr(d, derived)(*((d.steps,) if derived == "_written" else ()))
    for i, (line, code) in enumerate([("d", "import math\nd = c + 1"), ("e", "c = 5"), ("f", "f = c")]):
        get()                                          # derived, then grown by the next step
        eng.define(parse_step_line(line), code, cell_id=f"n{i}")
    grown = get()
    d._derived = (-1, {})                              # forget everything derived
    assert get() == grown
