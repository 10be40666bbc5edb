"""The index of the entries a notebook's last plan used: a new session's first plan reads it
instead of one entry file per step, and never serves an entry the store does not hold as it
is now (removed, replaced, its objects changed)."""
import json
import os

import pytest

from nb2pipe.engine import Engine
from nb2pipe.entries import ObjectRef
from nb2pipe.spec import parse_step_line
from nb2pipe.store import Store

CELLS = [("a", "a = [1, 2]"), ("b", "b = a + [3]"), ("c", "c = len(b)")]


def session(tmp_path, reads=None, cells=CELLS):
    store = Store(tmp_path / "store")
    if reads is not None:                          # a spy: the paths read, in order
        real = store.backend.read_bytes
        store.backend.read_bytes = lambda rel: reads.append(rel) or real(rel)
    eng = Engine(store, tmp_path, warn=lambda m: None, pipeline="nb.ipynb")
    for i, (line, code) in enumerate(cells):
        eng.define(parse_step_line(line), code, cell_id=f"c{i}")
    return eng


@pytest.fixture
def planned(tmp_path):
    eng = session(tmp_path)
    eng.run()
    assert {s.state for s in eng.plan().values()} == {"fresh"}    # writes the index
    return eng


def _entry_path(eng, step):
    key = eng.plan()[step].key
    return eng.store.backend.path(f"entries/{key[:2]}/{key}.json")


def test_a_new_session_reads_one_index_not_an_entry_file_per_step(tmp_path, planned):
    reads: list[str] = []
    eng = session(tmp_path, reads)
    assert {s.state for s in eng.plan().values()} == {"fresh"}
    assert [r for r in reads if r.startswith(("entries/", "verified/"))] == []
    assert reads.count("index/nb.json") == 1


def remove_entry(eng):
    os.remove(_entry_path(eng, "b"))


def replace_entry(eng):                            # same key, now naming another object
    path = _entry_path(eng, "b")
    entry = json.load(open(path))
    other = eng.store.put([9, 9, 9])
    entry["outputs"]["b"] = other.to_json()
    os.remove(path)
    with open(path, "w") as f:
        json.dump(entry, f)


def damage_object(eng):
    ref = eng.results["b"].outputs["b"]
    path = eng.store.backend.path(eng.store._object_rel(ref.oid, ref.codec))
    data = bytearray(open(path, "rb").read())
    data[-1] ^= 0xFF                               # the header (first byte) still says a list
    open(path, "wb").write(data)


def remove_object(eng):
    ref = eng.results["b"].outputs["b"]
    os.remove(eng.store.backend.path(eng.store._object_rel(ref.oid, ref.codec)))


def garble_index(eng):
    with open(eng.store.backend.path("index/nb.json"), "w") as f:
        f.write('{"v": 1, "entries": [')


# (what changes in the store after the index was written, state of `b` in a new session)
CHANGES = [(remove_entry, "never run"), (damage_object, "stale"), (remove_object, "stale"),
           (garble_index, "fresh")]


@pytest.mark.parametrize("change, state", CHANGES, ids=[c[0].__name__ for c in CHANGES])
def test_the_index_never_serves_what_the_store_does_not_hold(tmp_path, planned, change, state):
    change(planned)
    eng = session(tmp_path)
    assert eng.plan()["b"].state == state


@pytest.mark.parametrize("change", [damage_object, remove_object, remove_entry])
def test_an_entry_whose_files_changed_is_read_from_its_file_not_the_index(tmp_path, planned, change):
    key = planned.plan()["b"].key
    change(planned)
    reads: list[str] = []
    eng = session(tmp_path, reads)
    eng.plan()
    assert f"entries/{key[:2]}/{key}.json" in reads     # the index's record was not taken


def test_a_replaced_entry_is_read_from_its_file(tmp_path, planned):
    replace_entry(planned)
    eng = session(tmp_path)
    eng.plan()
    key = planned.plan()["b"].key
    assert eng.store.get_entry(key)["outputs"]["b"]["oid"] == eng.store.put([9, 9, 9]).oid
    assert eng.run_cell("b").status == "cached" and eng.results["b"].outputs["b"].oid != \
        planned.results["b"].outputs["b"].oid


