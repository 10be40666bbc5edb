"""--save is part of the step's success (issue 11, item 9)."""
import json

from nbfiles import nb2pipe, write_nb

NOTEBOOK = ["%load_ext nb2pipe",
            "%%step make --out x --save x=out/x.parquet\nimport pandas as pd\nx = pd.DataFrame({'a': [1]})",
            "%%step use --in x --out n\nn = len(x)"]


def test_a_failing_save_fails_the_step_and_the_next_run_writes_it(tmp_path):
    write_nb(tmp_path / "nb.ipynb", NOTEBOOK)
    (tmp_path / "out").write_text("a file where the folder should be")
    code, out, err = nb2pipe("run", "nb.ipynb", "--json", cwd=tmp_path)
    assert code != 0
    assert "Traceback" not in err
    steps = {s["step"]: s for s in json.loads(out)["steps"]}
    assert steps["make"]["status"] == "failed"
    assert "--save x=out/x.parquet of step `make` failed" in steps["make"]["error"]
    records = [json.loads(p.read_text()) for p in (tmp_path / ".nb2pipe" / "runs").glob("*.json")]
    assert [s["status"] for r in records for s in r["steps"] if s["step"] == "make"] == ["failed"]

    (tmp_path / "out").unlink()
    code, out, err = nb2pipe("status", "nb.ipynb", "--json", cwd=tmp_path)
    make = {s["step"]: s for s in json.loads(out)}["make"]
    assert make["state"] == "stale"
    assert make["reasons"] == ["saved file `out/x.parquet` is missing"]

    code, out, err = nb2pipe("run", "nb.ipynb", "--json", cwd=tmp_path)
    assert code == 0, out + err
    assert (tmp_path / "out" / "x.parquet").is_file()
    code, out, err = nb2pipe("run", "nb.ipynb", "--json", cwd=tmp_path)
    assert {s["status"] for s in json.loads(out)["steps"]} == {"fresh"}


def test_a_deleted_saved_file_is_written_again(tmp_path):
    write_nb(tmp_path / "nb.ipynb", NOTEBOOK)
    assert nb2pipe("run", "nb.ipynb", cwd=tmp_path)[0] == 0
    (tmp_path / "out" / "x.parquet").unlink()
    code, out, err = nb2pipe("run", "nb.ipynb", "--json", cwd=tmp_path)
    assert code == 0, out + err
    steps = {s["step"]: s["status"] for s in json.loads(out)["steps"]}
    assert steps == {"make": "ran", "use": "cached"}   # same data: `use` is not run again
    assert (tmp_path / "out" / "x.parquet").is_file()
