"""Time limits: a step's `%%step … --timeout` and the run's `--timeout` stop a step that
hangs and report it as timed out (a distinct failure), on the local kernel and on Dask.
The durations here are hang-guards, never measured."""
import json

import distributed  # noqa: F401 - a test dependency: missing fails, never skips

from nbfiles import nb2pipe, write_nb

HANG = "import time\ntime.sleep(600)\n"
# native code that ignores the interrupt, as a C extension can: the kernel is restarted
DEAF = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(600)\n"


def hanging(tmp_path, step_flags="--timeout 3s", stuck=True, body=HANG):
    return write_nb(tmp_path / "p.ipynb", [
        "%load_ext nb2pipe",
        "%%step root --out r\nr = 1",
        f"%%step slow {step_flags} --in r --out s\n{body}s = r + 1",
        "%%step after_slow --in s --out t\nt = s",
        "%%step other --in r --out o\no = r * 2",
    ] + ([f"%%step stuck --in o --out u\n{HANG}u = o"] if stuck else []))


def run(tmp_path, nb, *extra):
    # ResourceWarnings shown: an event loop left unclosed says so every time, not only when the
    # garbage collector happens to finalize it in the order that prints a traceback (seen in CI)
    code, out, err = nb2pipe("run", nb.name, "--json", *extra, cwd=tmp_path,
                             env={"PYTHONWARNINGS": "default::ResourceWarning"})
    assert out.strip().startswith("{"), err
    assert "Traceback" not in err        # a time limit is a report, not a leaked exception
    assert "unclosed event loop" not in err
    return code, {s["step"]: s for s in json.loads(out)["steps"]}


def test_step_and_run_timeouts_on_the_local_kernel(tmp_path):
    code, steps = run(tmp_path, hanging(tmp_path, body=DEAF), "--timeout", "60s")
    assert code == 1
    assert (steps["slow"]["status"], steps["slow"]["timed_out"]) == ("failed", True)
    assert steps["slow"]["error"] == "step `slow` timed out after 3s"
    assert steps["after_slow"]["status"] == "skipped"
    # the kernel did not answer the interrupt and was restarted: the independent step still ran
    assert steps["other"]["status"] == "ran"
    # the next one hangs with no limit of its own: the run's limit stops it
    assert (steps["stuck"]["status"], steps["stuck"]["timed_out"]) == ("failed", True)
    assert steps["stuck"]["error"] == "step `stuck` stopped: the run timed out after 1m (--timeout)"


def test_step_timeout_on_dask(tmp_path):
    code, steps = run(tmp_path, hanging(tmp_path, stuck=False), "--executor", "dask", "--workers", "1")
    assert code == 1
    assert (steps["slow"]["status"], steps["slow"]["timed_out"]) == ("failed", True)
    assert steps["slow"]["error"] == "step `slow` timed out after 3s"
    assert steps["after_slow"]["status"] == "skipped"
    assert steps["other"]["status"] == "ran"


def test_bad_timeout_is_one_clear_error(tmp_path):
    nb = hanging(tmp_path, step_flags="--timeout soon")
    code, out, err = nb2pipe("run", nb.name, cwd=tmp_path)
    assert code == 2
    assert "--timeout 'soon' is not a duration" in err
    assert "Traceback" not in err


def test_step_timeout_on_a_kernel_gateway(tmp_path):
    from test_remote import TOKEN, Gateway
    nb = hanging(tmp_path, stuck=False)
    gw = Gateway(tmp_path)
    try:
        code, steps = run(tmp_path, nb, "--gateway-url", gw.url, "--token", TOKEN)
    finally:
        gw.stop()
    assert code == 1
    assert (steps["slow"]["status"], steps["slow"]["timed_out"]) == ("failed", True)
    assert steps["slow"]["error"] == "step `slow` timed out after 3s"
    assert steps["other"]["status"] == "ran"
