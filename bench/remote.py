"""Per-cell round trip on a remote kernel (Jupyter Kernel Gateway on 127.0.0.1) against a
local kernel, both driven by nbclient as `nb2pipe run --gateway-url` drives them.

    .venv/bin/python bench/remote.py [--quick]      # prints JSON

Cells: a plain `y = 1` cell, and a cached `%%step` cell (a hit).  The gateway's websocket
leaves Nagle's algorithm on (see shared recipes); nb2pipe's client side sets TCP_NODELAY.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _time_cells(client, book, n: int) -> dict:
    import nbformat
    out = {}
    for name, src in (("plain", "y = 1"), ("step_hit", "%%step tiny --out z\nz = 41 + 1")):
        samples = []
        for i in range(n):
            cell = nbformat.v4.new_code_cell(src)
            book.cells.append(cell)
            t0 = time.perf_counter()
            client.execute_cell(cell, len(book.cells) - 1)
            samples.append(time.perf_counter() - t0)
        samples = samples[3:]     # warm-up: the first step run is a miss
        out[name] = {"median_ms": statistics.median(samples) * 1000, "n": len(samples)}
    out["step_overhead_ms"] = out["step_hit"]["median_ms"] - out["plain"]["median_ms"]
    return out


def _session(kernel_manager_class=None) -> dict:
    import nbformat
    from nbclient import NotebookClient
    tmp = tempfile.mkdtemp(prefix="nb2bench-remote-")
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"__import__('os').chdir({tmp!r})\n%load_ext nb2pipe")])
    extra = {"kernel_manager_class": kernel_manager_class} if kernel_manager_class else {}
    client = NotebookClient(book, kernel_name="python3", timeout=120, **extra)
    with client.setup_kernel(cwd=tmp):
        client.execute_cell(book.cells[0], 0)
        return _time_cells(client, book, N)


def run(quick: bool = False) -> dict:
    global N
    N = 23 if quick else 103
    from nb2pipe.runner import remote
    local = _session()
    out = {"cells_per_case": N - 3, "local": local}
    for label, extra in (("gateway", []), ("gateway_nodelay", [f"--config={NODELAY}"])):
        far = _gateway_session(extra)
        out[label] = far
        out[f"ratio_plain_{label}"] = far["plain"]["median_ms"] / local["plain"]["median_ms"]
        out[f"ratio_step_hit_{label}"] = far["step_hit"]["median_ms"] / local["step_hit"]["median_ms"]
    del remote
    out["targets"] = [
        {"target": "remote kernel cell round trip, stock Kernel Gateway vs local (reported)",
         "value": round(out["ratio_plain_gateway"], 2), "unit": "x", "met": None},
        {"target": "remote kernel cell round trip close to local with nb2pipe.jupyter_nodelay"
                   " (<= 2x counted as met)",
         "value": round(out["ratio_plain_gateway_nodelay"], 2), "unit": "x",
         "met": out["ratio_plain_gateway_nodelay"] <= 2.0},
        {"target": "  same, a cached %%step cell (reported)",
         "value": round(out["ratio_step_hit_gateway_nodelay"], 2), "unit": "x", "met": None},
    ]
    return out


NODELAY = os.path.join(os.path.dirname(HERE), "src", "nb2pipe", "jupyter_nodelay.py")


def _gateway_session(extra: list[str]) -> dict:
    port, token = _free_port(), secrets.token_hex(16)
    gw_dir = tempfile.mkdtemp(prefix="nb2bench-gw-")
    gw = subprocess.Popen([sys.executable, "-m", "jupyter", "kernelgateway", "--KernelGatewayApp.ip=127.0.0.1",
                           f"--KernelGatewayApp.port={port}", f"--KernelGatewayApp.auth_token={token}", *extra],
                          cwd=gw_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(urllib.request.Request(f"{url}/api/kernelspecs",
                                                              headers={"Authorization": f"token {token}"}), timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        from nb2pipe.runner import remote
        remote.configure(url, token)
        return _session(remote.manager_class())
    finally:
        gw.terminate()
        gw.wait(20)


N = 103

if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
