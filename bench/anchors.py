"""Issue 16's side-by-side: nb2pipe beside the anchors on the same generated chains.

    .venv/bin/python bench/anchors.py [--quick] [--sizes 10 40 200] [--reps 3] [--out FILE]

(``bench/run.py --only anchors`` runs it and puts the result in results.json.)

The chain is :mod:`chains`' (step ``s0`` builds a 10,000-row frame, each next step rescales a
column and adds a per-group mean).  Every way runs as a subprocess, start-up and imports
included, in one of three environments this script makes itself from PyPI on first use
(``bench/.venvs/``, ignored by git; their package versions go into the JSON):

  lab       the project's .venv: JupyterLab installed, where users explore and run
  lean      nb2pipe's runtime dependencies + pandas, no JupyterLab (nb2pipe from ``src/``)
  ploomber  ploomber + ploomber-engine + pandas + pyarrow + ipykernel

Ways (``lean``/``lab`` say the environment):
  nbclient          one notebook of the chain executed by nbclient, one kernel
  nb2pipe full      ``nb2pipe run`` on an empty store; ``noop`` the same again
  nb2pipe same      then, in that store, after editing the middle step's code so that its
                    data do not change (it re-runs; the steps below are cached: early cutoff)
  nb2pipe edit      then after editing the middle step so its data change (N - N//2 steps
                    stale).  An edit changes one cell's source and nothing else (the file
                    name and the cell ids stay), as in an editor
  nb2pipe watch     ``nb2pipe run --watch`` with a warm kernel: the middle step edited and
                    saved; ``watch_run`` is the run's own wall time (its JSON report),
                    ``watch_steps`` the stale steps' own time in the kernel, ``watch_save``
                    from the save to the end of the run (change detection and the 0.3 s
                    wait for the file to settle included)
  ploomber          a DAG of PythonCallable tasks (parquet products): full / noop / edit / same
  ploomber_engine   a DAG of NotebookRunner tasks executed by ploomber-engine: full / noop / edit
  papermill         one notebook per step (lab), one round

Rounds are interleaved in rotating order; medians.  Ratios are within this one run.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anchors_ways as ways  # noqa: E402
import chains  # noqa: E402
from _common import PY, ROOT, compiled, isolated_env, log, machine, perf, stats  # noqa: E402

VENVS = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".venvs")


def _runtime_deps() -> list[str]:
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    return [d for d in deps if "python_version" not in d]


ENVS = {
    "lean": lambda: _runtime_deps() + ["pandas", "numpy"],
    "ploomber": lambda: ["ploomber", "ploomber-engine", "pandas", "pyarrow", "ipykernel"],
}


def ensure_venv(name: str) -> tuple[str | None, str]:
    """The environment's python (made on first use); (None, why) when it cannot be installed."""
    reqs = ENVS[name]()
    d = os.path.join(VENVS, name)
    py = os.path.join(d, "bin", "python")
    mark = os.path.join(d, "requirements.txt")
    want = "\n".join(reqs) + "\n"
    if os.path.exists(mark) and open(mark).read() == want:
        return py, "exists"
    os.makedirs(VENVS, exist_ok=True)
    with open(os.path.join(VENVS, ".gitignore"), "w") as f:
        f.write("*\n")
    shutil.rmtree(d, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    log(f"anchors: creating the {name} environment ({', '.join(reqs)})")
    for cmd in ([base, "-m", "venv", d], [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *reqs]):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if p.returncode != 0:
            return None, f"{' '.join(cmd[:4])}… failed: {p.stderr[-1500:]}"
    with open(mark, "w") as f:
        f.write(want)
    return py, "created"


def env_versions(py: str) -> dict:
    code = ("import json, importlib.metadata as m\nout = {}\n"
            "for d in ('nbclient', 'nbformat', 'ipykernel', 'jupyter_client', 'pandas', 'pyarrow', 'jupyterlab',"
            " 'rfc3987-syntax', 'ploomber', 'ploomber-engine', 'papermill'):\n"
            "    try: out[d] = m.version(d)\n    except Exception: out[d] = None\nprint(json.dumps(out))")
    p = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=120)
    return json.loads(p.stdout) if p.returncode == 0 else {"error": p.stderr[-500:]}


