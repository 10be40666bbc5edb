"""Headless runs on a remote kernel: a real Jupyter Kernel Gateway on 127.0.0.1, and an
S3-compatible store (moto's server) on 127.0.0.1."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import kernel_gateway  # noqa: F401 - a test dependency: missing fails, never skips
import pytest

from test_cli_run import nb2pipe, sales, write_nb  # noqa: F401 - fixtures

TOKEN = "t0k3n-for-tests"
NODELAY = subprocess.run([sys.executable, "-m", "nb2pipe.jupyter_nodelay"], capture_output=True,
                         text=True, check=True).stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kernels(url):
    req = urllib.request.Request(f"{url}/api/kernels", headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


class Gateway:
    def __init__(self, cwd, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "kernelgateway", "--KernelGatewayApp.ip=127.0.0.1",
             f"--KernelGatewayApp.port={self.port}", f"--KernelGatewayApp.auth_token={TOKEN}",
             "--JupyterWebsocketPersonality.list_kernels=True", f"--config={NODELAY}"],
            cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while True:
            try:
                kernels(self.url)
                return
            except OSError:
                assert time.time() < deadline and self.proc.poll() is None, "gateway did not start"
                time.sleep(0.3)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def gateway(tmp_path):
    g = Gateway(str(tmp_path))   # launched elsewhere: the runner must pass absolute paths
    yield g
    g.stop()


def test_remote_run_shares_the_store_and_leaves_no_kernel(sales, gateway):
    code, out, err = nb2pipe("run", "analysis.ipynb", "--gateway-url", gateway.url, "--token", TOKEN,
                             "--json", cwd=sales)
    assert code == 0, err
    assert {s["status"] for s in json.loads(out)["steps"]} == {"ran"}
    assert kernels(gateway.url) == []
    code, out, err = nb2pipe("run", "analysis.ipynb", "--json", cwd=sales)     # local, same store
    assert not json.loads(out)["kernel_started"]


def test_gateway_from_environment(sales, gateway):
    env_code = subprocess.run(
        [sys.executable, "-m", "nb2pipe", "run", "analysis.ipynb", "--executor", "remote", "--only", "load"],
        cwd=sales, capture_output=True, text=True, timeout=300,
        env={**os.environ, "JUPYTER_GATEWAY_URL": gateway.url, "JUPYTER_GATEWAY_AUTH_TOKEN": TOKEN})
    assert env_code.returncode == 0, env_code.stderr
    assert kernels(gateway.url) == []


def test_wrong_token_is_one_clear_message(sales, gateway):
    code, out, err = nb2pipe("run", "analysis.ipynb", "--gateway-url", gateway.url, "--token", "nope",
                             cwd=sales)
    assert code == 2
    assert "authentication failed" in err and "Traceback" not in err
    assert kernels(gateway.url) == []


def test_server_dying_mid_run(tmp_path):
    nb = write_nb(tmp_path / "p.ipynb", [
        "%load_ext nb2pipe",
        "%%step first --out a\na = 1",
        "%%step slow --in a --out b\nimport time\ntime.sleep(60)\nb = a",
    ])
    g = Gateway(str(tmp_path))
    try:
        proc = subprocess.Popen([sys.executable, "-m", "nb2pipe", "run", nb.name, "--gateway-url", g.url,
                                 "--token", TOKEN], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while not (tmp_path / ".nb2pipe" / "steps" / "p" / "first.json").exists():
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.2)
        time.sleep(1)
        g.proc.kill()
        out, err = proc.communicate(timeout=120)
    finally:
        g.stop()
    assert proc.returncode != 0
    assert "Traceback" not in err, err
    assert f"nb2pipe: lost the kernel server at {g.url}" in err, err
    # a hang would end in communicate()'s TimeoutExpired above, not in a wall-time check
    code, out, _ = nb2pipe("run", nb.name, "--dry-run", cwd=tmp_path)
    assert {ln.split()[1]: ln.split()[0] for ln in out.splitlines()} == {"first": "skip", "slow": "RUN"}


@pytest.fixture
def s3():
    import moto.server as moto_server
    import s3fs  # noqa: F401 - the store needs it
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    import boto3
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                 aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket="pipes")
    yield env
    server.stop()


def test_remote_kernel_with_s3_store(sales, tmp_path, s3):
    g = Gateway(str(tmp_path), env=s3)
    try:
        env = {**os.environ, **s3}
        p = subprocess.run([sys.executable, "-m", "nb2pipe", "run", "analysis.ipynb", "--store",
                            "s3://pipes/sales", "--gateway-url", g.url, "--token", TOKEN, "--json"],
                           cwd=sales, capture_output=True, text=True, timeout=300, env=env)
        assert p.returncode == 0, p.stderr
        assert kernels(g.url) == []
    finally:
        g.stop()
    p = subprocess.run([sys.executable, "-m", "nb2pipe", "run", "analysis.ipynb", "--store", "s3://pipes/sales",
                        "--json"], cwd=sales, capture_output=True, text=True, timeout=300, env=env)
    rep = json.loads(p.stdout)
    assert not rep["kernel_started"] and {s["status"] for s in rep["steps"]} == {"fresh"}
    assert list((sales / ".nb2pipe" / "objects").glob("*")) == []     # nothing stored locally
