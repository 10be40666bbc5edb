"""Library code leaves the process as it found it: sys.path, signal handlers, os.environ."""
import json
import signal
import sys

from nb2pipe import notebook
from nb2pipe.cli_run import _terminate_cleanly
from nb2pipe.envforward import FORWARD_PREFIX, drop_restored_env, restore_forwarded_env
from nb2pipe.runner import plan
from nb2pipe.store import Store


def _nb(path, cells):
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": s, "outputs": [],
         "execution_count": None} for i, s in enumerate(cells)]}))
    return str(path)


def test_planning_tracks_local_modules_without_touching_sys_path(tmp_path):
    (tmp_path / "tidy_rules.py").write_text("def tidy(x):\n    return x + 1\n")
    path = _nb(tmp_path / "nb.ipynb", ["%load_ext nb2pipe", "%%setup\nimport tidy_rules",
                                        "%%step s --out y\ny = tidy_rules.tidy(1)"])
    before = list(sys.path)

    def key():
        return plan.engine_for(notebook.read(path), Store(tmp_path / ".nb2pipe")).plan()["s"].key
    first = key()
    (tmp_path / "tidy_rules.py").write_text("def tidy(x):\n    return x + 2\n")
    assert key() != first                      # the module's code is part of the key
    assert sys.path == before


def test_the_sigterm_handler_is_put_back_after_a_run():
    previous = signal.getsignal(signal.SIGTERM)
    with _terminate_cleanly():
        assert signal.getsignal(signal.SIGTERM) is not previous
    assert signal.getsignal(signal.SIGTERM) is previous


def test_forwarded_variables_leave_with_the_extension():
    environ = {FORWARD_PREFIX + "AWS_REGION": "eu-west-1", FORWARD_PREFIX + "HOME": "/elsewhere",
               "HOME": "/home/me"}
    added = restore_forwarded_env(environ)
    assert (added, environ["AWS_REGION"], environ["HOME"]) == (["AWS_REGION"], "eu-west-1", "/home/me")
    drop_restored_env(added, environ)
    assert "AWS_REGION" not in environ and environ["HOME"] == "/home/me"
