import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

SALES = "region,amount\nEU,1\nUS,2\nEU,\nUS,5\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sales.csv").write_text(SALES)
    (tmp_path / "helpers.py").write_text("def total(df):\n    return float(df['amount'].sum())\n")
    return tmp_path


@pytest.fixture
def kernel(project):
    from kernelharness import Kernel
    k = Kernel(str(project))
    yield k
    k.shutdown()
