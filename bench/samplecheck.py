"""Checking before running (issue 14), measured against the run it saves:

* ``check --sample``: a chain of 40 pandas steps over a CSV of ROWS rows (default 2M; the
  issue's target is 10M: ``--rows 10000000``), each step a groupby-transform of the previous
  frame.  Full ``nb2pipe run`` vs ``nb2pipe check --sample 1000`` after a type break is
  injected at step 30 (its code casts a column to float; the median of three checks, each
  from no sample store): the check's wall time as a share of the full run's, and whether the
  break is named (step, output, column, both types).
* ``check --schema``: 1,000 chained SQL steps (run once in-process on 100 rows so each has a
  contract), then ``nb2pipe check --schema`` as a subprocess, and ``schemacheck.run`` alone;
  then step 500 is changed to make a column a double, and ``schemacheck.run`` again (it plans
  that step and every one below it, each a break).
* ``check --sample`` also once more after step 35 is edited (steps above it reuse their sample
  results).
* Where the check's seconds go: the steps' own durations (from the stores' last-run records)
  against the wall time of each command, and one more check run with timestamps at its phases
  (to the kernel's spawn, the kernel's boot, each definition cell, the cell of the steps, the
  rest, the process's exit).

    .venv/bin/python bench/samplecheck.py [--quick] [--rows N] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

from _common import PY, isolated_env, log, machine, timed, versions  # noqa: E402

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
BREAK_AT = 30


def write_nb(path: str, cells: list[str]) -> None:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": KERNEL,
          "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": s,
                     "outputs": [], "execution_count": None} for i, s in enumerate(cells)]}
    with open(path, "w") as f:
        json.dump(nb, f)


def chain_cells(steps: int, broken: bool) -> list[str]:
    cells = ["%load_ext nb2pipe", "%%setup\nimport pandas as pd",
             "%%step s00\nd00 = pd.read_csv('data/big.csv')"]
    for k in range(1, steps):
        prev, cur = f"d{k - 1:02d}", f"d{k:02d}"
        code = (f"{cur} = {prev}.assign(v={prev}.v + {prev}.groupby('g').v.transform('min') % 7)")
        if broken and k == BREAK_AT:
            code += f"\n{cur}['v'] = {cur}.v.astype(float)"
        cells.append(f"%%step s{k:02d}\n{code}")
    return cells


def write_csv(path: str, rows: int) -> None:
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(0)
    pd.DataFrame({"g": rng.integers(0, 1000, rows), "v": rng.integers(0, 100, rows)}).to_csv(path, index=False)


def _env(tmp: str) -> dict:
    """The isolated environment, with the nb2pipe beside this script first on the path (a
    git-archive copy measures its own code, not the editable install's)."""
    env = isolated_env(tmp)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(os.path.dirname(HERE), "src"), env["PYTHONPATH"]])
    return env


def bench_sample(tmp: str, rows: int, steps: int) -> dict:
    env = _env(tmp)
    proj = os.path.join(tmp, "chain")
    os.makedirs(os.path.join(proj, "data"))
    write_csv(os.path.join(proj, "data", "big.csv"), rows)
    nb = os.path.join(proj, "chain.ipynb")
    write_nb(nb, chain_cells(steps, broken=False))
    log(f"sample: full run of {steps} steps over {rows:,} rows")
    full, _ = timed([PY, "-m", "nb2pipe", "run", "chain.ipynb"], cwd=proj, env=env, timeout=7200)
    full_steps = _step_seconds(os.path.join(proj, ".nb2pipe"), nb, steps)
    # the full run leaves GBs of results to be written back: let that finish first, or the
    # checks' small writes queue behind it (a check is run before a full run, not right after)
    t = time.perf_counter()
    os.sync()
    synced = time.perf_counter() - t
    write_nb(nb, chain_cells(steps, broken=True))
    runs = []                   # the first check is cold (no sample store): three times, the median
    for _ in range(3):
        shutil.rmtree(os.path.join(proj, ".nb2pipe", "sample"), ignore_errors=True)
        runs.append(_check(proj, env))
    check, p = sorted(runs, key=lambda r: r[0])[1]
    want = f"step `s{BREAK_AT:02d}` output `d{BREAK_AT:02d}` column `v`: double, the contract says int64"
    found = [ln.strip() for ln in p.stdout.splitlines() if ln.strip().startswith("✗")]
    # the user fixes step 35 and checks again: the sample results above it are reused
    cells = chain_cells(steps, broken=True)
    cells[2 + 35] += "\nd35 = d35.copy()"
    write_nb(nb, cells)
    in_steps = _step_seconds(os.path.join(proj, ".nb2pipe", "sample", "store"), nb, steps)
    again, _ = _check(proj, env)
    shutil.rmtree(os.path.join(proj, ".nb2pipe", "sample"))
    return {"rows": rows, "steps": steps, "full_run_s": round(full, 2), "sync_after_full_run_s": round(synced, 2),
            "check_sample_s": round(check, 2),
            "check_sample_runs_s": [round(t, 2) for t, _ in runs],
            "check_share_of_full": round(check / full, 4), "exit_status": p.returncode,
            "break_named": any(want in ln for ln in found), "breaks_listed": len(found),
            "first_break": found[0] if found else None,
            "check_after_editing_step_35_s": round(again, 2),
            "that_share_of_full": round(again / full, 4),
            "full_run_steps_s": round(full_steps, 2), "full_run_rest_s": round(full - full_steps, 2),
            "check_steps_s": round(in_steps, 2), "check_rest_s": round(check - in_steps, 2),
            "check_rest_share_of_full": round((check - in_steps) / full, 4),
            "check_phases_s": _phases(proj, env)}


