"""Pickles are signed with a key kept outside the store; production can refuse pickles
altogether (issue 11, item 6)."""
import json
import os
import stat

from nb2pipe.errors import CorruptObjectError
from nb2pipe.store import ObjectRef, Store
from nbfiles import nb2pipe, write_nb

NOTEBOOK = ["%load_ext nb2pipe",
            "%%step make --out x\nx = {1, 2, 3}",                 # a set: stored as a pickle
            "%%step use --in x --out n\nn = len(x)"]


def run(project, *args, **env):
    env.setdefault("XDG_CONFIG_HOME", str(project / "config"))
    code, out, err = nb2pipe("run", "nb.ipynb", "--json", *args, cwd=project, env=env)
    assert "Traceback" not in err, err
    steps = {s["step"]: s for s in json.loads(out)["steps"]} if out.strip().startswith("{") else {}
    return code, steps, out + err


def last_key(project, step):
    return json.loads((project / ".nb2pipe" / "steps" / "nb" / f"{step}.json").read_text())["key"]


def test_the_signing_key_lives_in_the_user_config_not_in_the_store(tmp_path):
    write_nb(tmp_path / "nb.ipynb", NOTEBOOK)
    code, steps, text = run(tmp_path)
    assert code == 0, text
    key = tmp_path / "config" / "nb2pipe" / "signing-key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    in_store = [p.name for p in (tmp_path / ".nb2pipe").rglob("*") if p.is_file()]
    assert "secret" not in in_store
    secret = key.read_bytes().strip()
    assert not [p for p in (tmp_path / ".nb2pipe").rglob("*") if p.is_file() and secret in p.read_bytes()]


def test_a_pickle_signed_with_another_key_is_a_miss_with_one_warning(tmp_path):
    write_nb(tmp_path / "nb.ipynb", NOTEBOOK)
    code, steps, text = run(tmp_path, NB2PIPE_SIGNING_KEY="alice-" + "a" * 32)
    assert code == 0, text
    key_before = last_key(tmp_path, "make")
    code, steps, text = run(tmp_path, NB2PIPE_SIGNING_KEY="bob-" + "b" * 32)
    assert code == 0, text
    assert steps["make"]["status"] == "ran"
    assert text.count("signed with another signing key") == 1
    assert last_key(tmp_path, "make") == key_before          # keys never depend on the signing key
    assert steps["use"]["status"] == "cached"                 # same data version: no cascade


def test_refuse_mode_fails_a_step_whose_output_needs_pickle(tmp_path):
    write_nb(tmp_path / "nb.ipynb", NOTEBOOK)
    code, steps, text = run(tmp_path, NB2PIPE_PICKLE="refuse")
    assert code != 0
    assert steps["make"]["status"] == "failed"
    assert "output `x`" in text
    assert "this environment refuses pickles" in text
    assert "numpy array" in text


def test_refuse_mode_from_an_environment_never_loads_a_pickle(tmp_path):
    (tmp_path / "nb2pipe.toml").write_text('[envs.dev]\nstore = ".nb2pipe"\n'
                                           '[envs.prod]\nstore = ".nb2pipe"\npickle = "refuse"\n')
    write_nb(tmp_path / "nb.ipynb", NOTEBOOK)
    code, steps, text = run(tmp_path, "--env", "dev")
    assert code == 0, text
    code, steps, text = run(tmp_path, "--env", "prod")
    assert code != 0
    assert steps["make"]["status"] == "failed"
    assert "refuses pickles" in text


def test_store_api_refuses_to_load_a_pickle_and_leaves_it_in_place(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    os.environ, saved = env, os.environ
    try:
        ref = Store(tmp_path / "s").put({1, 2})
        strict = Store(tmp_path / "s", pickle="refuse")
        problem = strict.check(ref)
        try:
            strict.get(ref)
            raised = None
        except CorruptObjectError as e:
            raised = e.what
    finally:
        os.environ = saved
    assert "refuses to load pickles" in problem
    assert "refuses to load pickles" in raised
    assert Store(tmp_path / "s").has_object(ObjectRef.from_json(ref.to_json()))
