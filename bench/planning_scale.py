"""Headless planning at scale: `nb2pipe status` (no kernel) on generated notebooks of N
Python steps (a chain with random fan-in, 2 reads per step) and of N SQL steps, and the
import of nbformat + nbclient that every headless run pays, each against the obvious
alternative measured in the same run:

* status at N steps vs status at 10 steps (the slope per step, and whether it is linear);
* a no-op `nb2pipe run` at 1,000 Python steps and `nb2pipe check --schema` at 1,000 SQL steps
  (after one untimed full run of each), also for the ``--before`` tree;
* `import nbformat, nbclient` through nb2pipe's runner vs a plain import (same venv);
* in a kernel session of N steps (in-process, each round a child process): defining all
  steps, a cached cell run again, ``plan()``, the first ``plan()`` of a new session, and the
  first read of a stored 4M-row table (``get_arrow`` + a DuckDB query) vs a direct
  memory-mapped Arrow read of the same file.  ``--before DIR`` (a ``src`` folder of another
  checkout, e.g. from ``git archive REV src``) runs the same rounds against it, interleaved.

    .venv/bin/python bench/planning_scale.py [--quick] [--session-only | --status-only] [--before DIR]
                                            [--out bench/results-planning.json]

Rounds are interleaved; medians are reported; nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = os.path.join(ROOT, ".venv", "bin", "python")
if not os.path.exists(PY):
    PY = sys.executable


def _notebook(path: str, cells: list[str]) -> None:
    nb = {"nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": s, "outputs": [],
                     "execution_count": None} for i, s in enumerate(cells)]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(nb, f)


def python_steps(n: int) -> list[str]:
    rnd = random.Random(1)
    cells = ["%%setup\nimport math", "%%step s0\nx0 = 1"]
    for i in range(1, n):
        cells.append(f"%%step s{i}\nx{i} = " + " + ".join(f"x{rnd.randrange(i)}" for _ in range(2)))
    return cells


def sql_steps(n: int) -> list[str]:
    return ["%%step t0 --sql\nSELECT 1 AS a"] + [
        f"%%step t{i} --sql\nSELECT a + 1 AS a FROM t{i - 1}" for i in range(1, n)]


def timed(cmd: list[str], cwd: str, env: dict | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t


# ------------------------------------------------------------------ in a kernel session

def session_child(n: int) -> dict:
    """One round in this process (run as a child: nothing memoised from other rounds)."""
    import gc

    from nb2pipe.engine import Engine
    from nb2pipe.spec import parse_step_line
    from nb2pipe.store import Store
    rnd = random.Random(0)
    cells = []
    for i in range(n):
        ins = sorted({f"o{i - 1}"} | {f"o{j}" for j in rnd.sample(range(i), min(i, rnd.randint(0, 3)))}) if i else []
        cells.append((f"s{i}", f"o{i} = ({' + '.join(ins) or '0'} + 1) % 1000003"))
    tmp = tempfile.mkdtemp(prefix="nb2bench-session-")
    perf = time.perf_counter

    def session(validate: bool = True) -> "Engine":
        eng = Engine(Store(os.path.join(tmp, "store")), tmp, warn=lambda m: None, pipeline="nb.ipynb")
        for i, (line, code) in enumerate(cells):
            eng.define(parse_step_line(line), code, cell_id=f"c{i}", where=f"cell [{i + 1}]",
                       validate=validate)
        return eng
    t = perf()
    eng = session()
    out = {"define all": perf() - t}
    eng.run()
    line, code = cells[-1]
    hits, plans = [], []
    for k in range(15):                     # a cell run again: its prompt number moves
        t = perf()
        eng.define(parse_step_line(line), code, cell_id=f"c{n - 1}", where=f"cell [{n + k + 1}]")
        assert eng.run_cell(line).status == "cached"
        hits.append(perf() - t)
    for _ in range(7):
        t = perf()
        eng.plan()
        plans.append(perf() - t)
    out["cached cell"] = statistics.median(hits)
    out["plan in a session"] = statistics.median(plans)
    firsts, graphed, graphs = [], [], []
    for _ in range(3):
        fresh = session(validate=False)    # as headless planning defines them (quicker)
        gc.collect()
        t = perf()
        states = fresh.plan()               # builds the graph too
        firsts.append(perf() - t)
        assert all(s.state == "fresh" for s in states.values())
        # as both real paths plan: the graph built when the steps are defined (a kernel's
        # validated define extends it cell by cell; headless engine_for builds it to report
        # every problem at once), then the first plan reads the store
        fresh = session(validate=False)
        gc.collect()
        t = perf()
        fresh.defs.graph()
        graphs.append(perf() - t)
        t = perf()
        states = fresh.plan()
        graphed.append(perf() - t)
        assert all(s.state == "fresh" for s in states.values())
    out["first plan of a session"] = statistics.median(firsts)
    out["first plan of a session, graph built at definition"] = statistics.median(graphed)
    out["graph of a new session (1,000 steps)"] = statistics.median(graphs)
    # a restart, then Run All: every cell defined and run in order, each one cached (CPU time:
    # what the engine spends, beside the kernel's round trips)
    again = Engine(Store(os.path.join(tmp, "store")), tmp, warn=lambda m: None, pipeline="nb.ipynb")
    gc.collect()
    t = time.process_time()
    for i, (line, code) in enumerate(cells):
        again.define(parse_step_line(line), code, cell_id=f"c{i}", where=f"cell [{i + 1}]")
        assert again.run_cell(line).status == "cached"
    out["restart + Run All, CPU"] = time.process_time() - t
    out.update(_first_read(tmp))
    return out


def _first_read(tmp: str) -> dict:
    import duckdb
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from nb2pipe.store import Store
    df = pd.DataFrame(np.random.default_rng(0).random((4_000_000, 4)), columns=list("abcd"))
    ref = Store(os.path.join(tmp, "store")).put(df)
    path = os.path.join(tmp, "store", "objects", ref.oid[:2], ref.oid + ".arrow")
    con = duckdb.connect()
    query = "SELECT sum(a), avg(b) FROM t"

    def store_first():                       # a new Store: nothing verified in this process
        t = time.perf_counter()
        tbl = Store(os.path.join(tmp, "store")).get_arrow(ref)
        con.register("t", tbl)
        con.execute(query).fetchall()
        con.unregister("t")
        return time.perf_counter() - t

    def direct():
        t = time.perf_counter()
        with pa.memory_map(path, "r") as mm:
            tbl = pa.ipc.open_file(mm).read_all()
            con.register("t", tbl)
            con.execute(query).fetchall()
            con.unregister("t")
        return time.perf_counter() - t
    a, b = [], []
    for _ in range(7):
        a.append(store_first())
        b.append(direct())
    return {"first read into DuckDB": statistics.median(a), "direct Arrow read into DuckDB": statistics.median(b)}


def session_rounds(n: int, rounds: int, before: str | None, now: str | None = None) -> dict:
    trees = {"now": os.path.abspath(now or os.path.join(ROOT, "src"))}
    if before:
        trees["before"] = os.path.abspath(before)
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    for _ in range(rounds):
        for name, src in trees.items():     # interleaved: drift hits both alike
            env = {**os.environ, "PYTHONPATH": src}
            done = subprocess.run([PY, os.path.abspath(__file__), "--child-session", str(n)], env=env,
                                  check=True, capture_output=True, text=True)
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    now = med["now"]
    ratios = {"cached cell, ms": now["cached cell"] * 1000,
              "first read / direct Arrow read (into DuckDB)":
              now["first read into DuckDB"] / now["direct Arrow read into DuckDB"]}
    if before:
        ratios.update({f"{k}: now / before": now[k] / med["before"][k] for k in now})
    return {"steps": n, "rounds": rounds, "median_s": med, "all": runs, "ratios": ratios}


# measured for each src tree: a headless no-op at 1,000 steps, and the schema check
COMPARED = ("status, 1000 Python steps", "run (no-op), 1000 Python steps", "check --schema, 1000 SQL steps")


def _env(src: str) -> dict:
    """The environment a user has: bytecode caches written and used (a session that sets
    PYTHONDONTWRITEBYTECODE would otherwise time the compilation of every module)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": src}


