"""A store whose entries were edited by hand or by an attacker: an invalid entry is a
miss with one warning, never a traceback, never wrong data, and never a reason to read,
move or delete a file outside the store (issue 11, items 4 and 5)."""
import json
import logging
import os

import pytest

from nb2pipe.errors import CorruptObjectError
from nb2pipe.store import ObjectRef, Store, content_hash
from nbfiles import nb2pipe, write_nb

WARNING = "invalid cache entry"

NOTEBOOK = [
    "%load_ext nb2pipe",
    "%%step make --out x\nx = {'k': 1}",
    "%%step other --out z\nz = [1, 2, 3]",
    "%%step use --in x --out y\ny = len(x)\nopen('seen.txt', 'w').write(repr(x))",
]


def run_json(cwd):
    code, out, err = nb2pipe("run", "nb.ipynb", "--json", cwd=cwd)
    assert code == 0 and "Traceback" not in err, err
    return {s["step"]: s["status"] for s in json.loads(out)["steps"]}, out + err


def entry_file(project, step):
    found = [p for p in (project / ".nb2pipe" / "entries").rglob("*.json")
             if json.loads(p.read_text()).get("step") == step]
    assert len(found) == 1, found
    return found[0]


def tamper(project, step, change):
    path = entry_file(project, step)
    entry = json.loads(path.read_text())
    change(entry)
    path.write_text(json.dumps(entry))
    return entry


@pytest.fixture
def project(tmp_path):
    write_nb(tmp_path / "nb.ipynb", NOTEBOOK)
    st, _ = run_json(tmp_path)
    assert st == {"make": "ran", "other": "ran", "use": "ran"}
    assert (tmp_path / "seen.txt").read_text() == "{'k': 1}"
    return tmp_path


def test_oid_with_a_path_never_touches_a_file_outside_the_store(project):
    victim = project / "victim.json"
    victim.write_text('{"precious": true}')
    tamper(project, "make", lambda e: e["outputs"]["x"].update(oid="../victim"))
    st, text = run_json(project)
    assert victim.read_text() == '{"precious": true}'          # neither read as x, moved nor deleted
    assert st["make"] == "ran"                                  # the bad entry is a miss
    assert text.count(WARNING) == 1, text
    assert (project / "seen.txt").read_text() == "{'k': 1}"
    assert not [f for f in os.listdir(project / ".nb2pipe" / "tmp") if "victim" in f]


def test_unknown_codec_is_a_miss_with_one_warning(project):
    tamper(project, "make", lambda e: e["outputs"]["x"].update(codec="xyz"))
    code, out, err = nb2pipe("status", "nb.ipynb", cwd=project)
    assert code == 0 and "Traceback" not in err and "KeyError" not in err, err
    st, text = run_json(project)
    assert st["make"] == "ran"
    assert (out + err + text).count(WARNING) == 1, out + err + text
    st, text = run_json(project)                                # recomputed: a plain hit again
    assert set(st.values()) == {"fresh"} and WARNING not in text


def test_missing_outputs_is_a_miss(project):
    tamper(project, "make", lambda e: e.pop("outputs"))
    st, text = run_json(project)
    assert st["make"] == "ran" and text.count(WARNING) == 1, text
    assert "KeyError" not in text


def test_entry_pointing_at_another_object_is_not_served(project):
    """`other`'s list [1,2,3] is a valid object of the same size as make's {"k":1}; an
    entry of `make` rewritten to point at it must be a miss, and the object it points at
    (still used by `other`) must not be treated as damaged."""
    z = json.loads(entry_file(project, "other").read_text())["outputs"]["z"]
    tamper(project, "make", lambda e: e["outputs"]["x"].update(oid=z["oid"]))
    st, text = run_json(project)
    assert st["make"] == "ran" and text.count(WARNING) == 1, text
    assert (project / "seen.txt").read_text() == "{'k': 1}"    # never len([1, 2, 3])
    z_path = project / ".nb2pipe" / "objects" / z["oid"][:2] / f"{z['oid']}.json"
    assert z_path.read_text() == "[1,2,3]"                     # the valid object stays


