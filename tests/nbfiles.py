"""Notebooks written for tests, and the real `nb2pipe` command line run on them."""
import json
import os
import subprocess
import sys
import time


def nb2pipe(*args, cwd, env=None):
    p = subprocess.run([sys.executable, "-m", "nb2pipe", *args], cwd=cwd, capture_output=True,
                       text=True, timeout=300, env={**os.environ, **(env or {})})
    return p.returncode, p.stdout, p.stderr


def write_nb(path, cells, **meta):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": meta,
          "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": s,
                     "outputs": [], "execution_count": None} for i, s in enumerate(cells)]}
    path.write_text(json.dumps(nb))
    return path


def gone(pid: int, within: float = 30.0) -> bool:
    """The process has exited (a zombie left to a parent that does not reap counts as exited)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False
