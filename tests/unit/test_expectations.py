"""`%%step NAME --expect EXPR`: checked on the outputs after every run; a failure names the
step, the expectation and a few offending rows, and the step's result is not kept as good."""
import pytest

from nb2pipe.engine import Engine
from nb2pipe.errors import SpecError
from nb2pipe.spec import parse_step_line
from nb2pipe.store import Store

SETUP = "import pandas as pd\nimport numpy as np"
LOAD = "df = pd.DataFrame({'id': [1, 2, 3, 4], 'amount': [5.0, -1.0, 2.0, -3.0]})"


def _engine(tmp_path):
    e = Engine(Store(tmp_path / ".nb2pipe"), tmp_path, warn=lambda m: None)
    e.run_setup(SETUP, cell_id="setup")
    return e


def _run(e, line, code=LOAD):
    e.define(parse_step_line(line), code, cell_id="c1")
    return e.run()[0]


def test_a_failing_row_expectation_names_step_expression_and_offending_rows(tmp_path):
    e = _engine(tmp_path)
    o = _run(e, 'load --expect "len(df) > 0" --expect "df.amount.ge(0).all()"')
    assert o.status == "failed"
    assert o.error.what == (
        "step `load`: expectation `df.amount.ge(0).all()` failed: 2 of 4 rows break it; the first:\n"
        "     id  amount\n"
        "  1   2    -1.0\n"
        "  3   4    -3.0")
    assert e.plan()["load"].state == "failed"
    # not kept as good: the next run runs it again (and fails again)
    assert e.run()[0].status == "failed"


def test_passing_expectations_keep_the_result_and_enter_its_key(tmp_path):
    e = _engine(tmp_path)
    o = _run(e, 'load --expect "len(df) == 4" --expect "np.all(df.id.values > 0)"')
    assert o.status == "ran"
    assert e.run()[0].status == "fresh"
    e.define(parse_step_line('load --expect "len(df) == 4"'), LOAD, cell_id="c1")
    assert e.plan()["load"].reasons == ["expectations changed"]


def test_an_expectation_that_raises_or_is_not_a_bool_is_an_error_naming_it(tmp_path):
    e = _engine(tmp_path)
    o = _run(e, 'load --expect "df.nope.ge(0).all()"')
    assert o.error.what == ("step `load`: expectation `df.nope.ge(0).all()` raised AttributeError:"
                            " 'DataFrame' object has no attribute 'nope'")
    o = _run(e, 'load --expect "df.amount"')
    assert o.error.what == ("step `load`: expectation `df.amount` gave a Series, not True or False"
                            " (end it with .all() for a column of checks)")


def test_a_bad_expression_is_refused_on_the_step_line():
    with pytest.raises(SpecError) as err:
        parse_step_line('load --expect "len(df"')
    assert err.value.what == "--expect 'len(df' of step `load` is not a Python expression ('(' was never closed)"
