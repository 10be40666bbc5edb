"""`nb2pipe run --watch` keeps one warm kernel; `nb2pipe run` leaves no kernel behind.
Real kernels: each step appends "STEP PID" (the kernel's pid) to log.txt."""
import json
import os
import signal
import subprocess
import sys
import time

from nbfiles import gone, nb2pipe, write_nb

SETUP = "%%setup\nimport os\ndef mark(step):\n    open('log.txt', 'a').write(f'{step} {os.getpid()}\\n')"
CELLS = ["%load_ext nb2pipe", SETUP,
         "%%step a --out x\nmark('a')\nx = 1",
         "%%step b --out y\nmark('b')\ny = x + 1",
         "%%step c --out z\nmark('c')\nz = y + 1"]
# Ctrl-C as from a terminal (see test_environments.test_watch_reruns_when_a_file_arrives)
CTRL_C = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
          " sys.argv = ['nb2pipe'] + sys.argv[1:]; runpy.run_module('nb2pipe', run_name='__main__')")


def log(tmp_path) -> list[tuple[str, int]]:
    text = (tmp_path / "log.txt").read_text() if (tmp_path / "log.txt").exists() else ""
    return [(s, int(p)) for s, p in (ln.split() for ln in text.splitlines())]


def edit(path, index, source):
    """Change one cell as an editor saves: a temporary file renamed into place."""
    nb = json.loads(path.read_text())
    nb["cells"][index]["source"] = source
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(nb))
    os.replace(tmp, path)


class Watcher:
    def __init__(self, tmp_path, nb):
        self.proc = subprocess.Popen([sys.executable, "-c", CTRL_C, "run", nb.name, "--watch"], cwd=tmp_path,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []

    def wait_for(self, text, timeout=180) -> list[str]:
        """Lines up to and including the next one holding ``text``."""
        start, deadline = len(self.lines), time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            self.lines.append(line)
            if text in line:
                return self.lines[start:]
            if not line and self.proc.poll() is not None:
                break
        raise AssertionError(f"never saw {text!r}: {''.join(self.lines)}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=60)
        self.lines.append(rest)
        return self.proc.returncode


def test_watch_keeps_one_warm_kernel(tmp_path):
    nb = write_nb(tmp_path / "w.ipynb", CELLS)
    w = Watcher(tmp_path, nb)
    try:
        w.wait_for("waiting for changes")
        first = log(tmp_path)
        assert [s for s, _ in first] == ["a", "b", "c"], w.lines
        pid = first[0][1]
        assert {p for _, p in first} == {pid}

        # an edit: only the stale steps re-run, in the same kernel
        edit(nb, 3, "%%step b --out y\nmark('b')\ny = x + 2")
        w.wait_for("changed: w.ipynb")
        run = w.wait_for("waiting for changes")
        assert log(tmp_path)[3:] == [("b", pid), ("c", pid)], w.lines
        assert not any("kernel" in ln for ln in run), run      # no kernel started, none replaced

        # a step inserted between a and b: it alone runs, in the same kernel, in notebook order
        nb_now = json.loads(nb.read_text())
        nb_now["cells"].insert(3, {"cell_type": "code", "id": "n", "metadata": {}, "outputs": [],
                                   "execution_count": None, "source": "%%step n --out w\nmark('n')\nw = x * 10"})
        tmp = nb.with_name(".w.tmp")
        tmp.write_text(json.dumps(nb_now))
        os.replace(tmp, nb)
        w.wait_for("changed: w.ipynb")
        run = w.wait_for("waiting for changes")
        assert log(tmp_path)[5:] == [("n", pid)], w.lines

        # a changed %%setup starts a fresh kernel; its steps (they call mark) run there
        edit(nb, 1, SETUP.replace("{step} {os.getpid()}", "{step} {os.getpid()} "))
        w.wait_for("changed: w.ipynb")
        run = w.wait_for("waiting for changes")
        assert "`%%setup` changed: starting a fresh kernel\n" in run, run
        after_setup = log(tmp_path)[6:]
        assert [s for s, _ in after_setup] == ["a", "n", "b", "c"], w.lines
        pid2 = after_setup[0][1]
        assert pid2 != pid and {p for _, p in after_setup} == {pid2}
        assert gone(pid), f"the replaced kernel {pid} is still running"

        # a killed kernel is replaced, said in one line, and the stale step runs in the new one
        os.kill(pid2, signal.SIGKILL)
        edit(nb, 5, "%%step c --out z\nmark('c')\nz = y + 5")
        w.wait_for("changed: w.ipynb")
        run = w.wait_for("waiting for changes")
        said = [ln for ln in run if str(pid2) in ln]
        assert said == [f"the kernel (pid {pid2}) has exited; starting a fresh one\n"], run
        (step, pid3), = log(tmp_path)[10:]
        assert step == "c" and pid3 not in (pid, pid2)
        assert w.stop() == 0
    finally:
        if w.proc.poll() is None:
            w.proc.kill()
    out = "".join(w.lines)
    assert "stopped watching" in out and "Traceback" not in out, out
    assert gone(pid3), f"kernel {pid3} outlived the watcher"


def test_a_run_leaves_no_kernel_behind(tmp_path):
    """The run does not wait for its kernel's shutdown, but the kernel does not outlive it."""
    nb = write_nb(tmp_path / "w.ipynb", CELLS)
    code, out, err = nb2pipe("run", nb.name, "--json", cwd=tmp_path)
    assert code == 0, err
    assert [s["status"] for s in json.loads(out)["steps"]] == ["ran"] * 3
    pids = {p for _, p in log(tmp_path)}
    assert len(pids) == 1
    pid = pids.pop()
    assert gone(pid), f"kernel {pid} is still running after `nb2pipe run` exited"
