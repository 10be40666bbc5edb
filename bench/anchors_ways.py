"""The ways :mod:`anchors` times: each returns seconds (or a dict of them) for one round."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

import chains
from _common import perf, timed

SAME = ("* 1.001", "* (1.001 + 0)")      # other code (another AST), the same data


def generate_extra(d: str, n: int) -> dict[str, str]:
    """The two edits of the middle step, and the Ploomber projects.  An edit is the notebook
    as a user leaves it after changing one cell: the same file name and the same cell ids,
    only that cell's source differs (``edit/chain.ipynb``: its data change; ``same/``: they
    do not)."""
    import nbformat
    mid = n // 2
    paths = {}
    for way, body in (("edit", chains.step_body(mid, 0.5)), ("same", chains.step_body(mid).replace(*SAME))):
        nb = nbformat.read(os.path.join(d, "chain.ipynb"), as_version=4)
        cell = nb.cells[2 + mid]
        assert cell.source.startswith(chains.step_line(mid) + "\n"), cell.source
        cell.source = chains.step_line(mid) + "\n" + body
        os.makedirs(os.path.join(d, way), exist_ok=True)
        paths[f"nb2pipe_{way}"] = os.path.join(d, way, "chain.ipynb")
        nbformat.write(nb, paths[f"nb2pipe_{way}"])
    for kind in ("callables", "engine"):
        p = os.path.join(d, f"ploomber_{kind}")
        os.makedirs(p, exist_ok=True)
        with open(os.path.join(p, "run.py"), "w") as f:
            f.write(PLOOMBER_DRIVER)
        paths[f"ploomber_{kind}"] = p
        for variant, body in (("orig", chains.step_body(mid)), ("edit", chains.step_body(mid, 0.5)),
                              ("same", chains.step_body(mid).replace(*SAME))):
            src = os.path.join(p, f"src_{variant}")
            os.makedirs(src, exist_ok=True)
            _ploomber_sources(src, n, mid, body, kind)
    with open(os.path.join(d, "nbclient_run.py"), "w") as f:
        f.write(chains.NBCLIENT_DRIVER)
    with open(os.path.join(d, "papermill_run.py"), "w") as f:
        f.write(chains.PAPERMILL_DRIVER)
    return paths


def _ploomber_sources(src: str, n: int, mid: int, body_mid: str, kind: str) -> None:
    bodies = [body_mid if i == mid else chains.step_body(i) for i in range(n)]
    if kind == "callables":
        lines = [chains.SETUP, ""]
        for i, b in enumerate(bodies):
            args, read = ("product", "") if i == 0 else (
                "product, upstream", f"    d{i - 1} = pd.read_parquet(str(upstream['s{i - 1}']))\n")
            lines.append(f"def s{i}({args}):\n{read}" + "".join(f"    {ln}\n" for ln in b.splitlines())
                         + f"    d{i}.to_parquet(str(product))\n")
        with open(os.path.join(src, "tasks.py"), "w") as f:
            f.write("\n".join(lines))
        return
    for i, b in enumerate(bodies):
        read = "" if i == 0 else f"d{i - 1} = pd.read_parquet(upstream['s{i - 1}']['data'])\n"
        with open(os.path.join(src, f"s{i}.py"), "w") as f:
            f.write('# %% tags=["parameters"]\nupstream = None\nproduct = None\n\n# %%\n'
                    f"{chains.SETUP}\n{read}{b}\nd{i}.to_parquet(product['data'])\n")


PLOOMBER_DRIVER = r'''
import json, os, sys
from pathlib import Path
from ploomber import DAG
from ploomber.executors import Serial
from ploomber.products import File
kind, n, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
dag = DAG(executor=Serial(build_in_subprocess=False))
prev = None
if kind == "callables":
    sys.path.insert(0, src)
    import tasks
    from ploomber.tasks import PythonCallable
for i in range(n):
    if kind == "callables":
        t = PythonCallable(getattr(tasks, f"s{i}"), File(f"out/d{i}.parquet"), dag, name=f"s{i}")
    else:
        from ploomber.tasks import NotebookRunner
        t = NotebookRunner(Path(src, f"s{i}.py"), {"nb": File(f"out/s{i}.ipynb"), "data": File(f"out/d{i}.parquet")},
                           dag, name=f"s{i}", executor="ploomber-engine", kernelspec_name="python3",
                           static_analysis="disable")
    if prev is not None:
        prev >> t
    prev = t
dag.build(force=False)
print(json.dumps({"ran": sum(str(t.exec_status).endswith("Executed") for t in dag.values())}))
'''


def nbclient(py: str, paths: dict, d: str, env: dict) -> float:
    return timed([py, os.path.join(d, "nbclient_run.py"), paths["nbclient"]], cwd=d, env=env)[0]


def papermill(py: str, paths: dict, d: str, env: dict) -> float:
    return timed([py, os.path.join(d, "papermill_run.py"), paths["papermill"]], cwd=d, env=env, timeout=1800)[0]


def _nb2pipe(py, nb, store, env, cwd, expect_ran) -> tuple[float, dict]:
    dt, out = timed([py, "-m", "nb2pipe", "run", nb, "--store", store, "--json"], cwd=cwd, env=env)
    rep = json.loads(out)
    ran = sum(s["status"] == "ran" for s in rep["steps"])
    if ran != expect_ran or not rep["ok"]:
        raise RuntimeError(f"nb2pipe run {os.path.basename(nb)}: {ran} ran, expected {expect_ran}")
    return dt, rep


def nb2pipe_cycle(py, paths, d, env, n, r, e) -> dict[str, float]:
    """full on an empty store, then in the same store, as a user would: no-op, the edit that
    keeps the data (1 step runs), the edit that changes them (n - n//2 steps run)."""
    full = os.path.join(d, f"store-{e}-{r}")
    out = {f"nb2pipe_{e}_full": _nb2pipe(py, paths["nb2pipe"], full, env, d, n)[0]}
    out[f"nb2pipe_{e}_noop"] = _nb2pipe(py, paths["nb2pipe"], full, env, d, 0)[0]
    for way, stale in (("same", 1), ("edit", n - n // 2)):
        out[f"nb2pipe_{e}_{way}"] = _nb2pipe(py, paths[f"nb2pipe_{way}"], full, env, d, stale)[0]
    shutil.rmtree(full, ignore_errors=True)
    return out


def watch_edit(py, paths, d, env, n, r, e) -> dict[str, float]:
    """One save of the edited notebook under ``run --watch`` (a warm kernel, a full store)."""
    w = os.path.join(d, f"watch-{e}-{r}")
    os.makedirs(w)
    store = w + "-store"
    nb = os.path.join(w, "chain.ipynb")
    shutil.copy(paths["nb2pipe"], nb)
    _nb2pipe(py, nb, store, env, w, n)                    # untimed: the store is full
    # Ctrl-C stops it: SIGINT back to its default even when this benchmark runs in the
    # background, where the shell ignores it (the watcher would then be killed after 60 s)
    proc = subprocess.Popen([py, "-m", "nb2pipe", "run", nb, "--store", store, "--watch", "--json"], cwd=w, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _until(proc, "waiting for changes")
        shutil.copy(paths["nb2pipe_edit"], nb + ".tmp")
        t = perf()
        os.replace(nb + ".tmp", nb)
        lines = _until(proc, "waiting for changes")
        save = perf() - t
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    start = max(i for i, ln in enumerate(lines) if ln == "{\n")
    rep = json.loads("".join(lines[start:lines.index("}\n", start) + 1]))
    ran = [s for s in rep["steps"] if s["status"] == "ran"]
    if len(ran) != n - n // 2:
        raise RuntimeError(f"watch: {len(ran)} steps ran, expected {n - n // 2}")
    shutil.rmtree(w, ignore_errors=True)
    shutil.rmtree(store, ignore_errors=True)
    return {f"watch_{e}_run": rep["wall"], f"watch_{e}_steps": sum(s["duration"] for s in ran),
            f"watch_{e}_save": save}


def _until(proc, text: str, limit: float = 300) -> list[str]:
    lines, end = [], perf() + limit
    while perf() < end:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if text in line:
            return lines
    raise RuntimeError(f"never saw {text!r}: {''.join(lines)[-2000:]}")


def ploomber_cycle(py, d, env, n, r, kind) -> dict[str, float]:
    """full in an empty folder, no-op, then the edit and the same-data edit on copies of it."""
    base = os.path.join(d, f"ploomber_{kind}")
    k = "ploomber" if kind == "callables" else "ploomber_engine"
    work = os.path.join(base, f"w{r}")
    os.makedirs(work)

    def build(folder, variant, expect):
        dt, out = timed([py, os.path.join(base, "run.py"), kind, str(n), os.path.join(base, f"src_{variant}")],
                        cwd=folder, env=env, timeout=1800)
        ran = json.loads(out.strip().splitlines()[-1])["ran"]
        if ran != expect:
            raise RuntimeError(f"ploomber {kind} {variant}: {ran} tasks ran, expected {expect}")
        return dt
    out = {f"{k}_full": build(work, "orig", n), f"{k}_noop": build(work, "orig", 0)}
    for way, stale in (("edit", n - n // 2), ("same", n - n // 2)):
        copy = work + f"-{way}"
        shutil.copytree(work, copy)
        out[f"{k}_{way}"] = build(copy, way, stale)
        shutil.rmtree(copy, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return out
