import pytest

from nb2pipe.errors import SpecError
from nb2pipe.spec import parse_step_line


@pytest.mark.parametrize("line, field, expected", [
    ("clean --in raw --out df", "inputs", ("raw",)),
    ("clean --in raw --out df", "outputs", ("df",)),
    ("join --in a,b c --out x", "inputs", ("a", "b", "c")),
    ("summary", "inputs", None),
    ("summary", "outputs", None),
    ("load --src data/a.csv --src 'data/b c.csv'", "srcs", ("data/a.csv", "data/b c.csv")),
    ("q --sql --out t", "sql", True),
    ("q --no-cache", "cache", False),
    ("q --retries 2", "retries", 2),
    ("q --cpu 2 --memory 4GB", "resources", (("cpu", "2"), ("memory", "4GB"))),
    ("q --save df=out/df.parquet", "saves", (("df", "out/df.parquet"),)),
    ("q   # a comment", "name", "q"),
    ("step-1_b", "name", "step-1_b"),
    ("source --in", "inputs", ()),
])
def test_parse(line, field, expected):
    assert getattr(parse_step_line(line), field) == expected


@pytest.mark.parametrize("line, message", [
    ("", "needs a name"),
    ("a/b", "no path separators"),
    ("../etc", "invalid step name"),
    ("1abc", "invalid step name"),
    ("x --inn a", "did you mean --in"),
    ("x --retries -1", "--retries must be >= 0"),
    ("x --out 'not a name'", "not a Python name"),
    ("x --save df", "OUTPUT=PATH"),
    ("x 'unclosed", "quoting"),
    ("x y", "unrecognized arguments"),
])
def test_bad_lines(line, message):
    with pytest.raises(SpecError) as e:
        parse_step_line(line)
    assert message in str(e.value)
    assert e.value.fix  # every spec error says what to do


@pytest.mark.parametrize("line", ["clean", "  clean  ", "_x1", "load2\t", "Étape", "if", "x-y", "2x"])
def test_a_bare_name_parses_as_the_full_parser_does(line):
    """`%%step NAME` skips argparse: the result (or the error) is the parser's own."""
    from nb2pipe.spec import _parse_with_flags
    try:
        expected = _parse_with_flags(line)
    except SpecError as e:
        with pytest.raises(SpecError) as got:
            parse_step_line(line)
        assert got.value.what == e.what
        return
    got = parse_step_line(line)
    assert got == expected and got.line == expected.line
