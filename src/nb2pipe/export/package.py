"""Build the exported package: name and folder, the files it holds, written in one place.

What goes in comes from the modules beside this one: ``cleaned`` (the notebook the package
runs), ``manifest`` (steps, parameters, contracts), ``data`` (the sources and their samples),
``deps`` (dependencies and the lock), ``templates`` (the generated text files) and
``airflow`` (the DAG file)."""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field

from .. import render
from ..engine import Engine
from ..errors import Nb2pipeError
from ..notebook import PipelineNotebook
from . import data, lock, runtime_wheel, templates
from .cleaned import clean_notebook
from .deps import Dependencies, dependencies, local_files
from .manifest import default_version, manifest

GITIGNORE = ".nb2pipe/\n__pycache__/\n*.egg-info/\nbuild/\ndist/\n"


@dataclass
class Exported:
    path: str
    package: str
    version: str
    files: list[str]
    sources: list[dict]           # what the package reads, and the sample its tests run on
    notes: list[str] = field(default_factory=list)   # what the user should know (source_lines)


def _dumps(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _package_name(nb: PipelineNotebook, name: str | None) -> str:
    """The import name: ``name`` or the notebook's, as a lower-case Python identifier."""
    base = name or os.path.splitext(os.path.basename(nb.path))[0]
    pkg = re.sub(r"\W+", "_", base).strip("_").lower() or "pipeline"
    return "p_" + pkg if pkg[0].isdigit() else pkg


def _check_version(version: str) -> None:
    if not re.match(r"^\d+(\.\d+)*([a-z0-9.+-]*)$", version):
        raise Nb2pipeError(f"--version {version!r} is not a version number", fix="e.g. --version 1.2.0")


def _clear(out_dir: str, overwrite: bool) -> None:
    """Empty ``out_dir`` for the package: only with --overwrite, only an exported package."""
    if not (os.path.exists(out_dir) and os.listdir(out_dir)):
        return
    if not overwrite:
        raise Nb2pipeError(f"{out_dir} already exists and is not empty",
                           fix="choose another -o folder, or pass --overwrite to replace it")
    if not os.path.isfile(os.path.join(out_dir, "pyproject.toml")) and find_exported(out_dir) is None:
        raise Nb2pipeError(f"{out_dir} does not look like an exported pipeline; refusing to"
                           " overwrite it", fix="choose an empty folder")
    shutil.rmtree(out_dir)


def _airflow_dag(nb: PipelineNotebook, pkg: str, man: dict, schedule: str | None) -> str:
    from .. import environments
    from .airflow import dag_file
    if schedule is None:          # from the configuration: the default environment's schedule
        env = environments.get(nb.project_dir, None)
        schedule = env.schedule if env else None
    return dag_file(pkg, man, schedule=schedule,
                    sources=sorted({s for st in man["steps"] for s in st["srcs"]}))


def _files(nb: PipelineNotebook, engine: Engine, pkg: str, version: str, man: dict,
           deps: Dependencies) -> dict[str, str]:
    """The generated files of the package: path in the package -> text."""
    graph = engine.graph()
    dist = pkg.replace("_", "-")
    statuses = [s.to_json() for s in engine.plan(graph).values()]
    mermaid = render.to_mermaid(statuses, graph.edges(), direction="LR")
    notebook = clean_notebook(nb, sorted(engine.defs.params), f"{pkg} pipeline", engine.defs.secret_params)
    return {
        f"{pkg}/pipeline.ipynb": _dumps(notebook),
        f"{pkg}/manifest.json": _dumps(man),
        f"{pkg}/__init__.py": templates.init(pkg, version),
        f"{pkg}/__main__.py": templates.main(pkg),
        f"{pkg}/{lock.FILE}": lock.text(deps.locked, pkg),
        "pyproject.toml": templates.pyproject(dist, pkg, version, deps.pins),
        "README.md": templates.readme(dist, pkg, version, man, mermaid),
        "tests/test_pipeline.py": templates.tests(pkg),
        ".gitignore": GITIGNORE,
        ".github/workflows/ci.yml": templates.ci_workflow(pkg, deps.python),
    }


def _write(out_dir: str, files: dict[str, str]) -> list[str]:
    for rel, text in sorted(files.items()):
        dst = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    return sorted(files)


def _copy(project_dir: str, out_dir: str, pkg: str, copies: list[str]) -> list[str]:
    """Copy project files (relative paths) into the package folder; never outside -o."""
    inside = os.path.realpath(os.path.join(out_dir, pkg)) + os.sep
    done = []
    for rel in copies:
        dst = os.path.join(out_dir, pkg, rel)
        if not os.path.realpath(dst).startswith(inside):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(project_dir, rel), dst)
        done.append(f"{pkg}/{rel}")
    return done


def export(nb: PipelineNotebook, engine: Engine, out_dir: str, *, name: str | None = None,
           version: str | None = None, overwrite: bool = False, targets: tuple[str, ...] = (),
           schedule: str | None = None, runtime_wheel_path: str | None = None,
           extras: tuple[str, ...] = ()) -> Exported:
    pkg = _package_name(nb, name)
    version = version or default_version(nb)
    _check_version(version)
    _clear(out_dir, overwrite)
    man = manifest(nb, engine, pkg, version, out_dir)
    found = data.sources(engine)
    snapshot = data.fits_whole(engine, found)
    man["sources"] = data.samples(engine, found, out_dir, snapshot)
    files = _files(nb, engine, pkg, version, man, dependencies(nb, engine, extras))
    if "airflow" in targets:
        files[f"airflow/{pkg}_dag.py"] = _airflow_dag(nb, pkg, man, schedule)
    written = [s["sample"]["path"] for s in man["sources"] if s["sample"]]
    written += _write(out_dir, files)
    written += _copy(engine.project_dir, out_dir, pkg, local_files(engine) + (list(found) if snapshot else []))
    wheel = runtime_wheel.place(os.path.join(out_dir, "wheels"), runtime_wheel_path)
    written.append("wheels/" + os.path.basename(wheel))
    return Exported(out_dir, pkg, version, sorted(written), man["sources"],
                    data.written_by_plain_cells(nb, engine))


def find_exported(folder: str):
    from ..notebook import find_package
    return find_package(folder)
