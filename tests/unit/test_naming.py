"""The naming rule, end to end through the engine: a step reads each name from the
nearest step above it that writes it, and gets what restart-and-run-all would give it."""
import pandas as pd
import pytest

from nb2pipe.engine import Engine
from nb2pipe.errors import Nb2pipeError
from nb2pipe.spec import parse_step_line
from nb2pipe.store import Store


def notebook(tmp_path, cells, setup="import pandas as pd"):
    """An engine with ``cells`` = [(name, code)] defined in order, as cell ids c0, c1, ..."""
    ns, warnings = {}, []
    eng = Engine(Store(tmp_path / ".nb2pipe"), tmp_path, publish=ns.update, warn=warnings.append)
    eng.run_setup(setup, cell_id="setup")
    for i, (name, code) in enumerate(cells):
        eng.define(parse_step_line(name), code, cell_id=f"c{i}")
    return eng, ns, warnings


def plain_run(cells, setup="import pandas as pd"):
    """What restart-and-run-all of the untagged cells gives."""
    ns: dict = {}
    exec(setup, ns)
    for _, code in cells:
        exec(code, ns)
    return ns


# (id, cells, name to compare)
CASES = [
    ("rebinding chain", [("load", "df = list(range(10))"), ("clean", "df = [x for x in df if x > 5]"),
                         ("total", "s = sum(df)")], "s"),
    ("rebinding inside a branch", [("load", "df = list(range(10))"),
                                   ("clean", "if len(df) > 3:\n    df = df[:3]\nelse:\n    df = []"),
                                   ("total", "s = sum(df)")], "s"),
    ("in-place change through an alias", [
        ("load", "df = pd.DataFrame({'a': [1, 2, 3]})"),
        ("mutate", "for d in [df]:\n    d['b'] = d['a'] * 2"),
        ("use", "total = int(df['b'].sum())")], "total"),
    ("in-place change by a method", [("load", "xs = [3, 1, 2]"), ("srt", "xs.sort()"),
                                     ("first", "head = xs[0]")], "head"),
    ("in-place change by a local function", [
        ("load", "df = pd.DataFrame({'a': [1, 2]})"),
        ("feat", "def add(frame):\n    frame['c'] = frame['a'] + 1\nadd(df)"),
        ("use", "cols = list(df.columns)")], "cols"),
    ("throwaway names rebound by every step", [
        ("one", "tmp = 1\nfor i in range(3):\n    tmp += i\na = tmp"),
        ("two", "tmp = 10\nfor i in range(2):\n    tmp += i\nb = tmp"),
        ("both", "c = a + b + tmp")], "c"),
]


