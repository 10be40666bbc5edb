"""The Dask executor against the local one: per-step cost on warm kernels, and the
speed-up of independent steps.

    .venv/bin/python bench/dask_bench.py [--quick] [--out FILE]

Every run is ``python -m nb2pipe run NB --store S --json`` as a subprocess on an empty
store, with ``--executor local`` (one kernel, all stale steps in one ``%dag run`` cell) or
``--executor dask --workers 2`` (a LocalCluster on 127.0.0.1, one warm kernel per worker,
one task per step, submitted when its parents are done).  Notebooks:

  chain1    one trivial step: the fixed cost of a run (process, imports, cluster, kernels)
  chain20   20 trivial steps ``x{i} = x{i-1} + 1`` in a chain (no parallelism possible)
  fan8      a trivial root and 8 independent steps that each ``time.sleep(1)``
  wide40    a trivial root and 40 independent trivial steps (no chain: on Dask a task each,
            or several to a task once the root shows steps are short)
  wide2     a trivial root and 2 independent trivial steps: wide40's pair (both kernels start)

Derived: per-step cost = (wall chain20 - wall chain1) / 19, for each executor; for Dask
also the median interval between consecutive step completions of chain20 on a kernel
that had already run a step (the warm-kernel cost alone, from the steps' own start/end
timestamps), and that interval less the step's own duration (the overhead beyond the
step's work).  The chain is one task on Dask (one ``%dag run`` cell); wide20's steps are
one task each, so its completion-to-completion interval on one worker is the cost of a
task.  Start-up: the medians of what the Dask runs' reports say (``startup``: cluster,
client, plugin, first task, each worker's kernel and definitions, shutdown).  Fan-out speed-up = local wall / Dask wall, end to end and net of each
executor's fixed cost (chain1).  Per independent step: (wide40 - wide2) / 38 of the same
round, wall and CPU (this process's children: the run, its threads' cluster and its
kernels), medians over rounds.  Rounds are interleaved.  ``NB2BENCH_SRC=DIR`` runs the
nb2pipe found in DIR (e.g. a ``git archive`` of an earlier commit's src/).  Kernels talk over unix sockets
(``_common.isolated_env``); Dask's scheduler and workers bind 127.0.0.1 only.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import PY, isolated_env, log, machine, perf, stats, timed, section_main  # noqa: E402

CHAIN_N = 20
FAN_K = 8
WIDE_K = 40
SLEEP_S = 1.0
WORKERS = 2


def _write_nb(path: str, cells: list[str]) -> str:
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)
    return path


def chain_cells(n: int) -> list[str]:
    return ["%load_ext nb2pipe", "%%step s0 --out x0\nx0 = 0"] + [
        f"%%step s{i} --in x{i - 1} --out x{i}\nx{i} = x{i - 1} + 1" for i in range(1, n)]


def fan_cells(k: int, sleep: float) -> list[str]:
    return ["%load_ext nb2pipe", "%%setup\nimport time", "%%step root --out r0\nr0 = 1"] + [
        f"%%step f{i} --in r0 --out y{i}\ntime.sleep({sleep})\ny{i} = r0 + {i}" for i in range(k)]


def _run(nb: str, store: str, executor: str, env: dict, cwd: str, expect_ran: int) -> tuple[float, dict]:
    cmd = [PY, "-m", "nb2pipe", "run", nb, "--store", store, "--executor", executor, "--json"]
    if executor == "dask":
        cmd[-1:-1] = ["--workers", str(WORKERS)]
    c0 = _children_cpu()
    dt, out = timed(cmd, cwd=cwd, env=env, timeout=600)
    rep = json.loads(out)
    rep["_cpu_s"] = _children_cpu() - c0
    ran = sum(s["status"] == "ran" for s in rep["steps"])
    if ran != expect_ran or not rep["ok"]:
        raise RuntimeError(f"{executor} {os.path.basename(nb)}: expected {expect_ran} steps to run, got {ran}:"
                           f" {[(s['step'], s['status'], s.get('error')) for s in rep['steps']]}")
    return dt, rep


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def warm_intervals(rep: dict) -> list[float]:
    """Completion-to-completion intervals of consecutive chain steps, counting only steps
    that ran on a worker whose kernel had already run an earlier step."""
    steps = sorted((s for s in rep["steps"] if s["status"] == "ran" and s.get("end")), key=lambda s: s["end"])
    seen: set = set()
    out = []
    prev_end = None
    for s in steps:
        if prev_end is not None and s.get("worker") in seen:
            out.append(s["end"] - prev_end)
        seen.add(s.get("worker"))
        prev_end = s["end"]
    return out


def wide_cells(k: int) -> list[str]:
    return ["%load_ext nb2pipe", "%%step root --out r0\nr0 = 1"] + [
        f"%%step w{i} --in r0 --out y{i}\ny{i} = r0 + {i}" for i in range(k)]


def lane_intervals(rep: dict) -> list[float]:
    """Completion-to-completion intervals of the steps one worker ran one after the other
    (its kernel warm: not counting its first step)."""
    out = []
    for w in {s.get("worker") for s in rep["steps"] if s.get("worker")}:
        ends = sorted(s["end"] for s in rep["steps"] if s.get("worker") == w and s["status"] == "ran")
        out += [b - a for a, b in zip(ends, ends[1:])]
    return out


def beyond_work(rep: dict) -> list[float]:
    """Per warm chain step: its completion-to-completion interval less its own duration."""
    steps = sorted((s for s in rep["steps"] if s["status"] == "ran" and s.get("end")), key=lambda s: s["end"])
    return [b["end"] - a["end"] - (b.get("duration") or 0.0) for a, b in zip(steps, steps[1:])
            if a.get("worker") == b.get("worker")]


def startup_of(reports: list[dict]) -> dict:
    """Medians of the ``startup`` the Dask runs reported (seconds)."""
    rows = [r["startup"] for r in reports if r.get("startup")]
    if not rows:
        return {}
    out = {k: round(statistics.median(r[k] for r in rows), 3)
           for k in ("cluster_s", "connect_s", "plugin_s", "first_task_s", "shutdown_s")}
    ks = [k for r in rows for k in r["kernels"]]
    out.update(kernel_s=round(statistics.median(k["kernel_s"] for k in ks), 3),
               definitions_s=round(statistics.median(k["definitions_s"] for k in ks), 3),
               last_kernel_ready_s=round(statistics.median(max(k["ready_s"] for k in r["kernels"])
                                                           for r in rows if r["kernels"]), 3),
               kernels_per_run=[len(r["kernels"]) for r in rows])
    return out


def run(quick: bool) -> dict:
    reps = 1 if quick else 3
    out: dict = {"benchmark": "dask", "quick": quick, "machine": machine(),
                 "config": {"chain_steps": CHAIN_N, "fan_steps": FAN_K, "sleep_s": SLEEP_S,
                            "workers": WORKERS, "reps": reps}}
    try:
        from importlib import metadata
        out["machine"]["versions"].update({m: metadata.version(m) for m in ("dask", "distributed")})
    except Exception as e:  # noqa: BLE001
        out["skipped"] = f"dask/distributed not installed: {e}"
        return out
    t0 = perf()
    out["load_avg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="nb2b-dask-") as tmp:
        env = isolated_env(tmp)
        if os.environ.get("NB2BENCH_SRC"):
            env["PYTHONPATH"] = os.environ["NB2BENCH_SRC"] + os.pathsep + env["PYTHONPATH"]
            out["config"]["src"] = os.environ["NB2BENCH_SRC"]
        d = os.path.join(tmp, "nb")
        os.makedirs(d)
        nbs = {"chain1": (_write_nb(os.path.join(d, "chain1.ipynb"), chain_cells(1)), 1),
               f"chain{CHAIN_N}": (_write_nb(os.path.join(d, "chain.ipynb"), chain_cells(CHAIN_N)), CHAIN_N),
               f"fan{FAN_K}": (_write_nb(os.path.join(d, "fan.ipynb"), fan_cells(FAN_K, SLEEP_S)), FAN_K + 1),
               f"wide{WIDE_K}": (_write_nb(os.path.join(d, "wide.ipynb"), wide_cells(WIDE_K)), WIDE_K + 1),
               "wide2": (_write_nb(os.path.join(d, "wide2.ipynb"), wide_cells(2)), 3)}
        times: dict[str, list[float]] = {}
        reports: dict[str, list[dict]] = {}
        counter = [0]

        def case(ex: str, name: str):
            path, expect = nbs[name]

            def go():
                counter[0] += 1
                dt, rep = _run(path, os.path.join(tmp, f"store-{counter[0]}"), ex, env, d, expect)
                times.setdefault(f"{ex}_{name}", []).append(dt)
                reports.setdefault(f"{ex}_{name}", []).append(rep)
            return go
        cases = {f"{ex}_{name}": case(ex, name) for ex in ("local", "dask") for name in nbs}
        names = list(cases)
        log("  dask: warm-up (untimed)")
        _run(nbs["chain1"][0], os.path.join(tmp, "store-warm-l"), "local", env, d, 1)
        _run(nbs["chain1"][0], os.path.join(tmp, "store-warm-d"), "dask", env, d, 1)
        for r in range(reps):
            k = r % len(names)
            for n in names[k:] + names[:k]:
                t = perf()
                cases[n]()
                log(f"  dask round {r + 1}/{reps}: {n} {perf() - t:.2f} s")
    med = {k: statistics.median(v) for k, v in times.items()}
    c, f, wd = f"chain{CHAIN_N}", f"fan{FAN_K}", f"wide{WIDE_K}"
    per_step = {ex: (med[f"{ex}_{c}"] - med[f"{ex}_chain1"]) / (CHAIN_N - 1) for ex in ("local", "dask")}
    per_wide = {ex: (med[f"{ex}_{wd}"] - med[f"{ex}_chain1"]) / WIDE_K for ex in ("local", "dask")}
    warm = [x for rep in reports[f"dask_{c}"] for x in warm_intervals(rep)]
    beyond = [x for rep in reports[f"dask_{c}"] for x in beyond_work(rep)]
    lanes = [x for rep in reports[f"dask_{wd}"] for x in lane_intervals(rep)]
    wide_pairs = {ex: {"wall_ms": [1e3 * (a - b) / (WIDE_K - 2) for a, b in zip(times[f"{ex}_{wd}"], times[f"{ex}_wide2"])],
                       "cpu_ms": [1e3 * (a["_cpu_s"] - b["_cpu_s"]) / (WIDE_K - 2)
                                  for a, b in zip(reports[f"{ex}_{wd}"], reports[f"{ex}_wide2"])]}
                  for ex in ("local", "dask")}
    wide_paired = {ex: {k: {"median": round(statistics.median(v), 1), "samples": [round(x, 1) for x in v]}
                        for k, v in d.items()} for ex, d in wide_pairs.items()}
    cpu = {k: stats([r["_cpu_s"] for r in v]) for k, v in reports.items()}
    # the fan's sleeping steps: Dask span (first start .. last end) vs local sum of durations
    spans = []
    for rep in reports[f"dask_{f}"]:
        fs = [s for s in rep["steps"] if s["step"].startswith("f") and s.get("start")]
        spans.append(max(s["end"] for s in fs) - min(s["start"] for s in fs))
    workers_used = [len({s.get("worker") for s in rep["steps"] if s.get("worker")}) for rep in reports[f"dask_{f}"]]
    local_sleep_sum = [sum(s["duration"] for s in rep["steps"] if s["step"].startswith("f"))
                       for rep in reports[f"local_{f}"]]
    fixed = {ex: med[f"{ex}_chain1"] for ex in ("local", "dask")}
    out.update({
        "seconds": {k: stats(v) for k, v in times.items()},
        "cpu_seconds": cpu,
        "derived": {
            "fixed_cost_s": {ex: round(v, 3) for ex, v in fixed.items()},
            "per_step_ms_marginal": {ex: round(1e3 * v, 1) for ex, v in per_step.items()},
            "dask_per_step_ms_warm_kernel": round(1e3 * statistics.median(warm), 1) if warm else None,
            "dask_warm_intervals_n": len(warm),
            "dask_per_step_ms_beyond_work": round(1e3 * statistics.median(beyond), 1) if beyond else None,
            "wide_per_step_ms_marginal": {ex: round(1e3 * v, 1) for ex, v in per_wide.items()},
            "wide_per_step_ms_paired_vs_wide2": wide_paired,
            "dask_wide_per_task_ms_one_worker": round(1e3 * statistics.median(lanes), 1) if lanes else None,
            "dask_startup_s": startup_of(reports[f"dask_{c}"] + reports[f"dask_{f}"] + reports[f"dask_{wd}"]),
            "dask_fan_steps_span_s": round(statistics.median(spans), 3),
            "local_fan_steps_sum_s": round(statistics.median(local_sleep_sum), 3),
            "dask_fan_workers_used": workers_used,
        },
        "ratios": {
            "dask_over_local_per_step_marginal": round(per_step["dask"] / per_step["local"], 2)
            if per_step["local"] > 0 else None,
            "dask_over_local_wide_per_step_marginal": round(per_wide["dask"] / per_wide["local"], 2)
            if per_wide["local"] > 0 else None,
            "dask_over_local_fixed_cost": round(fixed["dask"] / fixed["local"], 2),
            "fan_speedup_end_to_end": round(med[f"local_{f}"] / med[f"dask_{f}"], 2),
            "fan_speedup_net_of_fixed_cost": round((med[f"local_{f}"] - fixed["local"])
                                                   / (med[f"dask_{f}"] - fixed["dask"]), 2),
            "fan_speedup_step_phase": round(statistics.median(local_sleep_sum) / statistics.median(spans), 2),
        },
    })
    out["targets"] = targets(out)
    out["bench_seconds"] = round(perf() - t0, 1)
    out["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def targets(r: dict) -> list[dict]:
    if "skipped" in r:
        return []
    d, q = r["derived"], r["ratios"]
    beyond = d["dask_per_step_ms_beyond_work"]
    return [
        {"target": "Dask per-step overhead inside a warm kernel < 10 ms beyond the step's work (chain)",
         "value": beyond, "unit": "ms", "met": None if beyond is None else beyond < 10},
        {"target": f"Dask per independent step < 10 ms beyond its work ({WIDE_K} trivial steps vs 2, paired"
                   " per round, CPU of the run and its kernels)",
         "value": d["wide_per_step_ms_paired_vs_wide2"]["dask"]["cpu_ms"]["median"], "unit": "ms",
         "met": d["wide_per_step_ms_paired_vs_wide2"]["dask"]["cpu_ms"]["median"] < 10},
        {"target": "  same, wall (paired per round; local executor beside it: "
                   f"{d['wide_per_step_ms_paired_vs_wide2']['local']['wall_ms']['median']} ms)",
         "value": d["wide_per_step_ms_paired_vs_wide2"]["dask"]["wall_ms"]["median"], "unit": "ms", "met": None},
        {"target": "Dask per-step cost on warm kernels (reported; no fixed target)",
         "value": d["dask_per_step_ms_warm_kernel"], "unit": "ms", "met": None},
        {"target": "Dask independent trivial steps on one warm worker, completion to completion (reported)",
         "value": d["dask_wide_per_task_ms_one_worker"], "unit": "ms", "met": None},
        {"target": "Dask per-step cost, marginal wall of a 20-step chain vs local executor (reported)",
         "value": f"{d['per_step_ms_marginal']['dask']} vs {d['per_step_ms_marginal']['local']}",
         "unit": "ms", "met": None},
        {"target": f"fan-out of {FAN_K} x {SLEEP_S:g} s steps on {WORKERS} workers ~2x faster than local"
                   " (net of each executor's fixed cost; >= 1.8x counted as met)",
         "value": q["fan_speedup_net_of_fixed_cost"], "unit": "x",
         "met": q["fan_speedup_net_of_fixed_cost"] >= 1.8},
        {"target": "  same, end to end (cluster and kernel start included; reported)",
         "value": q["fan_speedup_end_to_end"], "unit": "x", "met": None},
    ]


def main(argv: list[str] | None = None) -> int:
    return section_main(run, __doc__, "one round", "dask", argv)


if __name__ == "__main__":
    sys.exit(main())
