"""Peak memory of storing and loading a large value through nb2pipe's store, against a
plain script doing the same with the same library (issue 11, item 13).

Each case runs in its own child process, twice: the plain script (write the value to a
file, drop it, read it back) and nb2pipe (``Store.put``, drop the value, ``Store.get``
from a fresh ``Store`` as a consumer would).  The figure is the child's peak resident set
(``ru_maxrss`` from ``os.wait4``), which counts the interpreter and its imports too, so the
ratio is of whole processes.  Cases: a bytes value, a pandas frame (Arrow IPC), and
``steps``: two steps run by the engine (no kernel; a producer of a bytes output and its
consumer), then the producer edited and both re-run, against a script that makes, writes
and measures the same two values in turn.

    .venv/bin/python bench/memory.py [--mb 1024] [--out FILE]

``NB2BENCH_SRC`` points the children at another checkout's ``src`` (to measure an older
version of nb2pipe against the same plain scripts).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import PY, ROOT  # noqa: E402

MAKE = {
    "bytes": "value = bytes([1]) * {n}",
    "steps": "",
    "frame": "import numpy as np, pandas as pd\n"
             "cols = 8\n"
             "value = pd.DataFrame({{f'c{{i}}': np.arange({n} // 8 // cols, dtype='float64') + i"
             " for i in range(cols)}})",
}
PLAIN = {
    "bytes": "with open(path, 'wb') as f:\n    f.write(value)\n"
             "del value\n"
             "with open(path, 'rb') as f:\n    back = f.read()\n"
             "assert len(back) == {n}",
    "frame": "import pyarrow as pa\n"
             "table = pa.Table.from_pandas(value)\n"
             "with pa.OSFile(path, 'wb') as sink, pa.ipc.new_file(sink, table.schema) as w:\n"
             "    w.write_table(table)\n"
             "del value, table\n"
             "back = pa.ipc.open_file(pa.memory_map(path, 'r')).read_all().to_pandas()\n"
             "assert len(back) == {n} // 8 // 8",
    "steps": "blob = bytes([1]) * {n}\n"
             "with open(path, 'wb') as f:\n    f.write(blob)\n"
             "m = len(blob)\n"
             "blob = bytes([2]) * ({n} - 1)\n"
             "with open(path, 'wb') as f:\n    f.write(blob)\n"
             "m = len(blob)",
}
KEY = "bench-signing-key-0123456789"
NB2PIPE = {
    "any": "import sys\nsys.path.insert(0, {src!r})\n"
           "from nb2pipe.store import Store\n"
           "ref = Store(path, signing_key=KEY).put(value)\n"
           "del value\n"
           "back = Store(path, signing_key=KEY).get(ref)\n"
           "assert len(back) in ({n}, {n} // 8 // 8)",
    # two steps run by the engine (no kernel), then the producer edited and both re-run
    "steps": "import sys, os\nsys.path.insert(0, {src!r})\n"
             "from nb2pipe import capture\nfrom nb2pipe.engine import Engine\n"
             "from nb2pipe.spec import parse_step_line\nfrom nb2pipe.store import Store\n"
             "class Quiet(capture.StepIO):\n    def show(self, output):\n        pass\n"
             "eng = Engine(Store(path, signing_key=KEY), os.path.dirname(path), io=Quiet(),"
             " warn=lambda m: None)\n"
             "eng.define(parse_step_line('make --out blob'), 'blob = bytes([1]) * {n}')\n"
             "eng.define(parse_step_line('use --in blob --out m'), 'm = len(blob)')\n"
             "assert [o.status for o in eng.run()] == ['ran', 'ran']\n"
             "eng.define(parse_step_line('make --out blob'), 'blob = bytes([2]) * ({n} - 1)')\n"
             "assert [o.status for o in eng.run()] == ['ran', 'ran']",
}


def peak_mb(code: str, workdir: str) -> float:
    """Run ``code`` in a child Python; its peak resident set in MB."""
    proc = subprocess.Popen([PY, "-c", code], cwd=workdir)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"bench child failed ({proc.returncode}):\n{code}")
    return usage.ru_maxrss / 1024          # KB on Linux


def measure(case: str, nbytes: int, src: str) -> dict:
    out = {}
    for who, body in (("plain", PLAIN[case]), ("nb2pipe", NB2PIPE.get(case, NB2PIPE["any"]))):
        with tempfile.TemporaryDirectory(prefix="nb2bench-mem-") as d:
            path = os.path.join(d, "value.file" if who == "plain" else "store")
            code = f"path = {path!r}\nKEY = {KEY!r}\n" + MAKE[case].format(n=nbytes) + "\n" + body.format(n=nbytes, src=src)
            out[who] = round(peak_mb(code, d), 1)
    out["ratio"] = round(out["nb2pipe"] / out["plain"], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=1024, help="size of the value (default 1024 MB)")
    ap.add_argument("--out", help="write the results as JSON here too")
    a = ap.parse_args()
    src = os.environ.get("NB2BENCH_SRC") or os.path.join(ROOT, "src")
    nbytes = a.mb * 2**20
    results = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "mb": a.mb,
               "src": "NB2BENCH_SRC" if os.environ.get("NB2BENCH_SRC") else "this checkout",
               "peak_rss_mb": {case: measure(case, nbytes, src) for case in MAKE}}
    text = json.dumps(results, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
