"""Issue 3's benchmark: a generated chain of N small pandas steps, run every way.

    .venv/bin/python bench/chains.py [--quick] [--out FILE]

(``bench/run.py`` runs it as its ``chains`` section and puts the result in results.json.)

For N in (10, 40) — N=10 only with ``--quick`` — a chain is generated with nbformat in a
temporary directory: step ``s0`` builds a 10,000-row frame ``d0``; step ``s{i}`` reads
``d{i-1}``, rescales a column and adds a per-group mean (a groupby-transform), giving
``d{i}``.  The same code is then timed, wall clock, each way started as a subprocess so
that interpreter start-up and imports count:

  plain_python     one script holding every step's code: ``python chain.py``
  nbclient         one notebook of the same cells, executed once by nbclient (one kernel)
  nbclient_empty   nbclient executing a one-cell notebook: python + imports + kernel start
                   and shutdown, the floor of any headless kernel run
  nbclient_stale_only  the floor for the edited run: nbclient executing a notebook that
                   unpickles the edited step's input and runs only the stale steps' cells
  papermill        one notebook per step, run in order by one driver process calling
                   ``papermill.execute_notebook`` (a fresh kernel per step); steps hand
                   data over through Parquet files
  nb2pipe_full     ``python -m nb2pipe run chain.ipynb`` on an empty store
  nb2pipe_noop     the same command again: nothing changed
  nb2pipe_edit     after editing the middle step ``s{N//2}`` (its output changes, so it and
                   the N - N//2 - 1 steps after it are stale), on a copy of the full store

plus ``kernel_start`` / ``kernel_shutdown``: an IPython kernel started and stopped
in-process through jupyter_client.

Repetitions are interleaved (every way once per round, rotating the order) so drift hits
all alike; medians are reported.  Papermill is slow, so it gets fewer rounds (``reps``
in the results says how many each way got).  Kernels talk over unix sockets (see
``_common.isolated_env``); nothing is bound to a network interface.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import PY, isolated_env, log, machine, perf, stats, timed, section_main  # noqa: E402

ROWS = 10_000
SETUP = "import numpy as np\nimport pandas as pd"


def step_body(i: int, bump: float = 0.0) -> str:
    if i == 0:
        return (f"d0 = pd.DataFrame({{'k': np.arange({ROWS}) % 97, "
                f"'v': np.arange({ROWS}, dtype='float64')}})")
    return (f"d{i} = d{i - 1}.assign(v=d{i - 1}['v'] * 1.001 + {i + bump})\n"
            f"d{i}['m'] = d{i}.groupby('k')['v'].transform('mean')")


def step_line(i: int) -> str:
    return f"%%step s{i} --out d{i}" if i == 0 else f"%%step s{i} --in d{i - 1} --out d{i}"


def _nb(cells: list[str]):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def generate(d: str, n: int) -> dict[str, str]:
    """Write every artefact for a chain of ``n`` steps into ``d``; returns their paths."""
    import nbformat
    os.makedirs(d, exist_ok=True)
    mid = n // 2
    paths = {}

    def pipeline(bump_mid: float) -> list[str]:
        return (["%load_ext nb2pipe", "%%setup\n" + SETUP]
                + [step_line(i) + "\n" + step_body(i, bump_mid if i == mid else 0.0) for i in range(n)])

    paths["nb2pipe"] = os.path.join(d, "chain.ipynb")
    nbformat.write(_nb(pipeline(0.0)), paths["nb2pipe"])
    # the edited notebook sits beside it (the store is passed explicitly, keys ignore the path)
    paths["nb2pipe_edit"] = os.path.join(d, "chain_edited.ipynb")
    nbformat.write(_nb(pipeline(0.5)), paths["nb2pipe_edit"])

    paths["nbclient"] = os.path.join(d, "plain.ipynb")
    nbformat.write(_nb([SETUP] + [step_body(i) for i in range(n)] + [f"print(d{n - 1}.shape)"]),
                   paths["nbclient"])
    # the floor for the edit: a kernel that loads the edited step's input and runs only the
    # stale cells (s{mid} edited .. s{n-1}); the input is computed here and pickled
    ns: dict = {}
    exec(SETUP + "\n" + "\n".join(step_body(i) for i in range(mid)), ns)
    ns[f"d{mid - 1}"].to_pickle(os.path.join(d, "upstream.pkl"))
    paths["nbclient_stale_only"] = os.path.join(d, "stale_only.ipynb")
    nbformat.write(_nb([SETUP, f"d{mid - 1} = pd.read_pickle('upstream.pkl')"]
                       + [step_body(i, 0.5 if i == mid else 0.0) for i in range(mid, n)]
                       + [f"print(d{n - 1}.shape)"]), paths["nbclient_stale_only"])
    paths["nbclient_empty"] = os.path.join(d, "empty.ipynb")
    nbformat.write(_nb(["1 + 1"]), paths["nbclient_empty"])

    paths["plain_python"] = os.path.join(d, "chain.py")
    with open(paths["plain_python"], "w") as f:
        f.write(SETUP + "\n\n" + "\n".join(step_body(i) for i in range(n)) + f"\nprint(d{n - 1}.shape)\n")

    pm_dir = os.path.join(d, "papermill")
    os.makedirs(pm_dir, exist_ok=True)
    for i in range(n):
        read = "" if i == 0 else f"d{i - 1} = pd.read_parquet('d{i - 1}.parquet')"
        cells = [SETUP] + ([read] if read else []) + [step_body(i), f"d{i}.to_parquet('d{i}.parquet')"]
        nbformat.write(_nb(cells), os.path.join(pm_dir, f"s{i:03d}.ipynb"))
    paths["papermill"] = pm_dir
    return paths


NBCLIENT_DRIVER = r"""
import os, sys
import nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(path)}}).execute()
"""

PAPERMILL_DRIVER = r"""
import glob, os, sys
import papermill as pm
d = sys.argv[1]
out = os.path.join(d, "out")
os.makedirs(out, exist_ok=True)
for nb in sorted(glob.glob(os.path.join(d, "s*.ipynb"))):
    pm.execute_notebook(nb, os.path.join(out, os.path.basename(nb)), kernel_name="python3",
                        cwd=d, progress_bar=False, log_output=False)
