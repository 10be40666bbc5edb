"""How a sample check runs its steps: in one cell of one fresh local kernel (a sample's steps
take milliseconds; a cell each would cost more than the steps), one cell a step where a step
has a time limit of its own, on a Jupyter server's kernel, or on Dask."""
from __future__ import annotations

import os


def root_of(nb) -> str:
    """The folder of ``nb``'s sample check (mirror, cuts, store): in the project, or beside
    where it runs for an exported package (it may be installed read-only)."""
    return os.path.join(os.getcwd() if nb.manifest else nb.project_dir, ".nb2pipe", "sample")


def start(nb, kernel_name: str | None):
    """The local kernel of ``nb``'s sample check, started before the check reads anything
    else: it boots (seconds) while the notebook is planned and the samples are cut.  It starts
    in the sample folder (the mirror is rebuilt meanwhile); its first cell moves it there."""
    from .runner.kernel import local_session
    from .store import Store
    root = root_of(nb)
    store = Store(os.path.join(root, "store"))         # the folder exists from here on
    return local_session(kernel_name or nb.kernel_name, root, store.url).spawn()


def discard(session) -> None:
    """Stop a kernel :func:`start` gave that has nothing to run (nothing changed, an error, or
    another executor): at once, not after its boot; a session already closed is left as is."""
    if session is not None:
        session.stop_now()


def execute(nb, engine, todo: list[str], kw: dict, executor: str, scheduler: str | None,
            meanwhile=lambda: None, session=None):
    """Run ``todo`` in one local kernel, or on Dask; nothing to run: an empty report.  Steps
    with a time limit of their own run one cell each, as ``nb2pipe run`` runs them (nbclient
    enforces the limit per cell); otherwise all of them run in one cell.  ``meanwhile`` is
    called while the kernel boots (at once when none is started).  ``session``: the local
    kernel :func:`start` gave (used, else shut down)."""
    from .runner import local
    timed = any(engine.defs.steps[n].spec.timeout for n in todo)
    if not todo or executor != "local":
        discard(session)
        session = None
    if not todo or executor in ("dask", "remote") or timed:
        meanwhile()
    if not todo:
        return local.RunReport()
    if executor == "dask":
        from .runner.dask_exec import execute_dask
        return execute_dask(nb, engine, todo, scheduler=scheduler, **kw)
    if executor == "remote":            # one cell a step, as `nb2pipe run --executor remote`
        return local.execute(nb, engine, todo, gateway=kw.pop("gateway"), **kw)
    if timed:
        return local.execute(nb, engine, todo, session=session, **kw)
    return _in_one_cell(nb, engine, todo, kw, meanwhile, session)


def prelude(nb, engine, overrides: dict) -> list[str]:
    """The definitions' cells of :func:`runner.local.prelude`, its first three (the kernel's
    folder and path; nb2pipe, define-only and the store; the parameters and the pipeline's
    name: a few milliseconds of work each) sent as one cell, one round trip.  The other
    executors keep them apart (a warm kernel tells a change of parameters by its cell)."""
    from .runner import local
    cells = local.prelude(nb, engine, overrides)
    return ["\n".join(cells[:3])] + cells[3:]


def _in_one_cell(nb, engine, todo: list[str], kw: dict, meanwhile, session=None):
    """Every step of ``todo`` in one cell of one fresh kernel (``%dag run A B ... --json``; the
    engine there skips what is below a failure): a sample's steps take milliseconds, a cell
    each cost more than the steps.  The steps' outcomes are the events the cell published."""
    from .runner import jupyter_imports, local
    from .runner.deadline import Deadline
    mask = engine.redactor()
    # the kernel first: it boots (seconds) while nbformat and nbclient are imported here and
    # ``meanwhile`` reads the contracts; spawning needs jupyter_client only
    s = session or local.spawn(nb, engine, kw.get("kernel_name"))
    try:
        jupyter_imports.nbformat()         # before nbclient: its plain import costs seconds
        from nbclient.exceptions import DeadKernelError
    except BaseException:
        s.close(wait=True)
        raise
    report, outputs, why, done = local.RunReport(kernel_started=True), [], "not reported by the kernel", False
    try:
        meanwhile()
        s.connect()
        local.define(s, prelude(nb, engine, kw["overrides"]), mask, Deadline.of(engine, None))
        for i, n in enumerate(todo):
            kw["on_event"]("start", local.StepReport(n, "running"), i + 1, len(todo))
        outputs = s.run_cell(f"%dag run {' '.join(todo)} --json", timeout=None, keep_going=True).outputs
        done = True
    except DeadKernelError:
        why = "the kernel died while running the steps (out of memory?)"
        outputs = s.book.cells[-1].outputs if s.book.cells else []
    finally:
        s.close(wait=not done)
    shown = [o.get("data", {}) for o in outputs if o.get("output_type") == "display_data"]
    why = next((mask.text(f"{o['ename']}: {o['evalue']}") for o in outputs if o.get("output_type") == "error"), why)
    for n in todo:
        ev = local.progress_in(shown, n)
        rep = (local.StepReport(n, ev.status.value, ev.duration or 0.0, ev.saved or 0.0, ev.key,
                                mask.text(ev.error), mask.text(ev.traceback or "")) if ev is not None
               else local.StepReport(n, "failed", error=why))
        report.steps.append(rep)
        kw["on_event"]("end", rep, len(report.steps), len(todo))
    return report
