"""`nb2pipe run/status/check/dag` on real notebooks, real kernels, real store."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from nbfiles import nb2pipe, write_nb  # noqa: F401 - other test modules import them from here

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "sales")


@pytest.fixture
def sales(tmp_path):
    dst = tmp_path / "sales"
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns(".nb2pipe", "__pycache__"))
    return dst


def test_run_twice_second_is_all_cached_without_kernel(sales):
    code, out, err = nb2pipe("run", "analysis.ipynb", "--json", cwd=sales)
    assert code == 0, err
    first = json.loads(out)
    assert [s["status"] for s in first["steps"]] == ["ran"] * 6 and first["kernel_started"]
    code, out, err = nb2pipe("run", "analysis.ipynb", "--json", cwd=sales)
    second = json.loads(out)
    assert code == 0 and not second["kernel_started"]
    assert [s["status"] for s in second["steps"]] == ["fresh"] * 6
    assert [s["key"] for s in second["steps"]] == [s["key"] for s in first["steps"]]


def test_lab_and_factory_share_keys(sales):
    from kernelharness import Kernel
    nb = json.loads((sales / "analysis.ipynb").read_text())
    k = Kernel(str(sales))
    try:
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            if cell["cell_type"] == "code" and not src.startswith("%dag") and "describe" not in src:
                k.ok(src, cell_id=cell["id"])
    finally:
        k.shutdown()
    code, out, err = nb2pipe("run", "analysis.ipynb", "--json", cwd=sales)
    assert code == 0, err
    rep = json.loads(out)
    assert not rep["kernel_started"] and {s["status"] for s in rep["steps"]} == {"fresh"}


def test_param_override_reruns_only_readers(sales):
    assert nb2pipe("run", "analysis.ipynb", cwd=sales)[0] == 0
    code, out, err = nb2pipe("run", "analysis.ipynb", "-p", "top_n=2", "--json", cwd=sales)
    assert code == 0, err
    st = {s["step"]: s["status"] for s in json.loads(out)["steps"]}
    assert st == {"load": "fresh", "clean": "fresh", "by_region": "fresh", "by_product": "fresh",
                  "report": "ran", "top_products": "ran"}


def test_dry_run_only_and_from(sales):
    code, out, _ = nb2pipe("run", "analysis.ipynb", "--dry-run", "--only", "by_region", cwd=sales)
    assert code == 0
    assert [ln.split()[1] for ln in out.splitlines()] == ["load", "clean", "by_region"]
    assert nb2pipe("run", "analysis.ipynb", cwd=sales)[0] == 0
    code, out, _ = nb2pipe("run", "analysis.ipynb", "--dry-run", "--from", "clean", "--force", cwd=sales)
    assert [ln.split()[1] for ln in out.splitlines() if ln.startswith("RUN")] == [
        "clean", "by_region", "by_product", "report", "top_products"]


def test_failing_step_skips_descendants_only(tmp_path):
    nb = write_nb(tmp_path / "p.ipynb", [
        "%load_ext nb2pipe",
        "%%step a --out x\nx = 1",
        "%%step bad --in x --out y\ny = x / 0",
        "%%step after_bad --in y --out z\nz = y + 1",
        "%%step other --in x --out w\nw = x * 2",
    ])
    code, out, err = nb2pipe("run", nb.name, "--json", cwd=tmp_path)
    assert code == 1
    st = {s["step"]: s for s in json.loads(out)["steps"]}
    assert st["a"]["status"] == "ran" and st["other"]["status"] == "ran"
    assert st["bad"]["status"] == "failed" and "ZeroDivisionError" in st["bad"]["error"]
    assert "y = x / 0" in st["bad"]["traceback"] and "line 2" in st["bad"]["error"]
    assert st["after_bad"]["status"] == "skipped"
    code, out, err = nb2pipe("status", nb.name, "--json", cwd=tmp_path)
    assert code == 0, err
    states = {s["step"]: s["state"] for s in json.loads(out)}
    assert states == {"a": "fresh", "other": "fresh", "bad": "never run", "after_bad": "never run"}, states


@pytest.mark.parametrize("content, args, fragment", [
    ("not json {", [], "is not valid JSON"),
    (json.dumps({"nbformat": 3, "cells": []}), [], "nbformat 3"),
    (None, [], "has no %%step cells"),
    ("sales", ["-p", "top_m=2"], "unknown parameter `top_m` (did you mean `top_n`?)"),
    ("sales", ["-p", "top_n=many"], "parameter `top_n` expects int"),
    ("sales", ["--only", "by_regoin"], "did you mean `by_region`"),
])
def test_bad_input_one_clear_message(tmp_path, sales, content, args, fragment):
    if content == "sales":
        target, cwd = "analysis.ipynb", sales
    else:
        cwd = tmp_path
        target = "bad.ipynb"
        if content is None:
            write_nb(tmp_path / target, ["x = 1"])
        else:
            (tmp_path / target).write_text(content)
    code, out, err = nb2pipe("run", target, *args, cwd=cwd)
    assert code == 2
    assert fragment in err and "Traceback" not in err


def test_exploration_name_is_named_with_its_cell(tmp_path):
    nb = write_nb(tmp_path / "p.ipynb", ["%load_ext nb2pipe", "limit = 3",
                                          "%%step s --out y\ny = limit + 1"])
    code, out, err = nb2pipe("check", nb.name, cwd=tmp_path)
    assert code == 2 and "reads `limit`" in err and "cell 2" in err


def test_missing_src_file(tmp_path):
    nb = write_nb(tmp_path / "p.ipynb", ["%load_ext nb2pipe", "%%step s --src data/none.csv --out y\ny = 1"])
    code, out, err = nb2pipe("status", nb.name, cwd=tmp_path)
    assert "--src data/none.csv of step `s` does not exist" in out + err


def test_dag_formats(sales):
    code, out, _ = nb2pipe("dag", "analysis.ipynb", "--format", "mermaid", cwd=sales)
    assert code == 0 and "load" in out and "-->" in out
    code, out, _ = nb2pipe("dag", "analysis.ipynb", "--format", "svg", cwd=sales)
    assert code == 0 and "<svg" in out and out.rstrip().endswith("</svg>") and ">by_region<" in out, out[-300:]


def test_secrets_never_reach_store_records_or_export(tmp_path):
    lab_secret, run_secret = "lab-s3cr3t-6f1d", "prod-s3cr3t-9a2c"
    nb = write_nb(tmp_path / "p.ipynb", [
        "%load_ext nb2pipe",
        f"%%params --secret token\ntoken = '{lab_secret}'\nrows = 3",
        "%%step use --out n\nn = len(token) + rows",
    ])
    code, out, err = nb2pipe("run", nb.name, "-p", f"token={run_secret}", "--json", cwd=tmp_path)
    assert code == 0, err
    code2, out2, err2 = nb2pipe("export", nb.name, "-o", str(tmp_path / "pkg"), cwd=tmp_path)
    assert code2 == 0, err2
    code3, out3, err3 = nb2pipe("log", nb.name, "--json", cwd=tmp_path)
    seen = out + err + out2 + err2 + out3 + err3
    for d, _, files in os.walk(tmp_path):
        for f in files:
            if f != "p.ipynb":   # the user's own notebook holds what the user typed
                seen += open(os.path.join(d, f), "rb").read().decode("latin-1")
    assert lab_secret not in seen and run_secret not in seen
    # the secret still reached the step
    assert json.loads(out)["steps"][0]["status"] == "ran"


def test_unknown_kernel(tmp_path):
    nb = write_nb(tmp_path / "p.ipynb", ["%load_ext nb2pipe", "%%step s --out y\ny = 1"])
    code, out, err = nb2pipe("run", nb.name, "--kernel", "no-such-kernel", cwd=tmp_path)
    assert code == 2 and "kernel `no-such-kernel` is not installed here" in err


def _children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_killed_run_leaves_store_consistent_and_next_run_resumes(tmp_path, sig):
    import signal
    import time
    nb = write_nb(tmp_path / "p.ipynb", [
        "%load_ext nb2pipe",
        "%%step first --out a\na = list(range(10))",
        "%%step slow --in a --out b\nimport time\ntime.sleep(60)\nb = a",
        "%%step last --in b --out c\nc = len(b)",
    ])
    proc = subprocess.Popen([sys.executable, "-m", "nb2pipe", "run", nb.name], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / ".nb2pipe" / "steps" / "p" / "first.json").exists():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.2)
    time.sleep(1.0)   # `slow` is running now
    kernels = _children(proc.pid)
    assert kernels, "the runner should have a kernel child"
    proc.send_signal(getattr(signal, sig))
    proc.wait(timeout=60)
    assert proc.returncode != 0
    err = proc.stderr.read()
    assert "Traceback" not in err          # nor the kernel's log of a reply on a closed socket
    if sig == "SIGTERM":
        assert err.strip().endswith("nb2pipe: interrupted; the store is consistent and the next run resumes")
    end = time.time() + 30
    while any(_alive(k) for k in kernels) and time.time() < end:
        time.sleep(0.2)
    assert not any(_alive(k) for k in kernels), "the kernel outlived its runner"
    code, out, err = nb2pipe("run", nb.name, "--dry-run", cwd=tmp_path)
    lines = {ln.split()[1]: ln.split()[0] for ln in out.splitlines()}
    assert lines == {"first": "skip", "slow": "RUN", "last": "RUN"}


def test_unterminated_print_keeps_the_per_step_report(tmp_path):
    # a step's output and the runner's events travel apart: a print without its newline
    # cannot swallow the report of this step or of the next
    nb = write_nb(tmp_path / "p.ipynb", [
        "%load_ext nb2pipe",
        "%%step talk --out x\nx = 1\nprint('x', end='')",
        "%%step after --in x --out y\ny = x + 1\nprint('y', end='')",
    ])
    code, out, err = nb2pipe("run", nb.name, "--json", cwd=tmp_path)
    assert code == 0, err
    steps = json.loads(out)["steps"]
    assert [(s["step"], s["status"]) for s in steps] == [("talk", "ran"), ("after", "ran")]
    assert all(len(s["key"]) > 8 for s in steps)
    code, out, err = nb2pipe("run", nb.name, "--force", cwd=tmp_path)
    assert code == 0, err
    lines = [ln.split()[:3] for ln in out.splitlines() if ln.startswith("[")]
    assert lines == [["[1/2]", "✓", "talk"], ["[2/2]", "✓", "after"]]


def test_steps_run_together_keep_their_own_outputs(tmp_path):
    # without time limits the stale steps run in one kernel cell: each step still gets what it
    # printed (a failed step's record keeps it), the progress lines come in run order
    nb = write_nb(tmp_path / "p.ipynb", [
        "%load_ext nb2pipe",
        "%%step a --out x\nprint('said by a')\nx = 1",
        "%%step bad --in x --out y\nprint('said by bad')\ny = x / 0",
        "%%step other --in x --out w\nprint('said by other')\nw = x * 2",
    ])
    code, out, err = nb2pipe("run", nb.name, cwd=tmp_path)
    assert code == 1
    lines = [ln.split()[:3] for ln in out.splitlines() if ln.startswith("[")]
    assert lines == [["[1/3]", "✓", "a"], ["[2/3]", "✗", "bad"], ["[3/3]", "✓", "other"]], out
    run_id = out.split("run ")[-1].split(":")[0]
    shown = {}
    for step in ("bad", "other"):
        code, shown[step], err = nb2pipe("log", run_id, "--step", step, cwd=tmp_path)
        assert code == 0, err
    assert "said by bad" in shown["bad"] and "ZeroDivisionError" in shown["bad"]
    assert "said by a" not in shown["bad"] and "said by other" not in shown["bad"]
    assert "said by other" in shown["other"] and "said by bad" not in shown["other"]
