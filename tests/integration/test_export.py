"""`nb2pipe export`: a reproducible package whose own tests pass, sharing keys with the lab."""
import json
import os
import subprocess
import sys

import pytest

from test_cli_run import nb2pipe, sales, write_nb  # noqa: F401 - fixtures


def pip(*args, cwd):
    p = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr


def test_export_is_reproducible_and_shares_keys(sales, tmp_path):
    assert nb2pipe("run", "analysis.ipynb", cwd=sales)[0] == 0
    a, b = tmp_path / "a", tmp_path / "b"
    assert nb2pipe("export", "analysis.ipynb", "-o", str(a), cwd=sales)[0] == 0
    assert nb2pipe("export", "analysis.ipynb", "-o", str(b), cwd=sales)[0] == 0
    files = sorted(os.path.relpath(os.path.join(d, f), a) for d, _, fs in os.walk(a) for f in fs)
    assert "analysis/pipeline.ipynb" in files and "analysis/manifest.json" in files
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    man = json.loads((a / "analysis" / "manifest.json").read_text())
    assert [s["name"] for s in man["steps"]] == ["load", "clean", "by_region", "by_product", "report",
                                                "top_products"]
    assert man["params"]["top_n"] == {"type": "int", "default": 3}
    assert ["revenue", "double"] in man["contracts"]["clean"]["orders"]["schema"]
    assert man["version"].startswith("0.1.0+p")
    # the cleaned notebook: no exploration, a papermill parameters cell, normal kernelspec
    nb = json.loads((a / "analysis" / "pipeline.ipynb").read_text())
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert not any("describe()" in s or s.startswith("%dag") for s in sources)
    assert any("parameters" in c["metadata"].get("tags", []) for c in nb["cells"])
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    # the package, run against the lab's store, finds every step already computed
    code, out, err = nb2pipe("run", str(a), "--store", str(sales / ".nb2pipe"), "--json", cwd=tmp_path)
    assert code == 0, err
    rep = json.loads(out)
    assert not rep["kernel_started"] and {s["status"] for s in rep["steps"]} == {"fresh"}


def test_version_changes_with_steps_and_can_be_set(sales, tmp_path):
    nb2pipe("export", "analysis.ipynb", "-o", str(tmp_path / "v1"), cwd=sales)
    nbp = sales / "analysis.ipynb"
    nb = json.loads(nbp.read_text())
    for c in nb["cells"]:
        if "".join(c["source"]).startswith("%%step report"):
            c["source"] = "".join(c["source"]).replace("top_n", "top_n + 0")
    nbp.write_text(json.dumps(nb))
    nb2pipe("export", "analysis.ipynb", "-o", str(tmp_path / "v2"), cwd=sales)
    v1 = json.loads((tmp_path / "v1/analysis/manifest.json").read_text())["version"]
    v2 = json.loads((tmp_path / "v2/analysis/manifest.json").read_text())["version"]
    assert v1 != v2
    nb2pipe("export", "analysis.ipynb", "-o", str(tmp_path / "v3"), "--version", "1.2.0", cwd=sales)
    assert 'version = "1.2.0"' in (tmp_path / "v3/pyproject.toml").read_text()


