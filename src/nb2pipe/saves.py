"""``--save out=path``: where a saved file may go, and whether it is still there.

A save is part of its step's success: it may not land outside the project unless the
project allows it (``allow_writes_outside = true`` in nb2pipe.toml), and a step whose saved
file is missing is stale ("saved file `x` is missing"), so the next run writes it again.
"""
from __future__ import annotations

import os

from .errors import Nb2pipeError


def _inside(path: str, folder: str) -> bool:
    root = os.path.realpath(folder)
    return os.path.realpath(path).startswith(root + os.sep)


def save_path(path: str, project_dir: str, *, step: str = "", out: str = "", where: str | None = None) -> str:
    """The full path (or URL) ``--save out=path`` writes to; a path outside the project
    raises unless the project opts in."""
    if "://" in path:
        return path
    full = os.path.normpath(os.path.join(project_dir, os.path.expanduser(path)))
    if not _inside(full, project_dir):
        from .config import setting
        if setting(project_dir, "allow_writes_outside", False) is not True:
            raise Nb2pipeError(f"--save {out}={path} of step `{step}` would write {full}, outside the"
                               f" project folder {project_dir}", where=where,
                               fix="save inside the project, or allow it explicitly with"
                                   " `allow_writes_outside = true` in the project's nb2pipe.toml")
    return full


def missing_saves(saves, project_dir: str) -> list[str]:
    """Why a fresh step must run again for its ``--save`` files: one reason per local file
    that is not there (URLs are not checked: that would cost a request per step)."""
    out = []
    for _, path in saves:
        if "://" in path:
            continue
        full = os.path.normpath(os.path.join(project_dir, os.path.expanduser(path)))
        if not os.path.exists(full):
            out.append(f"saved file `{path}` is missing")
    return out


def mark_missing_saves(engine, states: dict) -> set[str]:
    """Fresh steps (in a plan) whose saved files are missing become stale with the reason;
    returns their names, which a run must force (their cache entry is intact)."""
    out = set()
    for name, st in states.items():
        if st.state != "fresh":
            continue
        reasons = missing_saves(engine.defs.steps[name].spec.saves, engine.project_dir)
        if reasons:
            st.state = type(st.state)("stale")
            st.reasons = reasons
            out.add(name)
    return out
