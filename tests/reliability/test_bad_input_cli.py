"""Bad input through the real command line: one clear nb2pipe error (what / where / fix),
never a traceback from nb2pipe's own code (issue 11, item 12)."""
import json
import subprocess
import sys

import pytest

from nbfiles import nb2pipe, write_nb

PARAMS = ("%%params\nimport datetime\ns = [1, 2]\nn = 3\nt = (1, 2)\nd = datetime.date(2024, 1, 1)")
STEP = "%%step make --out x\nx = [s, n, type(t).__name__, list(t), str(d)]"


def raw_notebook(**fields):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "id": "c0", "metadata": {}, "source": "%%step a --out x\nx = 1",
                     "outputs": [], "execution_count": None}]}
    nb.update(fields)
    return json.dumps(nb)


NBFORMAT3 = json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                        "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 1", "outputs": []}]}]})

# (case, notebook JSON or None for the parameters notebook, extra files, arguments, what the error says)
CASES = [
    ("cells is a number", raw_notebook(cells=5), {}, ["status"], '"cells" is a int, not a list of cells'),
    ("a cell is a number", raw_notebook(cells=[5]), {}, ["status"], "cell 1 is a int, not a cell"),
    ("nbformat is a string", raw_notebook(nbformat="4"), {}, ["status"], "\"nbformat\" is '4', not a number"),
    ("nbformat 3", NBFORMAT3, {}, ["status"], "is an nbformat 3 notebook"),
    ("nbformat 3: how to upgrade", NBFORMAT3, {}, ["status"], "jupyter nbconvert --to notebook --nbformat 4"),
    ("a set for a list", None, {}, ["status", "-p", "s={2,3}"], "parameter `s` expects list"),
    ("a bool for an int", None, {}, ["status", "-p", "n=true"], "parameter `n` expects int"),
    ("a missing params file", None, {}, ["status", "--params", "nope.yaml"],
     "cannot read the parameters file nope.yaml"),
    ("bad YAML", None, {"bad.yaml": "a: [1\n"}, ["status", "--params", "bad.yaml"],
     "the parameters file bad.yaml is not valid YAML"),
    ("bad JSON", None, {"bad.json": "{a: 1"}, ["status", "--params", "bad.json"],
     "the parameters file bad.json is not valid JSON"),
    ("a tuple default: the example", None, {}, ["status", "-p", "t=x"], "e.g. -p t=(1, 2)"),
]


@pytest.mark.parametrize("case,text,files,args,says", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_error(tmp_path, case, text, files, args, says):
    if text is None:
        write_nb(tmp_path / "nb.ipynb", ["%load_ext nb2pipe", PARAMS, STEP])
    else:
        (tmp_path / "nb.ipynb").write_text(text)
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    code, out, err = nb2pipe(args[0], "nb.ipynb", *args[1:], cwd=tmp_path)
    assert code == 2, out + err
    assert "Traceback" not in err
    assert err.startswith("nb2pipe: ")
    assert says in err
    assert "fix:" in err


def test_export_with_a_date_parameter(tmp_path):
    write_nb(tmp_path / "nb.ipynb", ["%load_ext nb2pipe", PARAMS, STEP])
    code, out, err = nb2pipe("export", "nb.ipynb", "-o", "build", cwd=tmp_path)
    assert code == 0, out + err
    man = json.loads(next((tmp_path / "build").rglob("manifest.json")).read_text())
    assert man["params"]["d"] == {"type": "date", "default": "datetime.date(2024, 1, 1)"}
    assert man["params"]["t"] == {"type": "tuple", "default": "(1, 2)"}


def test_parameters_arrive_with_their_types(tmp_path):
    write_nb(tmp_path / "nb.ipynb", ["%load_ext nb2pipe", PARAMS, STEP])
    code, out, err = nb2pipe("run", "nb.ipynb", "-p", "n=5", "-p", "s=[7]", cwd=tmp_path)
    assert code == 0, out + err
    stored = [p.read_text() for p in (tmp_path / ".nb2pipe" / "objects").rglob("*.json")]
    assert stored == ['[[7],5,"tuple",[1,2],"2024-01-01"]']


def test_a_list_given_for_a_tuple_or_set_parameter_is_converted():
    from nb2pipe.runner.plan import coerce_params
    got = coerce_params({"t": (1, 2), "s": {1}, "f": 1.5}, {"t": "[3, 4]", "s": "[2, 3]", "f": "2"})
    assert got == {"t": (3, 4), "s": {2, 3}, "f": 2.0}
    assert [type(v) for v in got.values()] == [tuple, set, float]


def test_status_into_a_closed_pipe(tmp_path):
    write_nb(tmp_path / "nb.ipynb", ["%load_ext nb2pipe"] + [f"%%step s{i} --out x{i}\nx{i} = {i}"
                                                            for i in range(300)])
    p = subprocess.Popen([sys.executable, "-m", "nb2pipe", "status", "nb.ipynb"], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()                           # as `| head -1` does
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    assert first.startswith(b"store: ")
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err


def test_status_counts_the_data_columns_of_a_frame_with_an_index(tmp_path):
    write_nb(tmp_path / "nb.ipynb", [
        "%load_ext nb2pipe",
        "%%step make --out df\nimport pandas as pd\n"
        "df = pd.DataFrame({'a': range(84), 'b': 1, 'c': 2.0, 'd': 'x'}).set_index('a', drop=False)"
        ".rename_axis('key')",
        "%%step plain --out g\nimport pandas as pd\ng = pd.DataFrame({'a': range(84), 'b': 1, 'c': 2.0,"
        " 'd': 'x'}, index=[f'r{i}' for i in range(84)])"])
    code, out, err = nb2pipe("run", "nb.ipynb", cwd=tmp_path)
    assert code == 0, out + err
    code, out, err = nb2pipe("status", "nb.ipynb", "--json", cwd=tmp_path)
    summaries = {s["step"]: s["summaries"] for s in json.loads(out)}
    assert (summaries["make"]["df"]["rows"], summaries["make"]["df"]["columns"]) == (84, 4)
    assert (summaries["plain"]["g"]["rows"], summaries["plain"]["g"]["columns"]) == (84, 4)
