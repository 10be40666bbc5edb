"""The sidebar's *Check* button: a `check` request on the `nb2pipe` comm runs the sample check
of the notebook as last saved in the kernel (as `%dag check --sample`) and answers with the
breaks as data (real kernels, a real CSV)."""
import os

from kernelharness import Kernel
from sampleproject import broken_after_a_real_run

CELLS = [
    "%load_ext nb2pipe\n%nb2pipe pipeline flow.ipynb",
    "%%setup\nimport pandas as pd",
    "%%step load\nraw = pd.read_csv('data/people.csv')",
    "%%step clean\ndf = raw[raw.amount >= 0].copy()\n\ndf['older'] = df.age + 1",
    "%%step features\nX = df[['age', 'older']]",
    "%%step const\nk = 3",
]


def _project(tmp_path):
    broken_after_a_real_run(tmp_path, CELLS)


def _answers(k, request):
    k.comm_send(request)
    msgs = k.comm_messages(timeout=8)
    return [m for m in msgs if m.get("type") in ("check", "reply")]


def test_check_request_answers_with_every_break_its_maker_and_line(tmp_path):
    _project(tmp_path)
    k = Kernel(str(tmp_path))
    try:
        k.ok(CELLS[0])
        k.comm_open()
        k.comm_messages(timeout=1)
        check, reply = _answers(k, {"type": "check", "id": "c1", "rows": 50})
        assert (reply["id"], reply["request"], reply["ok"]) == ("c1", "check", True)
        assert (check["ok"], check["rows"]) == (False, 50)
        assert check["sampled"] == {"data/people.csv": 50}
        by_step = {(b["step"], b["output"], b["column"]): b for b in check["breaks"]}
        assert set(by_step) == {("load", "raw", "age"), ("clean", "df", "age"), ("clean", "df", "older"),
                                ("features", "X", "age"), ("features", "X", "older")}
        older = by_step[("features", "X", "older")]
        assert (older["expected"], older["got"], older["made_by"], older["line"]) == ("int64", "double", "clean", 4)
        age = by_step[("features", "X", "age")]
        assert (age["expected"], age["got"], age["made_by"], age["line"]) == ("int64", "double", "load", 2)
        assert age["message"] == ("step `features` output `X` column `age`: double, the contract says int64"
                                  " (made by step `load`, line 2)")
        assert list(check["unsampled_steps"]) == ["const"]
        assert set(check["durations"]) == {"load", "clean", "features", "const"}
        assert (check["failed"], check["skipped"], check["not_checked"]) == ({}, {}, {})
        assert "  ✗ " + age["message"] in check["report"].splitlines()
        assert check["wall"] > 0

        # the same code path as the magic: its report lists the same breaks
        printed = k.ok("%dag check --sample 50").stdout.splitlines()
        assert [ln for ln in printed if ln.startswith("  ✗")] == [
            ln for ln in check["report"].splitlines() if ln.startswith("  ✗")]
    finally:
        k.shutdown()
    assert sorted(os.listdir(tmp_path / ".nb2pipe" / "sample")) == ["cuts", "store", "tree"]


def test_check_request_that_cannot_run_is_a_reply_with_the_reason(tmp_path):
    _project(tmp_path)
    k = Kernel(str(tmp_path))
    try:
        k.ok("%load_ext nb2pipe")
        k.comm_open()
        k.comm_messages(timeout=1)
        [reply] = _answers(k, {"type": "check", "id": "c2"})
        assert (reply["request"], reply["ok"]) == ("check", False)
        assert reply["message"].startswith("this kernel does not know its notebook's file")
        k.ok("%nb2pipe pipeline flow.ipynb")
        [reply] = _answers(k, {"type": "check", "id": "c3", "rows": 0})
        assert reply["ok"] is False
        assert reply["message"].startswith("--sample takes a number of rows of 1 or more (got 0)")
    finally:
        k.shutdown()