"""


def _kernel_start(env: dict, cwd: str) -> tuple[float, float]:
    """Seconds to start an IPython kernel until it answers, and to shut it down."""
    from jupyter_client.manager import KernelManager
    km = KernelManager(kernel_name="python3", transport="ipc",
                       ip=os.path.join(env["NB2BENCH_IPC_DIR"], "inproc"),
                       connection_file=os.path.join(env["JUPYTER_RUNTIME_DIR"], "inproc.json"))
    t = perf()
    km.start_kernel(cwd=cwd, env=env)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    start = perf() - t
    kc.stop_channels()
    t = perf()
    km.shutdown_kernel(now=False)
    return start, perf() - t


def _nb2pipe(nb: str, store: str, env: dict, cwd: str, expect_ran: int) -> tuple[float, dict]:
    dt, out = timed([PY, "-m", "nb2pipe", "run", nb, "--store", store, "--json"], cwd=cwd, env=env)
    rep = json.loads(out)
    ran = sum(s["status"] == "ran" for s in rep["steps"])
    if ran != expect_ran or not rep["ok"]:
        raise RuntimeError(f"nb2pipe run {os.path.basename(nb)}: expected {expect_ran} steps to run, got "
                           f"{ran}: {[(s['step'], s['status']) for s in rep['steps']]}")
    return dt, rep


def bench_chain(n: int, reps: int, pm_reps: int, tmp: str, env: dict) -> dict:
    d = os.path.join(tmp, f"chain{n}")
    paths = generate(d, n)
    mid = n // 2
    stale = n - mid
    full_store = os.path.join(d, "store-full")
    drivers = os.path.join(d, "drivers")
    os.makedirs(drivers, exist_ok=True)
    with open(os.path.join(drivers, "nbclient_run.py"), "w") as f:
        f.write(NBCLIENT_DRIVER)
    with open(os.path.join(drivers, "papermill_run.py"), "w") as f:
        f.write(PAPERMILL_DRIVER)

    times: dict[str, list[float]] = {k: [] for k in (
        "plain_python", "nbclient", "nbclient_empty", "nbclient_stale_only", "papermill", "nb2pipe_full", "nb2pipe_noop",
        "nb2pipe_edit", "kernel_start", "kernel_shutdown")}
    in_kernel: dict[str, list[float]] = {"full_steps_sum": [], "edit_steps_sum": []}
    counter = [0]

    def fresh_store() -> str:
        counter[0] += 1
        return os.path.join(d, f"store-{counter[0]}")

    def w_plain(r):
        times["plain_python"].append(timed([PY, paths["plain_python"]], cwd=d, env=env)[0])

    def w_nbclient(r):
        times["nbclient"].append(timed([PY, os.path.join(drivers, "nbclient_run.py"), paths["nbclient"]],
                                       cwd=d, env=env)[0])

    def w_empty(r):
        times["nbclient_empty"].append(timed([PY, os.path.join(drivers, "nbclient_run.py"),
                                              paths["nbclient_empty"]], cwd=d, env=env)[0])

    def w_stale_only(r):
        times["nbclient_stale_only"].append(timed([PY, os.path.join(drivers, "nbclient_run.py"),
                                                   paths["nbclient_stale_only"]], cwd=d, env=env)[0])

    def w_papermill(r):
        if r < pm_reps:
            times["papermill"].append(timed([PY, os.path.join(drivers, "papermill_run.py"), paths["papermill"]],
                                            cwd=d, env=env)[0])

    def w_kernel(r):
        s, x = _kernel_start(env, d)
        times["kernel_start"].append(s)
        times["kernel_shutdown"].append(x)

    def w_nb2pipe(r):
        # full on an empty store, then no-op on it, then the edit on a copy of it
        store = fresh_store()
        dt, rep = _nb2pipe(paths["nb2pipe"], store, env, d, n)
        times["nb2pipe_full"].append(dt)
        in_kernel["full_steps_sum"].append(sum(s["duration"] for s in rep["steps"]))
        if not os.path.exists(full_store):
            shutil.copytree(store, full_store)
        dt, rep = _nb2pipe(paths["nb2pipe"], store, env, d, 0)
        if rep["kernel_started"]:
            raise RuntimeError("the no-op run started a kernel")
        times["nb2pipe_noop"].append(dt)
        edit_store = fresh_store()
        shutil.copytree(full_store, edit_store)
        dt, rep = _nb2pipe(paths["nb2pipe_edit"], edit_store, env, d, stale)
        times["nb2pipe_edit"].append(dt)
        in_kernel["edit_steps_sum"].append(sum(s["duration"] for s in rep["steps"] if s["status"] == "ran"))
        for s in (store, edit_store):
            shutil.rmtree(s, ignore_errors=True)

    ways = {"plain_python": w_plain, "nbclient": w_nbclient, "nbclient_empty": w_empty,
            "nbclient_stale_only": w_stale_only, "papermill": w_papermill, "nb2pipe": w_nb2pipe, "kernel": w_kernel}
    names = list(ways)
    # warm-up (untimed): page cache, .pyc files, the scratch IPython profile
    log(f"  N={n}: warm-up")
    timed([PY, os.path.join(drivers, "nbclient_run.py"), paths["nbclient_empty"]], cwd=d, env=env)
    _nb2pipe(paths["nb2pipe"], os.path.join(d, "store-warm"), env, d, n)
    shutil.rmtree(os.path.join(d, "store-warm"), ignore_errors=True)
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            t = perf()
            ways[name](r)
            log(f"  N={n} round {r + 1}/{reps}: {name} {perf() - t:.2f} s")

    med = {k: stats(v)["median"] for k, v in times.items() if v}
    per_step_nbclient = (med["nbclient"] - med["nbclient_empty"]) / n
    expected_edit = med["nbclient_stale_only"]
    expected_edit_kernel = med["kernel_start"] + med["kernel_shutdown"] + stale / n * (
        med["nbclient"] - med["nbclient_empty"])
    return {
        "steps": n, "rows": ROWS, "edited_step": f"s{mid}", "stale_after_edit": stale,
        "reps": {k: len(v) for k, v in times.items()},
        "seconds": {k: stats(v) for k, v in times.items() if v},
        "in_kernel_step_seconds": {k: stats(v) for k, v in in_kernel.items() if v},
        "derived": {
            "nbclient_per_step_s": round(per_step_nbclient, 4),
            "nb2pipe_full_minus_nbclient_s": round(med["nb2pipe_full"] - med["nbclient"], 4),
            "nb2pipe_full_per_step_overhead_ms": round(1e3 * (med["nb2pipe_full"] - med["nbclient"]) / n, 2),
            "expected_edit_s": round(expected_edit, 4),
            "expected_edit_note": "nbclient_stale_only: process + imports + kernel start/stop + setup + "
                                  "unpickling the edited step's input + the stale steps' cells",
            "expected_edit_kernel_only_s": round(expected_edit_kernel, 4),
            "expected_edit_kernel_only_note": "in-process kernel start + shutdown + stale/N x "
                                              "(nbclient - nbclient_empty): no interpreter or import cost",
        },
        "ratios": {
            "nb2pipe_full_over_nbclient": round(med["nb2pipe_full"] / med["nbclient"], 3),
            "nb2pipe_full_over_papermill": round(med["nb2pipe_full"] / med["papermill"], 3)
            if "papermill" in med else None,
            "nb2pipe_full_over_plain_python": round(med["nb2pipe_full"] / med["plain_python"], 3),
            "nb2pipe_noop_s": med["nb2pipe_noop"],
            "nb2pipe_edit_over_expected": round(med["nb2pipe_edit"] / expected_edit, 3),
            "nb2pipe_edit_over_kernel_only": round(med["nb2pipe_edit"] / expected_edit_kernel, 3),
        },
    }


def targets(res: dict) -> list[dict]:
    c = res["chains"].get("40") or res["chains"].get(str(max(int(k) for k in res["chains"])))
    n = c["steps"]
    r = c["ratios"]
    return [
        {"target": f"N={n}: nb2pipe full run no slower than one nbclient notebook",
         "value": r["nb2pipe_full_over_nbclient"], "unit": "x", "met": r["nb2pipe_full_over_nbclient"] <= 1.0},
        {"target": f"N={n}: no-op run < 0.3 s", "value": r["nb2pipe_noop_s"], "unit": "s", "met": r["nb2pipe_noop_s"] < 0.3},
        {"target": f"N={n}: one edit close to kernel start + stale steps (nb2pipe edit / nbclient stale-only <= 1.25)",
         "value": r["nb2pipe_edit_over_expected"], "unit": "x", "met": r["nb2pipe_edit_over_expected"] <= 1.25},
    ]


def run(quick: bool) -> dict:
    sizes = [10] if quick else [10, 40]
    reps = 1 if quick else 3
    out: dict = {"benchmark": "chains", "quick": quick, "machine": machine(),
                 "config": {"sizes": sizes, "rows": ROWS, "reps": reps,
                            # papermill is one kernel per step (~35 s at N=10, ~2 min at N=40 on a
                            # loaded 2-core machine): one round, to keep the suite near 10 minutes
                            "papermill_reps": {str(n): 1 for n in sizes}},
                 "chains": {}}
    t0 = perf()
    with tempfile.TemporaryDirectory(prefix="nb2b-") as tmp:
        env = isolated_env(tmp)
        for n in sizes:
            log(f"chains: N={n}")
            out["chains"][str(n)] = bench_chain(n, reps, out["config"]["papermill_reps"][str(n)], tmp, env)
    out["targets"] = targets(out)
    out["bench_seconds"] = round(perf() - t0, 1)
    out["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main(argv: list[str] | None = None) -> int:
    return section_main(run, __doc__, "N=10 only, one round", "chains", argv)


if __name__ == "__main__":
    sys.exit(main())
