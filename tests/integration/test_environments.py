"""Environments, read-only exploration on production results, promotion, --watch."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from test_cli_run import nb2pipe, sales, write_nb  # noqa: F401

CONFIG = """
default_env = "dev"

[envs.dev]
store = ".nb2pipe"

[envs.prod]
store = "{prod}"
params = {{ min_units = 2 }}
credentials = {{ NB2PIPE_TEST_TOKEN = "PROD_TOKEN_VAR" }}

[envs.explore]
store = "{mine}"
read_from = ["prod"]
"""
SECRET = "prod-credential-7c1e55"


def snapshot(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def project(sales, tmp_path):
    (sales / "nb2pipe.toml").write_text(CONFIG.format(prod=tmp_path / "prod", mine=tmp_path / "mine"))
    return sales


def env_run(project, *args, env=None):
    p = subprocess.run([sys.executable, "-m", "nb2pipe", *args], cwd=project, capture_output=True,
                       text=True, timeout=600, env={**os.environ, "PROD_TOKEN_VAR": SECRET, **(env or {})})
    return p.returncode, p.stdout, p.stderr


def test_prod_then_explore_reuses_prod_without_writing_it(project, tmp_path):
    code, out, err = env_run(project, "run", "analysis.ipynb", "--env", "prod", "--json")
    assert code == 0, err
    assert {s["status"] for s in json.loads(out)["steps"]} == {"ran"}
    before = snapshot(tmp_path / "prod")
    # the filesystem itself refuses writes to prod from here on (immutable, even for root)
    lock = subprocess.run(["chattr", "-R", "+i", str(tmp_path / "prod")], capture_output=True, text=True)
    assert lock.returncode == 0, f"chattr +i (needs root and ext4/xfs/btrfs): {lock.stderr}"
    try:
        # explore: everything comes from prod's cache, nothing runs, nothing is written to prod
        code, out, err = env_run(project, "run", "analysis.ipynb", "--env", "explore", "-p", "min_units=2",
                                 "--json")
        rep = json.loads(out)
        assert code == 0 and not rep["kernel_started"], err
        # a change in the lab computes into the user's store only
        code, out, err = env_run(project, "run", "analysis.ipynb", "--env", "explore", "-p", "min_units=3",
                                 "--json")
        assert code == 0, err
    finally:
        subprocess.run(["chattr", "-R", "-i", str(tmp_path / "prod")], check=True)
    st = {s["step"]: s["status"] for s in json.loads(out)["steps"]}
    assert st["load"] == "fresh" and st["clean"] == "ran"
    assert snapshot(tmp_path / "prod") == before
    assert any((tmp_path / "mine" / "objects").rglob("*.arrow"))
    # every run record names its environment; the credential value is nowhere
    records = [json.loads(p.read_text()) for p in (tmp_path / "mine" / "runs").glob("*.json")]
    assert {r["env"] for r in records} == {"explore"}
    everything = out + err
    for root in (tmp_path / "prod", tmp_path / "mine", project):
        for d, _, files in os.walk(root):
            for f in files:
                everything += open(os.path.join(d, f), "rb").read().decode("latin-1")
    assert SECRET not in everything


def test_env_params_apply(project, tmp_path):
    code, out, err = env_run(project, "run", "analysis.ipynb", "--env", "prod", "--json")
    assert code == 0, err
    code, out, err = env_run(project, "run", "analysis.ipynb", "--env", "dev", "--dry-run", "--json")
    states = {r["step"]: r["state"] for r in json.loads(out)}
    assert states["load"] == "never run"          # dev has its own store


@pytest.mark.parametrize("args, extra_env, fragment", [
    (["--env", "prdo"], {}, "unknown environment `prdo` (did you mean `prod`?)"),
    (["--env", "prod"], {"PROD_TOKEN_VAR": None}, "needs the credential NB2PIPE_TEST_TOKEN, but $PROD_TOKEN_VAR is not set"),
])
def test_bad_configuration_is_one_message_before_anything_runs(project, args, extra_env, fragment):
    env = {**os.environ, "PROD_TOKEN_VAR": SECRET}
    for k, v in extra_env.items():
        if v is None:
            env.pop(k, None)
    p = subprocess.run([sys.executable, "-m", "nb2pipe", "run", "analysis.ipynb", *args], cwd=project,
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 2 and fragment in p.stderr and "Traceback" not in p.stderr
    assert SECRET not in p.stderr + p.stdout


def test_store_without_write_permission_fails_before_any_step(project, tmp_path):
    prod = tmp_path / "prod"
    prod.mkdir()
    lock = subprocess.run(["chattr", "+i", str(prod)], capture_output=True, text=True)
    assert lock.returncode == 0, f"chattr +i (needs root and ext4/xfs/btrfs): {lock.stderr}"
    try:
        code, out, err = env_run(project, "run", "analysis.ipynb", "--env", "prod")
    finally:
        subprocess.run(["chattr", "-i", str(prod)], check=True)
    assert code == 2 and "cannot write to the store" in err and "Traceback" not in err
    assert "starting a kernel" not in out


def test_malformed_store_url(project):
    (project / "nb2pipe.toml").write_text('[envs.bad]\nstore = "s 3://nope"\n')
    code, out, err = nb2pipe("status", "analysis.ipynb", "--env", "bad", cwd=project)
    assert code == 2 and "is not a valid URL" in err


def test_kernel_switches_to_explore_env(project, tmp_path):
    code, out, err = env_run(project, "run", "analysis.ipynb", "--env", "prod", "-p", "min_units=1")
    assert code == 0, err
    from kernelharness import Kernel
    k = Kernel(str(project), env={"PROD_TOKEN_VAR": SECRET})
    try:
        k.ok("%load_ext nb2pipe")
        assert "env: explore" in k.ok("%nb2pipe env explore").stdout
        nb = json.loads((project / "analysis.ipynb").read_text())
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            if cell["cell_type"] == "code" and src.startswith(("%%setup", "%%params", "%%step")):
                r = k.ok(src, cell_id=cell["id"])
                if src.startswith("%%step"):
                    assert "cached" in r.stdout, r.stdout
        assert "env: explore" in k.ok("%dag status").data[0]["text/plain"]
    finally:
        k.shutdown()


def test_the_kernels_environment_carries_only_its_own_credentials(project):
    """%nb2pipe env NAME puts NAME's credentials into the kernel's environment (its steps and
    store client read them there) and takes the previous environment's back; so does
    %unload_ext nb2pipe."""
    from kernelharness import Kernel
    k = Kernel(str(project), env={"PROD_TOKEN_VAR": SECRET})
    seen = "import os; print(os.environ.get('NB2PIPE_TEST_TOKEN') == %r)" % SECRET
    try:
        shown = [k.ok("%load_ext nb2pipe").stdout, k.ok(seen).stdout]       # dev: none
        for line in ("%nb2pipe env prod", seen, "%nb2pipe env dev", seen, "%nb2pipe env explore",
                     seen, "%unload_ext nb2pipe", seen):
            shown.append(k.ok(line).stdout)
    finally:
        k.shutdown()
    assert [s.strip() for s in shown[1::2]] == ["False", "True", "False", "True", "False"], shown


def test_promote_refuse_rollback_and_log(project, tmp_path):
    pkg = tmp_path / "pkg"
    env = {"PROD_TOKEN_VAR": SECRET}
    assert env_run(project, "export", "analysis.ipynb", "-o", str(pkg), env=env)[0] == 0
    code, out, err = env_run(project, "promote", str(pkg), "--to", "prod", env=env)
    assert code == 0, err
    v1 = json.loads((pkg / "analysis" / "manifest.json").read_text())["version"]
    assert f"promoted analysis {v1} in `prod`" in out
    # a failing generated test: refused
    (pkg / "tests" / "test_extra.py").write_text("def test_fails():\n    assert False\n")
    code, out, err = env_run(project, "promote", str(pkg), "--to", "prod", env=env)
    assert code == 2 and "tests fail" in err
    (pkg / "tests" / "test_extra.py").unlink()
    # the notebook changed since export: refused
    nbp = project / "analysis.ipynb"
    nb = json.loads(nbp.read_text())
    for c in nb["cells"]:
        if "".join(c["source"]).startswith("%%step report"):
            c["source"] = "".join(c["source"]) + "\n_x = 1"
    nbp.write_text(json.dumps(nb))
    code, out, err = env_run(project, "promote", str(pkg), "--to", "prod", env=env)
    assert code == 2 and "changed since this package was exported" in err
    # export again: a new version, promoted; then roll back to v1
    assert env_run(project, "export", "analysis.ipynb", "-o", str(pkg), "--overwrite", env=env)[0] == 0
    v2 = json.loads((pkg / "analysis" / "manifest.json").read_text())["version"]
    assert v2 != v1
    code, out, err = env_run(project, "promote", str(pkg), "--to", "prod", env=env)
    assert code == 0 and f"(was {v1})" in out, err
    code, out, err = env_run(project, "promote", str(pkg), "--to", "prod", "--rollback", env=env)
    assert code == 0 and f"rolled back to analysis {v1}" in out, err
    code, out, err = env_run(project, "log", "--deployments", "--env", "prod", "--json", env=env)
    history = json.loads(out)
    assert [(h["action"], h["version"]) for h in history] == [("rollback", v1), ("promote", v2), ("promote", v1)]


def test_watch_reruns_when_a_file_arrives(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("x\n1\n")
    nb = write_nb(tmp_path / "w.ipynb", [
        "%load_ext nb2pipe",
        "%%step files --src data/*.csv --out n\nimport glob\nn = len(glob.glob('data/*.csv'))",
    ])
    # Ctrl-C as from a terminal: a CI runner started in the background passes SIGINT down
    # ignored (POSIX shells do that for `cmd &`), and Python then keeps ignoring it
    ctrl_c = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
              " sys.argv = ['nb2pipe'] + sys.argv[1:]; runpy.run_module('nb2pipe', run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", ctrl_c, "run", nb.name, "--watch"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []

    def wait_for(text, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if text in line:
                return
        raise AssertionError(f"never saw {text!r}: {''.join(lines)}")
    def save(path, text):
        # as editors save: a temporary file renamed into place, so one save is one change
        # however slowly this process runs (a plain write_text is two events, open and write,
        # which a loaded machine can space further apart than the watcher waits for quiet)
        tmp = path.with_name("." + path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    try:
        wait_for("waiting for changes")
        save(tmp_path / "data" / "b.csv", "x\n2\n")
        wait_for("changed: data/b.csv")
        wait_for("files")                 # the step re-ran
        wait_for("waiting for changes")
        save(tmp_path / "data" / "a.csv", "x\n3\n")    # a write to a watched source
        wait_for("changed: data/a.csv")
        wait_for("waiting for changes")
        save(tmp_path / "later.txt", "not a source")   # no run: not read by any step
        save(tmp_path / "data" / "c.csv", "x\n4\n")    # the last change: its run ends the test
        wait_for("changed: data/c.csv")
        wait_for("waiting for changes")
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines)
    # each change made exactly one run (a second run would print its own `changed:` line first)
    assert [ln.strip() for ln in lines if ln.startswith("changed:")] == [
        "changed: data/b.csv", "changed: data/a.csv", "changed: data/c.csv"], out
    assert out.count("✓ files") == 4, out
    assert proc.returncode == 0
