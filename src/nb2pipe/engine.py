"""Plan and run steps against a namespace and a store.  No IPython here.

The engine knows the current definitions (steps, setup cells, parameters), the
last result of each step, and the store.  It decides what is fresh or stale,
restores cached outputs, executes stale steps in an isolated namespace (inputs,
parameters, setup names, builtins: exactly what a headless run gives them), and
reports every state change to its listeners (the comm, progress displays).
"""
from __future__ import annotations

import builtins
import os
import sys
from typing import Any, Callable, Iterable

from . import capture, keys, leases, records
from .executor import ChangedInPlace, Executor, _offset_tree, _register_source
from .planner import Planner
from .protocol import (Event, GraphChanged, OutcomeStatus, ProgressMsg, RunEndMsg, RunStartMsg,
                       StateMsg, StepState)
from .results import Outcome, Result, label
from .analysis import analyze, definitions_source
from .errors import CorruptObjectError, Nb2pipeError, StepFailed, StoreError
from .fingerprint import FileHasher
from .graph import Graph
from .spec import StepSpec
from .steps import Definitions, SetupCell, StepDef, make_step
from .store import Store

Listener = Callable[[Event], None]   # gets protocol dataclasses (nb2pipe.protocol)








class Engine(Planner, Executor):
    """One per notebook session (or headless run).  Holds no global state."""

    def __init__(self, store: Store, project_dir: str | os.PathLike = ".", *,
                 publish: Callable[[dict], None] | None = None,
                 provenance: Callable[[str], str | None] | None = None,
                 warn: Callable[[str], None] | None = None, pipeline: str = "",
                 io: capture.StepIO | None = None):
        self.store = store
        self.project_dir = os.path.abspath(os.fspath(project_dir))
        self.hasher = FileHasher()
        self.defs = Definitions(local_module=lambda m: self.hasher.is_local(m, self.project_dir))
        self.setup_ns: dict[str, Any] = {"__builtins__": builtins, "__name__": "__main__"}
        self.results: dict[str, Result] = {}        # last result per step this session
        self.failures: dict[str, tuple[str | None, str]] = {}   # step -> (key, message)
        self.running: set[str] = set()
        self.contracts: dict[str, dict[str, dict]] = {}   # step -> output -> contract (exported runs)
        self.env_name: str | None = None                   # the active environment, if any
        self.param_overrides: dict[str, Any] = {}          # values given over the notebook's own
        self.cell_order: dict[str, int] = {}               # cell id -> position, from the frontend
        self.learn_count = 0                               # in-place changes learned this session
        self.execute_definitions = True                    # False: only plan (no kernel)
        self.pipeline = pipeline                           # the notebook's name: scopes per-step state
        self.io = io or capture.StepIO()                   # captures and replays a step's outputs
        self._values: dict[str, Any] = {}           # oid -> value (tables, arrays)
        self._told: set[tuple[str, str]] = set()     # (step, code hash) warned about once
        self._learned: dict[str, list[str]] = {}     # code hash -> learned in-place changes
        self._listeners: list[Listener] = []
        self._publish = publish or (lambda mapping: None)
        self._provenance = provenance or (lambda name: None)
        warn = warn or (lambda msg: print(msg, file=sys.stderr))
        self._warn = lambda msg: warn(self.redactor().text(msg))    # never a secret's value

    def redactor(self):
        """Masks the values of secret and credential parameters and of the environment's
        credentials (see :mod:`nb2pipe.redact`)."""
        from .redact import for_engine
        return for_engine(self)

    # ------------------------------------------------------------ events
    def subscribe(self, fn: Listener) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def _emit(self, event: Event) -> None:
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception as e:  # noqa: BLE001 - a broken listener must not break a run
                self._warn(f"nb2pipe: a listener failed on {event.type}: {e}")

    # ------------------------------------------------------------ definitions
    def run_setup(self, code: str, *, cell_id: str | None = None, where: str = "",
                  line_offset: int = 1, execute: bool = True) -> tuple[str, ...]:
        """Execute a %%setup cell; its definitions become available to every step.
        ``execute=False`` only records it (planning a headless run)."""
        info = analyze(code, filename=f"%%setup {where}".strip(), line_offset=line_offset)
        cell_key = cell_id or ("setup:" + ",".join(sorted(info.defines)))
        if execute:
            filename = f"<setup {where or cell_key}>"
            _register_source(filename, "\n" * line_offset + code)
            exec(compile(_offset_tree(code, line_offset), filename, "exec"), self.setup_ns)
        self.defs.set_setup(SetupCell(cell_key, code, info))
        self._publish({n: self.setup_ns[n] for n in info.defines if n in self.setup_ns})
        self._emit(GraphChanged())
        return info.defines

    def _feed_definitions(self, step: StepDef, values: dict) -> None:
        """Functions a step defines see the names it assigned (``save_fig`` reading
        ``IMAGES_PATH``), also when they are called from steps below."""
        cell = self.defs.setup.get(f"step:{step.name}")
        if cell is not None:
            self.setup_ns.update({n: values[n] for n in cell.info.reads if n in values})

    def _hoist_definitions(self, step: StepDef) -> None:
        """A step's top-level imports, functions and classes are definitions for the cells
        below it, as in a notebook: they are kept like a %%setup cell's (their code is part
        of the keys of the steps that use them)."""
        key = f"step:{step.name}"
        code = definitions_source(step.code) if step.sql is None else ""
        if not code:
            self.defs.drop_setup(key)
            return
        old = self.defs.setup.get(key)
        if old is not None and old.code == code and not self.execute_definitions:
            return
        try:
            self.run_setup(code, cell_id=key, where=f"step `{step.name}`",
                           execute=self.execute_definitions)
        except Exception:  # noqa: BLE001 - e.g. an import that fails: the step's own run says so
            self.defs.drop_setup(key)

    def set_params(self, code: str | None = None, *, values: dict | None = None,
                   overrides: dict | None = None, secret: Iterable[str] = (),
                   credential: Iterable[str] = ()) -> dict:
        """Define parameters from a %%params cell's code and/or a dict; ``overrides``
        (from a headless run) win over both.  ``secret`` values are never shown and enter keys
        as a digest; ``credential`` values are never shown and do not enter keys at all."""
        params: dict[str, Any] = {}
        if code:
            ns: dict[str, Any] = {"__builtins__": builtins}
            exec(compile(code, "<params>", "exec"), ns)
            params.update({k: v for k, v in ns.items() if not k.startswith("_")})
        params.update(values or {})
        if overrides:           # from JSON (-p, %nb2pipe params): a tuple arrives as a list
            from .runner.plan import coerce_params
            known = {k: v for k, v in overrides.items() if k in params}
            overrides = {**overrides, **coerce_params(params, known, set(secret) | set(credential))}
        params.update(overrides or {})
        self.param_overrides = dict(overrides or {})
        self.defs.params = params
        self.defs.credential_params = set(credential)
        self.defs.secret_params = set(secret) | self.defs.credential_params
        self._publish(dict(params))
        self._emit(GraphChanged())
        return params

    def define(self, spec: StepSpec, code: str, *, cell_id: str | None = None, where: str = "",
               line_offset: int = 1, cell_text: str = "", validate: bool = True) -> StepDef:
        """Add or replace a step.  Nothing changes if the new definition is invalid.
        ``validate=False`` (headless planning, which defines every step of a notebook and then
        checks the whole graph once) skips the per-step graph check, which is O(steps)."""
        step = make_step(spec, code, cell_id=cell_id, where=where, line_offset=line_offset,
                         cell_text=cell_text)
        self.defs.check_reads(step, self._provenance)
        learned = self._learned_for(step.code_hash) if step.sql is None else []
        if learned:
            self.defs.learned[spec.name] = (step.code_hash, frozenset(learned))
        steps: dict[str, StepDef] = {}
        for n, s in self.defs.steps.items():
            if n == spec.name or (cell_id and s.cell_id == cell_id):
                steps.setdefault(spec.name, step)    # a redefined or renamed cell keeps its place
            else:
                steps[n] = s
        steps.setdefault(spec.name, step)
        steps = self._in_cell_order(steps)
        if validate:
            self.defs.graph(steps)        # raises GraphError with every problem
        for gone in set(self.defs.steps) - set(steps):
            self.forget(gone, emit=False)
        self.defs.steps = steps
        self._hoist_definitions(step)
        for name in self.defs.unread_declared(step):
            self._warn(f"nb2pipe: step `{step.name}` declares --in {name} but never reads it")
        if not step.spec.srcs and (step.name, step.code_hash) not in self._told:
            self._told.add((step.name, step.code_hash))
            for line, call in step.info.files.unresolved:
                self._warn(f"nb2pipe: step `{step.name}` line {line - step.line_offset} reads a file"
                           f" whose path is computed (`{call}`), so its changes cannot be tracked;"
                           f" add `--src PATH` to the %%step line to track it")
        self._emit(GraphChanged())
        return step

    def _learned_for(self, code_hash: str) -> list[str]:
        """learned/<hash>.json, read once per code hash (a cell re-run with the same code, or
        a store switched by %nb2pipe env/store, does not read it again; this engine's own
        learning updates the memo)."""
        if code_hash not in self._learned:
            self._learned[code_hash] = self.store.get_learned(code_hash)
        return self._learned[code_hash]

    def set_order(self, cell_ids: Iterable[str]) -> None:
        """The notebook's cell order, as the frontend has it: steps read the versions of
        names written above them in this order.  Steps of cells not listed keep theirs."""
        self.cell_order = {c: i for i, c in enumerate(cell_ids)}
        steps = self._in_cell_order(self.defs.steps)
        if list(steps) != list(self.defs.steps):
            self.defs.steps = steps
            self._emit(GraphChanged())

    def _in_cell_order(self, steps: dict[str, StepDef]) -> dict[str, StepDef]:
        if not self.cell_order:
            return steps
        known = [s for s in steps.values() if s.cell_id in self.cell_order]
        known.sort(key=lambda s: self.cell_order[s.cell_id])
        it = iter(known)          # listed steps take the listed slots, in the listed order
        return {s.name: s for s in ((next(it) if s.cell_id in self.cell_order else s)
                                    for s in steps.values())}

    def forget(self, name: str, *, emit: bool = True) -> None:
        if name not in self.defs.steps:
            raise Nb2pipeError(f"there is no step `{name}`{self.defs.did_you_mean(name)}")
        self.defs.drop_step(name)
        self.defs.drop_setup(f"step:{name}")
        self.results.pop(name, None)
        self.failures.pop(name, None)
        if emit:
            self._emit(GraphChanged())

    def graph(self) -> Graph:
        return self.defs.graph()








    # ------------------------------------------------------------ running
    def run_cell(self, name: str) -> Outcome:
        """Run one step as its cell does: with its upstreams' last results; restores
        from the store when its key is known, executes otherwise."""
        graph = self.graph()
        step = self.defs.steps[name]
        if name in graph.missing:
            raise self._missing_error(graph, step)
        parents: dict[str, Result] = {}
        for p in graph.parents(name):
            if p in self.failures:
                # never fall back to an older version of its outputs
                raise Nb2pipeError(f"upstream `{p}` has an error: {self.failures[p][1]}",
                                   where=label(step),
                                   fix=f"fix `{p}` and run its cell, then this one")
            res = self._last_result(p)
            if res is None:
                raise Nb2pipeError(f"step `{name}` needs the outputs of `{p}`, which has not run yet",
                                   where=label(step), fix=f"run the cell of `{p}` first, or `%dag run {name}`")
            parents[p] = res
        outcome = self._run_one(step, graph, parents, force=not step.spec.cache, restore=True)
        stale_up: list[str] = []
        if outcome.status != "failed" and graph.parents(name):
            up = graph.upto(*graph.parents(name))
            states = self.plan(graph, up)
            stale_up = [p for p in up if states[p].state != "fresh"]
        if stale_up:
            outcome.notes.append(f"upstream {', '.join(f'`{p}`' for p in sorted(stale_up))} "
                                 f"{'is' if len(stale_up) == 1 else 'are'} stale; `%dag run {name}` refreshes "
                                 "them first")
        return outcome


    def run(self, targets: Iterable[str] = (), *, force: Iterable[str] | bool = (),
            downstream: bool = False, retries: int = 0, reuse: Iterable[str] = ()) -> list[Outcome]:
        """Bring ``targets`` (default: every step) up to date, running only stale steps.
        ``force`` re-runs the named steps (or all targets when True) regardless of the cache.
        ``reuse``: upstream steps this engine ran or restored earlier in the same headless run
        (one cell per step); their results stand, they are neither looked up nor re-run."""
        graph = self.graph()
        targets = list(targets)
        for t in targets:
            graph[t]   # raises "no step X (did you mean)"
        if downstream and targets:
            names = graph.upto(*graph.downfrom(*targets))
        else:
            names = graph.upto(*targets) if targets else graph.order
        forced = set(targets or names) if force is True else set(force or ())
        missing = {n: graph.missing[n] for n in names if n in graph.missing}
        if missing:
            raise Nb2pipeError(
                "cannot run: " + "; ".join(f"step `{n}` needs {', '.join(f'`{i}`' for i in m)}, which no"
                                           " step produces" for n, m in missing.items()),
                fix="define the steps that produce these names, or correct the inputs")
        done: dict[str, Result] = {n: self.results[n] for n in reuse
                                   if n in names and n not in targets and n in self.results}
        names = [n for n in names if n not in done]
        self._emit(RunStartMsg(steps=list(names)))
        outcomes: list[Outcome] = []
        failed: set[str] = set()
        for name in names:
            step = self.defs.steps[name]
            blocked = [p for p in graph.parents(name) if p in failed]
            if blocked:
                failed.add(name)
                o = Outcome(name, "skipped", notes=[f"upstream `{blocked[0]}` failed"])
                self._emit(StateMsg(step=name, state=StepState.SKIPPED))
            else:
                learned = self.learn_count
                o = self._run_one(step, graph, done, force=name in forced or not step.spec.cache,
                                  restore=name in targets, retries=retries)
                if self.learn_count != learned:
                    graph = self.graph()          # the steps below now read the changed version
                if o.status == "failed":
                    failed.add(name)
                else:
                    done[name] = self.results[name]
            outcomes.append(o)
            self._emit(ProgressMsg(done=len(outcomes), total=len(names), step=name,
                                   status=OutcomeStatus(o.status), key=o.key, duration=o.duration,
                                   saved=o.saved,
                                   error=str(o.error) if o.error else ("; ".join(o.notes) or None),
                                   traceback=getattr(o.error, "traceback_text", "") if o.error else ""))
        self._publish_final_versions(graph, outcomes)
        self._emit(RunEndMsg(outcomes=[(o.step, OutcomeStatus(o.status)) for o in outcomes]))
        return outcomes

    def _publish_final_versions(self, graph: Graph, outcomes: list[Outcome]) -> None:
        """After a run, each name a re-run step wrote holds what restart-and-run-all leaves in
        it: the version of the last step (in notebook order) that writes it."""
        shown: dict[str, str] = {}      # name -> the step whose version the run published last
        touched: set[str] = set()
        for out in outcomes:
            if out.status in ("ran", "cached"):          # both publish their outputs
                shown.update({o: out.step for o in self.results[out.step].outputs})
            if out.status == "ran":
                touched.update(self.results[out.step].outputs)
        final: dict[str, Any] = {}
        for name in touched:
            last = graph.producer.get(name)
            if last == shown[name]:
                continue                # already published by the step that writes it last
            res = self.results.get(last) if last else None
            if res is not None and name in res.outputs:
                try:
                    final[name] = self._load(res.outputs[name])
                except CorruptObjectError:
                    continue
        if final:
            self._publish(final)

    def record_run(self, outcomes: list[Outcome], **fields: Any) -> str:
        """Write a run record of ``outcomes`` (see :mod:`nb2pipe.records`)."""
        steps = []
        for o in outcomes:
            res = self.results.get(o.step)
            comps = res.components if res and res.key == o.key else {}
            steps.append({"step": o.step, "status": o.status, "key": o.key, "duration": o.duration,
                          "saved": o.saved, "error": o.error.what if o.error else None,
                          **records.lineage(comps, res.outputs if res else {})})
        return records.write(self.store, steps, env=self.env_name, redactor=self.redactor(), **fields)

    def _learn(self, step: StepDef, names: list[str]) -> None:
        """Remember that ``step`` changes ``names`` in place (kept with its last result, so a
        headless run of the same code wires the same versions)."""
        prev = self.defs.learned.get(step.name)
        known = prev[1] if prev and prev[0] == step.code_hash else frozenset()
        self.defs.learned[step.name] = (step.code_hash, known | set(names))
        self._learned[step.code_hash] = sorted(known | set(names))
        self.learn_count += 1
        try:
            self.store.put_learned(step.code_hash, sorted(known | set(names)))
        except StoreError:
            pass          # a read-only store: this session still knows it
        for name in names:
            self._warn(f"nb2pipe: step `{step.name}` changed `{name}` in place (through a view or an"
                       " alias); running it again so the steps below get the changed version")

    def _run_one(self, step: StepDef, graph: Graph, parents: dict[str, Result], *,
                 force: bool, restore: bool, retries: int = 0) -> Outcome:
        name = step.name
        try:
            comps = self.components(step, self._input_versions(step, parents, graph))
        except Nb2pipeError as e:
            self.failures[name] = (None, e.what)
            self._emit(StateMsg(step=name, state=StepState.FAILED, error=e.what))
            return Outcome(name, "failed", error=e)
        key = keys.make_key(comps)
        lease = None
        if not force:
            entry = self.store.get_entry(key)
            if not entry:     # another process computing this key: wait for its entry
                lease = leases.claim(self.store, key, lambda: bool(self.store.get_entry(key)),
                                     self._warn, f"step `{name}`")
                entry = None if lease else self.store.get_entry(key)
            if entry:
                res = Result.from_entry(entry)
                try:
                    if restore:
                        values = {o: self._load(r) for o, r in res.outputs.items()}
                        self._publish(values)
                        self._feed_definitions(step, values)
                        self._replay(name, entry)
                    problems = self._damage(entry, step)
                    if problems:
                        raise CorruptObjectError(problems[0])
                except CorruptObjectError as e:
                    self._warn(f"nb2pipe: cached result of `{name}` is damaged ({e.what}); recomputing")
                else:
                    self.results[name] = res
                    self.failures.pop(name, None)
                    self._emit(StateMsg(step=name, state=StepState.FRESH, cached=True))
                    return Outcome(name, "cached" if restore else "fresh", key, 0.0, res.duration)
        try:
            return self._compute(step, graph, parents, key, comps, restore=restore, retries=retries)
        finally:
            if lease is not None:
                lease.release()

    def _compute(self, step: StepDef, graph: Graph, parents: dict[str, Result], key: str,
                 comps: dict, *, restore: bool, retries: int) -> Outcome:
        name = step.name
        attempts = max(step.spec.retries, retries) + 1
        for attempt in range(attempts):
            try:
                res = self._execute(step, graph, parents, key, comps)
            except ChangedInPlace as c:
                self._learn(step, c.names)
                return self._run_one(step, self.graph(), parents, force=True, restore=restore,
                                     retries=retries)
            except StepFailed as e:
                if attempt + 1 < attempts:
                    self._warn(f"nb2pipe: step `{name}` failed ({e.cause!r}); retry {attempt + 1} of"
                               f" {attempts - 1}")
                    continue
                self.failures[name] = (key, e.what)
                self._emit(StateMsg(step=name, state=StepState.FAILED, error=e.what))
                return Outcome(name, "failed", key, error=e)
            except Nb2pipeError as e:
                self.failures[name] = (key, e.what)
                self._emit(StateMsg(step=name, state=StepState.FAILED, error=e.what))
                return Outcome(name, "failed", key, error=e)
            self.failures.pop(name, None)
            return Outcome(name, "ran", key, res.duration)
        raise AssertionError("unreachable")












# ------------------------------------------------------------ helpers

















