"""What an exported package depends on: the distributions its steps import (and those their
outputs are made of), nb2pipe's extras, the project modules it carries, and the lock."""
from __future__ import annotations

import io
import os
import pickle
import re
import sys
from dataclasses import dataclass

from ..engine import Engine
from ..errors import Nb2pipeError
from ..fingerprint import _local_origin
from ..notebook import PipelineNotebook
from . import lock
from .manifest import step_results

RUNTIME = ("nb2pipe", "nbclient", "nbformat", "ipykernel", "pyarrow", "xxhash", "orjson", "fsspec", "pytest")
SCHEME_EXTRAS = {"s3": "s3", "s3a": "s3"}
MPL_MAGIC = re.compile(r"^\s*%(matplotlib|pylab)\b|run_line_magic\(['\"](matplotlib|pylab)['\"]", re.M)


@dataclass
class Dependencies:
    python: str                   # the kernel's Python version, which the lock was taken from
    locked: list                  # (distribution, version) of everything the steps pull
    pins: list[str]               # the package's direct dependencies, as pyproject lists them


def _modules(engine: Engine) -> set[str]:
    """Third-party top-level modules the steps and setup cells import."""
    mods: set[str] = set()
    for step in engine.defs.steps.values():
        mods |= engine.defs.modules_for(step)
    for cell in engine.defs.setup.values():
        mods |= set(cell.info.imports)
    if any(MPL_MAGIC.search(c.code) for c in [*engine.defs.setup.values(), *engine.defs.steps.values()]):
        mods.add("matplotlib")             # `%matplotlib inline` imports it in the kernel
    mods |= _output_modules(engine)
    return {m for m in mods if m not in sys.stdlib_module_names and m != "builtins"
            and not _local_origin(m, engine.project_dir)}


def _output_modules(engine: Engine) -> set[str]:
    """Modules the steps' last outputs are made of: ``load_iris(as_frame=True)`` imports
    nothing but returns pandas frames, so the package needs pandas to make and load them."""
    found: set[str] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            found.add(module.split(".")[0])
            return super().find_class(module, name)

    for res in step_results(engine).values():
        for ref in res.outputs.values():
            found.add(ref.type.split(".")[0])
            if ref.codec != "pickle":
                continue
            try:     # the lab's own result, loaded here already once: which classes it holds
                Recorder(io.BytesIO(pickle.dumps(engine.store.get(ref)))).load()
            except Exception:  # noqa: BLE001 - a value that cannot be loaded adds nothing
                continue
    return found


def _extras(nb: PipelineNotebook, engine: Engine, asked: tuple[str, ...]) -> list[str]:
    """nb2pipe's extras the package needs: those asked for (--extra) and those the
    project's environments' stores use (an s3:// store needs nb2pipe[s3])."""
    from .. import environments
    urls = [getattr(engine.store, "url", "") or ""]
    try:
        envs = environments.environments(nb.project_dir)[0].values()
    except Nb2pipeError:
        envs = ()
    for env in envs:
        urls += [env.store, getattr(env, "data_root", None) or ""]
    found = set(asked) | {SCHEME_EXTRAS[u.split("://", 1)[0]] for u in urls
                          if "://" in u and u.split("://", 1)[0] in SCHEME_EXTRAS}
    return sorted(found)


def _pins(modules: set[str], locked: dict[str, str], extras: list[str], optional: list[str]) -> list[str]:
    """The package's direct dependencies (the runtime, the distributions the steps import and
    their optional dependencies the lab has) at the kernel environment's versions; the lock
    pins the rest."""
    from importlib import metadata
    dist_of = metadata.packages_distributions()
    dists = set(RUNTIME) | set(optional) | {d for m in modules for d in dist_of.get(m, [])}
    pins = []
    by_key = {k.lower().replace("_", "-"): v for k, v in locked.items()}
    for d in sorted(dists, key=str.lower):
        name = f"nb2pipe[{','.join(extras)}]" if d == "nb2pipe" and extras else d
        version = by_key.get(d.lower().replace("_", "-"))
        pins.append(f"{name}=={version}" if version else name)
    return pins


def dependencies(nb: PipelineNotebook, engine: Engine, asked: tuple[str, ...]) -> Dependencies:
    """Resolve the package's dependencies in the notebook kernel's environment."""
    extra = _extras(nb, engine, asked)
    python = lock.kernel_python(nb.kernel_name)
    roots = list(RUNTIME) + (["duckdb"] if any(s.spec.sql for s in engine.defs.steps.values()) else [])
    modules = _modules(engine)
    py_version, locked, optional = lock.resolve(python, modules, roots, {"nb2pipe": extra})
    return Dependencies(py_version, locked, _pins(modules, dict(locked), extra, optional))


def local_files(engine: Engine) -> list[str]:
    """Project modules the steps use (paths relative to the project)."""
    files: set[str] = set()
    for step in engine.defs.steps.values():
        for m in engine.defs.modules_for(step):
            origin = _local_origin(m, engine.project_dir)
            if origin is None:
                continue
            if os.path.basename(origin) == "__init__.py":
                root = os.path.dirname(origin)
                files |= {os.path.relpath(os.path.join(d, f), engine.project_dir)
                          for d, _, fs in os.walk(root) for f in fs if f.endswith(".py")}
            else:
                files.add(os.path.relpath(origin, engine.project_dir))
    return sorted(files)
