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

from . import capture, leases, records
from .executor import ChangedInPlace, Executor
from .definer import Definer
from .planner import Planner
from .protocol import Event, OutcomeStatus, ProgressMsg, RunEndMsg, RunStartMsg, StateMsg, StepState
from .results import Outcome, Result, ResultMap, label
from .errors import CorruptObjectError, Nb2pipeError, StepFailed, StoreError
from .fingerprint import FileHasher
from .graph import Graph
from .steps import Definitions, StepDef
from .store import Store
from .valuecache import ValueCache

Listener = Callable[[Event], None]   # gets protocol dataclasses (nb2pipe.protocol)


class Engine(Definer, Planner, Executor):
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
        self.results = ResultMap()                  # last result per step this session
        self.failures: dict[str, tuple[str | None, str]] = {}   # step -> (key, message)
        self.running: set[str] = set()
        self.contracts: dict[str, dict[str, dict]] = {}   # step -> output -> contract (exported runs)
        self.env_name: str | None = None                   # the active environment, if any
        self.param_overrides: dict[str, Any] = {}          # values given over the notebook's own
        self.cell_order: dict[str, int] = {}               # cell id -> position, from the frontend
        self.plan_count = 0                                # plan() calls (the comm's pushes)
        self.learn_count = 0                               # in-place changes learned this session
        self.execute_definitions = True                    # False: only plan (no kernel)
        self.pipeline = pipeline                           # the notebook's name: scopes per-step state
        self.io = io or capture.StepIO()                   # captures and replays a step's outputs
        self._values = ValueCache()                  # oid -> decoded value (tables, arrays)
        self._told: set[tuple[str, str]] = set()     # (step, code hash) warned about once
        self._learned: dict[str, list[str]] = {}     # code hash -> learned in-place changes
        self._parts: dict[str, tuple] = {}           # step -> (its definition, context, key parts)
        self._keys: dict[str, tuple[dict, str]] = {}   # step -> (last components, their key)
        self._indexed_keys: set[str] = set()     # steps whose key came from the index, unchecked
        self._entry_results: dict[str, tuple] = {}   # key -> (entry, Result parsed from it)
        self._fresh_seen: dict[str, tuple] = {}      # step -> why it was fresh (planner.Fresh)
        self._fresh_token: tuple | None = None       # what every Fresh there also held under
        self._all_fresh: dict[str, tuple] = {}       # step -> when all its upstream was fresh
        self.entry_writes = 0                        # entries this engine wrote
        self._learned_listed: set[str] | None = None  # code hashes with learned changes, if listed
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
            stale_up = self.stale_upstream(graph, name)
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
        self.defs.set_learned(step.name, step.code_hash, known | set(names))
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
            comps, key, entry = self.lookup(step, graph, parents, entry=not force)
        except Nb2pipeError as e:
            self.failures[name] = (None, e.what)
            self._emit(StateMsg(step=name, state=StepState.FAILED, error=e.what))
            return Outcome(name, "failed", error=e)
        lease = None
        if not force:
            prev = self.results.get(name)
            if not entry and leases.worth_it(prev.duration if prev is not None else None):
                # another process computing this key: wait for its entry
                lease = leases.claim(self.store, key, lambda: bool(self.store.get_entry(key)),
                                     self._warn, f"step `{name}`")
                entry = None if lease else self.store.get_entry(key)
            if entry:
                res = self._result(entry)
                try:
                    if restore:
                        values = {o: self._load(r) for o, r in res.outputs.items()}
                        self._publish(values)
                        self._feed_definitions(step, values)
                        self._replay(name, entry)
                    problems = self._damage(res, step)
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
