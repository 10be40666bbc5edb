"""Wrong data must never be served: a result computed with one secret is not served for
another, and two notebooks sharing a store never see each other's per-step state."""
import json
import os

from nbfiles import nb2pipe, write_nb
from nb2pipe.fingerprint import secret_fingerprint


SECRET_NB = ["%%params --secret api_token\napi_token = ''",
             "%%step fetch\nrows = {'account': api_token.split(':')[0]}",
             "%%step show --out shown\nshown = rows['account'].upper()"]


def run_json(tmp_path, *args):
    code, out, err = nb2pipe("run", "t.ipynb", "--json", *args, cwd=tmp_path)
    assert code == 0, err
    return {s["step"]: s for s in json.loads(out)["steps"]}


def test_a_result_made_with_one_secret_is_not_served_for_another(tmp_path):
    write_nb(tmp_path / "t.ipynb", SECRET_NB)
    first = run_json(tmp_path, "-p", "api_token=alice:x")
    assert first["fetch"]["status"] == "ran"
    again = run_json(tmp_path, "-p", "api_token=alice:x")
    assert again["fetch"]["status"] == "fresh"
    bob = run_json(tmp_path, "-p", "api_token=bob:y")
    assert bob["fetch"]["status"] == "ran"
    assert bob["fetch"]["key"] != first["fetch"]["key"]
    # the store holds neither value, in any file
    for root, _, files in os.walk(tmp_path / ".nb2pipe"):
        for f in files:
            data = open(os.path.join(root, f), "rb").read()
            assert b"alice:x" not in data and b"bob:y" not in data, f


def test_secret_digest_is_stable_and_not_the_value():
    a = secret_fingerprint("api_token", "alice:x")
    assert a == secret_fingerprint("api_token", "alice:x")
    assert a != secret_fingerprint("api_token", "bob:y")
    assert a != secret_fingerprint("other", "alice:x")      # salted by name
    assert "alice" not in a


def test_a_credential_does_not_change_keys(tmp_path):
    write_nb(tmp_path / "t.ipynb", ["%%params --credential=token\ntoken = ''",
                                    "%%step fetch\nok = len(token) > 0"])
    first = run_json(tmp_path, "-p", "token=one")
    second = run_json(tmp_path, "-p", "token=two")
    assert first["fetch"]["status"] == "ran"
    assert second["fetch"]["status"] == "fresh"


def test_two_notebooks_in_one_folder_keep_their_own_step_state(tmp_path):
    write_nb(tmp_path / "a.ipynb", ["%%step load\nrows = [1, 2, 3]", "%%step total\nt = sum(rows)"])
    write_nb(tmp_path / "b.ipynb", ["%%step load\nrows = ['x', 'y']", "%%step total\nt = len(rows)"])
    assert nb2pipe("run", "a.ipynb", cwd=tmp_path)[0] == 0
    assert nb2pipe("run", "b.ipynb", cwd=tmp_path)[0] == 0
    code, out, err = nb2pipe("status", "a.ipynb", "--json", cwd=tmp_path)
    assert code == 0, err
    states = {s["step"]: s["state"] for s in json.loads(out)}
    assert states == {"load": "fresh", "total": "fresh"}
    # each notebook's last results live apart
    assert sorted(os.listdir(tmp_path / ".nb2pipe" / "steps")) == ["a", "b"]
    # an edit of a's load: a's total is stale because of *a's* load, b untouched
    write_nb(tmp_path / "a.ipynb", ["%%step load\nrows = [1, 2, 3, 4]", "%%step total\nt = sum(rows)"])
    code, out, _ = nb2pipe("status", "a.ipynb", "--json", cwd=tmp_path)
    a = {s["step"]: s for s in json.loads(out)}
    assert a["load"]["state"] == "stale" and a["load"]["reasons"] == ["code changed"]
    code, out, _ = nb2pipe("status", "b.ipynb", "--json", cwd=tmp_path)
    assert {s["step"]: s["state"] for s in json.loads(out)} == {"load": "fresh", "total": "fresh"}
