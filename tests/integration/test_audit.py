"""Runs you can audit, on an S3 store (moto's server on 127.0.0.1): `nb2pipe log`, `promote`
and `log --deployments` read it; a headless run keeps what each step printed, warned and
drew (masked), writes the executed notebook, and sends OpenLineage events (file transport)."""
import base64
import json
import struct

import boto3
import pytest

from nbfiles import nb2pipe, write_nb

SECRET = "s3cr3t-t0ken-7d1e"
STORE = "s3://pipes/audit"
CONFIG = f"""
[envs.prod]
store = "{STORE}"
lineage = {{ transport = "file", path = "lineage/events.jsonl", namespace = "acme" }}
"""
CELLS = [
    "%load_ext nb2pipe",
    f"%%params --secret token\ntoken = '{SECRET}'\nn = 5\nfail = False",
    "%%step load --out raw\nimport warnings\nraw = list(range(n))\n"
    "print('loaded', len(raw), 'rows with', token)\nwarnings.warn('raw is small')",
    "%%step draw --in raw --out total\nimport matplotlib\nmatplotlib.use('Agg')\n"
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(4, 3), dpi=100)\n"
    "ax.plot(raw)\ntotal = sum(raw)\nprint('total', total)",
    "%%step report --in total --out summary\nprint('checking', total)\nif fail:\n    raise ValueError('report refused for ' + token)\n"
    "summary = {'total': total}\nsummary",
]


@pytest.fixture(scope="module")
def s3_env():
    import moto.server as moto_server
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                 aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket="pipes")
    yield env
    server.stop()


@pytest.fixture(scope="module")
def audited(tmp_path_factory, s3_env):
    """One headless run on the S3 store of environment `prod`, with an executed notebook."""
    root = tmp_path_factory.mktemp("audit")
    (root / "nb2pipe.toml").write_text(CONFIG)
    write_nb(root / "a.ipynb", CELLS, kernelspec={"name": "python3", "display_name": "p", "language": "python"})
    code, out, err = nb2pipe("run", "a.ipynb", "--env", "prod", "--output-notebook", "out/a.ipynb", "--json",
                             cwd=root, env=s3_env)
    assert code == 0, err
    assert not (root / ".nb2pipe").exists()          # everything went to the S3 store
    return root, s3_env, json.loads(out)


def _record(env, run_id):
    """The run record as stored on S3."""
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    return json.loads(s3.get_object(Bucket="pipes", Key=f"audit/runs/{run_id}.json")["Body"].read())


def test_log_reads_runs_on_s3(audited):
    root, env, run = audited
    for where in (["--env", "prod"], ["--store", STORE]):
        code, out, err = nb2pipe("log", *where, "--json", cwd=root, env=env)
        assert code == 0, err
        rows = json.loads(out)
        assert [(r["run_id"], r["step"], r["status"]) for r in rows] == [
            (run["run_id"], s, "ran") for s in ("load", "draw", "report")]


def test_log_shows_a_steps_outputs_masked(audited, tmp_path):
    root, env, run = audited
    code, out, err = nb2pipe("log", run["run_id"], "--env", "prod", "--step", "load", cwd=root, env=env)
    assert code == 0, err
    lines = [ln.strip() for ln in out.splitlines()]
    assert "loaded 5 rows with ***" in lines
    assert "<step load>:5: UserWarning: raw is small" in lines
    assert SECRET not in out
    code, out, err = nb2pipe("log", run["run_id"], "--env", "prod", "--step", "draw", "--figures",
                             str(tmp_path / "figs"), cwd=root, env=env)
    assert code == 0, err
    fig = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("[figure ")]
    assert len(fig) == 1
    size, path = fig[0][len("[figure "):].split("] ")
    png = open(path, "rb").read()
    assert size == "x".join(map(str, struct.unpack(">II", png[16:24])))
    assert "total 10" in [ln.strip() for ln in out.splitlines()]


