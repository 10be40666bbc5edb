"""Notebooks written for tests, and the real `nb2pipe` command line run on them."""
import json
import os
import subprocess
import sys


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
