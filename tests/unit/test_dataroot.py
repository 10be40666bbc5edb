"""nb2pipe.dataroot: the run folder of an exported package on a data root."""
import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from nb2pipe import dataroot
from nb2pipe.errors import Nb2pipeError


def package(tmp_path):
    pkg = tmp_path / "site" / "mypipe"
    (pkg / "data").mkdir(parents=True)
    (pkg / "manifest.json").write_text(json.dumps({"version": "1.0", "sources": [{"path": "data/x.csv"}]}))
    (pkg / "pipeline.ipynb").write_text("{}")
    (pkg / "data" / "x.csv").write_text("a\n1\n")          # the copy the package carries
    root = tmp_path / "prod"
    (root / "data").mkdir(parents=True)
    (root / "data" / "x.csv").write_text("a\n2\n")
    return pkg, root


def test_concurrent_runs_share_one_run_folder_reading_the_data_root(tmp_path):
    pkg, root = package(tmp_path)
    with ThreadPoolExecutor(8) as pool:
        runs = set(pool.map(lambda _: dataroot.prepare(str(pkg), str(root), str(tmp_path / "work")), range(16)))
    (run,) = runs
    assert open(os.path.join(run, "data", "x.csv")).read() == "a\n2\n"
    assert sorted(os.listdir(run)) == ["data", "manifest.json", "pipeline.ipynb"]
    assert os.listdir(tmp_path / "work" / dataroot.RUN_DIR) == [os.path.basename(run)]   # no .tmp left


def test_target_for_reads_the_option_then_the_variable(tmp_path):
    pkg, root = package(tmp_path)
    target, rest = dataroot.target_for(str(pkg), ["--only", "load", f"--data-root={root}"], str(tmp_path), {})
    assert rest == ["--only", "load"] and open(os.path.join(target, "data", "x.csv")).read() == "a\n2\n"
    target, rest = dataroot.target_for(str(pkg), ["--dry-run"], str(tmp_path), {"NB2PIPE_DATA_ROOT": str(root)})
    assert target != str(pkg) and rest == ["--dry-run"]
    assert dataroot.target_for(str(pkg), ["--dry-run"], str(tmp_path), {}) == (str(pkg), ["--dry-run"])
    (root / "data" / "x.csv").unlink()
    with pytest.raises(Nb2pipeError, match="lacks 1 source file"):
        dataroot.target_for(str(pkg), ["--data-root", str(root)], str(tmp_path / "w2"), {})
