"""``%dag``: its command line (IPython's magic-argument parser: a bad line is one usage
error, never a traceback) and one small handler per command."""
from __future__ import annotations

import argparse
import functools
import os

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser

from .engine import Outcome
from .errors import Nb2pipeError, did_you_mean
from .protocol import EVENT_MIME, ProgressMsg, RunStartMsg, StateMsg, StepState
from .report import StatusTable, outcome_line

DAG_HELP = """\
%dag status                    every step: fresh / stale (and why) / never run / failed, timings
%dag run [STEP ...]            run what is stale (for STEPs: what they need, then them)
%dag run --force STEP          re-run STEP even if cached
%dag run --downstream STEP     re-run STEP's stale closure and everything downstream of it
%dag show [--format svg|mermaid|dot] [--direction TB|LR]   draw the DAG, coloured by state
%dag check                     the DAG is closed and every name resolves
%dag check --sample [ROWS]     run every step (as saved) on the first ROWS rows of its sources
%dag forget STEP               drop a step whose cell you deleted
examples:
  %dag run summary
  %dag run --force clean
"""


class _Parser(MagicArgumentParser):
    def __init__(self, prog=None, **kw):
        super().__init__(prog=prog, formatter_class=argparse.HelpFormatter, **kw)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage().strip()}\n"
                         "(`%dag help` lists the commands)")


def _names(text: str) -> list[str]:
    return [x for x in text.split(",") if x]


@functools.lru_cache(maxsize=1)
def parser() -> _Parser:
    """The %dag line's parser: built once (2 ms, more under load), never changed after."""
    p = _Parser(prog="%dag")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    sub.add_parser("status")
    r = sub.add_parser("run")
    r.add_argument("steps", nargs="*", metavar="STEP")
    r.add_argument("--force", action="store_true")
    r.add_argument("--downstream", action="store_true")
    hidden = argparse.SUPPRESS                              # the headless runner's options:
    r.add_argument("--json", action="store_true", help=hidden)
    r.add_argument("--force-steps", type=_names, help=hidden)
    r.add_argument("--reuse", type=_names, default=(), help=hidden)   # upstreams done in earlier cells
    r.add_argument("--retries", type=int, default=0, help=hidden)
    s = sub.add_parser("show")
    s.add_argument("--format", choices=("svg", "mermaid", "dot"), default="svg")
    s.add_argument("--direction", choices=("TB", "LR"), default="TB")
    c = sub.add_parser("check")
    c.add_argument("--sample", type=int, nargs="?", const=1000, metavar="ROWS")
    f = sub.add_parser("forget")
    f.add_argument("steps", nargs="+", metavar="STEP")
    sub.add_parser("help")
    return p


def dag(session, line: str) -> None:
    """Parse a %dag line and call its command's handler (no command: status)."""
    handlers = {"status": status, "run": run, "show": show, "check": check, "forget": forget,
                "help": _help}
    cmd = line.split(None, 1)[0] if line.strip() else "status"
    if cmd in ("-h", "--help"):
        cmd = line = "help"
    if cmd not in handlers:
        raise Nb2pipeError(f"unknown %dag command {cmd!r}" + did_you_mean(cmd, handlers),
                           fix="commands:\n" + DAG_HELP)
    ns = parser().parse_argstring(line)
    handlers[ns.command or "status"](session, ns)


def _help(session, ns) -> None:
    print(DAG_HELP)


def status(session, ns) -> None:
    from IPython.display import display
    e = session.engine
    display(StatusTable(e.status(), e.store.url, e.env_name))


def check(session, ns) -> None:
    if ns.sample is not None:
        from .samplecheck import in_kernel
        return in_kernel(session, ns.sample)
    e = session.engine
    if not e.defs.steps:
        session.define_from_notebook()
    g = e.graph()
    print(f"ok: {len(g)} steps, {len(g.edges())} edges, {len(e.defs.params)} parameters,"
          f" {len(e.defs.setup)} setup cells — the DAG is closed and every name resolves")


def forget(session, ns) -> None:
    for name in ns.steps:
        session.engine.forget(name)


