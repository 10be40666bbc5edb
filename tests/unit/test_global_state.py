"""Library code leaves the process as it found it: sys.path, signal handlers, os.environ."""
import json
import os
import signal
import sys

import pytest

from nb2pipe import notebook
from nb2pipe.cli_run import _terminate_cleanly
from nb2pipe.errors import Nb2pipeError
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


def _two_environments(tmp_path):
    (tmp_path / "nb2pipe.toml").write_text(
        'default_env = "dev"\n[envs.dev]\nstore = "dev-store"\n'
        '[envs.prod]\nstore = "prod-store"\ncredentials = { NB2PIPE_T_CRED = "NB2PIPE_T_SOURCE" }\n')
    return _nb(tmp_path / "nb.ipynb", ["%load_ext nb2pipe", "%%step s --out y\ny = 1"])


def test_an_environments_credentials_leave_with_the_command(tmp_path, monkeypatch, capsys):
    from nb2pipe import cli
    path = _two_environments(tmp_path)
    monkeypatch.setenv("NB2PIPE_T_SOURCE", "cred-value-123")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["status", path, "--env", "prod", "--json"]) == 0
    out, err = capsys.readouterr()
    assert ([r["step"] for r in json.loads(out)], "prod-store (from environment `prod`" in err) == (["s"], True)
    assert "NB2PIPE_T_CRED" not in os.environ


def test_switching_environment_takes_the_previous_credentials_back(tmp_path, monkeypatch):
    from nb2pipe import environments as envs
    _two_environments(tmp_path)
    monkeypatch.setenv("NB2PIPE_T_SOURCE", "cred-value-123")
    prod, dev = envs.get(str(tmp_path), "prod"), envs.get(str(tmp_path), "dev")
    replaced: dict = {}
    envs.open_store(prod, str(tmp_path), replaced)
    assert os.environ["NB2PIPE_T_CRED"] == "cred-value-123"       # the store client reads it there
    store, replaced = envs.switch_store(dev, str(tmp_path), replaced)
    assert store.url.endswith("dev-store") and "NB2PIPE_T_CRED" not in os.environ
    monkeypatch.delenv("NB2PIPE_T_SOURCE")
    before = dict(os.environ)
    with pytest.raises(Nb2pipeError, match=r"needs the credential NB2PIPE_T_CRED"):
        envs.switch_store(prod, str(tmp_path), replaced)
    assert dict(os.environ) == before                              # a failed switch changes nothing
    envs.restore_environ(replaced)
