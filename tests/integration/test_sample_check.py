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
    # the notebook sits in a folder of its own and reads the CSV above it; `clean` saves a file
    _project(tmp_path)
    p = tmp_path / "nb"
    p.mkdir()
    text = (tmp_path / "flow.ipynb").read_text().replace("data/people.csv", "../data/people.csv")
    (p / "flow.ipynb").write_text(text.replace("%%step clean", "%%step clean --save df=out/df.parquet"))
    code, out, err = nb2pipe("run", "flow.ipynb", cwd=p)
    assert code == 0, out + err
    real = p / ".nb2pipe"
    before = {f: t for f, t in _files(real).items() if not f.startswith("sample")}
    saved = (p / "out" / "df.parquet").stat()

    # the source's first row now holds a fractional age: `age` becomes a float column
    csv = tmp_path / "data" / "people.csv"
    lines = csv.read_text().splitlines()
    lines[1] = "0,20.5,0.0"
    csv.write_text("\n".join(lines) + "\n")
    code, out, err = nb2pipe("check", "flow.ipynb", "--sample", "100", cwd=p)
    assert code == 1, out + err
    report = out.splitlines()
    assert "sampled: ../data/people.csv (first 100 rows)" in report
    assert ("  ✗ step `features` output `X` column `age`: double, the contract says int64"
            " (made by step `load`, line 2)") in report
    assert "  ✗ step `load` output `raw` column `age`: double, the contract says int64 (line 2)" in report
    assert [ln for ln in report if ln.startswith("ran on full data")][0].startswith(
        "ran on full data (they read no sampled source): `const` (")
    assert report[-1].startswith("BROKEN — 5 steps checked on samples of 100 rows")

    # the real store is untouched; the sample run's results hold 100 rows, not 5000
    after = {f: t for f, t in _files(real).items() if not f.startswith("sample")}
    assert after == before
    assert (p / "out" / "df.parquet").stat().st_mtime_ns == saved.st_mtime_ns
    assert (real / "sample" / "tree" / "nb" / "out" / "df.parquet").stat().st_size < saved.st_size
    sample_store = real / "sample" / "store"
    from nb2pipe.store import Store
    s = Store(str(sample_store))
    entry = s.get_entry(s.get_last("load", "flow.ipynb")["key"])
    assert entry["outputs"]["raw"]["meta"]["rows"] == 100


def test_a_failing_expectation_fails_the_step_in_a_kernel_sample_check_and_real_run(tmp_path):
    from kernelharness import Kernel
    (tmp_path / "data").mkdir()
    rows = [f"{i},{-2.5 if i == 3 else i * 1.5}" for i in range(3000)]
    (tmp_path / "data" / "pay.csv").write_text("id,amount\n" + "\n".join(rows) + "\n")
    cells = ["%load_ext nb2pipe\n%nb2pipe pipeline pay.ipynb",
             "%%setup\nimport pandas as pd",
             '%%step load --expect "len(raw) > 0" --expect "raw.amount.ge(0).all()"\n'
             "raw = pd.read_csv('data/pay.csv')",
             "%%step total\nt = raw.amount.sum()"]
    write_nb(tmp_path / "pay.ipynb", cells, **KERNEL)
    failed = ("step `load`: expectation `raw.amount.ge(0).all()` failed: {} of {} rows break it;"
              " the first:\n     id  amount\n  3   3    -2.5")
    k = Kernel(str(tmp_path))
    try:
        k.ok(cells[0])
        r = k.ok("%dag check --sample 50")
        assert f"  ✗ step `load` failed on the sample: {failed.format(1, 50)}" in r.stdout
        assert "  - step `total` skipped: upstream `load` failed" in r.stdout
        k.ok(cells[1], cell_id="c1")
        r = k.fails(cells[2], cell_id="c2")
        assert r.error["evalue"].startswith(failed.format(1, 3000))
    finally:
        k.shutdown()
    assert not (tmp_path / ".nb2pipe" / "steps").exists()


