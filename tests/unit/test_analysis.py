import pytest

from nb2pipe.analysis import analyze
from nb2pipe.errors import AnalysisError

BUILTIN = {"range", "print", "open", "len", "sum"}


@pytest.mark.parametrize("code, reads, writes", [
    ("df = raw.dropna()", {"raw"}, {"df"}),
    ("df = df.dropna()", {"df"}, {"df"}),
    ("x = 1\ny = x + z", {"z"}, {"x", "y"}),
    ("import pandas as pd\nd = pd.DataFrame()", set(), {"d"}),
    ("def f(a):\n    return a + g\nr = f(1)\ng = 2", set(), {"r", "g"}),
    ("def f(a):\n    return a + h\nr = f(1)", {"h"}, {"r"}),
    ("out = [x * k for x in xs]", {"xs", "k"}, {"out"}),
    ("df['a'] = 1", {"df"}, set()),
    ("df.attr = 1", {"df"}, set()),
    ("n += 1", {"n"}, {"n"}),
    ("for i in range(3):\n    t = i", set(), {"i", "t"}),   # loop targets are versions too
    ("class A(B):\n    z = q", {"B", "q"}, set()),
    ("with open(p) as fh:\n    data = fh.read()", {"p"}, {"data", "fh"}),
    ("try:\n    v = 1\nexcept E as e:\n    print(e)", {"E"}, {"v"}),
    ("f = lambda y: y + w", {"w"}, {"f"}),
    ("if (m := compute()) > 0:\n    pass", {"compute"}, {"m"}),
    ("a, (b, *c) = t", {"t"}, {"a", "b", "c"}),
    ("s = {k: v for k, v in d.items() if v > lim}", {"d", "lim"}, {"s"}),
    ("match cmd:\n    case [x, y]:\n        r = x + y", {"cmd"}, {"r"}),
    ("_tmp = a\nres = _tmp", {"a"}, {"_tmp", "res"}),
    ("def g():\n    global G\n    G = 1\ng()", set(), set()),
])
def test_reads_and_writes(code, reads, writes):
    info = analyze(code)
    assert set(info.reads) - BUILTIN == reads
    assert set(info.writes) == writes


def test_imports_and_defines():
    info = analyze("import os.path\nfrom helpers.io import load as ld\nfrom . import rel\ndef f(): pass")
    assert info.imports == ("os", "helpers")
    assert {"os", "ld", "rel", "f"} <= set(info.defines)
    assert info.writes == ()


def test_normalisation_ignores_comments_and_layout():
    a = analyze("x = 1  # one\n\n\ny=x+1")
    b = analyze("x = 1\ny = x + 1")
    c = analyze("x = 1\ny = x + 2")
    assert a.normalized == b.normalized != c.normalized


def test_syntax_error_names_line_as_the_user_sees_it():
    with pytest.raises(AnalysisError) as e:
        analyze("x = 1\ny = (", filename="step `s`, cell [3]", line_offset=1)
    assert "syntax error" in str(e.value)
    assert "cell [3], line 3" in str(e.value)


@pytest.mark.parametrize("code", ["import os\nx = 1\ndef f():\n    return os.sep", "x = 1",
                                  "try:\n    from a import b\nexcept ImportError:\n    def b(): pass\ny = b()",
                                  "class K:\n    pass\nif True:\n    z = 2"])
def test_definitions_found_by_the_analysis_are_definitions_source(code):
    """A step's definitions come from the analysis of its code (one parse), as the separate
    definitions_source gives them."""
    from nb2pipe.analysis import definitions_source
    assert analyze(code, line_offset=3).definitions == definitions_source(code)


@pytest.mark.parametrize("offset", [0, 1, 4])
def test_lines_are_numbered_as_the_cell_shows_them(offset):
    from nb2pipe.analysis import parse
    tree = parse("a = 1\nb = a", line_offset=offset)
    assert [s.lineno for s in tree.body] == [1 + offset, 2 + offset]
    with pytest.raises(AnalysisError) as e:
        analyze("a = 1\nb = (", filename="<step x>", line_offset=offset)
    assert e.value.where.startswith(f"<step x>, line {2 + offset}")
