"""The edit loop of ``nb2pipe run --watch`` (issue 16: "an edit re-runs in the stale steps' own
time + < 100 ms"), measured on the real code path: a WarmKernel and ``cli_run._run_once`` in
this process, a real kernel, a generated chain of pandas steps (:mod:`chains`' step code,
``--rows`` rows).  After one full run, the middle step is edited ``--edits`` times (the same
file and cell ids, only its source changed, each time to a new value, so its data change and
the N - N//2 steps from it are stale) and each edit's run is timed:

  run        the run's own wall time, as its JSON report gives it (``report.wall``)
  host_cpu   this process's CPU time during ``_run_once`` (``time.process_time``)
  kernel_cpu the kernel process's CPU time during it (``/proc/PID/stat``, 10 ms ticks)
  steps      the stale steps' own time, the sum of their reported durations
  overhead   run - steps
  after_run  ``WarmKernel.after_run`` (asked of the kernel after each run, before waiting)

    .venv/bin/python bench/watch_edit.py [--sizes 10 40] [--rows 100000] [--edits 7]
        [--src LABEL=DIR ...] [--rounds 2] [--profile host|kernel|parts] [--puts N] [--out FILE]

``--src`` compares other copies of ``src/`` (``git archive REV src``): each round runs one
child process per copy in rotating order (each child: a kernel, a full run, then the edits),
so a before/after pair shares the machine's load.  Medians over every edit of every round.
With two or more ``--sizes``, the run beyond the steps is fitted as fixed + per stale step
(``fit`` in the JSON), and with ``--profile parts`` the store's writes of a step's result
per stale step are set beside it.
``--profile parts`` times the kernel's per-step calls (``PARTS``) with wrappers it installs;
``--puts N`` times only ``Store.put`` of one frame of the chain's shape, N times per child.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
SETUP = "import numpy as np\nimport pandas as pd"


def step_body(i: int, rows: int, bump: float = 0.0) -> str:
    if i == 0:
        return f"d0 = pd.DataFrame({{'k': np.arange({rows}) % 97, 'v': np.arange({rows}, dtype='float64')}})"
    return (f"d{i} = d{i - 1}.assign(v=d{i - 1}['v'] * 1.001 + {i + bump})\n"
            f"d{i}['m'] = d{i}.groupby('k')['v'].transform('mean')")


def step_line(i: int) -> str:
    return f"%%step s{i} --out d{i}" if i == 0 else f"%%step s{i} --in d{i - 1} --out d{i}"


def write_chain(path: str, n: int, rows: int) -> None:
    cells = ["%load_ext nb2pipe", "%%setup\n" + SETUP] + [step_line(i) + "\n" + step_body(i, rows)
                                                         for i in range(n)]
    nb = {"cells": [{"cell_type": "code", "id": f"c{j}", "metadata": {}, "outputs": [],
                     "execution_count": None, "source": s} for j, s in enumerate(cells)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                       "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    with open(path, "w") as f:
        json.dump(nb, f)


def edit_mid(path: str, n: int, rows: int, bump: float) -> None:
    """One cell's source changed, as an editor saves it: a temporary file renamed into place."""
    with open(path) as f:
        nb = json.load(f)
    mid = n // 2
    cell = nb["cells"][2 + mid]
    assert cell["source"].startswith(step_line(mid) + "\n")
    cell["source"] = step_line(mid) + "\n" + step_body(mid, rows, bump)
    with open(path + ".tmp", "w") as f:
        json.dump(nb, f)
    os.replace(path + ".tmp", path)


def _kernel_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# timers the kernel wraps around its per-step calls (``--profile parts``): label, module, attribute
PARTS = [("run", "nb2pipe.engine", "Engine.run"), ("lookup", "nb2pipe.planner", "Planner.lookup"),
         ("code", "nb2pipe.executor", "Executor._run_code"), ("namespace", "nb2pipe.executor", "Executor._namespace"),
         ("put", "nb2pipe.store", "Store.put"), ("write_value", "nb2pipe.codecs", "write_value"),
         ("to_arrow", "nb2pipe.codecs", "to_arrow"), ("file_hash", "nb2pipe.store", "file_hash"),
         ("stamp_file", "nb2pipe.store", "Store._remember_verified"),
         ("put_entry", "nb2pipe.metadata", "MetadataFiles.put_entry"),
         ("put_last", "nb2pipe.metadata", "MetadataFiles.put_last"), ("token", "nb2pipe.inplace", "token"),
         ("emit", "nb2pipe.engine", "Engine._emit"), ("claim", "nb2pipe.leases", "claim")]