def test_planning_lists_learned_changes_once_and_reads_only_those_there(tmp_path):
    """Headless planning of N steps lists learned/ once instead of opening a file per step,
    and still wires the in-place change a kernel learned for a step's code."""
    from nb2pipe.stepdef import make_step
    store = Store(tmp_path / "store")
    store.put_learned(make_step(parse_step_line("b"), "b = len(a)").code_hash, ["a"])
    reads = []
    real = store.get_learned
    store.get_learned = lambda h: reads.append(h) or real(h)
    eng = Engine(store, tmp_path, warn=lambda m: None)
    eng.execute_definitions = False
    for i, (line, code) in enumerate([("a", "a = [1]"), ("b", "b = len(a)"), ("c", "c = a + [2]")]):
        eng.define(parse_step_line(line), code, cell_id=f"c{i}")
    assert eng.graph().source("c", "a") == "b"          # `b` passes on the `a` it changes
    assert reads == [eng.defs.steps["b"].code_hash]


def test_a_few_steps_run_again_do_not_rewrite_the_index_at_each_plan(tmp_path):
    """Of 40 steps, one re-run is not worth rewriting the whole index; three are (> 1 in 20)."""
    cells = [("s0", "x0 = 0")] + [(f"s{i}", f"x{i} = x{i - 1} + 1") for i in range(1, 40)]
    eng = session(tmp_path, cells=cells)
    eng.run()
    eng.plan()
    index = tmp_path / "store" / "index" / "nb.json"
    written = index.stat().st_mtime_ns, index.stat().st_ino
    eng.define(parse_step_line("s39"), "x39 = x38 + 2", cell_id="c39")
    eng.run(["s39"])
    eng.plan()
    assert (index.stat().st_mtime_ns, index.stat().st_ino) == written
    for i in (37, 38):
        eng.define(parse_step_line(f"s{i}"), f"x{i} = x{i - 1} + 2", cell_id=f"c{i}")
    eng.run()
    eng.plan()
    assert (index.stat().st_mtime_ns, index.stat().st_ino) != written
    assert {s.state for s in session(tmp_path, cells=cells).plan().values()} == {"fresh"}


def test_a_first_plan_stats_each_object_file_once(tmp_path, planned):
    eng = session(tmp_path)
    stats: list[str] = []
    real = eng.store.backend.stamp
    eng.store.backend.stamp = lambda rel: stats.append(rel) or real(rel)
    assert {s.state for s in eng.plan().values()} == {"fresh"}
    objects = [r for r in stats if r.startswith("objects/")]
    assert len(objects) == len(CELLS) and len(set(objects)) == len(CELLS)


def test_a_stamp_taken_in_a_plan_does_not_outlive_it(tmp_path, planned):
    eng = session(tmp_path)
    key = planned.plan()["b"].key
    eng.store.load_index("nb.ipynb")                 # a plan opens: the entry read via the index
    entry = eng.store.get_entry(key)
    eng.store.save_index("nb.ipynb", [key])          # ... and closes without checking its object
    remove_object(planned)
    ref = ObjectRef.from_json(entry["outputs"]["b"])
    assert eng.store.check(ref) == "is missing from the store"


def test_objects_a_plan_hashed_are_stamped_in_the_index_so_the_next_session_only_stats(
        tmp_path, planned, monkeypatch):
    import nb2pipe.store as store_mod
    keys = [s.key for s in planned.plan().values()]
    os.remove(planned.store.backend.path("index/nb.json"))
    # what `nb2pipe run` does after a headless run: index the entries the kernel wrote,
    # read from their files, without hashing their objects
    indexer = Store(tmp_path / "store")
    for k in keys:
        indexer.get_entry(k)
    indexer.save_index("nb.ipynb", keys)
    hashed: list[int] = []
    real = store_mod.content_hash
    monkeypatch.setattr(store_mod, "content_hash", lambda buf: hashed.append(len(buf)) or real(buf))
    assert {s.state for s in session(tmp_path).plan().values()} == {"fresh"}
    assert len(hashed) == 3                        # the first plan to check them hashes each once
    hashed.clear()
    assert {s.state for s in session(tmp_path).plan().values()} == {"fresh"}
    assert hashed == []                            # the next one trusts the stamps it left


def counting_keys(monkeypatch):
    """Spy on key hashing: the components of every key made, in order."""
    from nb2pipe import keys
    made, real = [], keys.make_key
    monkeypatch.setattr(keys, "make_key", lambda comps: made.append(comps) or real(comps))
    return made


