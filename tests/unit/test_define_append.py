"""A step appended at the end is checked against the other steps' problems kept per version
(Definitions.check with ``appended``): every problem is still reported, as when all steps
were looked at on each definition."""
from __future__ import annotations

import pytest

from nb2pipe.engine import Engine
from nb2pipe.errors import GraphError
from nb2pipe.spec import parse_step_line
from nb2pipe.store import Store


def _engine(tmp_path):
    e = Engine(Store(tmp_path / "s"), tmp_path, publish=lambda ns: None, warn=lambda m: None)
    e.set_params(values={"p": 1})
    return e


def test_an_appended_step_that_writes_a_parameter_is_refused_and_changes_nothing(tmp_path):
    e = _engine(tmp_path)
    e.define(parse_step_line("a"), "x = 1", cell_id="c1")
    e.define(parse_step_line("b"), "y = x", cell_id="c2")
    with pytest.raises(GraphError, match="`p` is both an output of step `c` and a parameter"):
        e.define(parse_step_line("c"), "p = y", cell_id="c3")
    assert list(e.defs.steps) == ["a", "b"]
    e.define(parse_step_line("d"), "z = y", cell_id="c4")       # the refused one left no trace
    assert list(e.defs.steps) == ["a", "b", "d"]


def test_a_problem_of_a_step_above_is_still_reported_when_a_step_is_appended(tmp_path):
    e = _engine(tmp_path)
    e.define(parse_step_line("a"), "x = 1", cell_id="c1")
    e.define(parse_step_line("b"), "y = x", cell_id="c2")       # the kept problems: none
    e.define(parse_step_line("c"), "p = 2", cell_id="c3", validate=False)   # as headless planning
    with pytest.raises(GraphError, match="`p` is both an output of step `c`"):
        e.define(parse_step_line("d"), "z = y", cell_id="c4")
    e2 = _engine(tmp_path)
    e2.define(parse_step_line("a"), "x = 1", cell_id="c1")
    e2.run_setup("x = 0", cell_id="setup", execute=False)     # a setup cell now defines a's output
    with pytest.raises(GraphError, match="`x` is both an output of step `a` and defined by a"):
        e2.define(parse_step_line("b"), "y = 2", cell_id="c2")
