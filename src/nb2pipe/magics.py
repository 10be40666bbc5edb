"""IPython shim: ``%%step``, ``%%setup``, ``%%params`` and ``%dag`` call the engine.

Everything here is translation: cell text in, engine call, display out.  One
:class:`Session` per IPython shell, kept on the shell (no module globals).
"""
from __future__ import annotations

import json
import os
import shlex
import sys

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from .analysis import analyze
from .comm import CommServer
from .engine import Engine, Outcome
from .kernel_io import KernelIO
from .protocol import EVENT_MIME, GraphChanged, ProgressMsg, RunStartMsg, StateMsg, StepState
from .errors import AnalysisError, Nb2pipeError, StepFailed
from .report import StatusTable, outcome_line
from .spec import parse_params_line, parse_step_line
from .store import Store

TRACKED_MAGICS = ("%%step", "%%setup", "%%params")
DAG_HELP = """\
%dag status                    every step: fresh / stale (and why) / never run / failed, timings
%dag run [STEP ...]            run what is stale (for STEPs: what they need, then them)
%dag run --force STEP          re-run STEP even if cached
%dag run --downstream STEP     re-run STEP's stale closure and everything downstream of it
%dag show [--format svg|mermaid|dot] [--direction TB|LR]   draw the DAG, coloured by state
%dag forget STEP               drop a step whose cell you deleted
examples:
  %dag run summary
  %dag run --force clean
"""


class Session:
    """The engine plus the kernel-side bookkeeping the engine must not know about."""

    def __init__(self, shell):
        self.shell = shell
        self.origin: dict[str, str] = {}       # name -> "cell [7] (`x = ...`)" for plain cells
        from . import environments
        env = environments.get(os.getcwd(), None)      # $NB2PIPE_ENV or the configured default
        store = environments.open_store(env, os.getcwd()) if env else Store.default(os.getcwd())
        self.engine = Engine(store, os.getcwd(), publish=self._publish, provenance=self._provenance,
                             warn=lambda m: print(m, file=sys.stderr), io=KernelIO(shell))
        self.engine.env_name = env.name if env else None
        # JupyterLab names the kernel's session after the notebook's path
        self.engine.pipeline = str(shell.user_ns.get("__session__") or "")
        self.comm = CommServer(self.engine)
        self.define_only = False               # headless runs define all steps, then run stale ones
        self.overrides: dict = {}              # parameter values given to a headless run

    def define_from_notebook(self) -> None:
        """After a restart the kernel knows no step until their cells run again; `%dag` then
        reads them from the notebook file JupyterLab named the session after (as saved)."""
        from . import notebook
        from .runner.plan import python_source
        name = self.engine.pipeline
        candidates = [name, os.path.basename(name)] if name.endswith(".ipynb") else []
        path = next((c for c in candidates if os.path.isfile(c)), None)
        if path is None:
            return
        nb = notebook.read(path)
        for c in nb.of_kind("setup"):
            self.engine.run_setup(python_source(c.body), cell_id=c.cell_id, where=c.where)
        for c in nb.of_kind("params"):
            ps = parse_params_line(c.line)
            self.engine.set_params(python_source(c.body), overrides=self.overrides,
                                   secret=ps.secret, credential=ps.credential)
        for c in nb.of_kind("step"):
            spec = parse_step_line(c.line)
            self.engine.define(spec, c.body if spec.sql else python_source(c.body), cell_id=c.cell_id,
                               where=c.where, line_offset=1, cell_text=c.source)
        print(f"nb2pipe: this kernel had no steps (restarted?); read {len(nb.of_kind('step'))} from"
              f" {path} as last saved")

    # -- engine callbacks
    def _publish(self, mapping: dict) -> None:
        for k in mapping:
            self.origin.pop(k, None)
        self.shell.user_ns.update(mapping)

    def _provenance(self, name: str) -> str | None:
        if name in self.origin:
            return self.origin[name]
        if name in self.shell.user_ns and name not in self.shell.user_ns_hidden:
            return "an exploration cell (run before nb2pipe was loaded)"
        return None

    # -- IPython hooks
    def post_run_cell(self, result) -> None:
        raw = (result.info.raw_cell or "").lstrip()
        if not raw or raw.startswith(TRACKED_MAGICS) or not result.success:
            return
        if self.cell_id() in self.comm.parameter_cells:
            # tagged `parameters` (papermill's convention; the frontend sends the tags):
            # the cell's settings are the pipeline's parameters, as in a %%params cell
            self.engine.set_params(self.shell.transform_cell(raw), overrides=self.overrides)
            return
        try:
            info = analyze(self.shell.transform_cell(raw))
        except (AnalysisError, Exception):  # noqa: BLE001 - never break the user's cell
            return
        first = next((ln.strip() for ln in raw.splitlines() if ln.strip()), "")
        first = first if len(first) <= 40 else first[:37] + "..."
        label = f"cell [{result.execution_count}] (`{first}`)"
        for n in info.defines:
            self.origin[n] = label

    def cell_id(self) -> str | None:
        kernel = getattr(self.shell, "kernel", None)
        try:
            parent = kernel.get_parent("shell") if kernel is not None else {}
        except Exception:  # noqa: BLE001
            parent = getattr(kernel, "_parent_header", {}) or {}
        return ((parent or {}).get("metadata") or {}).get("cellId")

    def where(self) -> str:
        # IPython counts the running cell before executing it
        return f"cell [{max(self.shell.execution_count - 1, 1)}]"


