"""The engine without a kernel: staleness, early cutoff, isolation, failures."""
import os
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from nb2pipe.engine import Engine
from nb2pipe.errors import AnalysisError, GraphError, Nb2pipeError, UntrackedNameError
from nb2pipe.spec import parse_step_line
from nb2pipe.store import Store

PIPELINE = {
    "load": ("load --src data/sales.csv --out raw",
             "raw = pd.read_csv('data/sales.csv').head(n_rows)"),
    "clean": ("clean --in raw --out df", "df = raw.dropna()"),
    "summary": ("summary", "by_region = df.groupby('region')['amount'].sum()"),
    "other": ("other", "total = helpers.total(df)"),
}


class Lab:
    """An engine on a temporary project, with the example pipeline."""

    def __init__(self, tmp_path, monkeypatch=None):
        self.dir = tmp_path
        (tmp_path / "data").mkdir(exist_ok=True)
        self.write("data/sales.csv", "region,amount\nEU,1\nUS,2\nEU,\nUS,5\n")
        self.write("helpers.py", "def total(df):\n    return float(df['amount'].sum())\n")
        self.ns = {}
        self.warnings = []
        self.engine = self.new_engine()
        self.engine.run_setup("import pandas as pd\nimport helpers", cell_id="setup")
        self.engine.set_params("n_rows = 1000")
        for name in PIPELINE:
            self.define(name)

    def new_engine(self):
        sys.path.insert(0, str(self.dir))
        return Engine(Store(self.dir / ".nb2pipe"), self.dir, publish=self.ns.update,
                      warn=self.warnings.append)

    def write(self, rel, text):
        (self.dir / rel).write_text(text)
        os.utime(self.dir / rel, None)

    def define(self, name, code=None, line=None):
        l, c = PIPELINE[name]
        return self.engine.define(parse_step_line(line or l), code or c, cell_id=name)

    def states(self):
        return {n: s.state for n, s in self.engine.plan().items()}

    def run(self, *targets, **kw):
        return {o.step: o.status for o in self.engine.run(targets, **kw)}


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lab = Lab(tmp_path)
    yield lab
    sys.path.remove(str(tmp_path))
    sys.modules.pop("helpers", None)


def test_first_run_then_everything_fresh(lab):
    assert set(lab.states().values()) == {"never run"}
    assert lab.run() == {"load": "ran", "clean": "ran", "summary": "ran", "other": "ran"}
    assert set(lab.states().values()) == {"fresh"}
    assert lab.run() == {"load": "fresh", "clean": "fresh", "summary": "fresh", "other": "fresh"}
    assert lab.ns["by_region"].to_dict() == {"EU": 1.0, "US": 7.0}


# change -> which steps go stale (and the reason for the first stale step)
CHANGES = [
    ("src file", lambda lab: lab.write("data/sales.csv", "region,amount\nEU,3\n"),
     {"load"}, "source `data/sales.csv` changed"),
    ("parameter read", lambda lab: lab.engine.set_params("n_rows = 2"), {"load"},
     "parameter `n_rows` changed"),
    ("parameter nobody reads", lambda lab: lab.engine.set_params("n_rows = 1000\nunused = 5"), set(), None),
    # only the definitions a step uses count: `pd`'s statement changed, `helpers`' did not
    ("setup cell", lambda lab: lab.engine.run_setup("import pandas as pd, json\nimport helpers\nX = 1",
                                                     cell_id="setup"), {"load"},
     "setup code changed"),
    ("local module", lambda lab: lab.write("helpers.py", "def total(df):\n    return 0.0\n"),
     {"other"}, "module `helpers` changed"),
    ("step code", lambda lab: lab.define("clean", "df = raw.dropna().reset_index(drop=True)"),
     {"clean"}, "code changed"),
    ("comment only", lambda lab: lab.define("clean", "df = raw.dropna()   # drop empty rows"), set(), None),
]


@pytest.mark.parametrize("label, change, stale, reason", CHANGES, ids=[c[0] for c in CHANGES])
def test_what_makes_a_step_stale(lab, label, change, stale, reason):
    lab.run()
    change(lab)
    states = lab.engine.plan()
    directly = {n for n, s in states.items() if s.state == "stale" and not
                any(r.startswith("upstream") for r in s.reasons)}
    assert directly == stale
    if reason:
        first = next(s for s in states.values() if s.step in stale)
        assert reason in first.reasons
    downstream = lab.engine.graph().descendants(*stale) if stale else set()
    for d in downstream:
        assert states[d].state == "stale" and states[d].reasons[0].startswith("upstream")