def test_entry_with_the_wrong_size_does_not_move_a_valid_object_aside(project):
    z = json.loads(entry_file(project, "other").read_text())["outputs"]["z"]
    tamper(project, "make", lambda e: e["outputs"]["x"].update(oid=z["oid"], nbytes=3))
    st, text = run_json(project)
    assert st["make"] == "ran" and st["other"] == "fresh", text
    z_path = project / ".nb2pipe" / "objects" / z["oid"][:2] / f"{z['oid']}.json"
    assert z_path.read_text() == "[1,2,3]"


# ---------------------------------------------------------------- the store's API

@pytest.mark.parametrize("bad", [
    {"oid": "../victim", "codec": "json", "type": "builtins.dict", "nbytes": 7},
    {"oid": "AB" * 16, "codec": "json", "type": "builtins.dict", "nbytes": 7},
    {"oid": "ab" * 15, "codec": "json", "type": "builtins.dict", "nbytes": 7},
    {"oid": "ab" * 16, "codec": "xyz", "type": "builtins.dict", "nbytes": 7},
    {"oid": "ab" * 16, "codec": "json", "type": 5, "nbytes": 7},
    {"oid": "ab" * 16, "codec": "json", "type": "builtins.dict", "nbytes": -1},
    {"oid": "ab" * 16, "codec": "json", "type": "builtins.dict", "nbytes": "7"},
    {"oid": "ab" * 16, "codec": "npy", "type": "builtins.dict", "nbytes": 7},
    {"codec": "json", "type": "builtins.dict", "nbytes": 7},
    ["ab" * 16],
])
def test_invalid_refs_are_rejected(bad):
    with pytest.raises(ValueError):
        ObjectRef.from_json(bad)


def test_object_paths_stay_inside_the_store(tmp_path):
    s = Store(tmp_path / "store")
    s.put([1])                                             # objects/ exists: ../.. resolves
    (tmp_path / "victim.json").write_text("[1]")
    ref = ObjectRef("../victim", "json", "builtins.list", 3)
    with pytest.raises(CorruptObjectError):
        s.get(ref)
    assert not s.has_object(ref)
    assert (tmp_path / "victim.json").read_text() == "[1]"
    assert len(content_hash(b"")) == 32


def test_entry_under_a_key_that_is_a_path_is_a_miss(tmp_path):
    s = Store(tmp_path / "store")
    s.put_entry("ab" * 16, {"outputs": {}})                # entries/ exists: ../.. resolves
    (tmp_path / "x.json").write_text(json.dumps({"key": "../../x", "outputs": {}}))
    assert s.get_entry("../../x") is None
    assert (tmp_path / "x.json").exists()


@pytest.mark.parametrize("change", [
    lambda e: e.pop("outputs"),
    lambda e: e.update(outputs=[]),
    lambda e: e["outputs"]["a"].update(codec="xyz"),
    lambda e: e["outputs"]["a"].update(oid="../../victim"),
    lambda e: e.update(key="00" * 16),
    lambda e: e.update(duration="slow"),
], ids=["no outputs", "outputs a list", "codec", "oid", "key", "duration"])
def test_invalid_entry_is_a_miss_with_one_warning_per_key(tmp_path, caplog, change):
    s = Store(tmp_path / "store")
    key = "ee" * 16
    ref = s.put([1, 2])
    entry = {"step": "a", "outputs": {"a": ref.to_json()}, "key": key}
    change(entry)
    rel = s.backend.path(s._entry_rel(key))
    os.makedirs(os.path.dirname(rel), exist_ok=True)
    with open(rel, "w") as f:
        json.dump(entry, f)
    reader = Store(tmp_path / "store", read_only=True)     # read-only: the entry stays in place
    with caplog.at_level(logging.WARNING):
        assert reader.get_entry(key) is None
        assert reader.get_entry(key) is None
        assert Store(tmp_path / "store", read_only=True).get_entry(key) is None
    assert [r.getMessage().count(WARNING) for r in caplog.records] == [1], caplog.text
    assert s.get(ref) == [1, 2]                             # the object it named is untouched


def test_decoded_value_of_another_type_is_not_served(tmp_path):
    s = Store(tmp_path / "store")
    ref = s.put([1, 2, 3])
    forged = ObjectRef(ref.oid, ref.codec, "builtins.dict", ref.nbytes)
    with pytest.raises(CorruptObjectError):
        s.get(forged)
    assert s.get(ref) == [1, 2, 3]                          # not moved aside: the object is fine
