"""``nb2pipe check --sample``: run every step headless on the first rows of each source
file and compare every output with its contract, to find a type break in seconds.

The run happens in a mirror of the project (``.nb2pipe/sample/tree``): the folders on the
way to a sampled file are real folders, the sampled files are their first ROWS rows
(:mod:`nb2pipe.sampling`), everything else is a link to the project's own file.  Results go
to a store of their own (``.nb2pipe/sample/store``), so a sample result is never served to a
real run, and a real one never to a check.  Breaks are found after the run, all at once,
by comparing each output with its contract (:mod:`nb2pipe.contracts`).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from . import breakorigin, contracts, samplerun, sampling
from .breakorigin import Origin
from .contracts import Break

SAMPLED_KINDS = ("csv", "lines", "parquet", "duckdb")
_NO_ROW_CAP = 1 << 62       # the cut is by rows only: a wide sample is still a sample


@dataclass
class SampleCheck:
    rows: int
    sampled: dict[str, int] = field(default_factory=dict)       # path -> rows kept
    full: dict[str, str] = field(default_factory=dict)          # path -> why it is read in full
    breaks: list[Break] = field(default_factory=list)
    made_by: list[Origin] = field(default_factory=list)         # for each break: its maker and line
    failed: dict[str, str] = field(default_factory=dict)        # step -> error on the sample
    skipped: dict[str, str] = field(default_factory=dict)       # step -> why
    not_checked: dict[str, str] = field(default_factory=dict)   # step -> why (--sample-skip)
    no_contract: list[str] = field(default_factory=list)        # steps never run for real
    unsampled_steps: dict[str, float] = field(default_factory=dict)   # step -> seconds on full data
    durations: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.breaks or self.failed or self.skipped)


def sources(engine) -> dict[str, list[str]]:
    """step -> the files it reads (``--src``, SQL files, literal paths), relative to the
    project; files above it (``../data/x.csv``) too."""
    out = {}
    for name, step in engine.defs.steps.items():
        try:
            out[name] = list(engine.sources_of(step))
        except Exception:  # noqa: BLE001 - a glob or folder --src: read in full
            out[name] = list(step.sources)
        out[name] += [os.path.relpath(os.path.normpath(os.path.join(engine.project_dir, p)),
                                      engine.project_dir).replace(os.sep, "/")
                      for p in step.info.files.paths if _above(engine.project_dir, p)]
    return out


def _above(project_dir: str, path: str) -> bool:
    full = os.path.normpath(os.path.join(project_dir, path))
    return not full.startswith(project_dir + os.sep) and os.path.isfile(full)


def _base(project_dir: str, files: list[str]) -> str:
    """The folder the mirror copies: the project, or the ancestor holding the files read
    from above it (never the file system's root)."""
    above = [os.path.dirname(os.path.normpath(os.path.join(project_dir, p))) for p in files
             if _above(project_dir, p)]
    base = os.path.commonpath([project_dir] + above)
    return base if os.path.dirname(base) != base else project_dir


def build_mirror(project_dir: str, tree: str, files: list[str], rows: int,
                 keep_real: list[str] = (), skip: str = ".nb2pipe") -> tuple[dict[str, int], dict[str, str]]:
    """Write the mirror of ``project_dir`` at ``tree`` with the first ``rows`` rows of each of
    ``files`` that can be cut; (path -> rows kept, path -> why read in full).  The folders
    of ``keep_real`` paths (e.g. --save targets) are real, so writes stay in the mirror."""
    if os.path.isdir(tree):
        shutil.rmtree(tree)
    os.makedirs(tree)
    sampled: dict[str, int] = {}
    full: dict[str, str] = {}
    cut = []
    for rel in files:
        full_path = os.path.join(project_dir, rel)
        if not os.path.isfile(full_path):
            full[rel] = "a folder or pattern, not one file"
        elif sampling.kind_of(full_path) not in SAMPLED_KINDS:
            full[rel] = f"a {os.path.splitext(rel)[1] or 'file without extension'} file cannot be cut"
        else:
            cut.append(rel)
    real_dirs = {""}
    for rel in cut + [os.path.join(os.path.dirname(p), "x") for p in keep_real]:
        parts = rel.replace("\\", "/").split("/")[:-1]
        for i in range(len(parts)):
            real_dirs.add("/".join(parts[:i + 1]))
    for d in sorted(real_dirs):
        _link_entries(project_dir, tree, d, real_dirs | {skip}, set(cut) | set(keep_real))
    cuts = os.path.join(os.path.dirname(tree), "cuts")
    used = set()
    for rel in cut:
        sampled[rel], name = _cut(os.path.join(project_dir, rel), os.path.join(tree, rel), rows, cuts)
        used |= {name, name + ".rows"}
    for name in set(os.listdir(cuts)) - used if os.path.isdir(cuts) else ():
        os.remove(os.path.join(cuts, name))
    return sampled, full


def _cut(src: str, dst: str, rows: int, cuts: str) -> tuple[int, str]:
    """Write the first ``rows`` rows of ``src`` to ``dst``: a copy of the cut made last time when
    the source (size, mtime) and ``rows`` are the same -- the same bytes, so the steps reading
    it are not run again (a DuckDB file made anew differs byte for byte) -- else a new cut.
    (rows kept, the cut's file name in ``cuts``)."""
    import hashlib
    st = os.stat(src)
    key = hashlib.sha256(f"{os.path.abspath(src)}|{st.st_size}|{st.st_mtime_ns}|{rows}".encode()).hexdigest()[:24]
    name = f"{key}-{int(rows)}"
    kept = os.path.join(cuts, name)
    if not os.path.isfile(kept):
        os.makedirs(cuts, exist_ok=True)
        s = sampling.head(src, kept + ".tmp", max_rows=rows, max_bytes=_NO_ROW_CAP)
        os.replace(kept + ".tmp", kept)
        with open(kept + ".rows", "w") as f:
            f.write(str(s.rows if s is not None and s.rows is not None else 0))
    with open(kept + ".rows") as f:
        n = int(f.read() or 0)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(kept, dst)
    return n, name


def _link_entries(project_dir: str, tree: str, d: str, real_dirs: set[str], cut: set[str]) -> None:
    src_dir = os.path.join(project_dir, d)
    dst_dir = os.path.join(tree, d)
    os.makedirs(dst_dir, exist_ok=True)
    if not os.path.isdir(src_dir):
        return
    for name in os.listdir(src_dir):
        rel = f"{d}/{name}" if d else name
        if rel in real_dirs or rel in cut:
            continue
        os.symlink(os.path.join(src_dir, name), os.path.join(dst_dir, name))


def steps_on_samples(graph, reads: dict[str, list[str]], sampled: dict[str, int]) -> set[str]:
    """Steps that read a sampled file, themselves or through a step above them."""
    on = set()
    for name in graph.order:
        if any(p in sampled for p in reads.get(name, ())) or any(p in on for p in graph.parents(name)):
            on.add(name)
    return on


def not_checked(graph, steps) -> dict[str, str]:
    """Steps a sample check does not run: those marked ``--sample-skip`` (they need the full
    data) and every step below one (their inputs would be the real results, not a sample's)."""
    out: dict[str, str] = {}
    first: dict[str, str] = {}         # step -> the --sample-skip step above it
    for name in graph.order:
        if steps[name].spec.sample_skip:
            out[name], first[name] = "it is --sample-skip", name
            continue
        up = [first[p] for p in graph.parents(name) if p in first]
        if up:
            first[name] = up[0]
            out[name] = f"upstream `{up[0]}` is --sample-skip"
    return out


def shadow(nb, tree: str):
    """The notebook as seen from the mirror (same cells, same pipeline name)."""
    from dataclasses import replace
    return replace(nb, path=os.path.join(tree, os.path.basename(nb.path)))


def run(nb, engine, *, rows: int = 1000, kernel_name: str | None = None,
        on_event=lambda *a: None, executor: str = "local", scheduler: str | None = None,
        gateway: tuple[str | None, str | None] | None = None, session=None) -> SampleCheck:
    """Run every step of ``nb`` on samples of its sources; compare with the contracts of
    ``engine``'s store (pinned, else last seen).  ``executor="dask"``: the steps run on Dask
    (``scheduler``'s address, else a local cluster), ``"remote"`` on a kernel of the Jupyter
    server ``gateway = (url, token)``, instead of one local kernel; same samples, same results,
    listed in run order.  ``session``: the local kernel ``samplerun.start`` started for it."""
    import time

    from .runner import local, plan
    from .store import Store
    t0 = time.perf_counter()
    root = samplerun.root_of(nb)
    reads = sources(engine)
    files = list(dict.fromkeys(p for ps in reads.values() for p in ps))
    proj = nb.project_dir
    base = _base(proj, files)          # paths below are relative to it, then back to the project
    there = lambda p: os.path.relpath(os.path.normpath(os.path.join(proj, p)), base).replace(os.sep, "/")  # noqa: E731
    back = lambda p: os.path.relpath(os.path.join(base, p), proj).replace(os.sep, "/")  # noqa: E731
    keep_real = [there(p) for s in engine.defs.steps.values() for _, p in s.spec.saves] + [there("nb")]
    check = SampleCheck(rows)
    sampled, full = build_mirror(base, os.path.join(root, "tree"), [there(p) for p in files], rows,
                                 keep_real, skip=there(".nb2pipe"))
    check.sampled = {back(p): n for p, n in sampled.items()}
    check.full = {back(p): why for p, why in full.items()}
    shadow_nb = shadow(nb, os.path.normpath(os.path.join(root, "tree", os.path.relpath(proj, base))))
    store = Store(os.path.join(root, "store"))
    sample_engine = plan.engine_for(shadow_nb, store, engine.param_overrides)
    sample_engine.contracts = {}      # compared after the run, all at once, not step by step
    graph = sample_engine.graph()
    states = sample_engine.plan(graph)       # a sample result of the same code and rows is reused
    check.not_checked = not_checked(graph, sample_engine.defs.steps)
    todo = [n for n in graph.order if states[n].state != "fresh" and n not in check.not_checked]
    wanted: dict[str, dict] = {}
    # an exported package's contracts are its manifest's (what its tests check)
    known = lambda: wanted.update({**contracts.current(engine.store, graph.order, nb.pipeline),  # noqa: E731
                                   **engine.contracts})
    kw = dict(kernel_name=kernel_name, on_event=on_event, overrides=engine.param_overrides, force=set(),
              **({"gateway": gateway} if executor == "remote" else {}))
    report = samplerun.execute(shadow_nb, sample_engine, todo, kw, executor, scheduler, known, session)
    report.steps = [local.StepReport(n, "fresh", (store.get_entry(states[n].key) or {}).get("duration", 0.0),
                                     key=states[n].key) for n in graph.order
                    if n not in todo and n not in check.not_checked] + report.steps
    _judge(check, report.steps, wanted, steps_on_samples(graph, reads, check.sampled), store, graph)
    check.made_by = origins(check.breaks, graph, sample_engine.defs.steps)
    check.wall = time.perf_counter() - t0
    return check


def _judge(check: SampleCheck, reports, wanted: dict, on_samples: set[str], store, graph) -> None:
    """Each step's outcome into ``check``, in run order: failed, skipped, no contract, or its
    outputs compared with the contract."""
    order = {n: i for i, n in enumerate(graph.order)}
    for rep in sorted(reports, key=lambda r: order[r.step]):
        check.durations[rep.step] = rep.duration
        if rep.step not in on_samples:
            check.unsampled_steps[rep.step] = rep.duration
        if rep.status == "failed":
            check.failed[rep.step] = rep.error or "failed"
        elif rep.status == "skipped":
            check.skipped[rep.step] = rep.error or "skipped"
        elif rep.step not in wanted:
            check.no_contract.append(rep.step)
        else:
            check.breaks += _breaks_of(store, rep, wanted[rep.step])


def _breaks_of(store, rep, wanted: dict[str, dict]) -> list[Break]:
    from .store import ObjectRef
    entry = store.get_entry(rep.key) if rep.key else None
    if entry is None:
        return []
    got = {o: ObjectRef.from_json(r) for o, r in entry["outputs"].items()}
    out = []
    for o, c in sorted(wanted.items()):
        if o not in got:
            out.append(Break(rep.step, o, None, "not produced", f"a {c.get('type')}"))
        else:
            out += contracts.breaks(rep.step, o, c, got[o])
    return out


def origins(breaks: list[Break], graph, steps) -> list[Origin]:
    """For each break, the step that made it (itself or the first above it with the same
    column broken) and the line of that step's cell."""
    makers = breakorigin.makers(breaks, graph)
    out = []
    for i, b in enumerate(breaks):
        maker = makers[i]
        same = next((o for o in breaks if o.step == maker and (b.column is None or o.column == b.column)), b)
        out.append(Origin(maker, breakorigin.locate(steps[maker], b.column, same.output)))
    return out


def describe(b: Break, o: Origin) -> str:
    """The report's line for a break: "step `f` output `X` column `age`: double, the contract
    says int64 (made by step `load`, line 2)"."""
    line = f"line {o.line}" if o.line else ""
    if o.step == b.step:
        return f"{b} ({line})" if line else str(b)
    return f"{b} (made by step `{o.step}`" + (f", {line})" if line else ")")


def render(check: SampleCheck, graph) -> str:
    """The report: what was sampled, every break at once, steps that ran on full data."""
    from .report import seconds
    lines = []
    for p, n in sorted(check.sampled.items()):
        each = " of each table" if sampling.kind_of(p) == "duckdb" else ""
        lines.append(f"sampled: {p} (first {n} rows{each})")
    for p, why in sorted(check.full.items()):
        lines.append(f"read in full: {p} ({why})")
    if check.breaks:
        lines.append(f"{len(check.breaks)} contract break{'s' if len(check.breaks) != 1 else ''}:")
        for b, o in zip(check.breaks, check.made_by):
            lines.append(f"  ✗ {describe(b, o)}")
    for s, err in check.failed.items():
        lines.append(f"  ✗ step `{s}` failed on the sample: {err}")
    for s, why in check.skipped.items():
        lines.append(f"  - step `{s}` skipped: {why}")
    for s, why in check.not_checked.items():
        lines.append(f"  - step `{s}` not checked: {why}")
    if check.no_contract:
        lines.append("no contract yet (never run for real): " + ", ".join(f"`{s}`" for s in check.no_contract))
    if check.unsampled_steps:
        lines.append("ran on full data (they read no sampled source): " + ", ".join(
            f"`{s}` ({seconds(d)})" for s, d in check.unsampled_steps.items()))
    verdict = "ok: no break" if check.ok else "BROKEN"
    lines.append(f"{verdict} — {len(check.durations)} steps checked on samples of {check.rows} rows"
                 f" in {seconds(check.wall)}")
    return "\n".join(lines)


def of_saved_notebook(engine, overrides: dict, rows: int):
    """A sample check of the kernel's notebook as last saved (the file JupyterLab named the
    kernel's session after), every step run in a separate headless kernel: what
    ``%dag check --sample`` and the sidebar's *Check* button run.  (check, the saved
    notebook's engine)."""
    from . import notebook
    from .errors import Nb2pipeError
    from .runner.plan import engine_for
    path = engine.pipeline
    if not (path.endswith(".ipynb") and os.path.isfile(path)):
        raise Nb2pipeError("this kernel does not know its notebook's file",
                           fix="run `nb2pipe check NOTEBOOK --sample` in a terminal")
    if rows < 1:
        raise Nb2pipeError(f"--sample takes a number of rows of 1 or more (got {rows})", fix="e.g. --sample 1000")
    nb = notebook.read(path)
    saved = engine_for(nb, engine.store, overrides)
    return run(nb, saved, rows=rows), saved


def in_kernel(session, rows: int) -> None:
    """`%dag check --sample [ROWS]`: :func:`of_saved_notebook`, printed."""
    check, saved = of_saved_notebook(session.engine, session.overrides, rows)
    print(f"{session.engine.pipeline} as last saved:\n" + saved.redactor().text(render(check, saved.graph())))