def bench_size(n: int, reps: int, tmp: str, pys: dict, with_papermill: bool, only=None) -> dict:
    d = os.path.join(tmp, f"anchors{n}")
    paths = chains.generate(d, n)
    paths.update(ways.generate_extra(d, n))
    env = isolated_env(os.path.join(tmp, f"env{n}"))
    # nb2pipe from this tree's src/ in both (the lab venv's own install may be another checkout)
    src = {**env, "PYTHONPATH": env["PYTHONPATH"] + os.pathsep + compiled(os.path.join(ROOT, "src"))}
    envs = {"lab": src, "lean": src, "ploomber": env}
    times: dict[str, list[float]] = {}
    extra: dict[str, list[float]] = {}

    def add(key, value, into=times):
        into.setdefault(key, []).append(value)

    cases = {}
    for e in ("lab", "lean"):
        if pys.get(e):
            cases[f"nbclient_{e}"] = lambda r, e=e: add(f"nbclient_{e}", ways.nbclient(pys[e], paths, d, envs[e]))
            cases[f"nb2pipe_{e}"] = lambda r, e=e: [add(k, v) for k, v in
                                                    ways.nb2pipe_cycle(pys[e], paths, d, envs[e], n, r, e).items()]
            cases[f"watch_{e}"] = lambda r, e=e: [add(k, v) for k, v in
                                                  ways.watch_edit(pys[e], paths, d, envs[e], n, r, e).items()]
    if pys.get("ploomber"):
        cases["ploomber"] = lambda r: [add(k, v) for k, v in
                                       ways.ploomber_cycle(pys["ploomber"], d, envs["ploomber"], n, r, "callables").items()]
        cases["ploomber_engine"] = lambda r: [add(k, v) for k, v in
                                              ways.ploomber_cycle(pys["ploomber"], d, envs["ploomber"], n, r,
                                                                  "engine").items()]
    if with_papermill:
        cases["papermill"] = lambda r: add("papermill", ways.papermill(PY, paths, d, env)) if r == 0 else None
    names = [c for c in cases if not only or any(c.startswith(o) for o in only)]
    log(f"anchors N={n}: warm-up")
    for e in ("lab", "lean"):
        if pys.get(e):
            ways.nbclient(pys[e], {"nbclient": paths["nbclient_empty"]}, d, envs[e])
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            t = perf()
            try:
                cases[name](r)
            except Exception as e:  # noqa: BLE001 - one way failing must not hide the others
                add(f"{name}_errors", 1.0, extra)
                log(f"  N={n} {name} failed: {str(e)[-800:]}")
            log(f"  N={n} round {r + 1}/{reps}: {name} {perf() - t:.2f} s")
    return {"steps": n, "rows": chains.ROWS, "edited_step": f"s{n // 2}", "stale_after_edit": n - n // 2,
            "seconds": {k: stats(v) for k, v in times.items() if v},
            "errors": {k: len(v) for k, v in extra.items()}}


