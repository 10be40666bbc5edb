"""Per-step bookkeeping of a headless run, in-process: an Engine on a temporary folder store
runs N tiny steps (each makes a 1,000-row frame), and the wall time beyond the steps' own
durations is split into the lease (claim + release), the result write (``Store.put``), the
entry and last-result writes (``put_entry`` / ``put_last``) and the rest, by timers wrapped
around those calls (cheap enough not to skew them, unlike a profiler).

    .venv/bin/python bench/bookkeeping.py [--steps 200] [--rounds 3] [--src DIR ...] [--warm] [--out FILE]

``--src`` runs the same rounds against other copies of ``src/`` (e.g. ``git archive`` of an
older commit), interleaved in rotating order, so a before/after pair shares the same load.
Medians over rounds (each round a fresh store); the load average is recorded alongside.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")

SETUP = "import numpy as np\nimport pandas as pd"
STEP = "d{i} = pd.DataFrame({{'a': np.arange(1000) + {i}, 'b': np.arange(1000) * 0.5}})"
# (label, module, attribute path) of the calls timed per step
PARTS = [("lease", "nb2pipe.leases", "claim"), ("lease", "nb2pipe.leases", "Lease.release"),
         ("result_write", "nb2pipe.store", "Store.put"),
         ("entry_write", "nb2pipe.metadata", "MetadataFiles.put_entry"),
         ("last_write", "nb2pipe.metadata", "MetadataFiles.put_last")]


def _timed(spent: dict, label: str, fn):
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent[label] += time.perf_counter() - t
    return wrapper


def _instrument(spent: dict) -> None:
    import importlib
    for label, mod, path in PARTS:
        owner = importlib.import_module(mod)
        *outer, name = path.split(".")
        for part in outer:
            owner = getattr(owner, part)
        setattr(owner, name, _timed(spent, label, getattr(owner, name)))


def one_round(n: int, warm: bool = False) -> dict:
    """In this process (its ``sys.path`` decides which nb2pipe): one run of ``n`` steps
    (``warm``: a second run of n other steps in the same store, its folders already made)."""
    from nb2pipe.engine import Engine
    from nb2pipe.spec import parse_step_line
    from nb2pipe.store import Store
    spent = {label: 0.0 for label, _, _ in PARTS}
    _instrument(spent)
    with tempfile.TemporaryDirectory(prefix="nb2bench-") as root:
        eng = Engine(Store(os.path.join(root, "store")), root, warn=lambda m: None)
        exec(SETUP, eng.setup_ns)
        for first in ([n, 0] if warm else [0]):
            for i in range(n):
                eng.define(parse_step_line(f"s{i}"), STEP.format(i=i + first))
            spent.update({k: 0.0 for k in spent})
            t, cpu = time.perf_counter(), time.process_time()
            outcomes = eng.run()
            wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    assert all(o.status == "ran" for o in outcomes), [o.status for o in outcomes]
    own = sum(o.duration or 0.0 for o in outcomes)
    out = {"per_step_ms": wall / n * 1000, "cpu_per_step_ms": cpu / n * 1000, "step_code_ms": own / n * 1000,
           "overhead_per_step_ms": (wall - own) / n * 1000}
    out.update({f"{k}_ms": v / n * 1000 for k, v in spent.items()})
    out["rest_ms"] = out["overhead_per_step_ms"] - sum(v / n * 1000 for v in spent.values())
    return out


def _child(src: str, n: int, warm: bool) -> dict:
    code = (f"import sys, json; sys.path.insert(0, {src!r}); sys.path.insert(0, {HERE!r});"
            f" import bookkeeping as b; print(json.dumps(b.one_round({n}, {warm})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(steps: int = 200, rounds: int = 3, srcs: list[str] | None = None, warm: bool = False) -> dict:
    srcs = [SRC] + list(srcs or [])
    load_before = os.getloadavg()[0]
    res: dict[str, list[dict]] = {s: [] for s in srcs}
    for r in range(rounds):
        for s in srcs[r % len(srcs):] + srcs[:r % len(srcs)]:      # rotating order
            res[s].append(_child(s, steps, warm))
    res = {("this" if s == SRC else s): rs for s, rs in res.items()}      # no path of this machine
    med = {s: {k: round(statistics.median(x[k] for x in rs), 3) for k in rs[0]} for s, rs in res.items()}
    this = med["this"]
    return {"steps": steps, "rounds": rounds, "warm": warm, "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "median": med, "all": res,
            "target": {"what": "overhead per step beyond the step's own time", "target": "< 5 ms",
                       "value_ms": this["overhead_per_step_ms"], "met": this["overhead_per_step_ms"] < 5.0}}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--src", nargs="*", default=[], help="other src/ folders to compare, interleaved")
    ap.add_argument("--warm", action="store_true", help="measure a second run in the same store")
    ap.add_argument("--out")
    a = ap.parse_args()
    text = json.dumps(run(a.steps, a.rounds, a.src, a.warm), indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)
