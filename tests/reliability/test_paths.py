"""Nothing nb2pipe writes escapes the project unless the user says so; the store in use is
printed with where it came from (issue 11, item 7)."""
import json
import os

from nbfiles import nb2pipe, write_nb

TABLE = "import pandas as pd\nx = pd.DataFrame({'a': [1, 2]})"


def saving_to(project, target):
    project.mkdir(parents=True, exist_ok=True)
    write_nb(project / "nb.ipynb", ["%load_ext nb2pipe", f"%%step make --out x --save x={target}\n{TABLE}"])


def test_save_outside_the_project_is_refused(tmp_path):
    outside = tmp_path / "victim.parquet"
    for target in ("../victim.parquet", str(outside)):
        saving_to(tmp_path / "proj", target)
        code, out, err = nb2pipe("run", "nb.ipynb", cwd=tmp_path / "proj")
        assert code != 0
        assert "Traceback" not in err
        assert "outside the project folder" in out + err
        assert "allow_writes_outside = true" in out + err
        assert not outside.exists()


def test_save_outside_the_project_with_the_opt_in(tmp_path):
    saving_to(tmp_path / "proj", "../shared/x.parquet")
    (tmp_path / "proj" / "nb2pipe.toml").write_text("allow_writes_outside = true\n")
    code, out, err = nb2pipe("run", "nb.ipynb", cwd=tmp_path / "proj")
    assert code == 0, out + err
    assert (tmp_path / "shared" / "x.parquet").exists()


def test_export_never_writes_outside_the_output_folder(tmp_path):
    project = tmp_path / "w" / "p" / "proj"
    project.mkdir(parents=True)
    (tmp_path / "w" / "top.csv").write_text("a\n1\n")
    write_nb(project / "nb.ipynb", ["%load_ext nb2pipe",
                                    "%%step load --src ../../top.csv --out t\nimport pandas as pd\n"
                                    "t = pd.read_csv('../../top.csv')"])
    before = {p for p in tmp_path.rglob("*")}
    code, out, err = nb2pipe("export", "nb.ipynb", "-o", str(tmp_path / "out"), cwd=project)
    assert code == 0, out + err
    new = {p for p in tmp_path.rglob("*")} - before
    inside = (tmp_path / "out", project)
    assert [p for p in new if not any(d == p or d in p.parents for d in inside)] == []


def test_export_with_src_dot_carries_no_store(tmp_path):
    write_nb(tmp_path / "nb.ipynb", ["%load_ext nb2pipe", "%%step load --src . --out t\nt = [1, {2}]"])
    code, out, err = nb2pipe("run", "nb.ipynb", cwd=tmp_path)
    assert code == 0, out + err
    code, out, err = nb2pipe("export", "nb.ipynb", "-o", str(tmp_path / "build"), cwd=tmp_path)
    assert code == 0, out + err
    exported = [str(p.relative_to(tmp_path / "build")) for p in (tmp_path / "build").rglob("*")]
    assert [p for p in exported if ".nb2pipe" in p] == []


def test_a_config_above_the_git_root_does_not_move_the_store(tmp_path):
    (tmp_path / "nb2pipe.toml").write_text('store = "moved-store"\n')
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    write_nb(project / "nb.ipynb", ["%load_ext nb2pipe", "%%step make --out x\nx = 1"])
    code, out, err = nb2pipe("run", "nb.ipynb", cwd=project)
    assert code == 0, out + err
    assert (project / ".nb2pipe").is_dir()
    assert not (tmp_path / "moved-store").exists()
    assert f"store: {project / '.nb2pipe'} (from the default, beside the notebook)" in out


def test_status_and_run_print_the_store_and_where_it_came_from(tmp_path):
    (tmp_path / "nb2pipe.toml").write_text('store = "team-store"\n')
    write_nb(tmp_path / "nb.ipynb", ["%load_ext nb2pipe", "%%step make --out x\nx = 1"])
    line = f"store: {tmp_path / 'team-store'} (from {tmp_path / 'nb2pipe.toml'})"
    code, out, err = nb2pipe("run", "nb.ipynb", cwd=tmp_path)
    assert code == 0, out + err
    assert out.count(line) == 1
    code, out, err = nb2pipe("status", "nb.ipynb", cwd=tmp_path)
    assert out.count(line) == 1
    code, out, err = nb2pipe("status", "nb.ipynb", "--json", cwd=tmp_path)
    assert json.loads(out)[0]["step"] == "make"
    assert err.count(line) == 1
    code, out, err = nb2pipe("status", "nb.ipynb", "--store", str(tmp_path / "s2"), cwd=tmp_path)
    assert f"store: {tmp_path / 's2'} (from --store)" in out
    assert os.path.isdir(tmp_path / "s2")
