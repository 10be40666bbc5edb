"""nb2pipe.sampling: the first rows of a source, size-capped."""
import pyarrow as pa
import pyarrow.parquet as pq

from nb2pipe import sampling


def test_csv_keeps_header_and_whole_records(tmp_path):
    src = tmp_path / "a.csv"
    src.write_bytes(b'id,note\n' + b''.join(b'%d,"line one\nline two"\n' % i for i in range(50)))
    s = sampling.head(str(src), str(tmp_path / "out" / "a.csv"), max_rows=10)
    text = (tmp_path / "out" / "a.csv").read_bytes()
    assert (s.rows, s.complete) == (10, False)
    assert text == b'id,note\n' + b''.join(b'%d,"line one\nline two"\n' % i for i in range(10))


def test_csv_byte_cap_and_small_file_complete(tmp_path):
    src = tmp_path / "b.csv"
    src.write_text("x\n" + "".join(f"{i}\n" for i in range(1000)))
    s = sampling.head(str(src), str(tmp_path / "b1.csv"), max_bytes=100)
    assert (s.bytes, s.complete, s.rows) == (100, False, 36)   # "x\n", 10 two-byte, 26 three-byte rows
    s = sampling.head(str(src), str(tmp_path / "b2.csv"), max_rows=5000)
    assert s.complete and (tmp_path / "b2.csv").read_bytes() == src.read_bytes()


def test_jsonl_and_parquet_first_rows(tmp_path):
    src = tmp_path / "c.jsonl"
    src.write_text("".join(f'{{"i": {i}}}\n' for i in range(30)))
    s = sampling.head(str(src), str(tmp_path / "c2.jsonl"), max_rows=3)
    assert (tmp_path / "c2.jsonl").read_text() == '{"i": 0}\n{"i": 1}\n{"i": 2}\n' and s.rows == 3
    pq.write_table(pa.table({"i": list(range(5000))}), tmp_path / "d.parquet", row_group_size=700)
    s = sampling.head(str(tmp_path / "d.parquet"), str(tmp_path / "d2.parquet"))
    assert pq.read_table(tmp_path / "d2.parquet").column("i").to_pylist() == list(range(1000))
    assert (s.rows, s.complete) == (1000, False)


def test_other_files_copied_whole_under_the_cap_only(tmp_path):
    (tmp_path / "e.json").write_text('{"a": 1}')
    assert sampling.head(str(tmp_path / "e.json"), str(tmp_path / "e2.json")).complete
    (tmp_path / "f.bin").write_bytes(b"\0" * 2000)
    assert sampling.head(str(tmp_path / "f.bin"), str(tmp_path / "f2.bin"), max_bytes=1000) is None


def test_a_duckdb_file_keeps_its_tables_schemas_and_views_with_the_first_rows(tmp_path):
    import duckdb
    src = tmp_path / "shop.db"               # a DuckDB file by its magic, whatever its extension
    con = duckdb.connect(str(src))
    con.execute("CREATE TABLE orders AS SELECT range AS id FROM range(5000)")
    con.execute("CREATE SCHEMA sales; CREATE TABLE sales.regions AS SELECT 'EU' AS name")
    con.execute("CREATE VIEW big AS SELECT * FROM orders WHERE id >= 990")
    con.close()
    assert sampling.kind_of(str(src)) == "duckdb"
    s = sampling.head(str(src), str(tmp_path / "out" / "shop.db"), max_rows=1000)
    assert (s.kind, s.rows, s.complete) == ("duckdb", 1000, False)
    con = duckdb.connect(str(tmp_path / "out" / "shop.db"), read_only=True)
    assert con.sql("SELECT count(*), max(id) FROM orders").fetchall() == [(1000, 999)]
    assert con.sql("SELECT count(*) FROM big").fetchall() == [(10,)]
    assert con.sql("SELECT * FROM sales.regions").fetchall() == [("EU",)]
    (tmp_path / "notduck.db").write_bytes(b"SQLite format 3\0")
    assert sampling.kind_of(str(tmp_path / "notduck.db")) == "whole"
