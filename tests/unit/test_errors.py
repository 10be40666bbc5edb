"""Every nb2pipe error survives pickle (Dask sends them between processes) with what it says."""
import pickle

import pytest

from nb2pipe import errors as e


class _Local(Exception):
    """Stands for a user's exception class pickle cannot find (defined in a notebook)."""


_Local.__qualname__ = "<locals>._Local"


CASES = [
    e.Nb2pipeError("it broke", where="cell [3]", fix="do this"),
    e.SpecError("bad name `1x`", where="cell [2]", fix="use an identifier"),
    e.AnalysisError("cannot parse", where="cell [5], line 2", fix="fix the syntax"),
    e.UntrackedNameError("`df` comes from an exploration cell", where="step `clean`", fix="make it a step"),
    e.StoreError("disk full", where="/tmp/store", fix="free space"),
    e.CorruptObjectError("checksum mismatch", where="objects/ab", fix="it is recomputed"),
    e.GraphError(["cycle a -> b -> a", "two producers of `x`"], fix="rename one"),
    e.StepFailed("clean", ZeroDivisionError("division by zero"), where="cell [4], line 2",
                 traceback_text="Traceback ...\nZeroDivisionError: division by zero\n"),
]


@pytest.mark.parametrize("err", CASES, ids=lambda x: type(x).__name__)
def test_round_trip_keeps_what_where_fix(err):
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert (back.what, back.where, back.fix) == (err.what, err.where, err.fix)
    assert str(back) == str(err)
    assert back.args == err.args


def test_every_error_class_is_covered():
    def subclasses(cls):
        return {cls} | {s for c in cls.__subclasses__() for s in subclasses(c)}
    assert {type(c) for c in CASES} == subclasses(e.Nb2pipeError)


def test_step_failed_keeps_step_cause_and_traceback():
    err = CASES[-1]
    back = pickle.loads(pickle.dumps(err))
    assert back.step == "clean"
    assert type(back.cause) is ZeroDivisionError
    assert back.cause.args == ("division by zero",)
    assert back.traceback_text == err.traceback_text


def test_graph_error_keeps_its_problems():
    back = pickle.loads(pickle.dumps(CASES[-2]))
    assert back.problems == ["cycle a -> b -> a", "two producers of `x`"]


def test_step_failed_with_an_unpicklable_cause_still_pickles():
    err = e.StepFailed("load", _Local("bad row 7"), where="cell [1]")
    back = pickle.loads(pickle.dumps(err))
    assert back.what == err.what
    assert str(back) == str(err)
    assert "_Local: bad row 7" in str(back.cause)