def status_rounds(rounds: int, trees: dict[str, str]) -> dict:
    """``trees``: label -> src folder; the COMPARED cases are also timed for each of them.
    The no-op run and the schema check need results: one full run of each notebook first
    (not timed)."""
    sizes = [10, 100, 1000]
    tmp = tempfile.mkdtemp(prefix="nb2bench-plan-")
    cases = {}
    for n in sizes:
        _notebook(os.path.join(tmp, f"py{n}.ipynb"), python_steps(n))
        cases[f"status, {n} Python steps"] = [PY, "-m", "nb2pipe", "status", f"py{n}.ipynb"]
    _notebook(os.path.join(tmp, "sql200.ipynb"), sql_steps(200))
    _notebook(os.path.join(tmp, "sql1000.ipynb"), sql_steps(1000))
    cases["status, 200 SQL steps"] = [PY, "-m", "nb2pipe", "status", "sql200.ipynb"]
    cases["run (no-op), 1000 Python steps"] = [PY, "-m", "nb2pipe", "run", "py1000.ipynb"]
    cases["check --schema, 1000 SQL steps"] = [PY, "-m", "nb2pipe", "check", "sql1000.ipynb", "--schema"]
    cases["import nbformat+nbclient via nb2pipe"] = [
        PY, "-c", "from nb2pipe.runner.jupyter_imports import nbformat; nbformat()"]
    cases["import nbformat+nbclient, plain"] = [PY, "-c", "import nbformat, nbclient"]
    envs = {k: _env(trees["now"]) for k in cases}
    for nb in ("py1000.ipynb", "sql1000.ipynb"):     # results for the no-op and the check
        subprocess.run([PY, "-m", "nb2pipe", "run", nb], cwd=tmp, check=True, capture_output=True,
                       env=_env(trees["now"]))
    for label, src in trees.items():
        if label != "now":
            for case in COMPARED:
                k = f"{case} ({label})"
                cases[k] = cases[case]
                envs[k] = _env(src)
    for k in cases:                 # warm-up, not timed: bytecode caches, the OS's file cache
        subprocess.run(cases[k], cwd=tmp, capture_output=True, env=envs[k])
    times: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(rounds):
        order = list(cases)
        order = order[r % len(order):] + order[:r % len(order)]     # rotate: drift hits all alike
        for k in order:
            times[k].append(timed(cases[k], tmp, envs[k]))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["status, 10 Python steps"]
    slope = (med["status, 1000 Python steps"] - base) / 990
    return {
        "rounds": rounds, "median_s": med, "all_s": times,
        "ratios": {
            "status 1000 / status 10": med["status, 1000 Python steps"] / base,
            "status 100 / status 10": med["status, 100 Python steps"] / base,
            "per extra Python step, ms": slope * 1000,
            "per extra SQL step, ms": (med["status, 200 SQL steps"] - base) / 190 * 1000,
            "per step of a no-op run at 1000 steps, ms": med["run (no-op), 1000 Python steps"] / 1000 * 1000,
            "import via nb2pipe / plain import": med["import nbformat+nbclient via nb2pipe"]
            / med["import nbformat+nbclient, plain"],
            **{f"{case}: now / {label}": med[case] / med[f"{case} ({label})"]
               for label in trees if label != "now" for case in COMPARED},
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--session-only", action="store_true", help="only the kernel-session part")
    ap.add_argument("--status-only", action="store_true", help="only the headless part")
    ap.add_argument("--before", help="a src folder of another checkout, measured beside this one")
    ap.add_argument("--now", help="the src folder measured as now (default: this checkout's)")
    ap.add_argument("--steps", type=int, default=1000, help="steps of the kernel session")
    ap.add_argument("--child-session", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=os.path.join(HERE, "results-planning.json"))
    args = ap.parse_args()
    if args.child_session:
        print(json.dumps(session_child(args.child_session)))
        return
    rounds = 3 if args.quick else 5
    result = {}
    load_before = os.getloadavg()[0]
    if (args.session_only or args.status_only) and os.path.exists(args.out):   # keep the other part
        with open(args.out, encoding="utf-8") as f:
            result = json.load(f)
    trees = {"now": os.path.abspath(args.now or os.path.join(ROOT, "src"))}
    if args.before:
        trees["before"] = os.path.abspath(args.before)
    if not args.session_only:
        result["status"] = status_rounds(rounds, trees)
    if not args.status_only:
        result["session"] = session_rounds(args.steps, rounds, args.before, args.now)
    result["load"] = {"before": load_before, "after": os.getloadavg()[0]}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    for part in ("status", "session"):
        for k, v in result.get(part, {}).get("ratios", {}).items():
            print(f"{part}: {k:<60} {v:10.3f}")


if __name__ == "__main__":
    main()
