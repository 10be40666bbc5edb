"""Promotion: which exported package version is live in which environment.

``nb2pipe promote build/analysis --to prod`` refuses a package whose generated tests fail
or whose source notebook changed since export, then records the deployment (version, code
hashes, who, when) in the environment's store.  ``--rollback`` makes the previous version
live again.  Records are append-only JSON files that ``nb2pipe log --deployments`` queries.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

from . import environments, notebook
from .errors import Nb2pipeError


def _history(store, env: str) -> list[dict]:
    """Every deployment record of ``env``, oldest first (any store: folder or fsspec URL)."""
    from .records import deployments
    return deployments(store, env)


def live(store, env: str) -> dict | None:
    h = _history(store, env)
    return h[-1] if h else None


def _check_source(pkg_root: str, man: dict) -> None:
    rel = (man.get("source") or {}).get("relpath")
    if not rel:
        raise Nb2pipeError("the package does not say which notebook it came from",
                           fix="export it again with this nb2pipe version")
    src = os.path.normpath(os.path.join(pkg_root, rel))
    if not os.path.isfile(src):
        raise Nb2pipeError(f"the source notebook {src} is gone, so the package cannot be checked"
                           " against it", fix="promote from the checkout the package was exported from")
    from .export.manifest import pipeline_hash
    if pipeline_hash(notebook.read(src)) != man["source"]["pipeline_hash"]:
        raise Nb2pipeError(f"{os.path.relpath(src)} changed since this package was exported"
                           " (its setup, parameter or step cells differ)",
                           fix=f"export again: nb2pipe export {os.path.relpath(src)} -o {pkg_root} --overwrite")


def _run_tests(pkg_root: str) -> str:
    env = {**os.environ, "PYTHONPATH": pkg_root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                       cwd=pkg_root, capture_output=True, text=True, env=env)
    summary = (p.stdout.strip().splitlines() or ["(no output)"])[-1]
    if p.returncode != 0:
        raise Nb2pipeError(f"the package's tests fail ({summary}); it was not promoted",
                           where=os.path.join(pkg_root, "tests"),
                           fix=f"run `cd {pkg_root} && python -m pytest` and fix what fails")
    return summary


def promote(target: str, env_name: str, *, rollback: bool = False) -> dict:
    found = notebook.find_package(target)
    if found is None:
        raise Nb2pipeError(f"{target} is not an exported pipeline", fix="pass a folder made by `nb2pipe export`")
    nb_path, man = found
    pkg_root = os.path.dirname(os.path.dirname(nb_path))
    env = environments.get(os.getcwd(), env_name)
    if env is None:
        raise Nb2pipeError("this project declares no environments",
                           fix="add [envs.NAME] tables to nb2pipe.toml")
    store = environments.open_store(env, os.getcwd())
    store = getattr(store, "own", store)
    record = {"id": uuid.uuid4().hex[:12], "when": time.time(), "env": env.name,
              "user": os.environ.get("USER") or "unknown", "package": man["name"]}
    if rollback:
        history = _history(store, env.name)
        if not history:
            raise Nb2pipeError(f"nothing is deployed in `{env.name}` yet, so there is nothing to roll back")
        current = history[-1]["version"]
        previous = next((r for r in reversed(history) if r["version"] != current), None)
        if previous is None:
            raise Nb2pipeError(f"`{env.name}` has had only version {current}; there is no earlier one")
        record.update(action="rollback", version=previous["version"], code=previous["code"],
                      pipeline_hash=previous["pipeline_hash"], replaced=current, tests=previous.get("tests"))
    else:
        _check_source(pkg_root, man)
        summary = _run_tests(pkg_root)
        record.update(action="promote", version=man["version"], pipeline_hash=man["source"]["pipeline_hash"],
                      code={s["name"]: s["code_hash"] for s in man["steps"]}, tests=summary,
                      replaced=(live(store, env.name) or {}).get("version"))
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(record["when"]))
    store.backend.write_bytes(f"deployments/{env.name}/{stamp}-{record['id']}.json",
                              json.dumps(record, sort_keys=True).encode())
    return record