def _show_error(shell, etype, value, tb, tb_offset=None):
    """Custom traceback for nb2pipe errors: the message (and the user's frames), not ours."""
    session = getattr(shell, "_nb2pipe_session", None)
    if session is not None:
        session.engine.redactor().error(value)      # never a secret's value
    text = str(value)
    if isinstance(value, StepFailed) and value.traceback_text:
        text = value.traceback_text.rstrip() + "\n\n" + text
    stb = [f"\x1b[31m{etype.__name__}\x1b[0m: " + text]
    shell._showtraceback(etype, value, stb)
    return stb


@magics_class
class PipelineMagics(Magics):
    def __init__(self, shell, session: Session):
        super().__init__(shell)
        self.session = session

    @property
    def engine(self) -> Engine:
        return self.session.engine

    def _body(self, cell: str) -> str:
        return self.shell.transform_cell(cell) if cell.strip() else ""

    @cell_magic
    def step(self, line, cell):
        """Define a pipeline step and run it (or restore it from the cache).

        %%step NAME [--in A B] [--out X Y] [--src PATH] [--no-cache] [--retries N]

        examples:
          %%step load --src data/sales.csv --out raw
          %%step clean --in raw --out df
          %%step summary            (inputs and outputs inferred from the code)
        """
        spec = parse_step_line(line)
        s = self.session
        body = cell if spec.sql else self._body(cell)
        self.engine.define(spec, body, cell_id=s.cell_id(), where=s.where(), line_offset=1,
                           cell_text=f"%%step {line}\n{cell}")
        if s.define_only:
            return
        outcome = self.engine.run_cell(spec.name)
        self._print_outcome(outcome)

    def _print_outcome(self, o: Outcome) -> None:
        if o.status == "failed":
            raise o.error
        print(outcome_line(o))
        for note in o.notes:
            print(f"  note: {note}")

    @cell_magic
    def setup(self, line, cell):
        """Imports and helper definitions that steps may use (they reach production).

        %%setup
        import pandas as pd
        from helpers import clean_names
        """
        s = self.session
        self.engine.run_setup(self._body(cell), cell_id=s.cell_id(), where=s.where())

    @cell_magic
    def params(self, line, cell):
        """Pipeline parameters: values a headless run can override (-p name=value).

        %%params [--secret NAME ...] [--credential NAME ...]
        n_rows = 1000
        region = "EU"

        A --secret's value is never shown and keys results by an irreversible digest; a
        --credential (a token that does not change results) is never shown and not keyed.
        """
        ps = parse_params_line(line)
        self.engine.set_params(self._body(cell), overrides=self.session.overrides, secret=ps.secret,
                               credential=ps.credential)

    @line_magic
    def nb2pipe(self, line):
        """Session settings, used by headless runs.

        %nb2pipe env NAME               switch to an environment of nb2pipe.toml (store, params)
        %nb2pipe store [URL]            show or change the store (a path or any fsspec URL)
        %nb2pipe define-only on|off     %%step cells only define their step
        %nb2pipe params {"n_rows": 5}   parameter overrides (JSON) for %%params cells
        %nb2pipe use-params a b         take parameters a, b from a papermill `parameters` cell
        %nb2pipe contracts {...}        output contracts to check (exported pipelines)
        %nb2pipe pipeline NAME          the notebook this session runs (scopes per-step state)
        """
        cmd, _, rest = line.strip().partition(" ")
        if cmd == "define-only":
            self.session.define_only = rest.strip() != "off"
        elif cmd == "params":
            self.session.overrides = json.loads(rest or "{}")
        elif cmd == "use-params":   # exported notebooks: a `parameters` cell, then this line
            names = rest.split()
            ns = self.shell.user_ns
            self.engine.set_params(values={n: ns[n] for n in names if n in ns},
                                   overrides=self.session.overrides)
        elif cmd == "env":
            from . import environments
            e = environments.get(self.engine.project_dir, rest.strip() or None)
            if e is None:
                raise Nb2pipeError("this project declares no environments",
                                   fix="add [envs.NAME] tables to nb2pipe.toml (see `nb2pipe --help`)")
            self.engine.store = environments.open_store(e, self.engine.project_dir)
            self.engine.env_name = e.name
            self.engine.results.clear()
            self.session.overrides = {**e.params}
            d = self.engine.defs
            self.engine.set_params(values=d.params, overrides=e.params,
                                   secret=d.secret_params - d.credential_params,
                                   credential=d.credential_params)
            print(f"env: {e.name} · store: {self.engine.store!r}")
        elif cmd == "store":
            url = rest.strip()
            if not url:
                print(self.engine.store.url)
                return
            self.engine.store = Store(url)
            self.engine.results.clear()
            self.engine._emit(GraphChanged())
            print(f"store: {self.engine.store.url}")
        elif cmd == "pipeline":    # headless runs: the notebook's name scopes per-step state
            self.engine.pipeline = rest.strip()
            self.engine.results.clear()
        elif cmd == "contracts":
            self.engine.contracts = json.loads(rest or "{}")
        else:
            raise Nb2pipeError(f"unknown %nb2pipe command {cmd!r}", fix="see `%nb2pipe?`")

    @cell_magic
    def nb2pipe_define(self, line, cell):
        """Headless runs: define many steps at once, each with its notebook location.
        The body is JSON: [{"line": ..., "body": ..., "where": ..., "cell_id": ...}, ...]."""
        for d in json.loads(cell):
            spec = parse_step_line(d["line"])
            body = d["body"] if spec.sql else self._body(d["body"])
            self.engine.define(spec, body, cell_id=d.get("cell_id"), where=d.get("where", ""),
                               line_offset=1, cell_text=d.get("source", ""))

    @line_magic
    def dag(self, line):
        """The pipeline DAG: status, run, show.  `%dag help` lists the commands."""
        argv = shlex.split(line)
        cmd, args = (argv[0], argv[1:]) if argv else ("status", [])
        if cmd == "status":
            from IPython.display import display
            display(StatusTable(self.engine.status(), self.engine.store.url, self.engine.env_name))
        elif cmd == "run":
            self._run(args)
        elif cmd == "show":
            self._show(args)
        elif cmd == "forget":
            for name in args:
                self.engine.forget(name)
        elif cmd in ("help", "-h", "--help"):
            print(DAG_HELP)
        else:
            raise Nb2pipeError(f"unknown %dag command {cmd!r}", fix="commands:\n" + DAG_HELP)

    def _run(self, args: list[str]) -> None:
        force: bool | set = "--force" in args
        downstream = "--downstream" in args
        as_json = "--json" in args
        retries = 0
        reuse: list[str] = []
        rest = []
        for a in args:
            if a.startswith("--force-steps="):
                force = {x for x in a.split("=", 1)[1].split(",") if x}
            elif a.startswith("--reuse="):      # headless runs: upstreams done in earlier cells
                reuse = [x for x in a.split("=", 1)[1].split(",") if x]
            elif a.startswith("--retries="):
                retries = int(a.split("=", 1)[1])
            elif a.startswith("-") and a not in ("--force", "--downstream", "--json"):
                raise Nb2pipeError(f"unknown option {a} for %dag run", fix=DAG_HELP)
            else:
                rest.append(a)
        targets = [a for a in rest if not a.startswith("-")]
        if not self.engine.defs.steps and not as_json:
            self.session.define_from_notebook()
        if force is True and not targets:
            raise Nb2pipeError("%dag run --force needs the steps to re-run",
                               fix="e.g. `%dag run --force clean`")
        if as_json:   # the headless runner: each outcome as a typed event, apart from the steps' prints
            from IPython.display import publish_display_data

            def emit(ev):
                if isinstance(ev, ProgressMsg):
                    publish_display_data({EVENT_MIME: ev.to_json(), "text/plain": outcome_line(_outcome(ev))})
            unsubscribe = self.engine.subscribe(emit)
            try:
                self.engine.run(targets, force=force, downstream=downstream, retries=retries, reuse=reuse)
            finally:
                unsubscribe()
            return
        progress = _Progress()
        unsubscribe = self.engine.subscribe(progress.on_event)
        try:
            outcomes = self.engine.run(targets, force=force, downstream=downstream)
        finally:
            unsubscribe()
            progress.close()
        self.engine.record_run(outcomes, kind="notebook", targets=targets)
        failed = [o for o in outcomes if o.status == "failed"]
        ran = sum(o.status == "ran" for o in outcomes)
        hit = sum(o.status in ("cached", "fresh") for o in outcomes)
        print(f"{len(outcomes)} steps: {ran} ran, {hit} cached, {len(failed)} failed,"
              f" {sum(o.status == 'skipped' for o in outcomes)} skipped")
        if failed:
            raise failed[0].error

    def _show(self, args: list[str]) -> None:
        from IPython.display import SVG, Markdown, display

        from . import render
        fmt = args[args.index("--format") + 1] if "--format" in args else "svg"
        direction = args[args.index("--direction") + 1] if "--direction" in args else "TB"
        graph = self.engine.graph()
        steps = [s.to_json() for s in self.engine.plan(graph).values()]
        edges = graph.edges()
        if fmt == "svg":
            display(SVG(render.to_svg(steps, edges, direction=direction)))
        elif fmt == "mermaid":
            display(Markdown("```mermaid\n" + render.to_mermaid(steps, edges, direction=direction) + "\n```"))
        elif fmt == "dot":
            print(render.to_dot(steps, edges, direction=direction))
        else:
            raise Nb2pipeError(f"unknown format {fmt!r} for %dag show", fix="use svg, mermaid or dot")


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