@pytest.mark.parametrize("cells, name", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_results_equal_restart_and_run_all(tmp_path, cells, name):
    eng, ns, _ = notebook(tmp_path, cells)
    outcomes = eng.run()
    assert [o.status for o in outcomes] == ["ran"] * len(cells)
    expected = plain_run(cells)[name]
    assert ns[name] == expected
    # a new session (restart, run all cells) gets the same value from the store, running nothing
    eng2, ns2, _ = notebook(tmp_path, cells)
    assert {eng2.run_cell(step).status for step, _ in cells} == {"cached"}
    assert ns2[name] == expected


def test_in_place_change_is_said_in_one_line(tmp_path):
    eng, ns, warnings = notebook(tmp_path, CASES[2][1])
    eng.run()
    assert warnings == ["nb2pipe: step `mutate` changed `df` in place; the steps below it get the"
                        " changed version"]
    # the version `load` stored is untouched
    assert list(eng.values_of("load")["df"].columns) == ["a"]


def test_a_step_that_only_reads_does_not_pass_its_input_on(tmp_path):
    eng, _, _ = notebook(tmp_path, [("load", "df = pd.DataFrame({'a': [1]})"),
                                    ("look", "n = len(df)\nm = df['a'].max()\ndf.head()"),
                                    ("use", "t = df.a.sum()")])
    assert eng.graph().source("use", "df") == "load"


def test_a_failed_step_blocks_what_reads_its_names(tmp_path):
    cells = [("load", "df = list(range(10))"), ("clean", "df = [x for x in df if x > 5]\n1 / 0"),
             ("total", "s = sum(df)")]
    eng, ns, _ = notebook(tmp_path, cells)
    assert eng.run_cell("load").status == "ran"
    assert eng.run_cell("clean").status == "failed"
    with pytest.raises(Nb2pipeError, match="upstream `clean` has an error: .*ZeroDivisionError"):
        eng.run_cell("total")
    assert "s" not in ns
    assert [o.status for o in eng.run()] == ["fresh", "failed", "skipped"]
    assert eng.store.get_last("total") is None


def test_a_failed_rerun_does_not_fall_back_to_the_previous_result(tmp_path):
    cells = [("load", "df = list(range(10))"), ("clean", "df = [x for x in df if x > 5]"),
             ("total", "s = sum(df)")]
    eng, ns, _ = notebook(tmp_path, cells)
    eng.run()
    assert ns["s"] == 30
    eng.define(parse_step_line("clean"), "df = [x for x in df if x > 7]\nraise ValueError('bad')",
               cell_id="c1")
    assert eng.run_cell("clean").status == "failed"
    with pytest.raises(Nb2pipeError, match="upstream `clean` has an error"):
        eng.run_cell("total")


def test_a_function_made_by_a_step_is_explained_not_run_first(tmp_path):
    # corpus finding (numpy-tutorials-mooreslaw): a step that binds a lambda later cells call
    # run cell by cell: when `a` runs, no step reads `f` yet, so it is kept only in the namespace
    eng, ns, warnings = notebook(tmp_path, [("a", "k = 2\nf = lambda x: x * k")])
    assert eng.run_cell("a").status == "ran"
    eng.define(parse_step_line("b"), "y = f(3)", cell_id="c1")
    out = eng.run_cell("b")
    assert out.status == "failed"
    assert out.error.what == ("step `b` needs `f`, which step `a` made but did not store (a value"
                              " nb2pipe cannot store, such as a function, or a branch that did not"
                              " assign it)")
    assert "define `f` in a %%setup cell" in out.error.fix


def test_read_above_the_first_write(tmp_path):
    eng, _, _ = notebook(tmp_path, [("use", "t = df + 1"), ("load", "df = 1")])
    with pytest.raises(Nb2pipeError, match="reads `df`, which only step `load` below it writes"):
        eng.run_cell("use")


def test_moving_a_cell_changes_which_version_it_reads(tmp_path):
    cells = [("load", "df = list(range(10))"), ("clean", "df = [x for x in df if x > 5]"),
             ("total", "s = sum(df)")]
    eng, ns, _ = notebook(tmp_path, cells)
    eng.run()
    assert ns["s"] == 30
    eng.set_order(["setup", "c0", "c2", "c1"])         # the user dragged `total` above `clean`
    assert eng.graph().order == ("load", "total", "clean")
    assert eng.plan()["total"].state == "stale"
    eng.run()
    assert ns["s"] == 45


def test_deleting_a_rebinding_cell(tmp_path):
    cells = [("load", "df = list(range(10))"), ("clean", "df = [x for x in df if x > 5]"),
             ("total", "s = sum(df)")]
    eng, ns, _ = notebook(tmp_path, cells)
    eng.run()
    eng.forget("clean")
    assert eng.plan()["total"].state == "stale"
    eng.run()
    assert ns["s"] == 45


def test_renaming_a_cell_keeps_its_place(tmp_path):
    cells = [("load", "df = list(range(10))"), ("clean", "df = [x for x in df if x > 5]"),
             ("total", "s = sum(df)")]
    eng, _, _ = notebook(tmp_path, cells)
    eng.define(parse_step_line("filter"), "df = [x for x in df if x > 5]", cell_id="c1")
    assert eng.graph().order == ("load", "filter", "total")
    assert eng.graph().source("total", "df") == "filter"


def test_a_hidden_in_place_change_is_learned_and_passed_on(tmp_path):
    # changes the code does not show (a dict holding the frame, a numpy view): the step is
    # run again with the input passed on, and the fact is kept for the next session
    setup = "import pandas as pd\nimport numpy as np"
    cells = [("load", "df = pd.DataFrame({'a': [1, 2]})\narr = np.arange(4)"),
             ("sneak", "holder = {}\nholder.update(k=df)\nholder['k'].loc[0, 'a'] = 99\n"
                       "view = arr[1:3]\nview[0] = 100\nm = 1"),
             ("use", "first = int(df.loc[0, 'a'])\nsecond = int(arr[1])")]
    eng, ns, warnings = notebook(tmp_path, cells, setup=setup)
    out = {o.step: o.status for o in eng.run()}
    assert out == {"load": "ran", "sneak": "ran", "use": "ran"}
    assert (ns["first"], ns["second"]) == (99, 100)                  # as restart-and-run-all
    assert eng.graph().source("use", "df") == "sneak"
    assert eng.graph().source("use", "arr") == "sneak"
    assert eng.values_of("load")["df"]["a"].tolist() == [1, 2]       # load's version intact
    assert sum("changed `" in w and "in place (through a view" in w for w in warnings) == 2
    # a new session (or a headless run) of the same code wires the same versions
    eng2, ns2, _ = notebook(tmp_path, cells, setup=setup)
    assert {eng2.run_cell(n).status for n, _ in cells} == {"cached"}
    assert (ns2["first"], ns2["second"]) == (99, 100)
    assert eng2.graph().source("use", "arr") == "sneak"


# ------------------------------------------------------------ keys are the same everywhere

KEY_SCRIPT = """
import sys, json, pathlib
from nb2pipe.engine import Engine
from nb2pipe.spec import parse_step_line
from nb2pipe.store import Store
store_dir = pathlib.Path(sys.argv[1])
eng = Engine(Store(store_dir), store_dir.parent)
eng.set_params("import datetime\\nlabels = {'b', 'a', 'c', 'zz', 'q'}\\nwhen = datetime.date(2026, 1, 2)\\n"
               "pairs = {(1, 'x'): 2.5, (0, 'y'): None}")
eng.define(parse_step_line("fit"), "import pickle\\n"
           "model = {'labels': sorted(labels), 'when': str(when), 'n': len(pairs)}\\n"
           "blob = pickle.dumps(model, protocol=4)\\ntags = set(labels) | {'new'}\\nwhen2 = when")
eng.define(parse_step_line("use"), "out = [model['n'], len(blob), sorted(tags), str(when2)]")
outcomes = eng.run()
print(json.dumps({o.step: [o.status, o.key] for o in outcomes}))
"""


def test_keys_are_identical_across_stores_and_hash_seeds(tmp_path):
    import json
    import os
    import subprocess
    import sys
    runs = []
    for i, seed in enumerate(["1", "2"]):
        store = tmp_path / f"proj{i}" / ".nb2pipe"
        store.parent.mkdir()
        p = subprocess.run([sys.executable, "-c", KEY_SCRIPT, str(store)], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}, timeout=120)
        assert p.returncode == 0, p.stderr
        runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    assert runs[0] == runs[1]
    assert [v[0] for v in runs[0].values()] == ["ran", "ran"]


def test_a_parameter_with_no_canonical_form_is_a_clear_error(tmp_path):
    eng, _, _ = notebook(tmp_path, [("s", "y = thing is not None")])
    eng.set_params(values={"thing": object()})
    out = eng.run()
    assert out[0].status == "failed"
    assert "parameter `thing`, read by step `s`, cannot be part of a cache key" in str(out[0].error)



def test_a_name_imported_again_below_does_not_change_a_step_above(tmp_path):
    cells = [("a", "import math\nx = math.pi"), ("b", "y = math.floor(x)")]
    eng, ns, _ = notebook(tmp_path, cells)
    eng.run()
    key = eng.plan()["b"].key
    eng.define(parse_step_line("c"), "import math, os\nz = os.sep", cell_id="c9")
    assert eng.plan()["b"].key == key
    assert eng.plan()["b"].state == "fresh"
