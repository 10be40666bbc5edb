"""The notebook experience in a real IPython kernel (jupyter_client)."""
import re

import pytest

LOAD = "%load_ext nb2pipe"
SETUP = "%%setup\nimport pandas as pd\nimport helpers"
PARAMS = "%%params\nn_rows = 1000"
STEP_LOAD = "%%step load --src data/sales.csv --out raw\nraw = pd.read_csv('data/sales.csv').head(n_rows)"
STEP_CLEAN = "%%step clean --in raw --out df\ndf = raw.dropna()"
STEP_SUMMARY = "%%step summary\nby_region = df.groupby('region')['amount'].sum()"
CELLS = [LOAD, SETUP, PARAMS, STEP_LOAD, STEP_CLEAN, STEP_SUMMARY]


def run_all(k):
    return [k.ok(c, cell_id=f"c{i}") for i, c in enumerate(CELLS)]


def status(k):
    k.ok("_st = {s.step: s for s in get_ipython()._nb2pipe_session.engine.status()}")
    r = k.ok("print({n: (s.state, s.reasons) for n, s in _st.items()})")
    return eval(r.stdout)


def test_cells_run_then_hit_the_cache(kernel):
    first = run_all(kernel)
    assert "load  ran in" in first[3].stdout
    again = kernel.ok(STEP_CLEAN, cell_id="c4")
    m = re.search(r"✓ clean  cached  key ([0-9a-f]{8})  \(saved .+\)", again.stdout)
    assert m, again.stdout
    assert kernel.ok("print(by_region.to_dict())").stdout.strip() == "{'EU': 1.0, 'US': 7.0}"


def test_edit_then_dag_run_reruns_only_downstream(kernel):
    run_all(kernel)
    edited = kernel.ok("%%step clean --in raw --out df\ndf = raw.dropna().query('amount > 1')",
                       cell_id="c4")
    assert "clean  ran in" in edited.stdout
    # clean's cell ran: clean is fresh, and summary is stale because the df it reads changed
    assert status(kernel)["summary"] == ("stale", ["input `df` changed"])
    out = kernel.ok("%dag run").stdout
    assert re.search(r"load  fresh", out) and re.search(r"summary  ran in", out)
    assert "clean  ran" not in out
    assert "3 steps: 1 ran, 2 cached" in out


def test_dag_run_target_and_force(kernel):
    for c in CELLS[:3]:
        kernel.ok(c)
    kernel.ok(STEP_LOAD, cell_id="c3")
    kernel.ok(STEP_CLEAN, cell_id="c4")
    kernel.ok(STEP_SUMMARY, cell_id="c5")
    kernel.ok("%%step clean --in raw --out df\ndf = raw.fillna(0)", cell_id="c4")  # changes df
    out = kernel.ok("%dag run summary").stdout
    assert "summary  ran in" in out and "load  fresh" in out
    forced = kernel.ok("%dag run --force clean").stdout
    assert "clean  ran in" in forced and "2 steps: 1 ran, 1 cached" in forced


def test_status_table_and_inline_svg(kernel):
    run_all(kernel)
    kernel.ok("%%step clean --in raw --out df\ndf = raw.dropna().head(1)", cell_id="c4")
    r = kernel.ok("%dag status")
    text = r.data[0]["text/plain"]
    assert re.search(r"summary\s+stale\s+input `df` changed", text), text
    assert "<table" in r.data[0]["text/html"]
    shown = kernel.ok("%dag show").data[0]
    svg = shown["image/svg+xml"]
    assert "<svg" in svg and "summary" in svg and "clean" in svg
    # the labextension draws this one (the sidebar's layout); the SVG is the fallback
    assert [s["step"] for s in shown["application/vnd.nb2pipe.dag+json"]["steps"]] == ["load", "clean", "summary"]


def test_kernel_restart_loses_nothing(kernel):
    run_all(kernel)
    kernel.restart()
    again = run_all(kernel)
    assert all("cached" in r.stdout for r in again[3:]), [r.stdout for r in again]


def test_src_change_makes_load_stale(kernel, project):
    run_all(kernel)
    (project / "data" / "sales.csv").write_text("region,amount\nEU,10\n")
    st = status(kernel)
    assert st["load"] == ("stale", ["source `data/sales.csv` changed"])
    out = kernel.ok("%dag run").stdout
    assert "load  ran in" in out and "summary  ran in" in out
    assert kernel.ok("print(by_region.to_dict())").stdout.strip() == "{'EU': 10}"


def test_progress_lines_on_long_runs(kernel):
    for c in CELLS[:3]:
        kernel.ok(c)
    kernel.ok("%%step a --out x\nimport time; time.sleep(0.05); x = 1")
    kernel.ok("%%step b --in x --out y\ny = x + 1")
    kernel.ok("%%step b --in x --out y\ny = x + 2")
    out = kernel.ok("%dag run --force a").stdout
    assert "[1/1] ✓ a  ran in" in out
    out = kernel.ok("%dag run b --downstream --force").stdout
    assert re.search(r"\[1/2\] .* a ", out) and re.search(r"\[2/2\] .* b ", out)


def test_dag_help_and_step_help(kernel):
    kernel.ok(LOAD)
    assert "%dag run --force STEP" in kernel.ok("%dag help").stdout
    r = kernel.ok("%%step?")
    pager = str(r.payload)
    assert "%%step load --src data/sales.csv --out raw" in pager


def test_sql_step_in_the_kernel(kernel):
    run_all(kernel)
    r = kernel.ok("%%step revenue --sql --out revenue\nSELECT region, sum(amount) AS total\n"
                  "FROM df\nGROUP BY region\nORDER BY region")
    assert "revenue  ran in" in r.stdout
    assert kernel.ok("print(type(revenue).__name__, revenue.num_rows)").stdout.split() == ["Table", "2"]
    again = kernel.ok("%%step revenue --sql --out revenue\nSELECT region, sum(amount) AS total\n"
                      "FROM df\nGROUP BY region\nORDER BY region")
    assert "revenue  cached" in again.stdout
    bad = kernel.fails("%%step broken --sql\nSELECT region\nFROM df\nWHERE")
    assert "SQL syntax error" in bad.error_text and "line 4" in bad.error_text


def test_dag_run_after_a_restart_reads_the_steps_from_the_notebook(kernel, project):
    import json
    cells = CELLS
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": c, "outputs": [],
                     "execution_count": None} for i, c in enumerate(cells)]}
    (project / "flow.ipynb").write_text(json.dumps(nb))
    kernel.ok("__session__ = 'work/flow.ipynb'")       # as JupyterLab names the kernel's session
    kernel.ok("%load_ext nb2pipe")
    out = kernel.ok("%dag run --force clean").stdout
    assert "read 3 from flow.ipynb as last saved" in out
    assert "clean  ran in" in out and "load  ran in" in out
