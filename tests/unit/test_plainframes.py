"""A plain frame converts to Arrow without pyarrow's pandas layer, into the very table
``pa.Table.from_pandas`` makes: same schema, same pandas metadata, same bytes, so the
object id of a stored frame never depends on which way it took.  The cases run in order
through one memo: each is converted once from another frame of the same shape (other
values) and then for real, and neighbouring cases differ in one part of the signature, so a
schema reused where it must not be shows as different bytes."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from nb2pipe import codecs, plainframes


def ipc_bytes(table) -> bytes:
    out = pa.BufferOutputStream()
    with pa.ipc.new_file(out, table.schema) as w:
        w.write_table(table)
    return out.getvalue().to_pybytes()


def base(n=6, shift=0.0):
    return pd.DataFrame({"k": np.arange(n) % 3, "v": np.arange(n, dtype="float64") + shift})


def named(df, name):
    df = df.copy()
    df.index.name = name
    return df


def cols_named(df, name):
    df = df.copy()
    df.columns.name = name
    return df


def with_attrs(df):
    df = df.copy()
    df.attrs["unit"] = "kg"
    return df


# (case, frame made from a `shift` of its values, plain?)
CASES = [
    ("ints and floats", lambda s: base(shift=s), True),
    ("more rows", lambda s: base(8, s), True),
    ("NaN becomes null", lambda s: base().assign(v=[np.nan, 1.0 + s, np.nan, 2.0, 3.0, 4.0]), True),
    ("bool, uint8, int32, float32", lambda s: pd.DataFrame({
        "b": [True, False, s > 0], "u": np.array([1, 2, 3], "uint8"),
        "i": np.array([1, 2, int(s)], "int32"), "f": np.array([0.5, s, 1.5], "float32")}), True),
    ("range index from 0, step 2", lambda s: base(12, s).iloc[::2], True),
    ("range index from 1, step 2", lambda s: base(12, s).iloc[1::2], True),
    ("range index named", lambda s: named(base(shift=s), "row"), True),
    ("columns named", lambda s: cols_named(base(shift=s), "field"), True),
    ("columns in another order", lambda s: base(shift=s)[["v", "k"]], True),
    ("other column names", lambda s: base(shift=s).rename(columns={"k": "key"}), True),
    ("no rows", lambda s: base(0, s), True),
    ("a string column", lambda s: base(3, s).assign(t=["a", "b", "c"]), False),
    ("a datetime column", lambda s: base(3, s).assign(t=pd.date_range("2026-01-01", periods=3)), False),
    ("a categorical column", lambda s: base(3, s).assign(t=pd.Categorical(["a", "b", "a"])), False),
    ("a nullable Int64 column", lambda s: base(3, s).astype({"k": "Int64"}), False),
    ("an integer index", lambda s: base(shift=s).set_index("k"), False),
    ("integer column names", lambda s: pd.DataFrame({0: [1.0 + s], 1: [2]}), False),
    ("two-level columns", lambda s: pd.DataFrame([[1.0 + s, 2]], columns=pd.MultiIndex.from_tuples(
        [("a", "x"), ("a", "y")])), False),
    ("attrs", lambda s: with_attrs(base(shift=s)), False),
    ("duplicate column names", lambda s: pd.DataFrame([[1.0 + s, 2]], columns=["a", "a"]), False),
]


def test_plain_frames_make_the_same_table_as_pyarrow():
    plainframes._schemas.clear()
    for case, make, plain in CASES:
        plainframes.to_arrow(make(10.0))          # the memo learns this signature from other values
        frame = make(0.0)
        table = plainframes.to_arrow(frame)
        assert (table is not None) == plain, case
        if plain:
            assert ipc_bytes(table) == ipc_bytes(pa.Table.from_pandas(frame)), case
            assert table.to_pandas().equals(frame), case


CONVERTIBLE = [c for c in CASES if c[0] != "duplicate column names"]    # refused by the codec


@pytest.mark.parametrize("case, make, plain", CONVERTIBLE, ids=[c[0] for c in CONVERTIBLE])
def test_the_store_codec_writes_what_pyarrow_writes(case, make, plain):
    frame = make(0.0)
    assert ipc_bytes(codecs.to_arrow(frame, "pandas.DataFrame")) == ipc_bytes(pa.Table.from_pandas(frame))
