"""A sample check on the Dask executor finds what the local one finds: the same samples, breaks,
failures and skips, and a step knows it runs on a sample (a real LocalCluster on 127.0.0.1)."""
import shutil

import distributed  # noqa: F401 - a test dependency: missing fails, never skips

from nbfiles import nb2pipe
from sampleproject import broken_after_a_real_run

CELLS = [
    "%load_ext nb2pipe",
    "%%setup\nimport pandas as pd\nfrom nb2pipe import sampling",
    "%%step load\nraw = pd.read_csv('data/people.csv')",
    "%%step guard\nif not sampling.active():\n    assert len(raw) > 1000, 'needs the full data'\nn = len(raw)",
    "%%step clean\ndf = raw[raw.amount >= 0].copy()\ndf['older'] = df.age + 1",
    "%%step features\nX = df[['age', 'older']]",
    "%%step bad\nassert len(df) > 1000, 'fails on a sample'\ny = 1",
    "%%step after_bad\nz = y + 1",
    "%%step heavy --sample-skip\nbig = raw.age.sum()",
    "%%step const\nk = 3",
]


def _project(tmp_path):
    broken_after_a_real_run(tmp_path, CELLS)


def _result(check):
    return {"sampled": check.sampled, "breaks": [(str(b), o) for b, o in zip(check.breaks, check.made_by)],
            "failed": check.failed, "skipped": check.skipped, "not_checked": check.not_checked,
            "unsampled": list(check.unsampled_steps), "checked": sorted(check.durations), "ok": check.ok}


def test_a_sample_check_on_dask_finds_what_the_local_one_finds(tmp_path):
    from distributed import LocalCluster

    from nb2pipe import notebook, samplecheck
    from nb2pipe.runner import plan
    _project(tmp_path)
    nb = notebook.read(str(tmp_path / "flow.ipynb"))
    engine = plan.engine_for(nb, plan.project_store(nb, None, None), {})
    local = _result(samplecheck.run(nb, engine, rows=50))
    assert len(local["breaks"]) == 5
    assert list(local["failed"]) == ["bad"]
    assert local["failed"]["bad"].startswith("step `bad` failed: AssertionError: fails on a sample")
    assert local["skipped"] == {"after_bad": "upstream `bad` failed"}
    assert "guard" not in local["failed"]
    shown = _breaks_shown(tmp_path)
    shutil.rmtree(tmp_path / ".nb2pipe" / "sample")       # nothing reused: every step runs on Dask
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
                      dashboard_address="127.0.0.1:0") as cluster:
        check = samplecheck.run(nb, engine, rows=50, executor="dask", scheduler=cluster.scheduler_address)
        assert _result(check) == local
        shutil.rmtree(tmp_path / ".nb2pipe" / "sample")
        before = _tasks(cluster, "load")
        assert _breaks_shown(tmp_path, "--executor", "dask", "--scheduler", cluster.scheduler_address) == shown
        assert _tasks(cluster, "load") > before            # the command ran its steps there


def _tasks(cluster, step):
    """How many times the scheduler saw a task of ``step`` (counts kept per task prefix)."""
    prefix = cluster.scheduler.task_prefixes.get(f"nb2pipe-{step}")
    return sum(prefix.state_counts.values()) if prefix is not None else 0


def _breaks_shown(root, *extra):
    code, out, err = nb2pipe("check", "flow.ipynb", "--sample", "50", *extra, cwd=root)
    assert code == 1, out + err
    return [ln for ln in out.splitlines() if ln.startswith(("  ✗", "  -", "sampled"))]