TIMERS = """
import importlib as _il, time as _t, json as _nb2j
_nb2parts = {}
def _nb2wrap(label, fn):
    def w(*a, **k):
        t = _t.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            _nb2parts[label] = _nb2parts.get(label, 0.0) + _t.perf_counter() - t
    return w
for _l, _m, _p in PARTS:
    _o = _il.import_module(_m)
    *_outer, _n = _p.split(".")
    for _x in _outer:
        _o = getattr(_o, _x)
    setattr(_o, _n, _nb2wrap(_l, getattr(_o, _n)))
"""


def child(n: int, rows: int, edits: int, profile: str | None, prof_out: str | None) -> dict:
    """In this process (its sys.path decides which nb2pipe): a watch session's edits."""
    from nb2pipe.cli import build_parser
    from nb2pipe.cli_run import _run_once
    from nb2pipe.runner.warm import WarmKernel
    d = tempfile.mkdtemp(prefix="nb2w-")
    nb = os.path.join(d, "chain.ipynb")
    write_chain(nb, n, rows)
    args = build_parser().parse_args(["run", nb, "--store", os.path.join(d, "store"), "--json", "--watch"])
    warm = WarmKernel(say=lambda line: None)
    out: list[dict] = []
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            assert _run_once(args, warm) == 0
        warm.after_run()
        import pyarrow  # noqa: F401 - as cli_watch does while idle
        prof = None
        if profile == "parts":
            warm.session.run_cell(f"PARTS = {PARTS!r}\n" + TIMERS, timeout=60)
        for e in range(edits + 1):          # the first edit warms up (first-time imports): not counted
            edit_mid(nb, n, rows, 0.5 + 0.01 * e)
            pid = warm.session.pid
            if profile == "kernel" and e == edits:
                warm.session.run_cell("import cProfile as _cp; _nb2prof = _cp.Profile(); _nb2prof.enable()", timeout=60)
            if profile == "host" and e == edits:
                import cProfile
                prof = cProfile.Profile()
                prof.enable()
            buf = io.StringIO()
            k0, c0, t0 = _kernel_cpu(pid), time.process_time(), time.perf_counter()
            with contextlib.redirect_stdout(buf):
                code = _run_once(args, warm)
            t1, c1, k1 = time.perf_counter(), time.process_time(), _kernel_cpu(pid)
            if prof is not None:
                prof.disable()
                prof.dump_stats(prof_out)
            if profile == "kernel" and e == edits:
                warm.session.run_cell(f"_nb2prof.disable(); _nb2prof.dump_stats({prof_out!r})", timeout=60)
            a0 = time.perf_counter()
            warm.after_run()
            a1 = time.perf_counter()
            parts = None
            if profile == "parts":
                cell = warm.session.run_cell("print(_nb2j.dumps(_nb2parts)); _nb2parts.clear()", timeout=60)
                parts = json.loads("".join(o.get("text", "") for o in cell.outputs).strip().splitlines()[-1])
                warm.session.forget_cells()
            rep = json.loads(buf.getvalue())
            ran = [s for s in rep["steps"] if s["status"] == "ran"]
            if code != 0 or len(ran) != n - n // 2:
                raise RuntimeError(f"edit {e}: {len(ran)} steps ran, expected {n - n // 2}: {rep}")
            steps = sum(s["duration"] for s in ran)
            if e:
                out.append({"run": rep["wall"], "outer": t1 - t0, "host_cpu": c1 - c0, "kernel_cpu": k1 - k0,
                            "steps": steps, "overhead": rep["wall"] - steps, "after_run": a1 - a0,
                            **({f"k_{k}": v for k, v in parts.items()} if parts else {})})
    finally:
        warm.close(wait=True)
        shutil.rmtree(d, ignore_errors=True)
    return {"edits": out}


def puts(rows: int, n: int) -> dict:
    """In this process: ``Store.put`` of ``n`` frames of the chain's shape (wall, CPU)."""
    import numpy as np
    import pandas as pd
    from nb2pipe.store import Store
    d = pd.DataFrame({"k": np.arange(rows) % 97, "v": np.arange(rows, dtype="float64")})
    d["m"] = d.groupby("k")["v"].transform("mean")
    root = tempfile.mkdtemp(prefix="nb2w-")
    store, out = Store(os.path.join(root, "store")), []
    for i in range(n):
        v = d.assign(v=d["v"] + i)
        t0, c0 = time.perf_counter(), time.process_time()
        store.put(v)
        out.append({"put": time.perf_counter() - t0, "put_cpu": time.process_time() - c0})
    shutil.rmtree(root, ignore_errors=True)
    return {"edits": out}


