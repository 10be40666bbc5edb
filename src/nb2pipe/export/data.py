"""The files an exported package reads: which ones (and which steps read them), the samples
its tests run on, and the lines that tell the user where each is read from."""
from __future__ import annotations

import ast
import os

from .. import filerefs
from ..engine import Engine
from ..notebook import PipelineNotebook

MAX_SAMPLE_BYTES = 50 * 1024 * 1024     # sources above this in total are not copied whole


def _exportable(engine: Engine, path: str) -> bool:
    """A sample file the package may carry: inside the project, and neither the store, a
    signing key nor another hidden folder (``--src .`` must not export ``.nb2pipe/``)."""
    root = os.path.realpath(engine.project_dir)
    full = os.path.realpath(path)
    if not full.startswith(root + os.sep):
        return False
    store = getattr(engine.store, "url", "")
    if "://" not in store and full.startswith(os.path.realpath(store) + os.sep):
        return False
    parts = os.path.relpath(full, root).split(os.sep)
    return not any(p.startswith(".") for p in parts[:-1]) and parts[-1] != "signing-key"


def sources(engine: Engine) -> dict[str, list[str]]:
    """Files the steps read (``--src`` and the paths their code names), relative to the
    project -> the steps reading each."""
    from ..sources import expand_source
    out: dict[str, list[str]] = {}
    for step in engine.defs.steps.values():
        made = set(engine.defs.inputs_of(step))     # files a step above writes: not sources
        for spec in engine.sources_of(step):
            for full in expand_source(spec, engine.project_dir):
                rel = os.path.relpath(full, engine.project_dir).replace(os.sep, "/")
                if _exportable(engine, full) and filerefs.name_of(rel) not in made:
                    out.setdefault(rel, []).append(step.name)
    return {k: sorted(set(v)) for k, v in sorted(out.items())}


def fits_whole(engine: Engine, found: dict[str, list[str]]) -> bool:
    """Whether the sources are small enough for the package to carry a snapshot of them."""
    return sum(os.path.getsize(os.path.join(engine.project_dir, p)) for p in found) <= MAX_SAMPLE_BYTES


def written_by_plain_cells(nb: PipelineNotebook, engine: Engine) -> list[str]:
    """Files a step reads that only a cell which is not a step writes (``np.save(...)`` with
    no %%step line): production never runs that cell, so the package reads the file as data."""
    notes = []
    for cell in nb.of_kind("explore"):
        try:
            written = filerefs.find(ast.parse(cell.source)).writes
        except SyntaxError:
            continue                  # IPython syntax: not something export can read
        for path in written:
            readers = [s.name for s in engine.defs.steps.values() if path in s.info.files.paths
                       and filerefs.name_of(path) not in engine.defs.inputs_of(s)]
            if readers:
                notes.append(f"`{path}`, read by step {', '.join(f'`{r}`' for r in readers)}, is written by"
                             f" {cell.where}, which is not a step: production does not run it, so the"
                             " package reads the file as data; add a `%%step NAME` line to that cell"
                             " to make the file its output")
    return notes


def samples(engine: Engine, found: dict[str, list[str]], out_dir: str, copied: bool) -> list[dict]:
    """Write the first rows of each source under tests/fixtures/ (the generated tests run on
    them) and describe each: where the package reads it, the sample shipped."""
    from .. import sampling
    rows = []
    for rel, steps in found.items():
        sample = sampling.head(os.path.join(engine.project_dir, rel),
                               os.path.join(out_dir, "tests", "fixtures", rel))
        rows.append({"path": rel, "steps": steps, "copied_whole": copied,
                     "sample": None if sample is None else {
                         "path": f"tests/fixtures/{rel}", "rows": sample.rows, "bytes": sample.bytes,
                         "complete": sample.complete}})
    return rows


def source_lines(ex) -> list[str]:
    """The end of ``nb2pipe export`` (``ex`` an :class:`~.package.Exported`): which sources the
    package reads, from where, and the sample its tests use."""
    notes = [f"note: {n}" for n in ex.notes]
    if not ex.sources:
        return ["the package reads no source file"] + notes
    out = notes + [f"the package reads {len(ex.sources)} source file(s), relative to {ex.package}/ or to"
           " `run --data-root DIR`:"]
    for src in ex.sources:
        where = ("a snapshot is copied into the package (read unless --data-root is given)"
                 if src["copied_whole"] else "not in the package: run with --data-root DIR holding it")
        smp = src["sample"]
        if smp is None:
            test = "tests: no sample (over the size cap, not a table to cut)"
        elif smp["rows"] is None:
            test = f"tests: {smp['path']} (the whole file, {smp['bytes']} bytes)"
        else:
            test = (f"tests: {smp['path']} ({'all' if smp['complete'] else 'the first'} {smp['rows']}"
                    f" rows, {smp['bytes']} bytes)")
        out.append(f"  {src['path']} (step {', '.join(src['steps'])}): {where}; {test}")
    return out
