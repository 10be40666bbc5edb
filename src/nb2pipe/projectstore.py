"""Which store a command uses: ``--store``, an environment's, ``$NB2PIPE_STORE``, the
project's configuration or ``.nb2pipe/`` beside the notebook.  Apart from planning, so that
a run can know its store (and start its kernel) before the engine is imported."""
from __future__ import annotations

import os

from .notebook import PipelineNotebook
from .store import Store


def project_store(nb: PipelineNotebook, url: str | None, env: str | None = None):
    """``--store``; else the environment's store (``--env``, ``$NB2PIPE_ENV`` or the
    configured default); else ``$NB2PIPE_STORE``; else ``.nb2pipe/`` beside the notebook —
    or in the working directory for an exported package (which may be installed read-only).
    The store's ``origin`` says which of these it came from."""
    from . import environments
    from .config import find_config, store_origin
    base = os.getcwd() if nb.manifest else nb.project_dir
    if url:
        store = Store(url)
        store.origin = "--store"
        return store
    e = environments.get(nb.project_dir, env) or (environments.get(base, env) if base != nb.project_dir else None)
    if e is not None:
        store = environments.open_store(e, nb.project_dir)
        store.env = e
        found = find_config(nb.project_dir) or find_config(base)
        store.origin = f"environment `{e.name}`" + (f" in {found[0]}" if found else "")
        return store
    location, origin = store_origin(base, None)
    store = Store(location)
    store.origin = origin
    return store
