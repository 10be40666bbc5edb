"""SQL steps on DuckDB, through the engine (no kernel)."""
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nb2pipe.engine import Engine
from nb2pipe.errors import AnalysisError, GraphError, Nb2pipeError
from nb2pipe.spec import parse_step_line
from nb2pipe.sql import analyze_sql
from nb2pipe.store import Store


@pytest.fixture
def eng(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "regions").mkdir(parents=True)
    pq.write_table(pa.table({"region": ["EU", "US"], "manager": ["Ana", "Bo"]}),
                   tmp_path / "data" / "regions" / "a.parquet")
    ns = {}
    e = Engine(Store(tmp_path / ".nb2pipe"), tmp_path, publish=ns.update)
    e.ns = ns
    e.run_setup("import pandas as pd", cell_id="setup")
    e.set_params("min_amount = 2\nregion_name = 'EU'")
    e.define(parse_step_line("sales --out df"),
             "df = pd.DataFrame({'region': ['EU', 'US', 'EU', 'US'], 'amount': [1, 2, 3, 4]})")
    e.define(parse_step_line("targets --out tg"),
             "tg = pd.DataFrame({'region': ['EU', 'US'], 'target': [3, 10]})")
    return e


def define_sql(e, line, sql):
    return e.define(parse_step_line(line + " --sql"), sql)


@pytest.mark.parametrize("sql, tables, files, params", [
    ("SELECT * FROM df", ("df",), (), ()),
    ("WITH t AS (SELECT * FROM df) SELECT * FROM t JOIN tg USING (region)", ("df", "tg"), (), ()),
    ("SELECT * FROM read_parquet('data/*.parquet')", (), ("data/*.parquet",), ()),
    ("SELECT * FROM 'data/x.csv'", (), ("data/x.csv",), ()),
    ("SELECT * FROM read_duckdb('data/shop.duckdb', table_name = 'orders')", (), ("data/shop.duckdb",), ()),
    ("SELECT * FROM df WHERE a > {{ lim }} AND b = {{lim}}", ("df",), (), ("lim",)),
    ("SELECT (SELECT max(x) FROM inner_t) FROM df", ("inner_t", "df"), (), ()),
])
def test_analysis(sql, tables, files, params):
    info = analyze_sql(sql)
    assert sorted(info.tables) == sorted(tables) and info.files == files and info.params == params


def test_result_matches_duckdb_directly(eng):
    q = "SELECT region, sum(amount) AS total FROM df GROUP BY region ORDER BY region"
    define_sql(eng, "revenue --out revenue", q)
    eng.run_cell("sales")
    assert eng.run_cell("revenue").status == "ran"
    got = eng.ns["revenue"]
    assert isinstance(got, pa.Table)
    con = duckdb.connect()
    con.register("df", eng.ns["df"])
    assert got.equals(con.sql(q).to_arrow_table())
    assert got.to_pydict() == {"region": ["EU", "US"], "total": [4, 6]}


def test_join_of_two_upstreams_and_files(eng):
    define_sql(eng, "joined", "SELECT region, sum(amount) AS total, any_value(target) AS target, "
                              "any_value(manager) AS manager\nFROM df JOIN tg USING (region)\n"
                              "JOIN read_parquet('data/regions/*.parquet') USING (region)\n"
                              "GROUP BY region ORDER BY region")
    assert eng.plan()["joined"].inputs == ("df", "tg")
    eng.run_cell("sales"), eng.run_cell("targets")
    assert eng.run_cell("joined").status == "ran"
    assert eng.ns["joined"].to_pydict()["manager"] == ["Ana", "Bo"]


def test_python_step_downstream_gets_what_it_asks_for(eng):
    define_sql(eng, "revenue --out revenue", "SELECT region, sum(amount) AS total FROM df GROUP BY ALL")
    eng.define(parse_step_line("as_pandas --in revenue:pandas --out kind"), "kind = type(revenue).__name__")
    eng.define(parse_step_line("as_arrow --in revenue --out kind2"), "kind2 = type(revenue).__name__")
    eng.run()
    assert eng.ns["kind"] == "DataFrame" and eng.ns["kind2"] == "Table"


def test_parameters_are_bound_not_pasted(eng):
    define_sql(eng, "big", "SELECT * FROM df WHERE amount >= {{ min_amount }} AND region = {{region_name}}")
    eng.run()
    assert eng.ns["big"].to_pydict()["amount"] == [3]
    eng.set_params("min_amount = 0\nregion_name = \"EU' OR 1=1; DROP TABLE df; --\"")
    assert eng.plan()["big"].reasons == ["parameter `min_amount` changed", "parameter `region_name` changed"]
    eng.run()
    assert eng.ns["big"].num_rows == 0                  # the value is data, not SQL
    assert len(eng.ns["df"]) == 4


def test_glob_source_gaining_a_file_makes_step_stale(eng, tmp_path):
    define_sql(eng, "mgr", "SELECT * FROM read_parquet('data/regions/*.parquet') ORDER BY region")
    eng.run()
    assert eng.plan()["mgr"].state == "fresh"
    pq.write_table(pa.table({"region": ["APAC"], "manager": ["Cy"]}), tmp_path / "data/regions/b.parquet")
    st = eng.plan()["mgr"]
    assert st.state == "stale" and st.reasons == ["source `data/regions/*.parquet` changed"]
    eng.run()
    assert eng.ns["mgr"].num_rows == 3


def test_sql_syntax_error_names_step_and_line(eng):
    with pytest.raises(AnalysisError) as e:
        define_sql(eng, "bad", "SELECT region\nFROM df\nWHERE")
    assert "SQL syntax error" in str(e.value) and "step `bad`" in str(e.value) and "line 4" in str(e.value)


def test_unknown_table_did_you_mean(eng):
    define_sql(eng, "typo", "SELECT * FROM dff")
    with pytest.raises(Nb2pipeError, match="did you mean `df`"):
        eng.run_cell("typo")
    with pytest.raises(Nb2pipeError, match="needs `dff`, which no step produces"):
        eng.run()


def test_runtime_sql_error_points_at_line(eng):
    define_sql(eng, "oops", "SELECT region,\n  no_such_column\nFROM df")
    eng.run_cell("sales")
    o = eng.run_cell("oops")
    assert o.status == "failed" and "no_such_column" in str(o.error) and "line 3" in str(o.error)


def test_sql_steps_cache_like_python_steps(eng):
    define_sql(eng, "revenue --out revenue", "SELECT region, sum(amount) AS total FROM df GROUP BY ALL")
    assert eng.run_cell("sales").status == "ran" and eng.run_cell("revenue").status == "ran"
    assert eng.run_cell("revenue").status == "cached"
    define_sql(eng, "revenue --out revenue", "SELECT region,   sum(amount) AS total\n FROM df GROUP BY ALL")
    assert eng.plan()["revenue"].state == "fresh"      # whitespace is not a change


def test_save_parquet_atomically(eng, tmp_path):
    eng.define(parse_step_line("exp --in df --out df2 --save df2=exports/df2.parquet"), "df2 = df.head(2)")
    eng.run()
    assert pq.read_table(tmp_path / "exports/df2.parquet").num_rows == 2
    assert not [p for p in (tmp_path / "exports").iterdir() if ".tmp-" in p.name]