def ratios(res: dict) -> dict:
    out = {}
    for n, c in res["sizes"].items():
        m = {k: v["median"] for k, v in c["seconds"].items()}
        best_ploomber_edit = min([m[k] for k in ("ploomber_edit", "ploomber_engine_edit") if k in m] or [None]) \
            if any(k in m for k in ("ploomber_edit", "ploomber_engine_edit")) else None
        r = {}
        for e in ("lab", "lean"):
            if f"nb2pipe_{e}_full" in m and "nbclient_lean" in m:
                r[f"full_{e}_over_nbclient_lean"] = round(m[f"nb2pipe_{e}_full"] / m["nbclient_lean"], 3)
            if f"nb2pipe_{e}_full" in m and f"nbclient_{e}" in m:
                r[f"full_{e}_over_nbclient_{e}"] = round(m[f"nb2pipe_{e}_full"] / m[f"nbclient_{e}"], 3)
            if best_ploomber_edit and f"nb2pipe_{e}_edit" in m:
                r[f"edit_{e}_over_ploomber_best"] = round(m[f"nb2pipe_{e}_edit"] / best_ploomber_edit, 3)
            if f"watch_{e}_run" in m:
                r[f"watch_{e}_overhead_ms"] = round(1e3 * (m[f"watch_{e}_run"] - m[f"watch_{e}_steps"]), 1)
        out[n] = r
    sizes = sorted(int(k) for k in res["sizes"])
    if len(sizes) > 1:
        out["slope_ms_per_step"] = _slope(res, sizes[0], sizes[-1])
        # one slope per adjacent pair of sizes: "10-40", "40-200"
        out["slopes_ms_per_step"] = {f"{lo}-{hi}": _slope(res, lo, hi) for lo, hi in zip(sizes, sizes[1:])}
    return out


def _slope(res: dict, lo: int, hi: int) -> dict:
    """ms per extra step between two sizes of the same run, for every way measured at both."""
    a, b = res["sizes"][str(lo)]["seconds"], res["sizes"][str(hi)]["seconds"]
    return {k: round(1e3 * (b[k]["median"] - a[k]["median"]) / (hi - lo), 2) for k in a if k in b}


def targets(res: dict) -> list[dict]:
    out = []
    for n, r in res["ratios"].items():
        if not n.isdigit():
            continue
        for e in ("lab", "lean"):
            k = f"full_{e}_over_nbclient_lean"
            if k in r:
                out.append({"target": f"N={n}: full run ({e}) <= 1.0x lean nbclient", "value": r[k], "unit": "x",
                            "met": r[k] <= 1.0})
            k = f"watch_{e}_overhead_ms"
            if k in r:
                out.append({"target": f"N={n}: edit under --watch ({e}) = stale steps + < 100 ms", "value": r[k],
                            "unit": "ms", "met": r[k] < 100})
            k = f"edit_{e}_over_ploomber_best"
            if k in r:
                out.append({"target": f"N={n}: plain run after an edit ({e}) <= 0.25x Ploomber's best", "value": r[k],
                            "unit": "x", "met": r[k] <= 0.25})
    return out


