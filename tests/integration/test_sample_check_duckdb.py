"""`check --sample` on SQL steps reading tables of a DuckDB database file: the check's mirror holds
a database of the first rows of each table, so the query runs on a sample, not the whole table
(a real DuckDB file, real kernels)."""
import duckdb

from nbfiles import nb2pipe, write_nb

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def _shop(path, amount_type="DOUBLE"):
    con = duckdb.connect(str(path))
    con.execute(f"CREATE OR REPLACE TABLE orders AS SELECT range AS id, CAST(range * 1.5 AS {amount_type}) AS amount,"
                " range % 7 AS customer FROM range(20000)")
    con.execute("CREATE OR REPLACE TABLE customers AS SELECT range AS customer, 'c' || range AS name FROM range(7)")
    con.close()


def test_tables_of_a_duckdb_file_are_sampled_and_a_type_break_in_them_is_found(tmp_path):
    (tmp_path / "data").mkdir()
    _shop(tmp_path / "data" / "shop.duckdb")
    write_nb(tmp_path / "shop.ipynb", [
        "%load_ext nb2pipe",
        "%%step orders --sql\nSELECT o.*, c.name\nFROM read_duckdb('data/shop.duckdb', table_name = 'orders') AS o\n"
        "JOIN read_duckdb('data/shop.duckdb', table_name = 'customers') AS c USING (customer)",
        "%%step big --sql\nSELECT count(*) AS n, sum(amount) AS total FROM orders",
    ], **KERNEL)
    code, out, err = nb2pipe("run", "shop.ipynb", cwd=tmp_path)
    assert code == 0, out + err

    code, out, err = nb2pipe("check", "shop.ipynb", "--sample", "100", cwd=tmp_path)
    assert code == 0, out + err
    report = out.splitlines()
    assert "sampled: data/shop.duckdb (first 100 rows of each table)" in report
    from nb2pipe.store import Store
    s = Store(str(tmp_path / ".nb2pipe" / "sample" / "store"))
    first = s.get_last("orders", "shop.ipynb")["key"]
    assert s.get_entry(first)["outputs"]["orders"]["meta"]["rows"] == 100     # not 20,000
    real = Store(str(tmp_path / ".nb2pipe"))
    assert real.get_entry(real.get_last("orders", "shop.ipynb")["key"])["outputs"]["orders"]["meta"]["rows"] == 20000

    # the same database and rows: the same sample, so the sample results are reused
    assert nb2pipe("check", "shop.ipynb", "--sample", "100", cwd=tmp_path)[0] == 0
    assert s.get_last("orders", "shop.ipynb")["key"] == first

    # `amount` becomes text in the database: found on the sample, at both steps
    _shop(tmp_path / "data" / "shop.duckdb", amount_type="VARCHAR")
    code, out, err = nb2pipe("check", "shop.ipynb", "--sample", "100", cwd=tmp_path)
    assert code == 1, out + err
    report = out.splitlines()
    assert "  ✗ step `orders` output `orders` column `amount`: string, the contract says double" in report
    assert [ln for ln in report if ln.startswith("  ✗ step `big`")][0].startswith(
        "  ✗ step `big` failed on the sample: step `big` failed: BinderException")
