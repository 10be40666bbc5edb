"""Project configuration: ``nb2pipe.toml`` beside the notebook (or above it), or
``[tool.nb2pipe]`` in the project's ``pyproject.toml``.

    # nb2pipe.toml
    store = "s3://bucket/team/sales"      # any fsspec URL or path (relative to this file)

Resolution order for the store: ``--store`` / ``%nb2pipe store``, ``$NB2PIPE_STORE``,
this file, then ``.nb2pipe/`` beside the notebook.
"""
from __future__ import annotations

import os
import sys

from .errors import Nb2pipeError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def find_config(start: str) -> tuple[str, dict] | None:
    """(directory of the file, its nb2pipe table), searching ``start`` and its parents."""
    d = os.path.abspath(start)
    while True:
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
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def store_location(project_dir: str, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    if os.environ.get("NB2PIPE_STORE"):
        return os.environ["NB2PIPE_STORE"]
    found = find_config(project_dir)
    if found and found[1].get("store"):
        base, table = found
        url = str(table["store"])
        return url if "://" in url else os.path.normpath(os.path.join(base, url))
    return os.path.join(project_dir, ".nb2pipe")
