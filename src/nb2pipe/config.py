"""Project configuration: ``nb2pipe.toml`` beside the notebook (or above it), or
``[tool.nb2pipe]`` in the project's ``pyproject.toml``.

    # nb2pipe.toml
    store = "s3://bucket/team/sales"      # any fsspec URL or path (relative to this file)

Resolution order for the store: ``--store`` / ``%nb2pipe store``, ``$NB2PIPE_STORE``,
this file, then ``.nb2pipe/`` beside the notebook.  The search for the file stops at the
project's git root (the nearest folder holding ``.git``) and never reads one in the home
folder or above it, so a stray ``nb2pipe.toml`` higher up cannot move the store;
``nb2pipe run`` and ``status`` print where the store came from.

    allow_writes_outside = true           # let --save write outside the project folder
"""
from __future__ import annotations

import os
import sys

from .errors import Nb2pipeError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _search_dirs(start: str) -> list[str]:
    """``start`` and its parents up to the git root; without one, up to (not including)
    the home folder and the folders right under the filesystem root (``/tmp``, ``/home``)."""
    d = os.path.abspath(start)
    home = os.path.abspath(os.path.expanduser("~"))
    out = []
    while True:
        out.append(d)
        parent = os.path.dirname(d)
        if (os.path.exists(os.path.join(d, ".git")) or parent == d or parent == home
                or os.path.dirname(parent) == os.path.dirname(os.path.dirname(parent))):
            return out
        d = parent


def find_config(start: str) -> tuple[str, dict] | None:
    """(directory of the file, its nb2pipe table), searching ``start`` and its parents up to
    the project's root (see the module doc)."""
    for d in _search_dirs(start):
        for name in ("nb2pipe.toml", "pyproject.toml"):
            path = os.path.join(d, name)
            if os.path.isfile(path):
                try:
                    with open(path, "rb") as f:
                        data = tomllib.load(f)
                except tomllib.TOMLDecodeError as e:
                    raise Nb2pipeError(f"{path} is not valid TOML: {e}", fix="correct the file") from None
                table = data if name == "nb2pipe.toml" else data.get("tool", {}).get("nb2pipe")
                if table:
                    return d, table
    return None


def store_origin(project_dir: str, explicit: str | None = None) -> tuple[str, str]:
    """(the store's location, where that came from, for one line of output)."""
    if explicit:
        return explicit, "--store"
    if os.environ.get("NB2PIPE_STORE"):
        return os.environ["NB2PIPE_STORE"], "$NB2PIPE_STORE"
    found = find_config(project_dir)
    if found and found[1].get("store"):
        base, table = found
        url = str(table["store"])
        name = "nb2pipe.toml" if os.path.isfile(os.path.join(base, "nb2pipe.toml")) else "pyproject.toml"
        return (url if "://" in url else os.path.normpath(os.path.join(base, url)),
                os.path.join(base, name))
    return os.path.join(project_dir, ".nb2pipe"), "the default, beside the notebook"


def store_location(project_dir: str, explicit: str | None = None) -> str:
    return store_origin(project_dir, explicit)[0]


def setting(project_dir: str, name: str, default=None):
    """A top-level setting of the project's configuration."""
    found = find_config(project_dir)
    return found[1].get(name, default) if found else default