def _follow_notebook_directory() -> None:
    """A gateway kernel starts in its server's directory; JupyterLab says where the notebook
    is in KERNEL_WORKING_DIR.  Steps use paths relative to the notebook, as locally."""
    wd = os.environ.get("KERNEL_WORKING_DIR")
    if wd and os.path.isdir(wd) and os.path.realpath(wd) != os.path.realpath(os.getcwd()):
        os.chdir(wd)
        print(f"nb2pipe: working directory is the notebook's: {wd}")


def load(shell) -> Session:
    session = getattr(shell, "_nb2pipe_session", None)
    if session is not None:
        return session
    from .envforward import restore_forwarded_env
    restore_forwarded_env()
    _follow_notebook_directory()
    session = Session(shell)
    shell._nb2pipe_session = session
    shell.register_magics(PipelineMagics(shell, session))
    shell.events.register("post_run_cell", session.post_run_cell)
    shell.set_custom_exc((Nb2pipeError,), _show_error)
    session.comm.register()
    return session


def unload(shell) -> None:
    session = getattr(shell, "_nb2pipe_session", None)
    if session is None:
        return
    shell.events.unregister("post_run_cell", session.post_run_cell)
    session.comm.close()
    shell.set_custom_exc((), None)
    del shell._nb2pipe_session