def test_executed_notebook_written_and_kept(audited, tmp_path):
    root, env, run = audited
    book = json.loads((root / "out" / "a.ipynb").read_text())
    steps = {c["metadata"]["nb2pipe"]["step"]: c for c in book["cells"] if "nb2pipe" in c["metadata"]}
    assert [c["execution_count"] for c in book["cells"]] == [None, 1, 2, 3, 4]
    assert [o["output_type"] for o in steps["load"]["outputs"]] == ["stream", "stream"]
    assert "".join(steps["load"]["outputs"][0]["text"]) == "loaded 5 rows with ***\n"
    png = base64.b64decode(steps["draw"]["outputs"][1]["data"]["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert steps["report"]["outputs"][1]["data"]["text/plain"] == "{'total': 10}"
    assert book["metadata"]["nb2pipe"]["run_id"] == run["run_id"]
    assert SECRET not in json.dumps(book)
    code, out, err = nb2pipe("log", run["run_id"], "--env", "prod", "--notebook", str(tmp_path / "k.ipynb"),
                             cwd=root, env=env)
    assert code == 0, err
    assert json.loads((tmp_path / "k.ipynb").read_text()) == book


def _events(root):
    return [json.loads(line) for line in (root / "lineage" / "events.jsonl").read_text().splitlines()]


def test_openlineage_events_per_step_in_order(audited):
    root, env, run = audited
    events = _events(root)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [
        (t, f"a.ipynb.{s}") for s in ("load", "draw", "report") for t in ("START", "COMPLETE")]
    assert {e["job"]["namespace"] for e in events} == {"acme"}
    assert len({e["run"]["facets"]["parent"]["run"]["runId"] for e in events}) == 1
    assert [e["run"]["runId"] for e in events][::2] == [e["run"]["runId"] for e in events][1::2]
    record = {s["step"]: s for s in _record(env, run["run_id"])["steps"]}
    done = {e["job"]["name"].split(".")[-1]: e for e in events if e["eventType"] == "COMPLETE"}
    draw_in = done["draw"]["inputs"][0]
    load_out = done["load"]["outputs"][0]
    assert (draw_in["namespace"], draw_in["name"]) == (STORE, "a.ipynb/load/raw") == \
        (load_out["namespace"], load_out["name"])
    assert draw_in["facets"]["version"]["datasetVersion"] == load_out["facets"]["version"]["datasetVersion"]
    assert done["report"]["outputs"][0]["name"] == "a.ipynb/report/summary"
    for step, e in done.items():     # the code version is the step's code hash
        assert e["job"]["facets"]["sourceCodeLocation"]["version"] == record[step]["code"]


def test_failed_step_sends_fail_masked_and_keeps_its_error(audited):
    root, env, _ = audited
    before = len(_events(root))
    code, out, err = nb2pipe("run", "a.ipynb", "--env", "prod", "-p", "fail=true", "--json", cwd=root, env=env)
    assert code == 1, err
    run = json.loads(out)
    events = _events(root)[before:]
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [("START", "a.ipynb.report"),
                                                                   ("FAIL", "a.ipynb.report")]
    message = events[1]["run"]["facets"]["errorMessage"]["message"]
    assert "report refused for ***" in message and SECRET not in json.dumps(events)
    code, out, err = nb2pipe("log", run["run_id"], "--env", "prod", "--step", "report", cwd=root, env=env)
    assert code == 0, err
    lines = [ln.strip() for ln in out.splitlines()]
    assert "checking 10" in lines                          # what it printed before it failed
    assert "ValueError: report refused for ***" in lines
    assert SECRET not in out


def test_gc_keeps_what_recent_runs_keep(audited, tmp_path):
    """A failed step's outputs and the executed notebook are reached only from their run
    records: gc keeps them while the record is among the last N."""
    root, env, run = audited
    code, out, err = nb2pipe("gc", "a.ipynb", "--env", "prod", "--grace-seconds", "0", cwd=root, env=env)
    assert code == 0, err
    failed = [r["run_id"] for r in json.loads(nb2pipe("log", "--env", "prod", "--json", cwd=root, env=env)[1])
              if r["status"] == "failed"]
    code, out, err = nb2pipe("log", failed[0], "--env", "prod", "--step", "report", cwd=root, env=env)
    assert "checking 10" in [ln.strip() for ln in out.splitlines()]
    code, out, err = nb2pipe("log", run["run_id"], "--env", "prod", "--notebook", str(tmp_path / "k.ipynb"),
                             cwd=root, env=env)
    assert code == 0, err
    assert json.loads((tmp_path / "k.ipynb").read_text()) == json.loads((root / "out" / "a.ipynb").read_text())


def test_export_and_promote_on_s3(audited, tmp_path):
    root, env, _ = audited
    # the same pipeline without a secret parameter: an export blanks a secret to None, which its
    # generated test_parameter_types refuses (a str expected) -- reported, not this test's subject
    proj, pkg = tmp_path / "proj", tmp_path / "pkg"
    proj.mkdir()
    (proj / "nb2pipe.toml").write_text(CONFIG)
    cells = [CELLS[0], "%%params\ntoken = 'public'\nn = 5\nfail = False", *CELLS[2:]]
    write_nb(proj / "a.ipynb", cells, kernelspec={"name": "python3", "display_name": "p", "language": "python"})
    code, out, err = nb2pipe("export", "a.ipynb", "--env", "prod", "-o", str(pkg), cwd=proj, env=env)
    assert code == 0, err
    manifest = json.loads((pkg / "a" / "manifest.json").read_text())
    assert sorted(manifest["contracts"]) == ["draw", "load", "report"]     # read from the S3 store
    code, out, err = nb2pipe("promote", str(pkg), "--to", "prod", cwd=proj, env=env)
    assert code == 0, err
    code, out, err = nb2pipe("log", "--deployments", "--env", "prod", "--json", cwd=proj, env=env)
    assert code == 0, err
    assert [(d["env"], d["action"], d["package"], d["version"]) for d in json.loads(out)] == [
        ("prod", "promote", "a", manifest["version"])]


@pytest.mark.parametrize("lineage, message", [
    ('{ transport = "kafka" }', "lineage.transport must be one of file, http, console"),
    ('{ transport = "file" }', "a file lineage transport needs a path"),
    ('{ transport = "http" }', "an http lineage transport needs a url"),
])
def test_bad_lineage_setting_is_one_message(tmp_path, lineage, message):
    (tmp_path / "nb2pipe.toml").write_text(f"[envs.prod]\nlineage = {lineage}\n")
    write_nb(tmp_path / "a.ipynb", CELLS)
    code, out, err = nb2pipe("status", "a.ipynb", "--env", "prod", cwd=tmp_path)
    assert code == 2
    assert err.splitlines()[0] == f"nb2pipe: environment `prod` in {tmp_path}: {message}"
    assert "Traceback" not in err
