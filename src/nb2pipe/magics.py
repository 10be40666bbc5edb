"""IPython shim: ``%%step``, ``%%setup``, ``%%params`` and ``%dag`` call the engine.

Everything here is translation: cell text in, engine call, display out.  One
:class:`Session` per IPython shell, kept on the shell (no module globals).
"""
from __future__ import annotations

import json
import os
import sys

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from . import records, sessionmagic
from .analysis import analyze
from .comm import CommServer
from .engine import Engine, Outcome
from .kernel_io import KernelIO
from .errors import AnalysisError, Nb2pipeError, StepFailed
from .report import outcome_line
from .spec import parse_params_line, parse_step_line
from .store import Store

TRACKED_MAGICS = ("%%step", "%%setup", "%%params")


class Session:
    """The engine plus the kernel-side bookkeeping the engine must not know about."""

    def __init__(self, shell):
        self.shell = shell
        self.origin: dict[str, str] = {}       # name -> "cell [7] (`x = ...`)" for plain cells
        from . import environments
        env = environments.get(os.getcwd(), None)      # $NB2PIPE_ENV or the configured default
        self.credentials: dict[str, str | None] = {}   # what the environment's credentials replaced
        store = (environments.open_store(env, os.getcwd(), self.credentials) if env
                 else Store.default(os.getcwd()))
        self.engine = Engine(store, os.getcwd(), publish=self._publish, provenance=self._provenance,
                             warn=lambda m: print(m, file=sys.stderr), io=KernelIO(shell))
        self.engine.env_name = env.name if env else None
        # JupyterLab names the kernel's session after the notebook's path
        self.engine.pipeline = str(shell.user_ns.get("__session__") or "")
        self.comm = CommServer(self.engine)
        self.define_only = False               # headless runs define all steps, then run stale ones
        self.overrides: dict = {}              # parameter values given to a headless run
        self.undo: tuple[list[str], str | None] = ([], None)   # env names set, directory left

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
        records.notebook_run(self.engine, [outcome], "cell", [spec.name])   # executed: History lists it
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
    @magic_arguments()
    @argument("command", choices=tuple(sessionmagic.COMMANDS))
    @argument("value", nargs="*", help="the command's value (JSON for params and contracts)")
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
        parse_argstring(self.nb2pipe, cmd)      # the command alone: a value may be JSON
        sessionmagic.COMMANDS[cmd](self.session, rest.strip())

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
        """The pipeline DAG: status, run, show, check, forget.  `%dag help` lists the commands."""
        from .dagmagic import dag
        dag(self.session, line)


def _follow_notebook_directory() -> str | None:
    """A gateway kernel starts in its server's directory; JupyterLab says where the notebook
    is in KERNEL_WORKING_DIR.  Steps use paths relative to the notebook, as locally.
    Returns the directory it left (``%unload_ext nb2pipe`` goes back), if it moved."""
    wd = os.environ.get("KERNEL_WORKING_DIR")
    if wd and os.path.isdir(wd) and os.path.realpath(wd) != os.path.realpath(os.getcwd()):
        left = os.getcwd()
        os.chdir(wd)
        print(f"nb2pipe: working directory is the notebook's: {wd}")
        return left
    return None


def load(shell) -> Session:
    session = getattr(shell, "_nb2pipe_session", None)
    if session is not None:
        return session
    from .envforward import restore_forwarded_env
    env_added = restore_forwarded_env()
    left = _follow_notebook_directory()
    session = Session(shell)
    session.undo = (env_added, left)        # what %unload_ext puts back
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
    from .envforward import drop_restored_env
    env_added, left = session.undo
    from .environments import restore_environ
    restore_environ(session.credentials)      # applied after the forwarded ones: undone first
    drop_restored_env(env_added)
    if left is not None and os.path.isdir(left):
        os.chdir(left)