def run(quick: bool, sizes=None, reps=None, papermill=True, only=None) -> dict:
    sizes = sizes or ([10] if quick else [10, 40, 200])
    reps = reps or (1 if quick else 3)
    pys: dict = {"lab": PY}
    envinfo = {"lab": {"python": "the project's .venv", "versions": env_versions(PY)}}
    for name in ENVS:
        py, how = ensure_venv(name)
        pys[name] = py
        envinfo[name] = {"made": how, "versions": env_versions(py) if py else None}
    out = {"benchmark": "anchors", "quick": quick, "machine": machine(), "environments": envinfo,
           "config": {"sizes": sizes, "reps": reps, "rows": chains.ROWS}, "sizes": {}}
    t0 = perf()
    with tempfile.TemporaryDirectory(prefix="nb2a-") as tmp:
        for n in sizes:
            out["sizes"][str(n)] = bench_size(n, reps, tmp, pys, papermill and n <= 40, only)
    out["ratios"] = ratios(out)
    out["targets"] = targets(out)
    out["bench_seconds"] = round(perf() - t0, 1)
    out["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


ROWS_SHOWN = [("nbclient, lean venv", "nbclient_lean"), ("nbclient, lab venv", "nbclient_lab"),
              ("nb2pipe lean: full", "nb2pipe_lean_full"), ("nb2pipe lab: full", "nb2pipe_lab_full"),
              ("nb2pipe lean: no-op", "nb2pipe_lean_noop"), ("nb2pipe lab: no-op", "nb2pipe_lab_noop"),
              ("nb2pipe lean: edit-mid", "nb2pipe_lean_edit"), ("nb2pipe lab: edit-mid", "nb2pipe_lab_edit"),
              ("nb2pipe lean: edit, same data", "nb2pipe_lean_same"), ("nb2pipe lab: edit, same data", "nb2pipe_lab_same"),
              ("nb2pipe --watch lab: edit-mid, the run", "watch_lab_run"),
              ("nb2pipe --watch lab: the stale steps' own time", "watch_lab_steps"),
              ("nb2pipe --watch lab: save to done", "watch_lab_save"),
              ("nb2pipe --watch lean: edit-mid, the run", "watch_lean_run"),
              ("nb2pipe --watch lean: the stale steps' own time", "watch_lean_steps"),
              ("Ploomber callables: full", "ploomber_full"), ("Ploomber callables: no-op", "ploomber_noop"),
              ("Ploomber callables: edit-mid", "ploomber_edit"), ("Ploomber callables: edit, same data", "ploomber_same"),
              ("ploomber-engine: full", "ploomber_engine_full"), ("ploomber-engine: no-op", "ploomber_engine_noop"),
              ("ploomber-engine: edit-mid", "ploomber_engine_edit"),
              ("ploomber-engine: edit, same data", "ploomber_engine_same"), ("papermill: full", "papermill")]


def markdown(res: dict) -> str:
    """The table bench/README.md shows (bench/run.py writes it there)."""
    sizes = sorted(res["sizes"], key=int)
    slopes = res["ratios"].get("slopes_ms_per_step") or {}
    if not slopes and "slope_ms_per_step" in res["ratios"]:
        slopes = {f"{sizes[0]}-{sizes[-1]}": res["ratios"]["slope_ms_per_step"]}
    m = res["machine"]
    lines = [f"Run of {m['date']} (commit {str(m['git_commit'])[:7]}, load {m['load_avg_at_start'][0]}"
             f" → {res['load_avg_at_end'][0]}), medians of {res['config']['reps']} rounds (papermill 1), seconds:",
             "", "| way | " + " | ".join(f"N={n}" for n in sizes)
             + "".join(f" | ms/step {p.replace('-', '→')}" for p in slopes) + " |",
             "|---|" + "---:|" * (len(sizes) + len(slopes))]
    for label, key in ROWS_SHOWN:
        cells = [res["sizes"][n]["seconds"].get(key, {}).get("median") for n in sizes]
        if any(c is not None for c in cells):
            lines.append(f"| {label} | " + " | ".join("–" if c is None else f"{c:.3g}" for c in cells)
                         + "".join(f" | {s.get(key, '–')}" for s in slopes.values()) + " |")
    lines += ["", "| target (issue 16) | measured | verdict |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['value']} {t['unit']} | {'met' if t['met'] else '**not met**'} |"
              for t in res["targets"]]
    envs = res["environments"]
    lines += ["", "Environments: " + "; ".join(
        f"{k}: " + ", ".join(f"{p} {v}" for p, v in (e.get("versions") or {}).items() if v) for k, e in envs.items())]
    return "\n".join(lines)


BEGIN, END = "<!-- anchors table: bench/run.py writes it -->", "<!-- end of anchors table -->"


def write_readme(res: dict, path: str = os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")) -> None:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    block = f"{BEGIN}\n{markdown(res)}\n{END}"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text += "\n## nb2pipe beside the anchors (`bench/anchors.py`, issue 16)\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="N=10 only, one round")
    p.add_argument("--sizes", type=int, nargs="+")
    p.add_argument("--reps", type=int)
    p.add_argument("--no-papermill", action="store_true")
    p.add_argument("--ways", nargs="+", help="only the ways whose names start so (nbclient, nb2pipe, watch, ploomber, papermill)")
    p.add_argument("--out", help="write the JSON here")
    p.add_argument("--readme", action="store_true", help="write the table into bench/README.md")
    a = p.parse_args(argv)
    res = run(a.quick, a.sizes, a.reps, not a.no_papermill, a.ways)
    print(markdown(res))
    if a.readme:
        write_readme(res)
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(res, fh, indent=1)
        log(f"wrote {a.out}")
    for t in res["targets"]:
        log(f"{'MET ' if t['met'] else 'MISS'} {t['target']}: {t['value']} {t['unit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
