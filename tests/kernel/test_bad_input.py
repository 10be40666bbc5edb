"""Bad input in a real kernel: a clear error, the kernel keeps working, and every
earlier cached result survives."""
import os
import signal
import time

import pytest

from test_notebook_flow import CELLS, STEP_CLEAN, run_all


def fresh_everywhere(k):
    r = k.ok("print(sorted({s.step: s.state for s in get_ipython()._nb2pipe_session.engine.status()"
             " if s.step in ('load', 'clean', 'summary')}.items()))")
    return r.stdout.strip() == "[('clean', 'fresh'), ('load', 'fresh'), ('summary', 'fresh')]"


BAD = [
    ("read before any step writes it", ["%%step a\nx = later + 1"],
     ["step `a` reads `later`, which no step above it writes"]),
    ("invalid name", ["%%step ../evil\nx = 1"], ["invalid step name '../evil'", "no path separators"]),
    ("unknown --in", ["%%step s --in rwa --out q\nq = rwa"], ["reads `rwa`", "did you mean `raw`"]),
    ("python syntax", ["%%step s\nq = (1,\n"], ["syntax error", "cell [", "line 2"]),
    ("generator output", ["%%step s --out g\ng = (i for i in range(3))"],
     ["output `g` of step `s`", "cannot be stored"]),
    ("open file output", ["%%step s --out fh\nfh = open('data/sales.csv')"],
     ["output `fh` of step `s`", "cannot be stored"]),
    ("exploration name", ["limit = 3", "%%step s\nq = df[df.amount > limit]"],
     ["reads `limit`", "defined only in cell [", "limit = 3", "%%params"]),
    ("undeclared input", ["%%step s --in raw --out q\nq = df"],
     ["reads `df` (output of step `clean`) but --in lists only raw"]),
    ("unknown option", ["%%step s --inn raw\nq = raw"], ["did you mean --in"]),
    ("user exception", ["%%step s\nq = df['no_such_column']"], ["step `s` failed: KeyError", "line 2"]),
    ("unknown %dag command", ["%dag stauts"], ["unknown %dag command 'stauts' (did you mean `status`?)"]),
    ("%dag option without its value", ["%dag show --format"],
     ["UsageError: %dag show: argument --format: expected one argument",
      "usage: %dag show [--format {svg,mermaid,dot}] [--direction {TB,LR}]"]),
    ("%nb2pipe value not JSON", ["%nb2pipe params {n_rows: 5}"],
     ["UsageError: %nb2pipe params: the value is not JSON", 'e.g. %nb2pipe params {"n_rows": 5}']),
]


@pytest.mark.parametrize("label, cells, fragments", BAD, ids=[b[0] for b in BAD])
def test_bad_input(kernel, label, cells, fragments):
    run_all(kernel)
    *setup_cells, bad = cells
    for c in setup_cells:
        kernel.run(c)
    r = kernel.fails(bad)
    shown = r.error_text + r.stderr       # IPython prints a UsageError to stderr, without frames
    for f in fragments:
        assert f in shown, shown
    assert "Traceback (most recent call last)" not in shown  # our message, not our frames
    assert "nb2pipe/engine.py" not in shown
    assert fresh_everywhere(kernel)
    assert "cached" in kernel.ok(STEP_CLEAN, cell_id="c4").stdout


def test_running_a_step_before_its_upstream(kernel):
    kernel.ok(CELLS[0])
    kernel.ok(CELLS[1])
    r = kernel.fails(STEP_CLEAN)
    assert "step `clean` reads `raw`, which no step above it writes" in r.error_text
    assert "run the cell of the step that writes it first" in r.error_text


def test_interrupt_mid_step_leaves_no_partial_entry(kernel):
    run_all(kernel)
    kernel.kc.execute("%%step slow --in df --out z\nimport time\nz = 1\ntime.sleep(30)")
    time.sleep(1.5)
    kernel.km.interrupt_kernel()
    deadline = time.time() + 30
    reply = kernel.kc.get_shell_msg(timeout=30)
    while reply["msg_type"] != "execute_reply" and time.time() < deadline:
        reply = kernel.kc.get_shell_msg(timeout=30)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    r = kernel.ok("e = get_ipython()._nb2pipe_session.engine\n"
                  "print(e.store.get_last('slow'), e.plan()['slow'].state)")
    assert r.stdout.split() == ["None", "failed"]
    assert fresh_everywhere(kernel)


def test_kill_9_mid_step_keeps_the_store_consistent(project):
    from kernelharness import Kernel
    k = Kernel(str(project))
    try:
        run_all(k)
        k.kc.execute("%%step big --in df --out arr\nimport numpy as np, time\n"
                     "arr = np.ones(5_000_000)\ntime.sleep(30)")
        time.sleep(2)
        os.kill(k.km.provisioner.pid, signal.SIGKILL)
        time.sleep(0.5)
    finally:
        k.shutdown()
    k2 = Kernel(str(project))
    try:
        again = run_all(k2)
        assert all("cached" in r.stdout for r in again[3:])
        r = k2.ok("%%step big --in df --out arr\nimport numpy as np\narr = np.ones(10)")
        assert "big  ran in" in r.stdout
    finally:
        k2.shutdown()
    store = project / ".nb2pipe"
    # killed while the step computes, before any write (a kill during one: test_torn_write)
    assert [f for f in os.listdir(store / "tmp") if not f.startswith("corrupt")] == []
