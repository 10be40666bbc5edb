"""The session's value cache (nb2pipe.valuecache): which values it keeps and hands out."""
import pandas as pd

from nb2pipe.store import Store
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
    cache.forget([old, shared], live={shared.oid})
    assert old.oid not in cache and shared.oid in cache
