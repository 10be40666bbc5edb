"""`nb2pipe check --sample`: a type break at the source is found at the downstream steps,
on the first rows only, in a store of its own (real kernels, a real CSV)."""
import os

from nbfiles import nb2pipe, write_nb

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def _files(root):
    return {os.path.relpath(os.path.join(d, f), root): os.path.getmtime(os.path.join(d, f))
            for d, _, fs in os.walk(root) for f in fs}


def _project(tmp_path):
    (tmp_path / "data").mkdir()
    rows = "\n".join(f"{i},{20 + i % 50},{i * 1.5}" for i in range(5000))
    (tmp_path / "data" / "people.csv").write_text("id,age,amount\n" + rows + "\n")
    write_nb(tmp_path / "flow.ipynb", [
        "%load_ext nb2pipe",
        "%%setup\nimport pandas as pd",
        "%%step load\nraw = pd.read_csv('data/people.csv')",
        "%%step clean\ndf = raw[raw.amount >= 0].copy()\ndf['older'] = df.age + 1",
        "%%step features\nX = df[['age', 'older']]",
        "%%step total --sql\nSELECT count(*) AS n FROM df",
        "%%step const\nk = 3",
    ], **KERNEL)
    return tmp_path


def test_type_break_at_the_source_is_found_downstream_on_a_sample(tmp_path):
    p = _project(tmp_path)
    code, out, err = nb2pipe("run", "flow.ipynb", cwd=p)
    assert code == 0, out + err
    real = p / ".nb2pipe"
    before = {f: t for f, t in _files(real).items() if not f.startswith("sample")}

    # the source's first row now holds a fractional age: `age` becomes a float column
    csv = p / "data" / "people.csv"
    lines = csv.read_text().splitlines()
    lines[1] = "0,20.5,0.0"
    csv.write_text("\n".join(lines) + "\n")
    code, out, err = nb2pipe("check", "flow.ipynb", "--sample", "100", cwd=p)
    assert code == 1, out + err
    report = out.splitlines()
    assert "sampled: data/people.csv (first 100 rows)" in report
    assert ("  ✗ step `features` output `X` column `age`: double, the contract says int64"
            " (follows from step `load`)") in report
    assert "  ✗ step `load` output `raw` column `age`: double, the contract says int64" in report
    assert [ln for ln in report if ln.startswith("ran on full data")][0].startswith(
        "ran on full data (they read no sampled source): `const` (")
    assert report[-1].startswith("BROKEN — 5 steps checked on samples of 100 rows")

    # the real store is untouched; the sample run's results hold 100 rows, not 5000
    after = {f: t for f, t in _files(real).items() if not f.startswith("sample")}
    assert after == before
    sample_store = real / "sample" / "store"
    from nb2pipe.store import Store
    s = Store(str(sample_store))
    entry = s.get_entry(s.get_last("load", "flow.ipynb")["key"])
    assert entry["outputs"]["raw"]["meta"]["rows"] == 100

    # a normal run afterwards re-runs from the real data (nothing from the sample store)
    code, out, err = nb2pipe("run", "flow.ipynb", cwd=p)
    assert code == 0, out + err
    assert "4 of 5 steps to run" in out