def _step_seconds(store_dir: str, nb: str, steps: int) -> float:
    """The steps' own durations, summed, from the last-run records of a store."""
    from nb2pipe import notebook
    from nb2pipe.store import Store
    pipeline, store = notebook.read(nb).pipeline, Store(store_dir)
    return sum((store.get_last(f"s{k:02d}", pipeline) or {}).get("duration", 0.0) for k in range(steps))


# one more `check --sample` (cold sample store) with timestamps: the runner's functions wrapped
PHASES = r"""
import json, sys, time
t0 = time.perf_counter(); marks = []
def mark(what): marks.append((what, time.perf_counter() - t0))
from nb2pipe import cli
from nb2pipe.runner import kernel
K = kernel.KernelSession
spawn, connect, run_cell = K.spawn, K.connect, K.run_cell
def spawn_(self): mark("start-up: to the kernel's spawn"); r = spawn(self); mark("the spawn"); return r
def connect_(self):
    r = connect(self); mark("the kernel's boot (meanwhile: planning, mirror, nbclient, contracts)"); return r
def run_cell_(self, source, **k):
    r = run_cell(self, source, **k); mark("cell " + source.split()[0][:24]); return r
K.spawn, K.connect, K.run_cell = spawn_, connect_, run_cell_
sys.argv = ["nb2pipe", "check", "chain.ipynb", "--sample", "1000"]
try:
    cli.main()
finally:
    mark("after the steps: judging, report")
    print(json.dumps(marks), file=sys.stderr)
"""


def _phases(proj: str, env: dict) -> dict:
    import subprocess
    shutil.rmtree(os.path.join(proj, ".nb2pipe", "sample"), ignore_errors=True)
    t = time.perf_counter()
    p = subprocess.run([PY, "-c", PHASES], cwd=proj, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t
    marks = json.loads(p.stderr.strip().splitlines()[-1])
    out, last = {}, 0.0
    for what, at in marks:             # each mark ends the phase it names
        out[what] = round(out.get(what, 0.0) + at - last, 3)
        last = at
    out["interpreter start-up and exit (wall less the marks)"] = round(wall - last, 3)
    return out


def _check(proj: str, env: dict):
    import subprocess
    t = time.perf_counter()
    p = subprocess.run([PY, "-m", "nb2pipe", "check", "chain.ipynb", "--sample", "1000"], cwd=proj,
                       env=env, capture_output=True, text=True, timeout=3600)
    return time.perf_counter() - t, p


def bench_schema(tmp: str, n: int) -> dict:
    from nb2pipe import notebook, schemacheck
    from nb2pipe.runner.plan import engine_for
    from nb2pipe.store import Store
    proj = os.path.join(tmp, "sql")
    os.makedirs(os.path.join(proj, "data"))
    with open(os.path.join(proj, "data", "small.csv"), "w") as f:
        f.write("id,v\n" + "\n".join(f"{i},{i % 7}" for i in range(100)) + "\n")
    cells = ["%load_ext nb2pipe", "%%step q0000 --sql\nSELECT * FROM read_csv('data/small.csv')"]
    cells += [f"%%step q{k:04d} --sql\nSELECT id, v + 1 AS v FROM q{k - 1:04d}" for k in range(1, n)]
    path = os.path.join(proj, "sql.ipynb")
    write_nb(path, cells)
    log(f"schema: running {n} SQL steps in-process to record their contracts")
    engine = engine_for(notebook.read(path), Store(os.path.join(proj, ".nb2pipe")))
    bad = [o for o in engine.run() if o.status != "ran"]
    assert not bad, bad[0].error
    t = time.perf_counter()
    fresh = engine_for(notebook.read(path), Store(os.path.join(proj, ".nb2pipe")))
    read = time.perf_counter() - t
    t = time.perf_counter()
    check = schemacheck.run(fresh)
    inproc = time.perf_counter() - t
    cli, out = timed([PY, "-m", "nb2pipe", "check", "sql.ipynb", "--schema"], cwd=proj, env=_env(tmp))
    # step n/2 now makes `v` a double: it and every step below are planned again, each a break
    half = n // 2
    cells[1 + half] = f"%%step q{half:04d} --sql\nSELECT id, v + 0.5 AS v FROM q{half - 1:04d}"
    write_nb(path, cells)
    changed = engine_for(notebook.read(path), Store(os.path.join(proj, ".nb2pipe")))
    t = time.perf_counter()
    broken = schemacheck.run(changed)
    half_s = time.perf_counter() - t
    return {"sql_steps": n, "planned": len(check.planned), "ok": check.ok,
            "read_notebook_s": round(read, 3), "schemacheck_run_s": round(inproc, 3),
            "cli_wall_s": round(cli, 3),
            "changed_at_half": {"breaks": len(broken.breaks), "schemacheck_run_s": round(half_s, 3)}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="200k rows, 300 SQL steps")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--only", choices=["sample", "schema"], help="one section")
    ap.add_argument("--out", default=os.path.join(HERE, "results-samplecheck.json"))
    a = ap.parse_args()
    rows = a.rows or (200_000 if a.quick else 2_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        res = {"machine": machine(), "versions": versions(), "load_before": os.getloadavg()[0],
               "targets": ["check --sample <= 5% of the full run (issue 14; 10M rows)",
                           "check --schema on 1,000 SQL steps < 2 s"]}
        if a.only in (None, "sample"):
            res["sample"] = bench_sample(tmp, rows, 40)
        if a.only in (None, "schema"):
            res["schema"] = bench_schema(tmp, 300 if a.quick else 1000)
        res["load_after"] = os.getloadavg()[0]
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps({k: v for k, v in res.items() if k not in ("machine", "versions")}, indent=1))


if __name__ == "__main__":
    main()
