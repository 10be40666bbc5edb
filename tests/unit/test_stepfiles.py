"""A file a step writes is that step's output (``file:PATH``): a step below that reads it
depends on the writer, gets the writer's version of it, and re-runs when the writer's file
changes; the file is never a source of the reader."""
import os

import pytest

from nb2pipe.engine import Engine
from nb2pipe.spec import parse_step_line
from nb2pipe.store import Store

WRITE = "with open('out.txt', 'w') as f:\n    f.write(str(n))"
READ = "t = int(open('out.txt').read()) * 2"


def engine(folder, ns, warnings):
    return Engine(Store(folder / ".nb2pipe"), str(folder), publish=ns.update, warn=warnings.append)


def define(eng, *steps):
    for name, code in steps:
        eng.define(parse_step_line(name), code)


def ran(outcomes):
    return [o.step for o in outcomes if o.status == "ran"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # a kernel runs in the notebook's folder
    return tmp_path


# (edit, steps that must run again, value of t after)
@pytest.mark.parametrize("edit, again, t", [
    (("make", "n = 4"), ["make", "write", "read"], 8),       # new data reaches the file
    (("write", WRITE + "\nx = 1"), ["write"], 6),             # same file: the reader keeps its result
    (("read", READ.replace("* 2", "* 3")), ["read"], 9),
])
def test_a_written_file_is_the_writers_output(project, edit, again, t):
    ns, warnings = {}, []
    eng = engine(project, ns, warnings)
    define(eng, ("make", "n = 3"), ("write", WRITE), ("read", READ))
    assert ("write", "read", "file:out.txt") in eng.graph().edges()
    assert ran(eng.run()) == ["make", "write", "read"] and ns["t"] == 6
    define(eng, edit)
    assert ran(eng.run()) == again
    assert ns["t"] == t
    assert ran(eng.run()) == []
    assert warnings == []


def test_the_reader_gets_the_version_of_the_nearest_writer_above(project):
    ns, warnings = {}, []
    eng = engine(project, ns, warnings)
    define(eng, ("make", "n = 3"), ("write", WRITE), ("read", READ),
           ("rewrite", "with open('out.txt', 'w') as f:\n    f.write('50')"),
           ("read2", "u = int(open('out.txt').read())"))
    eng.run()
    assert (ns["t"], ns["u"]) == (6, 50)
    define(eng, ("read", READ.replace("* 2", "* 10")))
    assert ran(eng.run()) == ["read"]    # `read2` keeps its result: its file is `rewrite`'s
    assert ns["t"] == 30                  # `write`'s 3, put back though `rewrite` left 50 on disk
    assert (project / "out.txt").read_text() == "50"      # and the last writer's again after


def test_a_fresh_folder_gets_the_file_from_the_store(project, tmp_path_factory):
    ns, warnings = {}, []
    eng = engine(project, ns, warnings)
    define(eng, ("make", "n = 3"), ("write", WRITE), ("read", READ))
    eng.run()
    os.remove(project / "out.txt")        # a clone of the project sharing the store
    define(eng, ("read", READ.replace("* 2", "* 5")))
    assert ran(eng.run()) == ["read"]
    assert ns["t"] == 15
    assert (project / "out.txt").read_text() == "3"


def test_a_file_read_that_no_step_writes_stays_a_source(project):
    (project / "in.txt").write_text("7")
    ns, warnings = {}, []
    eng = engine(project, ns, warnings)
    define(eng, ("load", "k = int(open('in.txt').read())"))
    assert eng.graph().edges() == []
    eng.run()
    (project / "in.txt").write_text("8")
    assert eng.plan()["load"].reasons == ["source `in.txt` changed"]


# A writer or reader whose %%step line declares --out/--in, and a SQL reader: the file is
# still the writer's output and the reader's input.  Before, the reader had no edge to the
# writer, so after an edit of `write` a run could plan the reader first and serve its old
# result (reported "fresh", computed from the file's previous content).
CSV_WRITE = "import pandas as pd\npd.DataFrame({'a': [n, 2]}).to_csv('t.csv', index=False)\nx = 1"
@pytest.mark.parametrize("writer, other, reader, value", [
    ("write", "other", "read", lambda ns: ns["total"]),
    ("write --out x", "other --out y", "read --in y --out total", lambda ns: ns["total"]),
    ("write", "other", "read --sql --out total", lambda ns: int(ns["total"].to_pydict()["s"][0])),
])
def test_a_declared_or_sql_reader_follows_the_file_its_writer_makes(project, writer, other, reader, value):
    ns, warnings = {}, []
    eng = engine(project, ns, warnings)
    code = ("SELECT sum(a) + 2 AS s FROM read_csv_auto('t.csv')" if "--sql" in reader
            else "import pandas as pd\ntotal = int(pd.read_csv('t.csv').a.sum()) + y")
    define(eng, ("make", "n = 3"), (writer, CSV_WRITE), (other, "y = 2"), (reader, code))
    assert ("write", "read", "file:t.csv") in eng.graph().edges()
    assert ran(eng.run()) == ["make", "write", "other", "read"] and value(ns) == 7
    define(eng, ("make", "n = 10"))
    assert ran(eng.run()) == ["make", "write", "read"]
    assert value(ns) == 14
    assert ran(eng.run()) == []