def test_a_new_session_takes_its_keys_from_the_index_for_the_same_components(tmp_path, planned, monkeypatch):
    want = {n: s.key for n, s in planned.plan().items()}
    made = counting_keys(monkeypatch)
    eng = session(tmp_path)
    states = eng.plan()
    assert made == []                                   # no key hashed again
    assert {n: (s.state, s.key) for n, s in states.items()} == {n: ("fresh", k) for n, k in want.items()}


def test_other_components_are_hashed_not_taken_from_the_index(tmp_path, planned, monkeypatch):
    from nb2pipe import keys
    made = counting_keys(monkeypatch)
    eng = session(tmp_path, cells=[CELLS[0], ("b", "b = a + [4]"), CELLS[2]])
    states = eng.plan()
    assert [c["code"] for c in made] == [eng.defs.steps["b"].code_hash]   # b's code changed
    assert states["b"].state == "stale" and states["c"].state == "stale"
    comps, key, _ = eng.lookup(eng.defs.steps["b"], eng.graph(), {"a": eng._last_result("a")})
    assert key == keys.make_key(comps)


def test_an_index_of_another_key_version_gives_no_keys(tmp_path, planned, monkeypatch):
    path = planned.store.backend.path("index/nb.json")
    doc = json.load(open(path))
    doc["key_version"] -= 1
    with open(path, "w") as f:
        json.dump(doc, f)
    made = counting_keys(monkeypatch)
    assert {s.state for s in session(tmp_path).plan().values()} == {"fresh"}
    assert len(made) == len(CELLS)


def test_a_key_the_index_gives_for_other_components_never_serves_their_entry(tmp_path, planned):
    """An index whose records of a and b have their keys swapped (as no nb2pipe writes it):
    each step is still served its own entry, looked up by the hash of its components."""
    from nb2pipe import keys
    want = {n: s.key for n, s in planned.plan().items()}
    path = planned.store.backend.path("index/nb.json")
    doc = json.load(open(path))
    ka, kb = want["a"], want["b"]
    doc["entries"][ka], doc["entries"][kb] = doc["entries"][kb], doc["entries"][ka]
    with open(path, "w") as f:
        json.dump(doc, f)
    eng = session(tmp_path)
    states = eng.plan()
    assert {n: (s.state, s.key) for n, s in states.items()} == {n: ("fresh", k) for n, k in want.items()}
    for name in ("a", "b"):
        comps, key, entry = eng.lookup(eng.defs.steps[name], eng.graph(),
                                       {p: eng._last_result(p) for p in eng.graph().parents(name)})
        assert key == keys.make_key(comps) == entry["key"]
    assert eng.values_of("a") == {"a": [1, 2]} and eng.values_of("b") == {"b": [1, 2, 3]}


def test_an_index_holding_a_nan_is_still_read_as_the_index(tmp_path, planned):
    """orjson reads the index, but json writes NaN for a float that is one (a Series named
    NaN): such an index is still taken, not dropped for one entry file read per step."""
    path = planned.store.backend.path("index/nb.json")
    doc = json.load(open(path))
    key = planned.plan()["b"].key
    doc["entries"][key]["entry"]["nan_note"] = float("nan")     # a field no check reads
    with open(path, "w") as f:
        json.dump(doc, f)                                     # writes the bare token NaN
    assert "NaN" in open(path).read()
    reads: list[str] = []
    eng = session(tmp_path, reads)
    assert {s.state for s in eng.plan().values()} == {"fresh"}
    assert [r for r in reads if r.startswith("entries/")] == []


def test_a_record_without_a_stamp_is_not_served_when_its_entry_file_is_gone(tmp_path, planned):
    """A record says its entry file's stamp; one saying none (as no nb2pipe writes it) must
    not stand in for an entry file that is missing."""
    path = planned.store.backend.path("index/nb.json")
    doc = json.load(open(path))
    key = planned.plan()["b"].key
    doc["entries"][key]["stamp"] = None
    with open(path, "w") as f:
        json.dump(doc, f)
    os.remove(_entry_path(planned, "b"))
    eng = session(tmp_path)
    assert eng.store.get_entry(key) is None
    assert eng.plan()["b"].state == "never run"