def fit(sizes: dict) -> dict:
    """Per copy of src, over the sizes measured: the run beyond the steps' own time as
    fixed + per stale step (least squares over the medians; an edit of the middle step
    leaves N - N//2 steps stale), and with ``--profile parts`` what the store's writes of a
    step's result (the object, its entry, the last result) take per stale step."""
    out = {}
    for src in next(iter(sizes.values()), {}):
        pts = [(int(n) - int(n) // 2, v[src]["median_ms"]) for n, v in sizes.items() if src in v]
        if len(pts) < 2:
            continue
        xs, ys = [x for x, _ in pts], [m["overhead"] for _, m in pts]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        f = {"fixed_ms": round(my - slope * mx, 1), "per_stale_step_ms": round(slope, 2)}
        writes = [sum(m.get(k, 0.0) for k in ("k_put", "k_put_entry", "k_put_last")) / x
                  for x, m in pts if "k_put" in m]
        if writes:
            f["writes_per_stale_step_ms"] = round(statistics.median(writes), 2)
        out[src] = f
    return out


def _med(rows: list[dict], k: str) -> float:
    return round(statistics.median(r[k] for r in rows) * 1e3, 1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 40])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--edits", type=int, default=7)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--src", nargs="+", default=[f"this={SRC}"],
                   help="LABEL=DIR: copies of src/ to compare (default: this=the checkout's src)")
    p.add_argument("--profile", choices=["host", "kernel", "parts"],
                   help="cProfile the last edit's run (host, kernel), or time the kernel's calls (parts)")
    p.add_argument("--prof-out", default="/tmp/watch_edit.prof")
    p.add_argument("--puts", type=int, help="instead: time N Store.put calls of one frame each (per --src)")
    p.add_argument("--out")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(puts(a.rows, a.puts) if a.puts else child(a.sizes[0], a.rows, a.edits, a.profile, a.prof_out)))
        return 0
    srcs = dict(x.split("=", 1) if "=" in x else (x, x) for x in a.src)
    sys.path.insert(0, HERE)
    from _common import compiled
    for d in srcs.values():
        compiled(d)            # as pip leaves an installed package (see _common.compiled)
    res: dict = {"config": {"sizes": a.sizes, "rows": a.rows, "edits": a.edits, "rounds": a.rounds,
                            "src": list(srcs)}, "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
                 "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "sizes": {}}
    for n in a.sizes:
        got: dict[str, list[dict]] = {s: [] for s in srcs}
        labels = list(srcs)
        for r in range(a.rounds):
            for src in labels[r % len(labels):] + labels[:r % len(labels)]:      # rotating order
                env = {**os.environ, "PYTHONPATH": srcs[src]}
                env.pop("NB2PIPE_STORE", None)
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                cmd = [sys.executable, __file__, "--child", "--sizes", str(n), "--rows", str(a.rows),
                       "--edits", str(a.edits), "--prof-out", a.prof_out] + (
                           ["--profile", a.profile] if a.profile else []) + (["--puts", str(a.puts)] if a.puts else [])
                pr = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
                if pr.returncode != 0:
                    raise RuntimeError(pr.stderr[-4000:])
                got[src] += json.loads(pr.stdout.strip().splitlines()[-1])["edits"]
        res["sizes"][str(n)] = {}
        for src, rows in got.items():
            m = {k: _med(rows, k) for k in rows[0]}
            res["sizes"][str(n)][src] = {"median_ms": m, "edits": rows}
            print(f"N={n} rows={a.rows} {src}: " + ", ".join(f"{k} {v}" for k, v in m.items()) + " ms",
                  file=sys.stderr, flush=True)
    res["fit"] = fit(res["sizes"])
    for src, f in res["fit"].items():
        print(f"{src}: beyond the steps = {f['fixed_ms']} ms + {f['per_stale_step_ms']} ms a stale step"
              + (f"; the store's writes of a step's result {f['writes_per_stale_step_ms']} ms a stale step"
                 if "writes_per_stale_step_ms" in f else ""), file=sys.stderr, flush=True)
    res["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
