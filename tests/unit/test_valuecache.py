"""The session's value cache (nb2pipe.valuecache): which values it keeps and hands out."""
import pandas as pd

import pytest

from nb2pipe.results import Result, ResultMap
from nb2pipe.store import ObjectRef, Store
from nb2pipe.valuecache import ValueCache


def test_tables_are_read_once_and_each_reader_gets_its_own_frame(tmp_path):
    store = Store(tmp_path / "store")
    ref = store.put(pd.DataFrame({"a": [1, 2]}))
    reads = []
    cache = ValueCache()

    def read(r):
        reads.append(r.oid)
        return store.get(r)
    first, second = cache.load(ref, read), cache.load(ref, read)
    assert reads == [ref.oid]                     # decoded once
    first.loc[0, "a"] = 99                        # one reader's change stays its own
    assert second.loc[0, "a"] == 1 and cache.load(ref, read).loc[0, "a"] == 1


def test_plain_objects_are_decoded_for_each_reader(tmp_path):
    store = Store(tmp_path / "store")
    ref = store.put({"k": [1]})
    cache = ValueCache()
    a, b = cache.load(ref, store.get), cache.load(ref, store.get)
    a["k"].append(2)
    assert b == {"k": [1]} and ref.oid not in cache


def test_a_replaced_result_s_values_go_unless_still_used(tmp_path):
    store = Store(tmp_path / "store")
    old, shared = store.put(pd.DataFrame({"a": [1]})), store.put(pd.DataFrame({"b": [2]}))
    cache = ValueCache()
    cache.keep(old, store.get(old))
    cache.keep(shared, store.get(shared))
    cache.forget([old, shared], live={shared.oid}.__contains__)
    assert old.oid not in cache and shared.oid in cache


def _res(*oids):
    return Result("k" * 64, {}, {f"o{i}": ObjectRef(oid, "json", "dict", 1) for i, oid in enumerate(oids)}, 0.0, 0.0)


# (changes made to a session's results, object ids a current result still uses after them)
CASES = [
    ("one step stored", [("set", "a", ("x",))], {"x"}),
    ("a step replaced: its old object is used no more", [("set", "a", ("x",)), ("set", "a", ("y",))], {"y"}),
    ("two steps share an object: replacing one keeps it used",
     [("set", "a", ("x",)), ("set", "b", ("x", "z")), ("set", "a", ("y",))], {"x", "y", "z"}),
    ("the sharer replaced too: unused", [("set", "a", ("x",)), ("set", "b", ("x",)), ("set", "a", ("y",)),
                                         ("set", "b", ("w",))], {"y", "w"}),
    ("a step forgotten", [("set", "a", ("x",)), ("set", "b", ("x",)), ("pop", "a", ()), ("pop", "b", ())], set()),
    ("one object twice in one result", [("set", "a", ("x", "x")), ("set", "a", ("y",))], {"y"}),
    ("a step re-stored with the same object", [("set", "a", ("x",)), ("set", "a", ("x",))], {"x"}),
    ("cleared", [("set", "a", ("x",)), ("clear", None, ())], set()),
    ("deleted", [("set", "a", ("x",)), ("del", "a", ())], set()),
    ("updated from another session's results", [("set", "a", ("x",)), ("update", "a", ("y",))], {"y"}),
    ("set unless there", [("set", "a", ("x",)), ("setdefault", "a", ("y",)), ("setdefault", "b", ("z",))],
     {"x", "z"}),
    ("the last one taken out", [("set", "a", ("x",)), ("set", "b", ("y",)), ("popitem", None, ())], {"x"}),
    ("merged in", [("set", "a", ("x",)), ("ior", "b", ("y",))], {"x", "y"}),
]


@pytest.mark.parametrize("changes, used", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_results_count_which_objects_are_still_used(changes, used):
    results = ResultMap()
    for op, name, oids in changes:
        if op == "set":
            results[name] = _res(*(o * 64 for o in oids))
        elif op == "pop":
            results.pop(name)
        elif op == "del":
            del results[name]
        elif op == "update":
            results.update({name: _res(*(o * 64 for o in oids))})
        elif op == "setdefault":
            results.setdefault(name, _res(*(o * 64 for o in oids)))
        elif op == "popitem":
            results.popitem()
        elif op == "ior":
            results |= {name: _res(*(o * 64 for o in oids))}
        else:
            results.clear()
    expected = {o * 64 for o in used}
    assert {c * 64 for c in "xyzw" if results.uses(c * 64)} == expected
    # the same answer as a scan of every current result's outputs
    assert expected == {r.oid for res in results.values() for r in res.outputs.values()}