def test_edit_reruns_only_the_step_and_its_descendants(lab):
    lab.run()
    lab.define("clean", "df = raw.dropna().reset_index(drop=True)")
    assert lab.run() == {"load": "fresh", "clean": "ran", "summary": "ran", "other": "ran"}


def test_identical_upstream_output_leaves_descendants_fresh(lab):
    lab.run()
    lab.define("clean", "df = raw.dropna()\nunused_flag = True", line="clean --in raw --out df")
    assert lab.run() == {"load": "fresh", "clean": "ran", "summary": "fresh", "other": "fresh"}


def test_run_target_runs_only_what_it_needs(lab):
    assert lab.run("clean") == {"load": "ran", "clean": "ran"}
    lab2 = lab.run("summary")
    assert lab2 == {"load": "fresh", "clean": "fresh", "summary": "ran"}


def test_force_reruns_only_the_named_step(lab):
    lab.run()
    assert lab.run("clean", force=True) == {"load": "fresh", "clean": "ran"}


def test_new_engine_on_same_store_finds_everything_cached(lab):
    lab.run()
    lab.engine = lab.new_engine()
    lab.engine.run_setup("import pandas as pd\nimport helpers", cell_id="setup")
    lab.engine.set_params("n_rows = 1000")
    for name in PIPELINE:
        lab.define(name)
    assert set(lab.states().values()) == {"fresh"}
    assert lab.engine.run_cell("summary").status == "cached"


def test_untracked_name_names_the_cell(lab):
    asked = []

    def origin(name):
        asked.append(name)
        return "cell [7] (`threshold = 3`)" if name == "threshold" else None
    eng = Engine(lab.engine.store, lab.dir, provenance=origin)
    eng.run_setup("import pandas as pd", cell_id="setup")
    eng.define(parse_step_line("clean --out df"), "df = pd.DataFrame({'amount': [1]})")
    with pytest.raises(UntrackedNameError) as e:
        eng.define(parse_step_line("bad"), "x = df[df.amount > threshold]")
    assert asked == ["threshold"]          # only the name no step, setup or parameter defines
    msg = str(e.value)
    assert "`threshold`" in msg and "cell [7] (`threshold = 3`)" in msg and "%%params" in msg
    assert "bad" not in eng.defs.steps


@pytest.mark.parametrize("line, code, fragment", [
    ("x --in raw --out y", "y = raw + df", "reads `df` (output of step `clean`) but --in lists only raw"),
    ("x --out y z", "y = 1", "declares --out z but its code never assigns it"),
    ("x", "y = (", "syntax error"),
    ("x", "pd = 1", "both an output of step `x` and defined by a %%setup cell"),
])
def test_bad_definitions_change_nothing(lab, line, code, fragment):
    before = dict(lab.engine.defs.steps)
    with pytest.raises((AnalysisError, GraphError)) as e:
        lab.engine.define(parse_step_line(line), code)
    assert fragment in str(e.value)
    assert lab.engine.defs.steps == before


def test_failure_skips_descendants_and_keeps_earlier_results(lab):
    lab.run()
    lab.define("clean", "df = raw.dropna()\nraise ValueError('bad data')")
    out = lab.run()
    assert out == {"load": "fresh", "clean": "failed", "summary": "skipped", "other": "skipped"}
    st = lab.engine.plan()
    assert st["clean"].state == "failed" and "bad data" in st["clean"].error
    assert st["load"].state == "fresh"
    lab.define("clean")                        # back to the good code: cache hit, nothing lost
    assert lab.run() == {"load": "fresh", "clean": "fresh", "summary": "fresh", "other": "fresh"}
    assert lab.engine.plan()["clean"].error is None


def test_step_error_points_at_the_line(lab):
    lab.run()
    lab.engine.define(parse_step_line("boom"), "a = 1\nb = df['nope']", where="cell [9]")
    o = lab.engine.run_cell("boom")
    assert o.status == "failed"
    assert "cell [9], line 3" in str(o.error) and "KeyError" in str(o.error)
    assert "b = df['nope']" in o.error.traceback_text


