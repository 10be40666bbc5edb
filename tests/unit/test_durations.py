"""Durations (`--timeout 30m`) and the run's time limits (runner/deadline.py)."""
import pytest

from nb2pipe.durations import parse_duration, show_duration
from nb2pipe.errors import SpecError
from nb2pipe.runner.deadline import Deadline
from nb2pipe.spec import parse_step_line


@pytest.mark.parametrize("text,seconds", [("90", 90), ("90s", 90), ("30m", 1800), ("1h30m", 5400),
                                          ("2h", 7200), ("1d", 86400), ("1.5m", 90), ("2.5", 2.5)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds,text", [(1800, "30m"), (5400, "1h30m"), (90, "1m30s"), (3, "3s"),
                                          (2.5, "2.5s"), (86400, "1d")])
def test_show_duration(seconds, text):
    assert show_duration(seconds) == text


@pytest.mark.parametrize("text,problem", [("soon", "is not a duration"), ("30x", "is not a duration"),
                                          ("0", "must be more than 0"), ("1h 30m", "is not a duration")])
def test_bad_durations_say_what_and_how(text, problem):
    with pytest.raises(SpecError) as e:
        parse_duration(text)
    assert str(e.value).startswith(f"--timeout {text!r} {problem}")
    assert e.value.fix == ("e.g. 30m" if problem == "must be more than 0"
                           else "write e.g. 90s, 30m, 1h30m or a number of seconds")


def test_step_line_timeout():
    assert parse_step_line("load --timeout 30m --out raw").timeout == 1800
    assert parse_step_line("load --out raw").timeout is None
    with pytest.raises(SpecError) as e:
        parse_step_line("load --timeout later")
    assert e.value.where == "step `load`"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_deadline_takes_the_nearer_limit_and_says_which():
    clock = Clock()
    d = Deadline(600, {"slow": 60, "long": 3600}, clock=clock)
    assert (d.limit("slow"), d.reason("slow")) == (60, "step `slow` timed out after 1m")
    assert (d.limit("long"), d.reason("long")) == (
        600, "step `long` stopped: the run timed out after 10m (--timeout)")
    assert (d.limit("other"), d.expired()) == (600, False)
    clock.now += 590
    assert d.limit("slow") == 10
    assert d.reason("slow") == "step `slow` stopped: the run timed out after 10m (--timeout)"
    clock.now += 10
    assert (d.expired(), d.not_started()) == (True, "not started: the run timed out after 10m (--timeout)")


def test_no_limits():
    d = Deadline(None, {})
    assert (d.limit("a"), d.remaining(), d.expired()) == (None, None, False)
