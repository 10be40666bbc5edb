"""Headless planning keeps each cell's analysis in the store (nb2pipe.analysiscache): the
keys, the graph and the analyses must be exactly those of planning without it, and an edited
cell, another analyser or a damaged file must never be served an old analysis."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nb2pipe import analysiscache, notebook
from nb2pipe.analysis import analyze
from nb2pipe.analysiscache import AnalysisCache
from nb2pipe.errors import AnalysisError
from nb2pipe.runner import plan

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = {
    "example": (ROOT / "examples" / "sales", "analysis.ipynb"),
    "corpus": (ROOT / "tests" / "notebooks" / "real" / "handson-ml3-tools-pandas", "tagged.ipynb"),
}


def _planned(path, *, cache: bool = True):
    """The engine headless planning makes of the notebook, and the cache it used."""
    nb = notebook.read(path)
    store = plan.project_store(nb, None)
    if not cache:                      # planning without a cache file: every analysis made here
        real = AnalysisCache.of_store
        AnalysisCache.of_store = classmethod(lambda cls, store, name: cls(None, name))
        try:
            engine = plan.engine_for(nb, store)
        finally:
            AnalysisCache.of_store = real
    else:
        engine = plan.engine_for(nb, store)
    return engine, engine.analysis_cache


def _keys(engine) -> dict:
    """Every step's key components and key (inputs given fixed versions), and the edges."""
    out = {}
    for name, step in engine.defs.steps.items():
        comps, key = engine.keyed(step, {i: f"v:{i}" for i in engine.defs.inputs_of(step)})
        out[name] = (comps, key, step.info, step.outputs, engine.defs.outputs_of(step))
    return {"steps": out, "edges": sorted(engine.graph().edges()),
            "setup": {k: c.info for k, c in engine.defs.setup.items()}}


@pytest.mark.parametrize("which", sorted(NOTEBOOKS))
def test_keys_are_the_same_with_and_without_the_cache(tmp_path, which):
    folder, name = NOTEBOOKS[which]
    # without a store the demo or a user left there (its analyses would make this cache warm)
    shutil.copytree(folder, tmp_path / "p", ignore=shutil.ignore_patterns(".nb2pipe", "__pycache__"))
    path = tmp_path / "p" / name
    without, nocache = _planned(path, cache=False)
    first, cold = _planned(path)
    second, warm = _planned(path)
    assert nocache.backend is None
    assert cold.hits == 0 and cold.misses > 0
    assert warm.misses == 0 and warm.hits == cold.misses      # nothing parsed the second time
    expected = _keys(without)
    assert len(expected["steps"]) > 5
    assert _keys(first) == expected
    assert _keys(second) == expected
    for step in second.defs.steps.values():
        if step.sql is None:           # what the file gave is what analysing the code gives
            assert step.info == analyze(step.code, line_offset=1)


def _write_nb(path, cells):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": s, "outputs": [],
                     "execution_count": None} for i, s in enumerate(cells)]}
    path.write_text(json.dumps(nb))


CELLS = ["%%step a\nx = 1\nopen('in.txt').read()", "%%step b\ny = x + 1", "%%step c\n%time z = y * 2"]


def test_an_edited_cell_is_analysed_again_and_only_it(tmp_path):
    (tmp_path / "in.txt").write_text("1")
    path = tmp_path / "nb.ipynb"
    _write_nb(path, CELLS)
    _planned(path)
    _write_nb(path, [CELLS[0], "%%step b\ny = x + 2\nw = x", CELLS[2]])
    engine, cache = _planned(path)
    b = engine.defs.steps["b"]
    assert b.info == analyze("y = x + 2\nw = x", line_offset=1) and b.outputs == ("y", "w")
    assert cache.misses == 2           # b's code and its plain-Python form; a and c from the file
    assert engine.defs.steps["c"].code.strip() == "get_ipython().run_line_magic('time', 'z = y * 2')"
    again, cache = _planned(path)
    assert cache.misses == 0 and _keys(again) == _keys(engine)


