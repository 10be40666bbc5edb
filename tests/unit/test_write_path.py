"""The per-step write path made cheaper for `run --watch` (issue 16), with nothing stored or
shown differently: a table's object id is still the hash of its file (now taken while the
file is written), and a step's captured streams no longer flush the kernel's streams when
the step ends (each flush waits for the kernel's output thread)."""
import io
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from nb2pipe.capture import StepIO
from nb2pipe.entries import HashingFile, file_hash
from nb2pipe.store import Store


@pytest.mark.parametrize("make, codec", [
    (lambda: pd.DataFrame({"k": np.arange(100_000) % 97, "v": np.arange(100_000) * 0.5}), "arrow"),
    (lambda: pd.DataFrame({"s": ["a", "b", None], "n": [1.5, None, 3.0]}, index=["x", "y", "z"]), "arrow"),
    (lambda: pd.Series([1, 2, 3], name="n"), "arrow"),
    (lambda: pa.table({"a": [1, 2], "b": ["x", "y"]}), "arrow"),
    (lambda: pa.RecordBatch.from_pydict({"a": [1, 2]}), "arrow"),
    (lambda: pd.DataFrame({"mixed": [object(), 1]}), "pickle"),   # not Arrow: hashed from its file
    # written as Arrow (and hashed) before its name turned out not to be JSON: then a pickle
    (lambda: pd.Series([1, 2], name=("a", 1)), "pickle"),
    (lambda: np.arange(12.0), "npy"),
    (lambda: {"a": [1, 2]}, "json"),
])
def test_an_object_id_is_the_hash_of_its_file(tmp_path, make, codec):
    store = Store(str(tmp_path / "store"))
    ref = store.put(make())
    path = os.path.join(store.backend.root, store._object_rel(ref.oid, ref.codec))
    assert ref.codec == codec
    assert ref.oid == file_hash(path)
    assert ref.nbytes == os.path.getsize(path)
    assert store.check(ref) is None
    assert Store(str(tmp_path / "store")).check(ref) is None    # another process hashes it again


@pytest.mark.parametrize("make", [
    lambda: pd.DataFrame({"k": np.arange(1000) % 97}),
    lambda: pa.table({"a": [1, 2], "b": ["x", "y"]}),
    lambda: np.arange(12.0),
])
def test_the_same_content_gets_the_same_id(tmp_path, make):
    store = Store(str(tmp_path / "store"))
    assert store.put(make()).oid == store.put(make()).oid


def test_a_write_that_did_not_finish_gives_no_digest(tmp_path):
    h = HashingFile()
    h.open(str(tmp_path / "a")).write(b"first")
    h.finish()
    assert h.digest == file_hash(str(tmp_path / "a"))
    h.open(str(tmp_path / "b")).write(b"part")
    h.close()                  # a codec that fails half-way closes its file but never finishes
    assert h.digest is None and h.closed


class _Stream(io.StringIO):
    def __init__(self):
        super().__init__()
        self.flushes = 0

    def flush(self):
        self.flushes += 1
        super().flush()


def test_a_step_ending_does_not_flush_the_streams_it_captured(monkeypatch):
    out, err = _Stream(), _Stream()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    with StepIO().capture() as shown:
        print("said")
    import gc
    gc.collect()
    assert out.getvalue() == "said\n"
    assert shown == [{"output_type": "stream", "name": "stdout", "text": "said\n"}]
    assert (out.flushes, err.flushes) == (0, 0)
    with StepIO().capture():
        print("again", flush=True)          # a flush the step asks for goes through
    assert out.flushes == 1


@pytest.mark.parametrize("make", [
    lambda: pd.DataFrame({"k": np.arange(10_000) % 97, "s": [f"x{i}" for i in range(10_000)]}),
    lambda: pd.DataFrame({"a": [1, 2]}, index=pd.Index(["x", "y"], name="ix")),
    lambda: pd.DataFrame({"c": pd.Categorical(["u", "v", "u"])}),
    lambda: pd.Series([1.5, None], name="n"),
])
def test_a_small_table_made_in_memory_has_the_bytes_and_id_of_one_streamed(tmp_path, monkeypatch, make):
    # a small table's file is serialized in memory and written at once; a large one is streamed
    # to its file: the same table must get the same file and id either way
    from nb2pipe import codecs
    value = make()
    small = Store(str(tmp_path / "small")).put(value)
    monkeypatch.setattr(codecs, "IN_MEMORY_BYTES", -1)          # every table streamed
    big_store = Store(str(tmp_path / "streamed"))
    streamed = big_store.put(value)
    assert (small.oid, small.nbytes, small.codec) == (streamed.oid, streamed.nbytes, "arrow")
    path = os.path.join(big_store.backend.root, big_store._object_rel(streamed.oid, "arrow"))
    with open(path, "rb") as f:
        streamed_bytes = f.read()
    other = Store(str(tmp_path / "small"))
    with open(os.path.join(other.backend.root, other._object_rel(small.oid, "arrow")), "rb") as f:
        assert f.read() == streamed_bytes