def test_interrupt_leaves_no_entry(lab):
    lab.run()
    lab.engine.define(parse_step_line("slow --in df --out z"), "z = 1\nraise KeyboardInterrupt")
    with pytest.raises(KeyboardInterrupt):
        lab.engine.run_cell("slow")
    st = lab.engine.plan()["slow"]
    assert st.state == "failed" and st.error == "interrupted"
    assert lab.engine.store.get_last("slow") is None


def test_running_before_upstream_exists(lab):
    eng = lab.new_engine()
    eng.run_setup("import pandas as pd", cell_id="s")
    eng.define(parse_step_line("clean --in raw --out df"), "df = raw.dropna()")
    with pytest.raises(Nb2pipeError, match="reads `raw`, which no step above it writes"):
        eng.run_cell("clean")


def test_mutating_a_dataframe_input_does_not_corrupt_upstream(lab):
    lab.run()
    lab.engine.define(parse_step_line("mut --in raw --out n"), "raw.loc[0, 'amount'] = 999\nn = 1")
    lab.engine.run_cell("mut")
    again = lab.engine.values_of("load")["raw"]
    assert again.loc[0, "amount"] == 1
    assert lab.engine.run_cell("clean").status == "cached"


def test_mutating_an_array_input_is_detected(lab):
    lab.engine.define(parse_step_line("arr --out a"), "import numpy as np\na = np.arange(5)")
    lab.engine.define(parse_step_line("bump --in a --out b"), "a += 1\nb = a.sum()")
    lab.engine.define(parse_step_line("after --in a --out c"), "c = a.sum()")
    out = lab.run("bump", "after")
    assert out == {"arr": "ran", "bump": "ran", "after": "ran"}
    assert any("step `bump` changed `a` in place" in w for w in lab.warnings)
    assert lab.ns["c"] == 15  # as restart-and-run-all: `after` sees the array `bump` changed
    assert lab.engine.graph().source("after", "a") == "bump"
    assert lab.engine.values_of("arr")["a"].tolist() == [0, 1, 2, 3, 4]   # arr's version intact


def test_outputs_that_cannot_be_stored(lab):
    lab.engine.define(parse_step_line("gen --out g"), "g = (i for i in range(3))")
    o = lab.engine.run_cell("gen")
    assert o.status == "failed"
    assert "output `g` of step `gen`" in str(o.error) and "cannot be stored" in str(o.error)
    assert lab.engine.store.get_last("gen") is None


def test_damaged_cache_is_recomputed(lab):
    lab.run()
    res = lab.engine.results["clean"]
    ref = res.outputs["df"]
    path = lab.engine.store.backend.path(lab.engine.store._object_rel(ref.oid, ref.codec))
    with open(path, "r+b") as f:
        f.truncate(10)
    lab.engine = lab.new_engine()
    lab.engine.run_setup("import pandas as pd\nimport helpers", cell_id="setup")
    lab.engine.set_params("n_rows = 1000")
    for name in PIPELINE:
        lab.define(name)
    assert lab.engine.run_cell("clean").status == "ran"
    assert any(w.startswith("nb2pipe: cached result of `clean` is damaged") for w in lab.warnings)
    assert os.path.getsize(path) == ref.nbytes          # the damaged object was replaced
    fresh = lab.new_engine()
    fresh.run_setup("import pandas as pd\nimport helpers", cell_id="setup")
    fresh.set_params("n_rows = 1000")
    lab.engine = fresh
    for name in PIPELINE:
        lab.define(name)
    assert lab.engine.run_cell("clean").status == "cached"


def test_retries(lab, tmp_path):
    lab.write("count.txt", "0")
    code = textwrap.dedent("""
        n = int(open('count.txt').read()) + 1
        open('count.txt', 'w').write(str(n))
        if n < 3:
            raise RuntimeError('flaky')
        v = n
    """)
    lab.engine.define(parse_step_line("flaky --retries 2 --out v"), code)
    assert lab.engine.run_cell("flaky").status == "ran"
    assert lab.ns["v"] == 3


def test_steps_see_only_what_production_gives_them(lab):
    """A step gets the setup cells' names, the parameters and its declared inputs --
    nothing else (no other step's outputs, nothing an exploration cell defined)."""
    lab.run()
    lab.engine.define(parse_step_line("iso --in df --out r"),
                      "r = sorted(k for k in dir() if not k.startswith('__'))")
    assert lab.engine.run_cell("iso").status == "ran"
    assert lab.ns["r"] == ["df", "helpers", "n_rows", "pd"]
    assert lab.engine.values_of("iso")["r"] == ["df", "helpers", "n_rows", "pd"]
