"""What a task per step costs (the Airflow export's default before chains were collapsed):
a chain of N trivial steps run by one `nb2pipe run` (one process, one kernel) against N
`nb2pipe run --only STEP` processes in order, as N Airflow tasks run them (Airflow's own
task start is not counted).  Per-step overhead = (wall(N tasks) - wall(one run)) / (N - 1).

    .venv/bin/python bench/deploy.py [--quick] [--out FILE]      # prints JSON

Each round starts from an empty store; rounds are interleaved.  Kernels use unix sockets
(_common.isolated_env)."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import PY, isolated_env  # noqa: E402


def notebook(path: str, n: int) -> None:
    import nbformat
    cells = ["%load_ext nb2pipe", "%%step s0 --out x0\nx0 = 0"]
    cells += [f"%%step s{i} --in x{i - 1} --out x{i}\nx{i} = x{i - 1} + 1" for i in range(1, n)]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)


def timed(args: list[str], cwd: str, env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run([PY, "-m", "nb2pipe", *args], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    n, rounds = (4, 2) if a.quick else (6, 3)
    tmp = tempfile.mkdtemp(prefix="nb2bench-deploy-")
    env = isolated_env(tmp)
    nb = os.path.join(tmp, "chain.ipynb")
    notebook(nb, n)
    one, per_task = [], []
    try:
        for r in range(rounds):
            for way in (("one", "tasks") if r % 2 == 0 else ("tasks", "one")):
                shutil.rmtree(os.path.join(tmp, ".nb2pipe"), ignore_errors=True)
                if way == "one":
                    one.append(timed(["run", "chain.ipynb"], tmp, env))
                else:
                    per_task.append(sum(timed(["run", "chain.ipynb", "--only", f"s{i}"], tmp, env)
                                        for i in range(n)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    m_one, m_tasks = statistics.median(one), statistics.median(per_task)
    out = {"steps": n, "rounds": rounds, "one_run_s": one, "task_per_step_s": per_task,
           "median_one_run_s": m_one, "median_task_per_step_s": m_tasks,
           "overhead_per_extra_task_s": (m_tasks - m_one) / (n - 1), "ratio": m_tasks / m_one,
           "load_average": os.getloadavg()}
    print(json.dumps(out, indent=2))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