def test_schema_check_plans_sql_on_contracts_and_lists_python_inputs_that_changed(tmp_path):
    p = _project(tmp_path)
    nb = p / "flow.ipynb"
    text = nb.read_text().replace("SELECT count(*) AS n FROM df", "SELECT count(*) AS n, sum(older) AS s FROM df")
    nb.write_text(text)
    code, out, err = nb2pipe("run", "flow.ipynb", cwd=p)
    assert code == 0, out + err
    code, out, err = nb2pipe("check", "flow.ipynb", "--schema", cwd=p)
    assert code == 0, out + err
    assert out.splitlines()[-1] == "ok: no schema break — 1 SQL step planned on zero-row tables, no Python run"
    code, out, err = nb2pipe("contract", "accept", "flow.ipynb", "clean", cwd=p)
    assert code == 0, out + err
    assert out == "contract of step `clean` pinned: `df` (id int64, age int64, amount double, older int64)\n"

    # `clean` now drops `older` and runs; the steps below it have not run since
    nb.write_text(text.replace("df['older'] = df.age + 1", "df['ratio'] = df.age / 2"))
    code, out, err = nb2pipe("run", "flow.ipynb", "--only", "clean", cwd=p)
    assert code == 0, out + err
    code, out, err = nb2pipe("check", "flow.ipynb", "--schema", cwd=p)
    assert code == 1, out + err
    report = out.splitlines()
    sql_error = [ln for ln in report if ln.startswith("  ✗ SQL step `total`")]
    assert sql_error[0].startswith("  ✗ SQL step `total` cannot be planned on its inputs' schemas:"
                                   " Binder Error: Referenced column \"older\" not found")
    assert ("  ! step `features`: input schema changed: `df` column `older`: int64 at its cached run,"
            " missing now; `df` column `ratio`: absent at its cached run, double now") in report
    pinned = ["  ✗ step `clean` output `df` column `older` (int64) is missing",
              "  ✗ step `clean` output `df` column `ratio` (double) is not in the contract"]
    assert report[1:3] == pinned

    # the change was intended: one command makes it the contract
    assert nb2pipe("contract", "accept", "flow.ipynb", "clean", cwd=p)[0] == 0
    code, out, err = nb2pipe("check", "flow.ipynb", "--schema", cwd=p)
    assert code == 1, out + err
    assert [ln for ln in out.splitlines() if ln in pinned] == []
    assert len([ln for ln in out.splitlines() if ln.startswith("  ✗ SQL step `total`")]) == 1


def test_sample_skip_steps_and_those_below_are_not_run_and_a_step_knows_it_runs_on_a_sample(tmp_path):
    _project(tmp_path)
    write_nb(tmp_path / "big.ipynb", [
        "%load_ext nb2pipe",
        "%%setup\nimport pandas as pd\nfrom nb2pipe import sampling",
        "%%step load\nraw = pd.read_csv('data/people.csv')",
        "%%step guard\nif not sampling.active():\n    assert len(raw) > 1000, 'needs the full data'\nn = len(raw)",
        "%%step heavy --sample-skip\nassert len(raw) > 1000, 'needs the full data'\nbig = raw.age.sum()",
        "%%step after\nt = big + n",
    ], **KERNEL)
    code, out, err = nb2pipe("check", "big.ipynb", "--sample", "100", cwd=tmp_path)
    assert code == 0, out + err
    report = out.splitlines()
    assert "  - step `heavy` not checked: it is --sample-skip" in report
    assert "  - step `after` not checked: upstream `heavy` is --sample-skip" in report
    assert report[-1].startswith("ok: no break — 2 steps checked on samples of 100 rows")
    assert not (tmp_path / ".nb2pipe" / "steps").exists()


def test_a_pinned_contract_reaches_the_exported_manifest_over_the_last_seen_one(tmp_path):
    import json
    p = _project(tmp_path)
    nb = p / "flow.ipynb"
    assert nb2pipe("run", "flow.ipynb", cwd=p)[0] == 0
    assert nb2pipe("contract", "accept", "flow.ipynb", "clean", cwd=p)[0] == 0
    nb.write_text(nb.read_text().replace("df['older'] = df.age + 1", "df['ratio'] = df.age / 2"))
    code, out, err = nb2pipe("run", "flow.ipynb", "--only", "clean", cwd=p)
    assert code == 0, out + err
    code, out, err = nb2pipe("export", "flow.ipynb", "-o", str(tmp_path / "pkg"), cwd=p)
    assert code == 0, out + err
    man = json.loads(next((tmp_path / "pkg").glob("*/manifest.json")).read_text())
    assert [c for c, _ in man["contracts"]["clean"]["df"]["schema"]] == ["id", "age", "amount", "older"]
    assert [c for c, _ in man["contracts"]["load"]["raw"]["schema"]] == ["id", "age", "amount"]


def test_a_check_with_nothing_to_run_stops_the_kernel_it_started_first(tmp_path):
    # the command starts the kernel before it knows what will run (it boots meanwhile); when
    # nothing has changed since the last check, that kernel is stopped, not left to boot
    _project(tmp_path)
    code, out, err = nb2pipe("check", "flow.ipynb", "--sample", "100", cwd=tmp_path)
    assert code == 0, out + err
    assert "no contract yet (never run for real): `load`, `clean`, `features`, `total`, `const`" in out
    code, out, err = nb2pipe("check", "flow.ipynb", "--sample", "100", cwd=tmp_path)
    assert code == 0, out + err
    assert _processes_in(tmp_path / ".nb2pipe" / "sample") == []
    assert not (tmp_path / ".nb2pipe" / "steps").exists()


def _processes_in(folder) -> list[int]:
    """Live processes whose working directory is ``folder`` or below it."""
    import psutil
    out = []
    for p in psutil.process_iter(["status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and p.cwd().startswith(str(folder)):
                out.append(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out
