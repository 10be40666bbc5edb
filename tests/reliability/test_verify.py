"""A fresh result is served only if its objects are intact: a missing, truncated or flipped
object makes its step stale (found by a stat for objects verified before), and `nb2pipe
verify` re-hashes the whole store."""
import json
import os

import pytest

from nbfiles import nb2pipe, write_nb

CELLS = ["%%setup\nimport numpy as np",
         "%%step make\narr = np.arange(100_000, dtype='int64')",
         "%%step total\ns = int(arr.sum())"]


def run(tmp_path):
    code, out, err = nb2pipe("run", "t.ipynb", "--json", cwd=tmp_path)
    assert code == 0, err
    return {s["step"]: s["status"] for s in json.loads(out)["steps"]}


def object_of(tmp_path, step):
    code, out, err = nb2pipe("status", "t.ipynb", "--json", cwd=tmp_path)
    key = {s["step"]: s["key"] for s in json.loads(out)}[step]
    entry = json.loads((tmp_path / ".nb2pipe" / "entries" / key[:2] / f"{key}.json").read_text())
    oid = entry["outputs"]["arr"]["oid"]
    return tmp_path / ".nb2pipe" / "objects" / oid[:2] / f"{oid}.npy"


def flip(path):
    with open(path, "r+b") as f:
        f.seek(-8, os.SEEK_END)
        b = f.read(1)
        f.seek(-8, os.SEEK_END)
        f.write(bytes([b[0] ^ 0xFF]))


@pytest.mark.parametrize("damage", [
    pytest.param(os.remove, id="deleted"),
    pytest.param(lambda p: open(p, "r+b").truncate(100), id="truncated"),
    pytest.param(flip, id="one byte flipped"),
])
def test_damaged_objects_are_recomputed_not_served(tmp_path, damage):
    write_nb(tmp_path / "t.ipynb", CELLS)
    assert run(tmp_path) == {"make": "ran", "total": "ran"}
    assert run(tmp_path) == {"make": "fresh", "total": "fresh"}
    path = object_of(tmp_path, "make")
    damage(path)
    code, out, _ = nb2pipe("status", "t.ipynb", "--json", cwd=tmp_path)
    make = {s["step"]: s for s in json.loads(out)}["make"]
    assert make["state"] == "stale"
    assert make["reasons"][0].startswith("output `arr` ")
    assert make["reasons"][0].endswith("; it will be recomputed")
    assert run(tmp_path) == {"make": "ran", "total": "cached"}   # same data: `total` is not re-run
    assert run(tmp_path) == {"make": "fresh", "total": "fresh"}


def test_verify_rehashes_everything(tmp_path):
    write_nb(tmp_path / "t.ipynb", CELLS)
    run(tmp_path)
    code, out, _ = nb2pipe("verify", "t.ipynb", cwd=tmp_path)
    assert code == 0 and "all intact" in out
    path = object_of(tmp_path, "make")
    flip(path)
    code, out, _ = nb2pipe("verify", "t.ipynb", "--dry-run", cwd=tmp_path)
    assert code == 1 and f"damaged: objects/{path.parent.name}/{path.name}" in out
    assert path.exists()
    code, out, _ = nb2pipe("verify", "t.ipynb", cwd=tmp_path)
    assert code == 1 and "moved aside" in out
    assert not path.exists()