def test_refuses_existing_output_unless_overwrite(sales, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    code, _, err = nb2pipe("export", "analysis.ipynb", "-o", str(out), cwd=sales)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    code, _, err = nb2pipe("export", "analysis.ipynb", "-o", str(out), "--overwrite", cwd=sales)
    assert code == 2 and "does not look like an exported pipeline" in err
    assert (out / "precious.txt").read_text() == "keep me"
    good = tmp_path / "good"
    assert nb2pipe("export", "analysis.ipynb", "-o", str(good), cwd=sales)[0] == 0
    assert nb2pipe("export", "analysis.ipynb", "-o", str(good), "--overwrite", cwd=sales)[0] == 0


def test_generated_package_installs_and_its_tests_pass(sales, tmp_path):
    assert nb2pipe("run", "analysis.ipynb", cwd=sales)[0] == 0
    out = tmp_path / "pkg"
    assert nb2pipe("export", "analysis.ipynb", "-o", str(out), "--name", "nb2pipe_e2e_sales", cwd=sales)[0] == 0
    pip("install", "-q", "--no-build-isolation", "--no-deps", ".", cwd=out)
    try:
        p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=out,
                           capture_output=True, text=True, timeout=900)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "4 passed" in p.stdout
        p = subprocess.run([sys.executable, "-m", "nb2pipe_e2e_sales", "run", "--dry-run"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0 and "load" in p.stdout
    finally:
        pip("uninstall", "-y", "-q", "nb2pipe-e2e-sales", cwd=tmp_path)


def test_papermill_can_run_the_exported_notebook(sales, tmp_path):
    import papermill
    out = tmp_path / "pkg"
    nb2pipe("export", "analysis.ipynb", "-o", str(out), cwd=sales)
    pkg = out / "analysis"
    papermill.execute_notebook(str(pkg / "pipeline.ipynb"), str(tmp_path / "ran.ipynb"),
                               parameters={"top_n": 1}, cwd=str(pkg), kernel_name="python3",
                               progress_bar=False)
    ran = json.loads((tmp_path / "ran.ipynb").read_text())
    text = "".join(o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", []))
                   for c in ran["cells"] for o in c.get("outputs", []))
    assert "report  ran" in text


def test_installed_package_has_the_same_keys_as_its_source(sales, tmp_path):
    """An exported package installed into site-packages plans the same keys (its local
    modules still count as project code there)."""
    assert nb2pipe("run", "analysis.ipynb", cwd=sales)[0] == 0
    out = tmp_path / "pkg"
    assert nb2pipe("export", "analysis.ipynb", "-o", str(out), "--name", "nb2pipe_keys_check", cwd=sales)[0] == 0
    pip("install", "-q", "--no-build-isolation", "--no-deps", ".", cwd=out)
    try:
        p = subprocess.run([sys.executable, "-m", "nb2pipe_keys_check", "status", "--json", "--store",
                            str(sales / ".nb2pipe")], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        installed = {s["step"]: (s["state"], s["key"]) for s in json.loads(p.stdout)}
        assert {st for st, _ in installed.values()} == {"fresh"}, installed
    finally:
        pip("uninstall", "-y", "-q", "nb2pipe-keys-check", cwd=tmp_path)


def test_sources_are_sampled_listed_and_read_from_a_data_root(sales, tmp_path):
    """Export lists the sources and ships their first rows as test fixtures; `run --data-root`
    reads the sources there, not the copy the package carries."""
    assert nb2pipe("run", "analysis.ipynb", cwd=sales)[0] == 0
    out = tmp_path / "pkg"
    code, text, err = nb2pipe("export", "analysis.ipynb", "-o", str(out), cwd=sales)
    assert code == 0, err
    assert ("  data/sales.csv (step load): a snapshot is copied into the package (read unless --data-root"
            " is given); tests: tests/fixtures/data/sales.csv (the first 1000 rows, ") in text
    lines = (sales / "data" / "sales.csv").read_text().splitlines(keepends=True)
    assert (out / "tests" / "fixtures" / "data" / "sales.csv").read_text() == "".join(lines[:1001])
    man = json.loads((out / "analysis" / "manifest.json").read_text())
    assert man["sources"][0]["path"] == "data/sales.csv" and man["sources"][0]["sample"]["rows"] == 1000
    root = tmp_path / "prod-data"
    (root / "data").mkdir(parents=True)
    (root / "data" / "sales.csv").write_text("".join(lines[:101]))
    env = {**os.environ, "PYTHONPATH": str(out)}

    def package(*args):
        p = subprocess.run([sys.executable, "-m", "analysis", *args, "--json"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr
        return p.stdout

    lab = str(sales / ".nb2pipe")
    load = json.loads(package("status", "--data-root", str(root), "--store", lab))[0]
    assert (load["state"], load["reasons"]) == ("stale", ["source `data/sales.csv` changed"])
    # the same from the environment's data_root in nb2pipe.toml (where the package is run)
    (tmp_path / "nb2pipe.toml").write_text('[envs.prod]\nstore = "prod-store"\ndata_root = "prod-data"\n')
    package("run", "--env", "prod", "--only", "load")
    load = json.loads(package("status", "--env", "prod"))[0]
    assert (load["state"], load["summaries"]["raw"]["rows"]) == ("fresh", 100)


def test_files_the_steps_write_are_made_by_the_package_not_shipped(tmp_path):
    """A file a step writes is made when the package runs that step; only the file no step
    writes is a source (sampled, listed). A file a plain cell writes and a step reads is named
    at the end of export. The packages the outputs are made of are pinned though no step
    imports them (a local helper returns pandas frames inside a dict)."""
    (tmp_path / "helper.py").write_text("import pandas as pd\n\n\ndef make():\n"
                                        "    return pd.DataFrame({'a': [1, 2, 3]})\n")
    (tmp_path / "notes.txt").write_text("left by the plain cell\n")     # as after a session
    write_nb(tmp_path / "nb.ipynb", [
        "%%step make\nfrom helper import make\nd = {'frame': make()}\nvalues = [1, 2, 3]",
        "%%step save\nimport json\nwith open('values.json', 'w') as f:\n    json.dump(values, f)",
        "%%step load\nimport json\nwith open('values.json') as f:\n    back = json.load(f)",
        "with open('notes.txt', 'w') as f:\n    f.write('left by the plain cell\\n')",
        "%%step notes\nnote = open('notes.txt').read()",
    ], kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"})
    code, _, err = nb2pipe("run", "nb.ipynb", cwd=tmp_path)
    assert code == 0, err
    out = tmp_path / "pkg"
    code, text, err = nb2pipe("export", "nb.ipynb", "-o", str(out), cwd=tmp_path)
    assert code == 0, err
    man = json.loads((out / "nb" / "manifest.json").read_text())
    assert [s["path"] for s in man["sources"]] == ["notes.txt"]
    assert not (out / "tests" / "fixtures" / "values.json").exists()
    assert ["save", "load", "file:values.json"] in man["edges"]
    assert ("note: `notes.txt`, read by step `notes`, is written by cell 4 (id c3), which is not a step:"
            " production does not run it") in text
    pyproject = (out / "pyproject.toml").read_text()
    assert "pandas==" in pyproject
    # pandas' optional dependencies this environment has come too: a step may use one through
    # pandas with no import of its own (interpolate(method="cubic") needs scipy)
    assert "scipy==" in pyproject
    # the package makes values.json itself: a fresh store, no values.json anywhere
    code, report, err = nb2pipe("run", str(out / "nb"), "--store", str(tmp_path / "fresh"), "--json",
                                cwd=tmp_path)
    assert code == 0, err
    assert {s["step"]: s["status"] for s in json.loads(report)["steps"]}["load"] == "ran"


def test_the_matplotlib_magic_pins_matplotlib(tmp_path):
    """`%matplotlib inline` in a setup cell imports matplotlib in the kernel: the package needs it
    though no cell imports it (rasbt-ch04-preprocessing's package failed without it)."""
    write_nb(tmp_path / "nb.ipynb", ["%%setup\n%matplotlib inline", "%%step one\nx = 1"],
             kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"})
    code, _, err = nb2pipe("export", "nb.ipynb", "-o", str(tmp_path / "pkg"), cwd=tmp_path)
    assert code == 0, err
    assert "matplotlib==" in (tmp_path / "pkg" / "pyproject.toml").read_text()


def test_a_session_s_fresh_results_give_the_contracts(sales, tmp_path):
    """Results a lab session stored (its last-run records under another pipeline name) count:
    export takes each fresh step's result by its key, so the contracts and the packages its
    outputs need are there (a corpus export from a session had none)."""
    import shutil
    assert nb2pipe("run", "analysis.ipynb", cwd=sales)[0] == 0
    shutil.rmtree(sales / ".nb2pipe" / "steps")     # as if another process (a kernel) ran them
    out = tmp_path / "pkg"
    assert nb2pipe("export", "analysis.ipynb", "-o", str(out), cwd=sales)[0] == 0
    man = json.loads((out / "analysis" / "manifest.json").read_text())
    assert ["revenue", "double"] in man["contracts"]["clean"]["orders"]["schema"]