def test_a_moved_cell_is_not_served_the_analysis_of_its_old_line(tmp_path):
    """A file-read's line is part of the analysis: the same code at another line offset is
    analysed again (the cache is keyed by code and line)."""
    from nb2pipe.store import Store
    backend = Store(tmp_path / "s").backend
    code = "open('a.txt').read()\nopen(g)"
    first = AnalysisCache(backend, "nb.ipynb")
    one = first.python(code, line_offset=1)
    first.save()
    second = AnalysisCache(backend, "nb.ipynb")
    two = second.python(code, line_offset=3)
    assert second.misses == 1 and two == analyze(code, line_offset=3)
    assert one.files.unresolved[0][0] + 2 == two.files.unresolved[0][0]
    assert second.python(code, line_offset=1) == one and second.hits == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "edited", "other analyser"])
def test_a_damaged_or_foreign_file_is_not_used(tmp_path, damage, monkeypatch):
    path = tmp_path / "nb.ipynb"
    (tmp_path / "in.txt").write_text("1")
    _write_nb(path, CELLS)
    good, _ = _planned(path)
    files = list((tmp_path / ".nb2pipe" / "analysis").iterdir())
    assert len(files) == 1
    data = files[0].read_bytes()
    if damage == "garbage":
        files[0].write_bytes(b"\x00not json")
    elif damage == "truncated":
        files[0].write_bytes(data[:-40])
    elif damage == "edited":           # same length, one name changed: the body's hash differs
        files[0].write_bytes(data.replace(b'"reads":["x"]', b'"reads":["q"]'))
        assert files[0].read_bytes() != data
    else:
        monkeypatch.setattr(analysiscache, "_analyser_fingerprint", lambda: "another nb2pipe")
    engine, cache = _planned(path)
    assert cache.hits == 0 and _keys(engine) == _keys(good)


def test_a_syntax_error_is_reported_each_time_and_never_kept(tmp_path):
    path = tmp_path / "nb.ipynb"
    _write_nb(path, ["%%step a\nx = 1", "%%step b\ny = (x +"])
    for _ in range(2):
        with pytest.raises(AnalysisError, match="syntax error") as e:
            _planned(path)
        assert "step `b`" in str(e.value)
    _write_nb(path, ["%%step a\nx = 1", "%%step b\ny = (x + 1)"])
    engine, cache = _planned(path)
    assert engine.defs.steps["b"].info.reads == ("x",)


def test_sql_steps_are_kept_by_query(tmp_path):
    path = tmp_path / "nb.ipynb"
    _write_nb(path, ["%%step t0 --sql\nSELECT 1 AS a", "%%step t1 --sql\nSELECT a + 1 AS a FROM t0"])
    first, _ = _planned(path)
    again, cache = _planned(path)
    assert cache.misses == 0 and cache.hits == 2
    assert again.defs.steps["t1"].sql == first.defs.steps["t1"].sql
    assert again.defs.steps["t1"].sql.tables == ("t0",)
    assert _keys(again) == _keys(first)


def test_a_remote_or_read_only_store_keeps_no_file(tmp_path):
    from nb2pipe.store import Store
    ro = Store(tmp_path / "s")
    ro.read_only = True
    assert AnalysisCache.of_store(ro, "nb.ipynb").backend is None
    assert AnalysisCache.of_store(Store(tmp_path / "s2"), "nb.ipynb").backend is not None


def test_a_cell_transformed_by_another_ipython_is_transformed_again(tmp_path, monkeypatch):
    """IPython syntax (`%time`) is kept with the IPython that transformed it: after an IPython
    upgrade the cell is transformed again, plain cells are not."""
    (tmp_path / "in.txt").write_text("1")
    path = tmp_path / "nb.ipynb"
    _write_nb(path, CELLS)
    first, _ = _planned(path)
    real = analysiscache._installed
    monkeypatch.setattr(analysiscache, "_installed",
                        lambda p: "another IPython" if p == "IPython" else real(p))
    again, cache = _planned(path)
    assert cache.misses == 1           # step c's %time cell; its code and analysis are unchanged
    assert _keys(again) == _keys(first)
