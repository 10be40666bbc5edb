"""Headless planning at scale: `nb2pipe status` (no kernel) on generated notebooks of N
Python steps (a chain with random fan-in, 2 reads per step) and of N SQL steps, and the
import of nbformat + nbclient that every headless run pays, each against the obvious
alternative measured in the same run:

* status at N steps vs status at 10 steps (the slope per step, and whether it is linear);
* `import nbformat, nbclient` through nb2pipe's runner vs a plain import (same venv).

    .venv/bin/python bench/planning_scale.py [--quick] [--out bench/results-planning.json]

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


def timed(cmd: list[str], cwd: str) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results-planning.json"))
    args = ap.parse_args()
    rounds = 3 if args.quick else 5
    sizes = [10, 100, 1000]
    tmp = tempfile.mkdtemp(prefix="nb2bench-plan-")
    cases = {}
    for n in sizes:
        _notebook(os.path.join(tmp, f"py{n}.ipynb"), python_steps(n))
        cases[f"status, {n} Python steps"] = [PY, "-m", "nb2pipe", "status", f"py{n}.ipynb"]
    _notebook(os.path.join(tmp, "sql200.ipynb"), sql_steps(200))
    cases["status, 200 SQL steps"] = [PY, "-m", "nb2pipe", "status", "sql200.ipynb"]
    cases["import nbformat+nbclient via nb2pipe"] = [
        PY, "-c", "from nb2pipe.runner.jupyter_imports import nbformat; nbformat()"]
    cases["import nbformat+nbclient, plain"] = [PY, "-c", "import nbformat, nbclient"]
    times: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(rounds):
        order = list(cases)
        order = order[r % len(order):] + order[:r % len(order)]     # rotate: drift hits all alike
        for k in order:
            times[k].append(timed(cases[k], tmp))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["status, 10 Python steps"]
    slope = (med["status, 1000 Python steps"] - base) / 990
    result = {
        "rounds": rounds, "median_s": med, "all_s": times,
        "ratios": {
            "status 1000 / status 10": med["status, 1000 Python steps"] / base,
            "status 100 / status 10": med["status, 100 Python steps"] / base,
            "per extra Python step, ms": slope * 1000,
            "per extra SQL step, ms": (med["status, 200 SQL steps"] - base) / 190 * 1000,
            "import via nb2pipe / plain import": med["import nbformat+nbclient via nb2pipe"]
            / med["import nbformat+nbclient, plain"],
        },
        "load_after": os.getloadavg()[0],
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    for k, v in med.items():
        print(f"{k:<42} {v * 1000:8.0f} ms")
    for k, v in result["ratios"].items():
        print(f"{k:<42} {v:8.3f}")


if __name__ == "__main__":
    main()