def run(session, ns) -> None:
    engine = session.engine
    force: bool | set = set(ns.force_steps) if ns.force_steps is not None else ns.force
    if not engine.defs.steps and not ns.json:
        session.define_from_notebook()
    if force is True and not ns.steps:
        raise Nb2pipeError("%dag run --force needs the steps to re-run", fix="e.g. `%dag run --force clean`")
    if ns.json:
        _run_headless(engine, ns, force)
        return
    progress = _Progress()
    unsubscribe = engine.subscribe(progress.on_event)
    try:
        outcomes = engine.run(ns.steps, force=force, downstream=ns.downstream)
    finally:
        unsubscribe()
        progress.close()
    engine.record_run(outcomes, kind="notebook", how="%dag run", pipeline=engine.pipeline, targets=ns.steps)
    failed = [o for o in outcomes if o.status == "failed"]
    ran = sum(o.status == "ran" for o in outcomes)
    hit = sum(o.status in ("cached", "fresh") for o in outcomes)
    print(f"{len(outcomes)} steps: {ran} ran, {hit} cached, {len(failed)} failed,"
          f" {sum(o.status == 'skipped' for o in outcomes)} skipped")
    if failed:
        raise failed[0].error


def _run_headless(engine, ns, force) -> None:
    """The headless runner: each outcome as a typed event, apart from the steps' prints."""
    from .kernel_io import publish_event

    targets = set(ns.steps)

    def emit(ev):      # the named steps' outcomes only: their upstream's are not read (N events each)
        if isinstance(ev, ProgressMsg) and (not targets or ev.step in targets):
            publish_event({EVENT_MIME: ev.to_json(), "text/plain": outcome_line(_outcome(ev))})
    unsubscribe = engine.subscribe(emit)
    try:
        engine.run(ns.steps, force=force, downstream=ns.downstream, retries=ns.retries, reuse=ns.reuse)
    finally:
        unsubscribe()


def show(session, ns) -> None:
    from IPython.display import Markdown, display

    from . import render
    from .commreplies import with_groups
    engine = session.engine
    graph = engine.graph()
    steps = [s.to_json() for s in with_groups(engine, engine.plan(graph).values())]   # the frontend boxes groups
    edges = graph.edges()
    if ns.format == "svg":
        display(render.bundle(steps, edges, direction=ns.direction), raw=True)
    elif ns.format == "mermaid":
        display(Markdown("```mermaid\n" + render.to_mermaid(steps, edges, direction=ns.direction) + "\n```"))
    else:
        print(render.to_dot(steps, edges, direction=ns.direction))


def _outcome(event: ProgressMsg) -> Outcome:
    return Outcome(event.step, event.status.value, event.key, event.duration or 0.0, event.saved or 0.0)


class _Progress:
    """Progress of a %dag run: an ipywidgets bar where a frontend can show it,
    otherwise one line per step."""

    def __init__(self) -> None:
        self.bar = None
        self.total = 0

    def _make_bar(self, total: int) -> None:
        if os.environ.get("NB2PIPE_PROGRESS", "auto") == "text":
            return
        try:
            import ipywidgets as w
            from IPython.display import display
        except ImportError:
            return
        self.bar = w.IntProgress(value=0, min=0, max=max(total, 1), description="pipeline")
        self.label = w.HTML(f"0 / {total}")
        display(w.HBox([self.bar, self.label]))

    def on_event(self, event) -> None:
        if isinstance(event, RunStartMsg):
            self.total = len(event.steps)
            if self.total > 1:
                self._make_bar(self.total)
        elif isinstance(event, StateMsg) and event.state == StepState.RUNNING and self.bar is not None:
            self.label.value = f"{self.bar.value} / {self.total} · running <b>{event.step}</b>"
        elif isinstance(event, ProgressMsg):
            line = outcome_line(_outcome(event))
            print(f"[{event.done}/{event.total}] {line}", flush=True)
            if self.bar is not None:
                self.bar.value = event.done
                self.label.value = f"{event.done} / {self.total}"
                if event.status == "failed":
                    self.bar.bar_style = "danger"

    def close(self) -> None:
        if self.bar is not None and self.bar.bar_style != "danger":
            self.bar.bar_style = "success"
