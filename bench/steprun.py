"""Costs of running a step like its own cell, measured in-process against the obvious
alternative in the same run:

* in-place detection per input: ``inplace.token`` before and after a step (copy-on-write
  buffer identity) vs a deep copy (what isolation would cost without it) vs re-hashing the
  content (what detecting a change by content would cost); 10M rows × 4 columns and 1,000 rows.
* output capture and replay: a cached step that drew one matplotlib figure and printed a
  line vs the same cached step with no outputs (the difference is the replay), and a miss
  with capture vs without (the difference is the capture: stream tee + PNG render).

    .venv/bin/python bench/steprun.py [--quick] [--out FILE]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from nb2pipe import capture, inplace  # noqa: E402
from nb2pipe.engine import Engine  # noqa: E402
from nb2pipe.spec import parse_step_line  # noqa: E402
from nb2pipe.store import Store, content_hash  # noqa: E402

perf = time.perf_counter


def _median_ms(fn, reps: int) -> float:
    fn()
    out = []
    for _ in range(reps):
        t = perf()
        fn()
        out.append((perf() - t) * 1000)
    return statistics.median(out)


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.integers(0, 1000, rows), "b": rng.random(rows),
                         "c": rng.random(rows), "d": np.arange(rows)})


def bench_detection(rows: int, reps: int) -> dict:
    df = frame(rows)
    handed = df.copy(deep=False)           # what a step gets (copy-on-write)

    def token_pair():
        before = inplace.token(handed)
        return inplace.token(handed) == before

    def deep():
        df.copy(deep=True)

    def rehash():
        content_hash(pd.util.hash_pandas_object(handed, index=False).to_numpy().tobytes())

    out = {"rows": rows, "token_ms": _median_ms(token_pair, reps), "deep_copy_ms": _median_ms(deep, reps),
           "rehash_ms": _median_ms(rehash, max(3, reps // 3))}
    out["deep_copy_over_token"] = out["deep_copy_ms"] / out["token_ms"]
    out["rehash_over_token"] = out["rehash_ms"] / out["token_ms"]
    return out


class _Quiet(capture.StepIO):
    def show(self, output: dict) -> None:     # replay costs the same; only the terminal is spared
        pass


def bench_capture(reps: int) -> dict:
    import matplotlib
    matplotlib.use("agg")
    tmp = tempfile.mkdtemp(prefix="nb2bench-")
    plot = ("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 3, 2])\n"
            "print('drew')\nn = 1")
    plain = "n = 1"
    res = {}
    for label, code in (("plot", plot), ("plain", plain)):
        eng = Engine(Store(os.path.join(tmp, label)), tmp, io=_Quiet(), warn=lambda m: None)
        eng.define(parse_step_line("s"), code)
        eng.run_cell("s")
        res[f"hit_{label}_ms"] = _median_ms(lambda: eng.run_cell("s"), reps)
        counter = iter(range(10**9))

        def miss():
            eng.define(parse_step_line("s"), code + f"\n_v = {next(counter)}")
            eng.run_cell("s")
        res[f"miss_{label}_ms"] = _median_ms(miss, max(5, reps // 4))
    res["replay_ms"] = res["hit_plot_ms"] - res["hit_plain_ms"]
    res["capture_ms"] = res["miss_plot_ms"] - res["miss_plain_ms"]
    # the figure itself, drawn and rendered by a plain script (what any notebook pays)
    import matplotlib.pyplot as plt

    def script():
        fig, ax = plt.subplots()
        ax.plot([1, 3, 2])
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        plt.close(fig)
    res["plain_figure_png_ms"] = _median_ms(script, max(5, reps // 4))
    return res


def run(quick: bool = False) -> dict:
    reps = 20 if quick else 50
    big = bench_detection(1_000_000 if quick else 10_000_000, 7 if quick else 11)
    small = bench_detection(1_000, reps * 10)
    cap = bench_capture(reps)
    targets = [
        {"what": "in-place detection per input (10M rows)", "target": "< 1 ms",
         "value_ms": round(big["token_ms"], 4), "met": big["token_ms"] < 1.0},
        {"what": "replay of a cached step with one figure", "target": "< 5 ms",
         "value_ms": round(cap["replay_ms"], 3), "met": cap["replay_ms"] < 5.0},
    ]
    return {"detection_10m" if not quick else "detection_1m": big, "detection_1k": small,
            "capture": cap, "targets": targets}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    r = run(a.quick)
    text = json.dumps(r, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)
