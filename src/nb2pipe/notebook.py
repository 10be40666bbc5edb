"""Read a notebook's pipeline cells straight from its JSON.

No nbformat import here: planning, status and checks must start fast
(importing nbformat costs about two seconds on these machines).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from .errors import Nb2pipeError

KINDS = {"%%step": "step", "%%setup": "setup", "%%params": "params"}


@dataclass(frozen=True)
class Cell:
    index: int                 # position in the notebook (0-based)
    kind: str                  # step | setup | params | load | explore | markdown
    source: str
    cell_id: str | None
    line: str = ""             # the text after the cell magic
    body: str = ""             # the source without the magic line

    @property
    def where(self) -> str:
        return f"cell {self.index + 1}" + (f" (id {self.cell_id})" if self.cell_id else "")


@dataclass(frozen=True)
class PipelineNotebook:
    path: str
    cells: tuple[Cell, ...]
    kernel_name: str
    raw: dict
    manifest: dict | None = None     # set when reading an exported package

    @property
    def project_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))

    @property
    def pipeline(self) -> str:
        """The pipeline's identity: the source notebook's file name (also for an exported
        package, so the lab and production share per-step state)."""
        src = ((self.manifest or {}).get("source") or {}).get("notebook")
        return os.path.basename(src or self.path)

    def of_kind(self, *kinds: str) -> list[Cell]:
        return [c for c in self.cells if c.kind in kinds]


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def classify(source: str, tags: list[str]) -> tuple[str, str, str]:
    """(kind, magic line, body) of one code cell."""
    stripped = source.lstrip()
    first, _, rest = stripped.partition("\n")
    for magic, kind in KINDS.items():
        if first == magic or first.startswith(magic + " "):
            return kind, first[len(magic):].strip(), rest
    if "parameters" in tags:
        return "params", "", source
    if "%load_ext nb2pipe" in source:
        return "load", "", source
    if stripped.startswith("%nb2pipe "):
        return "control", "", source
    return "explore", "", source


def _check_shape(raw, path: str) -> None:
    """What nb2pipe reads of the JSON is there and of the right types, or one clear error."""
    upgrade = f"upgrade it: `jupyter nbconvert --to notebook --nbformat 4 --output {os.path.basename(path)} {path}`"
    if not isinstance(raw, dict):
        raise Nb2pipeError(f"{path} is not a notebook: its JSON is a {type(raw).__name__}, not an object",
                           fix="pass a .ipynb file")
    major = raw.get("nbformat")
    if "worksheets" in raw or type(major) is int and major < 4:
        raise Nb2pipeError(f"{path} is an nbformat {major if type(major) is int else 3} notebook;"
                           " nb2pipe reads nbformat 4", fix=upgrade)
    if "cells" not in raw:
        raise Nb2pipeError(f"{path} is not a notebook (no cells)", fix="pass a .ipynb file")
    if type(major) is not int:
        raise Nb2pipeError(f"{path}: \"nbformat\" is {major!r}, not a number", where=path,
                           fix='it must be the number 4 (`"nbformat": 4`); open and save the notebook'
                               " in Jupyter to repair it")
    if not isinstance(raw["cells"], list):
        raise Nb2pipeError(f"{path}: \"cells\" is a {type(raw['cells']).__name__}, not a list of cells",
                           where=path, fix="open and save the notebook in Jupyter to repair it")
    for i, c in enumerate(raw["cells"]):
        problem = (f"is a {type(c).__name__}, not a cell" if not isinstance(c, dict) else
                   "has a source that is not text" if not isinstance(c.get("source", ""), (str, list))
                   or isinstance(c.get("source"), list) and not all(isinstance(x, str) for x in c["source"])
                   else "has metadata that is not an object"
                   if not isinstance(c.get("metadata") or {}, dict) else None)
        if problem:
            raise Nb2pipeError(f"{path}: cell {i + 1} {problem}", where=f"{path}, cell {i + 1}",
                               fix="open and save the notebook in Jupyter to repair it")


def read(path: str | os.PathLike) -> PipelineNotebook:
    """Parse a notebook file.  Every failure is one clear :class:`Nb2pipeError`."""
    path = os.fspath(path)
    manifest = None
    if os.path.isdir(path):
        found = find_package(path)
        if found is None:
            raise Nb2pipeError(f"{path} is a directory without an exported pipeline in it",
                               fix="pass a notebook (.ipynb) or a folder made by `nb2pipe export`")
        path, manifest = found
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise Nb2pipeError(f"no notebook at {path}", fix="check the path") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise Nb2pipeError(f"{path} is not a notebook: it is not valid JSON ({e})",
                           fix="open it in Jupyter and save it again, or pass the .ipynb file") from None
    _check_shape(raw, path)
    cells = []
    for i, c in enumerate(raw["cells"]):
        src = _source(c)
        if c.get("cell_type") != "code":
            cells.append(Cell(i, "markdown", src, c.get("id")))
            continue
        kind, line, body = classify(src, list((c.get("metadata") or {}).get("tags") or []))
        cells.append(Cell(i, kind, src, c.get("id"), line, body))
    ks = (raw.get("metadata") or {}).get("kernelspec") or {}
    nb = PipelineNotebook(path, tuple(cells), ks.get("name") or "python3", raw, manifest)
    if not nb.of_kind("step"):
        raise Nb2pipeError(f"{path} has no %%step cells, so there is no pipeline to run",
                           fix="tag the cells that make up the pipeline with `%%step NAME`"
                               " (after `%load_ext nb2pipe`)")
    return nb


def find_package(folder: str) -> tuple[str, dict] | None:
    """(pipeline notebook, manifest) of an exported package folder (or its project root)."""
    candidates = [folder] + [os.path.join(folder, d) for d in sorted(os.listdir(folder))
                             if os.path.isdir(os.path.join(folder, d))]
    for d in candidates:
        m = os.path.join(d, "manifest.json")
        nbp = os.path.join(d, "pipeline.ipynb")
        if os.path.isfile(m) and os.path.isfile(nbp):
            with open(m, encoding="utf-8") as f:
                return nbp, json.load(f)
    return None
