"""The %%step line's fast path (plain lines, no argparse) reads every line exactly as argparse
does: the same namespace, the same StepSpec, the same error; other lines go to argparse."""
from __future__ import annotations

import pytest

from nb2pipe import spec
from nb2pipe.errors import SpecError

FAST = [
    "t1 --sql", "clean --in raw --out df", "a --in", "a --in x,y --in z", "a --out x y --sql --no-cache",
    "a --src data/x.csv data/*.parquet --sample-skip", "a --in df:pandas raw", "a  --in\tx  --out y ",
    "a --src x --src y x", "a --in --out", "a --sql --sql", "a-b --in x", "_a --out o --in i",
    "a --in df:polars", "a --out 1x", "a.b --sql", "a --in x,,y, --out ,", "a --src s3://bucket/k.csv",
]
ARGPARSE = [
    "a --src", "a --src --sql", "a b", "a --in x --bogus", "a --retries 2", "a --expect 'len(df) > 0'",
    "a --save df=x.csv", "a --in x # a comment", "a --in 'x'", "--sql a", "a --in -x", "a --sq",
    "a --cpu 2 --in x", "a -- x", "a --sql b", "a --in x\\ y", "a --in=x", "", "a --timeout 3m",
]


def _outcome(parse, line):
    try:
        return parse(line)
    except SpecError as e:
        return ("error", str(e))


@pytest.mark.parametrize("line", FAST + ARGPARSE)
def test_the_fast_path_reads_a_line_as_argparse_does(line):
    fast = spec._fast_namespace(line)
    assert (fast is not None) == (line in FAST)
    by_argparse = _outcome(lambda s: spec._spec_of(spec._argparse_namespace(s), s), line)
    assert _outcome(spec._parse_with_flags, line) == by_argparse
    if fast is not None and not isinstance(by_argparse, tuple):
        assert vars(fast) == vars(spec._argparse_namespace(line))


def test_a_plain_line_gives_what_it_says():
    s = spec.parse_step_line("clean --in raw,df:pandas --out x y --src a.csv --sql")
    assert (s.inputs, s.input_types, s.outputs, s.srcs, s.sql) == (
        ("raw", "df"), (("df", "pandas"),), ("x", "y"), ("a.csv",), True)
