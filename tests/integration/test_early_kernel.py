"""A headless run whose notebook changed since its last complete run starts its kernel
before it plans (nb2pipe.runner.early), so the kernel boots while the engine is imported and
the plan made; a run of an unchanged notebook starts none; a kernel started ahead that turns
out not to be needed is stopped, and nothing of it is left."""
import contextlib
import io
import json
import os

import pytest

from nbfiles import gone, write_nb

from nb2pipe import cli
from nb2pipe.engine import Engine
from nb2pipe.runner.kernel import KernelSession

CELLS = ["%%setup\nimport math", "%%step a --out x\nx = [1, 2, 3]",
         "%%step b --in x --out y\ny = [math.sqrt(v) for v in x]"]


@pytest.fixture
def seen(monkeypatch):
    """What the run did, in order: 'spawn' (a kernel started), 'plan', 'stopped' (pid)."""
    log: list = []
    spawn, plan, stop_now = KernelSession.spawn, Engine.plan, KernelSession.stop_now

    def spy_spawn(self, *a, **k):
        log.append("spawn")
        return spawn(self, *a, **k)

    def spy_plan(self, *a, **k):
        log.append("plan")
        return plan(self, *a, **k)

    def spy_stop(self):
        log.append(("stopped", self.pid))
        return stop_now(self)
    monkeypatch.setattr(KernelSession, "spawn", spy_spawn)
    monkeypatch.setattr(Engine, "plan", spy_plan)
    monkeypatch.setattr(KernelSession, "stop_now", spy_stop)
    return log


def _run(nb, *extra) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["run", str(nb), "--json", *extra])
    return code, json.loads(out.getvalue()), err.getvalue()


def _statuses(rep: dict) -> dict:
    return {s["step"]: s["status"] for s in rep["steps"]}


def test_an_edited_notebook_starts_its_kernel_before_the_plan(tmp_path, seen):
    nb = write_nb(tmp_path / "p.ipynb", CELLS)
    code, rep, err = _run(nb)
    assert code == 0, err
    assert _statuses(rep) == {"a": "ran", "b": "ran"} and rep["kernel_started"]
    assert seen[:2] == ["spawn", "plan"], seen     # a first run: nothing known, started ahead

    seen.clear()
    code, rep, err = _run(nb)                      # unchanged: no kernel at all
    assert code == 0, err
    assert _statuses(rep) == {"a": "fresh", "b": "fresh"} and not rep["kernel_started"]
    assert "spawn" not in seen and "plan" in seen, seen

    write_nb(nb, [CELLS[0], CELLS[1], CELLS[2].replace("math.sqrt(v)", "v * v")])
    seen.clear()
    code, rep, err = _run(nb)
    assert code == 0, err
    assert _statuses(rep) == {"a": "fresh", "b": "ran"} and rep["kernel_started"]
    assert seen[:2] == ["spawn", "plan"], seen
    assert not any(isinstance(s, tuple) for s in seen), "the kernel started ahead was used"


def test_a_kernel_started_ahead_for_nothing_is_stopped(tmp_path, seen):
    nb = write_nb(tmp_path / "p.ipynb", CELLS)
    assert _run(nb)[0] == 0
    write_nb(nb, [CELLS[0], CELLS[1] + "   # a comment changes no step's key", CELLS[2]])
    seen.clear()
    code, rep, err = _run(nb)
    assert code == 0, err
    assert _statuses(rep) == {"a": "fresh", "b": "fresh"} and not rep["kernel_started"]
    assert seen[:2] == ["spawn", "plan"], seen
    stopped = [s for s in seen if isinstance(s, tuple)]
    assert len(stopped) == 1 and stopped[0][1] is not None, seen
    assert gone(stopped[0][1], within=60), "the kernel started ahead is still running"

    seen.clear()                                   # that run completed: the next one is a no-op
    assert _run(nb)[0] == 0 and "spawn" not in seen, seen


def test_a_failed_run_starts_the_next_one_ahead(tmp_path, seen):
    bad = "%%step b --in x --out y\ny = [1 / (v - 1) for v in x]"
    nb = write_nb(tmp_path / "p.ipynb", [CELLS[0], CELLS[1], bad])
    code, rep, _ = _run(nb)
    assert code == 1 and _statuses(rep) == {"a": "ran", "b": "failed"}
    seen.clear()
    code, rep, _ = _run(nb)                        # same notebook, still has work: started ahead
    assert code == 1 and _statuses(rep) == {"a": "fresh", "b": "failed"}
    assert seen[:2] == ["spawn", "plan"], seen


def test_a_plan_that_fails_stops_the_kernel_started_ahead(tmp_path, seen):
    nb = write_nb(tmp_path / "p.ipynb", [CELLS[0], "%%step a --in nowhere --out x\nx = nowhere"])
    code = cli.main(["run", str(nb), "--json"])
    assert code == 2
    assert seen[0] == "spawn", seen
    stopped = [s for s in seen if isinstance(s, tuple)]
    assert len(stopped) == 1 and gone(stopped[0][1], within=60), seen


def test_a_kernel_started_for_another_store_is_not_used(tmp_path, seen, monkeypatch):
    # the store found before planning and the one the run opens always agree (unit-tested);
    # were they to differ, the kernel given the other one is stopped and a new one started
    from nb2pipe.runner import early
    monkeypatch.setattr(early, "local_store_root", lambda args, nb: str(tmp_path / "not-the-store"))
    nb = write_nb(tmp_path / "p.ipynb", CELLS)
    code, rep, err = _run(nb, "--store", str(tmp_path / "store"))
    assert code == 0, err
    assert _statuses(rep) == {"a": "ran", "b": "ran"}
    stopped = [s for s in seen if isinstance(s, tuple)]
    assert seen.count("spawn") == 2 and len(stopped) == 1, seen
    assert gone(stopped[0][1], within=60)
    assert os.listdir(tmp_path / "store" / "entries") and not (tmp_path / "not-the-store").exists()
