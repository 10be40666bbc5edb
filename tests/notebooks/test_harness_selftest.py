"""The real-notebook harness itself: on a small notebook nb2pipe handles, every check of
test_real passes (so a failure there is about the notebook, not the harness), and an edit
whose effect stops at the edited step is refused as a bad table entry."""
import json

import pytest

import test_real
from test_real import venv_pool  # noqa: F401 - the fixture (the harness ends with export)

CELLS = ["import numpy as np\nimport pandas as pd", "base = np.arange(10)\nscale = 3",
         "scaled = base * scale", "df = pd.DataFrame({'x': scaled})\ndf['y'] = df.x + 1",
         "df.describe()", "other = pd.Series([1, 2, 3])", "total = df.y.sum() + other.sum()"]
HEADS = ["%%setup", "%%step load", "%%step scale", "%%step frame", None, "%%step other", "%%step total"]


def _nb(sources):
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
                       "outputs": [], "source": s} for i, s in enumerate(sources)],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    d = tmp_path / "corpus" / "synth"
    d.mkdir(parents=True)
    (d / "original.ipynb").write_text(json.dumps(_nb(CELLS)))
    tagged = _nb(["%load_ext nb2pipe"] + [f"{h}\n{c}" if h else c for h, c in zip(HEADS, CELLS)])
    (d / "tagged.ipynb").write_text(json.dumps(tagged))
    monkeypatch.setattr(test_real, "REAL", tmp_path / "corpus")
    return tmp_path


@pytest.mark.timeout(300)
def test_harness_passes_a_notebook_nb2pipe_handles(corpus, monkeypatch, venv_pool):  # noqa: F811
    monkeypatch.setitem(test_real.EDITS, "synth", (2, "base * scale", "base * scale * 2"))
    test_real.test_real_notebook("synth", corpus / "run", venv_pool)


@pytest.mark.timeout(300)
def test_harness_refuses_an_edit_that_changes_nothing_downstream(corpus, monkeypatch, venv_pool):  # noqa: F811
    monkeypatch.setitem(test_real.EDITS, "synth", (2, "base * scale", "scale * base"))
    with pytest.raises(AssertionError, match="bad edit"):
        test_real.test_real_notebook("synth", corpus / "run", venv_pool)
