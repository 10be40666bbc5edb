"""The verification stamp: an object hashed OK once is not hashed again by a later process
while its file is unchanged, and any change to the file (even one that keeps its size and
mtime) makes the next read hash it again and find the damage."""
import os

import pandas as pd
import pytest

import nb2pipe.store as store_module
from nb2pipe.errors import CorruptObjectError
from nb2pipe.store import Store


@pytest.fixture
def hashes(monkeypatch):
    """The objects' contents hashed by the store, in order (a spy: the real hash still runs)."""
    seen: list[int] = []
    real = store_module.content_hash

    def spy(buf):
        seen.append(len(buf))
        return real(buf)
    monkeypatch.setattr(store_module, "content_hash", spy)
    return seen


def _path(store, ref):
    return store.backend.path(store._object_rel(ref.oid, ref.codec))


@pytest.mark.parametrize("read", ["get", "get_arrow"])
def test_a_new_process_trusts_the_stamp_of_an_unchanged_object(tmp_path, hashes, read):
    ref = Store(tmp_path / "s").put(pd.DataFrame({"a": range(50_000)}))     # 400 kB: stamped
    later = Store(tmp_path / "s")                  # another process: nothing in memory
    back = getattr(later, read)(ref)
    assert len(back) == 50_000
    assert hashes == []                            # the stamp the writer left was enough


def test_a_small_object_gets_no_stamp_file_and_a_new_process_hashes_it(tmp_path, hashes):
    """Below STAMP_MIN_BYTES a stamp file costs each step a write and saves no more than
    hashing the object costs (issue 16): the next process hashes it instead."""
    ref = Store(tmp_path / "s").put(pd.DataFrame({"a": range(1000)}))
    assert ref.nbytes < store_module.STAMP_MIN_BYTES
    assert not (tmp_path / "s" / "verified").exists()
    later = Store(tmp_path / "s")
    assert len(later.get(ref)) == 1000
    assert hashes == [ref.nbytes]
    assert later.check(ref) is None and hashes == [ref.nbytes]     # then trusted in memory


@pytest.mark.parametrize("keep_mtime", [False, True])
def test_a_changed_object_is_hashed_again_and_refused(tmp_path, hashes, keep_mtime):
    ref = Store(tmp_path / "s").put(pd.DataFrame({"a": range(1000)}))
    path = _path(Store(tmp_path / "s"), ref)
    st = os.stat(path)
    data = bytearray(open(path, "rb").read())
    data[200] ^= 0xFF                              # same size
    with open(path, "r+b") as f:
        f.write(data)
    if keep_mtime:                                 # ctime still moves: the stamp differs
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    later = Store(tmp_path / "s")
    assert later.check(ref) is not None
    with pytest.raises(CorruptObjectError):
        Store(tmp_path / "s").get(ref)
    assert hashes                                  # the changed file was hashed, not trusted
