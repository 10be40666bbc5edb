"""``nb2pipe run``: plan, run the stale steps in one kernel (or watch and re-run), report,
record the run."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time

from .errors import Nb2pipeError
from .cli_common import _load, _store_line


class _Printer:
    def __init__(self, as_json: bool, mask=None):
        self.as_json = as_json
        self.tty = sys.stdout.isatty() and not as_json
        self.mask = mask

    def event(self, kind, rep, n, total):
        from .report import seconds
        if self.mask is not None and rep is not None:
            rep.error, rep.traceback = self.mask.text(rep.error), self.mask.text(rep.traceback)
        if self.as_json:
            return
        if kind == "start":
            if self.tty:
                print(f"[{n}/{total}] {rep.step} … running", end="\r", flush=True)
            return
        mark = {"ran": "✓", "cached": "✓", "fresh": "✓", "failed": "✗", "skipped": "-"}.get(rep.status, "?")
        detail = {"ran": f"ran in {seconds(rep.duration)}", "cached": f"cached (saved {seconds(rep.saved)})",
                  "fresh": "fresh", "failed": f"FAILED: {rep.error}", "skipped": f"skipped ({rep.error})"}
        extra = f" after {rep.attempts} attempts" if rep.attempts > 1 else ""
        print(f"[{n}/{total}] {mark} {rep.step:<20} {detail.get(rep.status, rep.status)}{extra}"
              + (" " * 10 if self.tty else ""), flush=True)


def cmd_run(args) -> int:
    with _terminate_cleanly():
        if args.watch:
            from .cli_watch import watch
            return watch(args)
        return _run_once(args)


def _run_once(args, warm=None) -> int:
    t0 = time.perf_counter()
    if warm is not None:
        nb, engine = _load_kept(args, warm)
        return _plan_and_run(args, nb, engine, t0, warm)
    from . import notebook
    from .runner import early
    nb = notebook.read(args.target)
    sig = early.signature(args, nb.path)
    session = early.start(args, nb, early.local_store_root(args, nb), sig)   # boots while we plan
    try:
        from .projectstore import project_store
        store = project_store(nb, getattr(args, "store", None), getattr(args, "env", None))
        if session is not None and not early.matches(session, store):
            session.stop_now()        # not the store it was given (never expected): start anew
            session = None
        nb, engine = _load(args, nb, store)
        code = _plan_and_run(args, nb, engine, t0, None, session)
    except BaseException:
        if session is not None:
            session.stop_now()        # a plan that failed: the kernel started ahead is not needed
        raise
    if not args.dry_run:
        early.remember(engine.store, nb.pipeline, sig, complete=code == 0)
    return code


def _plan_and_run(args, nb, engine, t0: float, warm, session=None) -> int:
    """Plan the run, run what is stale (in ``session``'s kernel when one was started ahead),
    report and record it."""
    from .runner import plan
    _warn_lock_drift(nb)
    names, requested = plan.select(engine, only=args.only, start=getattr(args, "from"))
    states = engine.plan()
    from .saves import mark_missing_saves
    force = (set(requested) if args.force else set()) | mark_missing_saves(engine, states)
    todo = [n for n in names if n in force or states[n].state != "fresh"]
    if not args.dry_run:
        _store_line(engine, args.json)
    printer = _Printer(args.json, engine.redactor())
    if args.dry_run:
        return _dry_run(names, states, todo, args.json)
    blocked = [f"step `{n}`: {'; '.join(states[n].reasons)}" for n in names if states[n].state == "blocked"]
    if blocked:
        raise Nb2pipeError("cannot run: " + "; ".join(blocked), fix="fix the inputs named above")
    report = _execute(args, nb, engine, names, states, todo, force, printer, warm, session)
    report.wall = time.perf_counter() - t0
    mask = engine.redactor()          # whichever executor ran it: no secret value is shown or kept
    for s in report.steps:
        s.error, s.traceback = mask.text(s.error), mask.text(s.traceback)
    run_id = _record(engine, nb, report, engine.param_overrides, getattr(args, "output_notebook", None),
                     _origin(args))
    # the entries the record read: indexed, the next plan reads one file, not one per step
    engine.store.save_index(engine.pipeline, [s.key for s in report.steps
                                              if s.key and s.status in ("ran", "cached", "fresh")])
    _print_report(args, report, run_id)
    return 0 if report.ok else 1


def _load_kept(args, warm):
    """run --watch: the notebook, and the planning engine kept since the last run."""
    from . import notebook
    from .cli_common import _params
    from .runner import plan
    nb = notebook.read(args.target)
    store = plan.project_store(nb, getattr(args, "store", None), getattr(args, "env", None))
    try:
        return nb, warm.plan.load(nb, store, _params(getattr(args, "param", []), getattr(args, "params", [])))
    except BaseException:
        warm.plan.engine = None        # partly redefined: the next run builds it anew
        raise


def _dry_run(names, states, todo, as_json: bool) -> int:
    rows = [{"step": n, "state": states[n].state, "reasons": states[n].reasons,
             "will_run": n in todo} for n in names]
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{'RUN ' if r['will_run'] else 'skip'}  {r['step']:<20} {r['state']}"
                  + (f" ({'; '.join(r['reasons'])})" if r["reasons"] else ""))
    return 0


def _execute(args, nb, engine, names, states, todo, force, printer, warm=None, session=None):
    """Run ``todo`` on the chosen executor; the report lists every selected step.  ``warm``
    (run --watch, local executor): the kernel kept between runs; it is started even when
    nothing is stale, so that the next edit finds it ready.  ``session``: a local kernel
    started before planning (:mod:`.runner.early`), stopped unused when nothing is stale."""
    overrides = engine.param_overrides      # -p, --params and the environment's, checked by engine_for
    from .durations import parse_duration
    timeout = parse_duration(args.timeout) if getattr(args, "timeout", None) else None
    from .runner import local
    gateway = None
    local_kernel = warm is None and args.executor not in ("dask", "remote") and not args.gateway_url
    unused = session is not None and not todo
    if unused:
        session.stop_now()
        session = None
    # a local kernel is started first, without jupyter_client where it can be: it boots while
    # the rest is imported and prepared (its spec found says the kernel is installed)
    if session is None and local_kernel and todo:
        session = local.spawn(nb, engine, args.kernel, direct_only=True)
    if args.gateway_url or (args.executor == "remote"):
        from .extras import require
        require("remote")
        gateway = (args.gateway_url, args.token)
    elif (todo and args.executor != "dask" or (args.executor == "dask" and not args.scheduler and todo)
          or warm) and session is None:
        _check_kernel(args.kernel or nb.kernel_name)
    if not todo:
        report = local.RunReport(steps=[local.StepReport(n, "fresh", key=states[n].key) for n in names],
                                 kernel_unused=unused)
        if warm is not None:
            local.execute(nb, engine, [], overrides=overrides, force=set(), kernel_name=args.kernel, warm=warm)
            report.kernel_started = True       # not "no kernel started": one is kept warm
        return report
    if session is None and local_kernel:
        session = local.spawn(nb, engine, args.kernel)      # it boots while the run is prepared
    from .runner.prefetch import EntryPrefetch
    entries = EntryPrefetch(engine.store)      # what the run record reads, read meanwhile
    if session is not None:
        session.on_ready = entries.warm
    try:
        engine.store.check_writable()      # no permission, no space, unreachable: say so now
        printer.event = entries.wrap(_with_lineage(engine, nb, printer.event))   # the executors call it
        if not args.json:
            print(f"{len(todo)} of {len(names)} steps to run" + ("" if warm else "; starting a kernel…"),
                  flush=True)          # a warm kernel says itself when it starts
        held = warm.held({n: states[n].key for n in names if n not in todo}) if warm is not None else set()
        report = _executor(args, nb, engine, todo, force, printer.event, timeout, gateway, warm, session, held)
    except BaseException:
        if session is not None:
            session.close(wait=True)
        raise
    finally:
        entries.wait()
    done = {s.step for s in report.steps}
    report.steps = [local.StepReport(n, "fresh", key=states[n].key) for n in names
                    if n not in done] + report.steps
    return report


def _executor(args, nb, engine, todo, force, on_event, timeout, gateway, warm, session, held):
    overrides = engine.param_overrides
    if args.executor == "dask":
        from .extras import require
        require("dask")
        from .runner.dask_exec import execute_dask
        return execute_dask(nb, engine, todo, overrides=overrides, force=force, retries=args.retries,
                            kernel_name=args.kernel, scheduler=args.scheduler,
                            n_workers=args.workers, on_event=on_event, timeout=timeout)
    from .runner import local
    return local.execute(nb, engine, todo, overrides=overrides, force=force, retries=args.retries,
                         on_event=on_event, kernel_name=args.kernel, gateway=gateway, timeout=timeout,
                         warm=warm if gateway is None else None, session=session, held=held)


def _print_report(args, report, run_id: str) -> None:
    if args.json:
        print(json.dumps({"ok": report.ok, "wall": report.wall, "kernel_started": report.kernel_started,
                          "run_id": run_id, **({"startup": report.startup} if report.startup else {}),
                          "steps": [{k: v for k, v in s.__dict__.items() if k != "outputs"} for s in report.steps]},
                         indent=2))
    else:
        _summary(report)
        print(f"run {run_id}: `nb2pipe log {run_id} --step STEP` shows what a step printed and drew"
              + (f"; executed notebook: {args.output_notebook}" if getattr(args, "output_notebook", None) else ""))


def _warn_lock_drift(nb) -> None:
    """Running an exported package: one line when this environment differs from its lock."""
    if nb.manifest:
        from .export.lock import FILE, drift_line
        line = drift_line(os.path.join(os.path.dirname(nb.path), FILE))
        if line:
            print(line, file=sys.stderr)


def _check_kernel(name: str) -> None:
    from .runner.kernel import kernel_specs
    specs = kernel_specs().find_kernel_specs()
    if name not in specs:
        raise Nb2pipeError(f"kernel `{name}` is not installed here",
                           fix=f"pass --kernel with one of: {', '.join(sorted(specs))}"
                               " (or install it: python -m ipykernel install --user --name NAME)")


def _with_lineage(engine, nb, on_event):
    """``on_event`` that also sends OpenLineage events, when the environment asks for them."""
    from .lineage import emitter
    sender = emitter(engine, nb)
    return sender.wrap(on_event) if sender else on_event


@contextlib.contextmanager
def _terminate_cleanly():
    """While a run lasts, SIGTERM (a scheduler stopping it) unwinds like Ctrl-C: the kernel
    is shut down, the store keeps every finished step, and the next run resumes after them.
    The previous handler is back afterwards (``main`` may run inside a longer process)."""
    import signal
    import threading
    if threading.current_thread() is not threading.main_thread():
        yield                 # only the main thread may set handlers
        return

    def stop(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _origin(args) -> dict:
    """Where this run happens, for the run record: the executor, and the scheduler whose task
    started it (Airflow sets AIRFLOW_CTX_DAG_ID in a task's environment)."""
    executor = "remote" if getattr(args, "gateway_url", None) else getattr(args, "executor", None) or "local"
    return {"executor": executor, **({"scheduler": "Airflow"} if os.environ.get("AIRFLOW_CTX_DAG_ID") else {})}


def _record(engine, nb, report, overrides, output_notebook: str | None = None, origin: dict | None = None) -> str:
    """Write the run record: per step its status, lineage and the outputs it showed (kept
    for audit); with ``output_notebook``, the executed notebook too (written and kept)."""
    from . import records, runbook
    secret = engine.defs.secret_params
    mask = engine.redactor()
    steps = []
    for s in report.steps:
        entry = engine.store.get_entry(s.key) if s.key else None
        # a failed step has no entry: keep what its cell showed (what it printed), and its error
        shown = (entry or {}).get("display") if s.status != "failed" else runbook.keep(
            engine.store, runbook.with_error(getattr(s, "outputs", []), s.error, s.traceback), mask)
        steps.append({"step": s.step, "status": s.status, "key": s.key, "duration": s.duration,
                      "error": s.error, **({"display": shown} if shown else {}),
                      **records.lineage_of_entry(entry)})
    fields = dict(kind="headless", notebook=nb.path, wall=report.wall, env=engine.env_name,
                  params={k: v for k, v in overrides.items() if k not in secret}, **(origin or {}))
    if report.startup:
        fields["startup"] = report.startup
    if output_notebook:
        import time
        import uuid
        fields["run_id"] = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        book = mask.scrub(runbook.executed_notebook(nb, engine.store, {   # its cells may hold a secret
            **fields, "steps": steps, "store": engine.store.url, "user": records.user()}))
        runbook.write_notebook(book, output_notebook)
        fields["executed_notebook"] = engine.store.put(book).to_json()
    return records.write(engine.store, steps, redactor=mask, **fields)


def _summary(report) -> None:
    from .report import seconds
    counts: dict[str, int] = {}
    for s in report.steps:
        counts[s.status] = counts.get(s.status, 0) + 1
    parts = ", ".join(f"{v} {k}" for k, v in counts.items())
    kernel = ("" if report.kernel_started else " — nothing stale; the kernel started ahead was stopped"
              " unused" if report.kernel_unused else " — nothing stale, no kernel started")
    print(f"{len(report.steps)} steps: {parts} in {seconds(report.wall)}{kernel}")
    for s in report.steps:
        if s.status == "failed":
            print(f"\n✗ step `{s.step}` failed:\n{s.traceback or ''}{s.error}", file=sys.stderr)

