"""Plan and run steps against a namespace and a store.  No IPython here.

The engine knows the current definitions (steps, setup cells, parameters), the
last result of each step, and the store.  It decides what is fresh or stale,
restores cached outputs, executes stale steps in an isolated namespace (inputs,
parameters, setup names, builtins: exactly what a headless run gives them), and
reports every state change to its listeners (the comm, progress displays).
"""
from __future__ import annotations

import builtins
import difflib
import linecache
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from . import capture, contracts, inplace, keys
from .analysis import analyze
from .errors import CorruptObjectError, Nb2pipeError, StepFailed, StoreError
from .fingerprint import FileHasher, secret_fingerprint, value_fingerprint
from .graph import Graph, did_you_mean
from .spec import StepSpec
from .steps import Definitions, SetupCell, StepDef, make_step
from .store import ObjectRef, Store

Listener = Callable[[dict], None]


@dataclass
class Result:
    """What one step produced: its key and its outputs' object references."""

    key: str
    components: dict
    outputs: dict[str, ObjectRef]
    duration: float
    finished: float

    @classmethod
    def from_entry(cls, entry: dict) -> "Result":
        return cls(entry["key"], entry.get("components", {}),
                   {k: ObjectRef.from_json(v) for k, v in entry["outputs"].items()},
                   float(entry.get("duration", 0.0)), float(entry.get("finished", 0.0)))


@dataclass
class Outcome:
    """What happened to one step in a run."""

    step: str
    status: str                     # "ran" | "cached" | "fresh" | "failed" | "skipped"
    key: str | None = None
    duration: float = 0.0           # time spent now
    saved: float = 0.0              # time the cache saved (original run time)
    error: Nb2pipeError | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class StepStatus:
    step: str
    state: str                      # fresh | stale | never run | failed | running | blocked
    reasons: list[str]
    key: str | None
    duration: float | None
    finished: float | None
    where: str
    cell_id: str | None
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    summaries: dict[str, dict]
    error: str | None = None

    def to_json(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


class Engine:
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
        self.pipeline = pipeline                           # the notebook's name: scopes per-step state
        self.io = io or capture.StepIO()                   # captures and replays a step's outputs
        self._values: dict[str, Any] = {}           # oid -> value (tables, arrays)
        self._told: set[tuple[str, str]] = set()     # (step, code hash) warned about once
        self._listeners: list[Listener] = []
        self._publish = publish or (lambda mapping: None)
        self._provenance = provenance or (lambda name: None)
        self._warn = warn or (lambda msg: print(msg, file=sys.stderr))

    # ------------------------------------------------------------ events
    def subscribe(self, fn: Listener) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def _emit(self, event: dict) -> None:
        for fn in list(self._listeners):
            try:
                fn(event)
            except Exception as e:  # noqa: BLE001 - a broken listener must not break a run
                self._warn(f"nb2pipe: a listener failed on {event.get('type')}: {e}")

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
        old = self.defs.setup.pop(cell_key, None)
        if old:
            for n in old.info.defines:
                if self.defs.setup_owner.get(n) == cell_key:
                    del self.defs.setup_owner[n]
        self.defs.setup[cell_key] = SetupCell(cell_key, code, info)
        for n in info.defines:
            self.defs.setup_owner[n] = cell_key
        self._publish({n: self.setup_ns[n] for n in info.defines if n in self.setup_ns})
        self._emit({"type": "graph"})
        return info.defines

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
        params.update(overrides or {})
        self.param_overrides = dict(overrides or {})
        self.defs.params = params
        self.defs.credential_params = set(credential)
        self.defs.secret_params = set(secret) | self.defs.credential_params
        self._publish(dict(params))
        self._emit({"type": "graph"})
        return params

    def define(self, spec: StepSpec, code: str, *, cell_id: str | None = None, where: str = "",
               line_offset: int = 1, cell_text: str = "") -> StepDef:
        """Add or replace a step.  Nothing changes if the new definition is invalid."""
        step = make_step(spec, code, cell_id=cell_id, where=where, line_offset=line_offset,
                         cell_text=cell_text)
        self.defs.check_reads(step, self._provenance)
        steps: dict[str, StepDef] = {}
        for n, s in self.defs.steps.items():
            if n == spec.name or (cell_id and s.cell_id == cell_id):
                steps.setdefault(spec.name, step)    # a redefined or renamed cell keeps its place
            else:
                steps[n] = s
        steps.setdefault(spec.name, step)
        steps = self._in_cell_order(steps)
        self.defs.graph(steps)            # raises GraphError with every problem
        for gone in set(self.defs.steps) - set(steps):
            self.forget(gone, emit=False)
        self.defs.steps = steps
        for name in self.defs.unread_declared(step):
            self._warn(f"nb2pipe: step `{step.name}` declares --in {name} but never reads it")
        if not step.spec.srcs and (step.name, step.code_hash) not in self._told:
            self._told.add((step.name, step.code_hash))
            for line, call in step.info.files.unresolved:
                self._warn(f"nb2pipe: step `{step.name}` line {line - step.line_offset} reads a file"
                           f" whose path is computed (`{call}`), so its changes cannot be tracked;"
                           f" add `--src PATH` to the %%step line to track it")
        self._emit({"type": "graph"})
        return step

    def set_order(self, cell_ids: Iterable[str]) -> None:
        """The notebook's cell order, as the frontend has it: steps read the versions of
        names written above them in this order.  Steps of cells not listed keep theirs."""
        self.cell_order = {c: i for i, c in enumerate(cell_ids)}
        steps = self._in_cell_order(self.defs.steps)
        if list(steps) != list(self.defs.steps):
            self.defs.steps = steps
            self._emit({"type": "graph"})

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
        del self.defs.steps[name]
        self.results.pop(name, None)
        self.failures.pop(name, None)
        if emit:
            self._emit({"type": "graph"})

    def graph(self) -> Graph:
        return self.defs.graph()

    # ------------------------------------------------------------ keys
    def components(self, step: StepDef, input_versions: dict[str, str]) -> dict:
        d = self.defs
        reads = set(step.external_reads())
        setup_cells = d.setup_cells_for(step)
        modules: dict[str, str] = {}
        for mod in sorted(d.modules_for(step)):
            fp = self.hasher.module(mod, self.project_dir)
            if fp is not None:
                modules[mod] = fp
        return {
            "kind": "sql" if step.spec.sql else "python",
            "code": step.code_hash,
            "outputs": sorted(d.outputs_of(step)),
            "inputs": {i: input_versions[i] for i in sorted(input_versions)},
            "params": {p: self._param_fingerprint(step, p)
                       for p in sorted(reads) if p in d.params and p not in d.credential_params},
            "setup": sorted(c.code_hash for c in setup_cells),
            "modules": modules,
            "srcs": {s: self.hasher.source(s, self.project_dir, step.name) for s in self.sources_of(step)},
        }

    def sources_of(self, step: StepDef) -> tuple[str, ...]:
        """``--src`` paths, files a SQL query reads, and files the code opens by a literal path
        that exist in the project now."""
        found = []
        for p in step.info.files.paths:
            full = os.path.normpath(os.path.join(self.project_dir, p))
            if (p not in step.sources and full.startswith(self.project_dir + os.sep)
                    and os.path.isfile(full)):
                found.append(os.path.relpath(full, self.project_dir).replace(os.sep, "/"))
        return step.sources + tuple(dict.fromkeys(found))

    def _param_fingerprint(self, step: StepDef, name: str) -> str:
        value = self.defs.params[name]
        try:
            return (secret_fingerprint(name, value) if name in self.defs.secret_params
                    else value_fingerprint(value))
        except TypeError as e:
            raise Nb2pipeError(f"parameter `{name}`, read by step `{step.name}`, cannot be part of a"
                               f" cache key: {e}", where=_label(step),
                               fix="give it a plain value: a number, string, list, dict, set, date,"
                                   " numpy array, or a dataclass of those") from None

    def _input_versions(self, step: StepDef, parent_results: dict[str, Result], graph: Graph) -> dict:
        out = {}
        for i in self.defs.inputs_of(step):
            producer = graph.source(step.name, i)
            res = parent_results.get(producer)
            if res is None or i not in res.outputs:
                raise Nb2pipeError(f"step `{step.name}` needs `{i}`, which has not been produced yet",
                                   where=_label(step),
                                   fix=f"run `{producer}` first, or `%dag run {step.name}`")
            out[i] = res.outputs[i].version
        return out

    def _last_result(self, name: str) -> Result | None:
        if name in self.results:
            return self.results[name]
        last = self.store.get_last(name, self.pipeline)
        if last and last.get("key"):
            entry = self.store.get_entry(last["key"])
            if entry:
                res = Result.from_entry(entry)
                self.results[name] = res
                return res
        return None

    # ------------------------------------------------------------ planning
    def plan(self, graph: Graph | None = None, names: Iterable[str] | None = None) -> dict[str, StepStatus]:
        """The state of every step (or of ``names``, which must be closed under ancestry),
        computed from definitions and the store only."""
        graph = graph or self.graph()
        out: dict[str, StepStatus] = {}
        resolved: dict[str, Result] = {}
        for name in (graph.order if names is None else names):
            step = self.defs.steps[name]
            reasons: list[str] = []
            key = None
            res = None
            state = "stale"
            if name in graph.missing:
                state = "blocked"
                reasons = [f"needs `{i}`, which no step produces" for i in graph.missing[name]]
            else:
                bad = [p for p in graph.parents(name) if p not in resolved]
                if bad:
                    reasons = [f"upstream `{p}` is {out[p].state}" for p in bad]
                    if self._last_result(name) is None and name not in self.results:
                        state, reasons = "never run", []
                else:
                    try:
                        comps = self.components(step, self._input_versions(step, resolved, graph))
                    except Nb2pipeError as e:
                        state, reasons = "blocked", [e.what]
                    else:
                        key = keys.make_key(comps)
                        entry = self.store.get_entry(key)
                        damage = self._damage(entry) if entry and step.spec.cache else []
                        if entry and step.spec.cache and not damage:
                            res = Result.from_entry(entry)
                            resolved[name] = res
                            state = "fresh"
                        elif damage:
                            reasons = damage
                        else:
                            last = self._last_result(name)
                            reasons = (["--no-cache"] if entry else
                                       keys.explain(last.components if last else None, comps))
                            state = "never run" if last is None else "stale"
                            if last is None:
                                reasons = []
            fail = self.failures.get(name)
            if fail and state != "fresh" and (fail[0] is None or fail[0] == key):
                state = "failed"
            if name in self.running:
                state = "running"
            shown = res or self.results.get(name)
            out[name] = StepStatus(
                step=name, state=state, reasons=reasons, key=key,
                duration=shown.duration if shown else None,
                finished=shown.finished if shown else None,
                where=step.where, cell_id=step.cell_id,
                inputs=self.defs.inputs_of(step), outputs=step.outputs,
                summaries={k: {"type": r.type, **_summary(r)} for k, r in shown.outputs.items()} if shown else {},
                error=fail[1] if fail else None)
        return out

    def status(self) -> list[StepStatus]:
        return list(self.plan().values())

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
                                   where=_label(step),
                                   fix=f"fix `{p}` and run its cell, then this one")
            res = self._last_result(p)
            if res is None:
                raise Nb2pipeError(f"step `{name}` needs the outputs of `{p}`, which has not run yet",
                                   where=_label(step), fix=f"run the cell of `{p}` first, or `%dag run {name}`")
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

    def _missing_error(self, graph: Graph, step: StepDef) -> Nb2pipeError:
        parts = []
        for m in graph.missing[step.name]:
            below = graph.below.get((step.name, m))
            parts.append(f"`{m}`, which only step `{below}` below it writes" if below else
                         f"`{m}`, which no step above it writes"
                         + did_you_mean(m, set(graph.producer) - {m}))
        return Nb2pipeError(
            f"step `{step.name}` reads " + "; ".join(parts), where=_label(step),
            fix="run the cell of the step that writes it first, keeping it above this one (Run All"
                " runs them in order), or correct the name")

    def run(self, targets: Iterable[str] = (), *, force: Iterable[str] | bool = (),
            downstream: bool = False, retries: int = 0) -> list[Outcome]:
        """Bring ``targets`` (default: every step) up to date, running only stale steps.
        ``force`` re-runs the named steps (or all targets when True) regardless of the cache."""
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
        self._emit({"type": "run_start", "steps": list(names)})
        outcomes: list[Outcome] = []
        done: dict[str, Result] = {}
        failed: set[str] = set()
        for name in names:
            step = self.defs.steps[name]
            blocked = [p for p in graph.parents(name) if p in failed]
            if blocked:
                failed.add(name)
                o = Outcome(name, "skipped", notes=[f"upstream `{blocked[0]}` failed"])
                self._emit({"type": "state", "step": name, "state": "skipped"})
            else:
                o = self._run_one(step, graph, done, force=name in forced or not step.spec.cache,
                                  restore=name in targets, retries=retries)
                if o.status == "failed":
                    failed.add(name)
                else:
                    done[name] = self.results[name]
            outcomes.append(o)
            self._emit({"type": "progress", "done": len(outcomes), "total": len(names), "step": name,
                        "status": o.status, "key": o.key, "duration": o.duration, "saved": o.saved,
                        "error": str(o.error) if o.error else ("; ".join(o.notes) or None),
                        "traceback": getattr(o.error, "traceback_text", "") if o.error else ""})
        self._emit({"type": "run_end", "outcomes": [(o.step, o.status) for o in outcomes]})
        return outcomes

    def record_run(self, outcomes: list[Outcome], **fields: Any) -> str:
        """Write a run record: who, when, what, keys, timings, errors, and the lineage of
        every output (its step's inputs, code hash and sources)."""
        steps = []
        for o in outcomes:
            res = self.results.get(o.step)
            comps = res.components if res and res.key == o.key else {}
            steps.append({
                "step": o.step, "status": o.status, "key": o.key, "duration": o.duration,
                "saved": o.saved, "error": o.error.what if o.error else None,
                "outputs": {k: r.version for k, r in res.outputs.items()} if comps else {},
                "inputs": comps.get("inputs", {}), "code": comps.get("code"),
                "srcs": comps.get("srcs", {}), "params": sorted(comps.get("params", {})),
            })
        return self.store.put_run({"finished": time.time(), "user": _user(), "store": self.store.url,
                                   "env": self.env_name, **fields, "steps": steps})

    def _run_one(self, step: StepDef, graph: Graph, parents: dict[str, Result], *,
                 force: bool, restore: bool, retries: int = 0) -> Outcome:
        name = step.name
        try:
            comps = self.components(step, self._input_versions(step, parents, graph))
        except Nb2pipeError as e:
            self.failures[name] = (None, e.what)
            self._emit({"type": "state", "step": name, "state": "failed", "error": e.what})
            return Outcome(name, "failed", error=e)
        key = keys.make_key(comps)
        if not force:
            entry = self.store.get_entry(key)
            if entry:
                res = Result.from_entry(entry)
                try:
                    if restore:
                        self._publish({o: self._load(r) for o, r in res.outputs.items()})
                        self._replay(name, entry)
                    elif self._damage(entry):
                        raise CorruptObjectError(self._damage(entry)[0])
                except CorruptObjectError as e:
                    self._warn(f"nb2pipe: cached result of `{name}` is damaged ({e.what}); recomputing")
                else:
                    self.results[name] = res
                    self.failures.pop(name, None)
                    self._emit({"type": "state", "step": name, "state": "fresh", "cached": True})
                    return Outcome(name, "cached" if restore else "fresh", key, 0.0, res.duration)
        attempts = max(step.spec.retries, retries) + 1
        for attempt in range(attempts):
            try:
                res = self._execute(step, graph, parents, key, comps)
            except StepFailed as e:
                if attempt + 1 < attempts:
                    self._warn(f"nb2pipe: step `{name}` failed ({e.cause!r}); retry {attempt + 1} of"
                               f" {attempts - 1}")
                    continue
                self.failures[name] = (key, e.what)
                self._emit({"type": "state", "step": name, "state": "failed", "error": e.what})
                return Outcome(name, "failed", key, error=e)
            except Nb2pipeError as e:
                self.failures[name] = (key, e.what)
                self._emit({"type": "state", "step": name, "state": "failed", "error": e.what})
                return Outcome(name, "failed", key, error=e)
            self.failures.pop(name, None)
            return Outcome(name, "ran", key, res.duration)
        raise AssertionError("unreachable")

    def _execute(self, step: StepDef, graph: Graph, parents: dict[str, Result], key: str,
                 comps: dict) -> Result:
        name = step.name
        ns: dict[str, Any] = {k: v for k, v in self.setup_ns.items()}
        ns.update(self.defs.params)
        refs_in: dict[str, ObjectRef] = {}
        passed = self.defs.passthrough(step)
        for i in self.defs.inputs_of(step):
            src = graph.source(name, i)
            ref = parents[src].outputs[i]
            refs_in[i] = ref
            try:
                # SQL scans cached tables straight from the memory-mapped Arrow file
                ns[i] = (self.store.get_arrow(ref) if step.sql is not None and ref.codec == "arrow"
                         and ref.oid not in self._values else self._load(ref))
            except CorruptObjectError as e:
                raise Nb2pipeError(f"input `{i}` of step `{name}` is damaged in the store ({e.what})",
                                   where=_label(step),
                                   fix=f"re-run `{src}` with `%dag run --force {src}`") from None
            if i in passed and ref.type == "numpy.ndarray":
                ns[i] = ns[i].copy()      # it may change it in place: keep the stored version intact
        for i, kind in step.spec.input_types:
            ns[i] = _as_table(ns[i], kind)
        tokens = {i: inplace.token(ns[i]) for i in refs_in}
        self.running.add(name)
        self._emit({"type": "state", "step": name, "state": "running"})
        _register_source(step.filename, step.cell_text if step.cell_text else
                         "\n" * step.line_offset + step.code)
        t0 = time.perf_counter()
        shown: list = []
        try:
            with self.io.capture() as shown:
                if step.sql is not None:
                    ns[step.outputs[0]] = self._run_sql(step, {i: ns[i] for i in refs_in})
                else:
                    self._exec_python(step, ns, shown)
        except KeyboardInterrupt:
            self.failures[name] = (key, "interrupted")
            self._emit({"type": "state", "step": name, "state": "failed", "error": "interrupted"})
            raise
        except StepFailed:
            raise
        except Exception as e:  # noqa: BLE001 - the user's code may raise anything
            raise _step_failed(step, e) from None
        finally:
            self.running.discard(name)
        duration = time.perf_counter() - t0
        for i, tok in tokens.items():
            if i in passed or tok is None or i in step.outputs or inplace.token(ns.get(i)) == tok:
                continue
            # changed in place in a way the code does not show: the steps below are wired to
            # the earlier version, so handing it on would be wrong, and so would be hiding it
            self._values.pop(refs_in[i].oid, None)
            raise Nb2pipeError(f"step `{name}` changed its input `{i}` in place, in a way nb2pipe"
                               " could not see from its code, so the steps below would not get the"
                               " change", where=_label(step),
                               fix=f"assign it explicitly (`{i} = ...`) so the change is a new version"
                                   f" of `{i}`, or work on a copy (`{i} = {i}.copy()`)")
        missing = [o for o in step.outputs if o not in ns]
        if missing:
            raise Nb2pipeError(f"step `{name}` did not assign {', '.join(f'`{m}`' for m in missing)}"
                               " (a branch that skipped the assignment?)", where=_label(step),
                               fix="make sure every output is assigned on every path")
        outputs: dict[str, ObjectRef] = {}
        for i in passed:
            changed = tokens[i] is None or inplace.token(ns[i]) != tokens[i]
            ref = self._put(step, i, ns[i]) if changed else refs_in[i]
            if ref.oid != refs_in[i].oid:
                self._warn(f"nb2pipe: step `{name}` changed `{i}` in place; the steps below it get the"
                           " changed version")
            outputs[i] = ref
        for o in step.outputs:
            outputs[o] = self._put(step, o, ns[o])
            if outputs[o].codec in ("arrow", "npy"):
                self._values[outputs[o].oid] = ns[o]
        broken = [v for o, r in outputs.items()
                  for v in contracts.violations(name, o, self.contracts.get(name, {}).get(o, {}), r)]
        if broken:
            raise Nb2pipeError("output contract violated: " + "; ".join(broken), where=_label(step),
                               fix="fix the step so its output keeps its type and columns, or re-export"
                                   " the pipeline from the notebook to accept the new schema")
        now = time.time()
        res = Result(key, comps, outputs, duration, now)
        entry = {"step": name, "components": comps, "duration": duration, "finished": now,
                 "outputs": {o: r.to_json() for o, r in outputs.items()}}
        if shown:
            entry["display"] = self.store.put(capture.trim(shown)).to_json()
        self.store.put_entry(key, entry)
        self.store.put_last(name, {"key": key, "finished": now, "duration": duration}, self.pipeline)
        old = self.results.get(name)
        self.results[name] = res
        if old is not None:
            self._forget_values(old)
        if step.spec.saves:
            self._save(step, ns)
        self._publish({o: ns[o] for o in outputs})
        self._emit({"type": "state", "step": name, "state": "fresh", "cached": False,
                    "duration": duration})
        return res

    def _damage(self, entry: dict) -> list[str]:
        """Why a cached entry's outputs cannot be served: missing or damaged objects (a stat
        for objects verified before, a hash otherwise)."""
        out = []
        for o, d in entry["outputs"].items():
            problem = self.store.check(ObjectRef.from_json(d))
            if problem:
                out.append(f"output `{o}` {problem}; it will be recomputed")
        return out

    def _exec_python(self, step: StepDef, ns: dict, shown: list) -> None:
        """Run a step's code as a cell runs: the value of a last bare expression is shown."""
        import ast
        tree = _offset_tree(step.code, step.line_offset)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, step.filename, "exec"), ns)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), step.filename, "eval"), ns)
            self.io.result(value, shown)

    def _replay(self, name: str, entry: dict) -> None:
        """Show again what the step showed when it ran: prints, figures, last value."""
        if "display" not in entry:
            return
        try:
            outputs = self.store.get(ObjectRef.from_json(entry["display"]))
            if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
                raise ValueError("not a list of outputs")
            self.io.replay(outputs)
        except (ValueError, KeyError, TypeError, CorruptObjectError) as e:
            self._warn(f"nb2pipe: the outputs `{name}` showed when it ran cannot be shown again ({e})")

    def _put(self, step: StepDef, name: str, value: Any) -> ObjectRef:
        try:
            return self.store.put(value)
        except StoreError as e:
            raise Nb2pipeError(f"output `{name}` of step `{step.name}`: {e.what}", where=_label(step),
                               fix=e.fix) from None

    def _run_sql(self, step: StepDef, tables: dict[str, Any]):
        from . import sql
        if getattr(self, "_duck", None) is None:
            import duckdb
            self._duck = duckdb.connect()
            self._duck.execute("SET file_search_path = " + _sql_string(self.project_dir))
        missing = [p for p in step.sql.params if p not in self.defs.params]
        if missing:
            raise Nb2pipeError(f"SQL step `{step.name}` uses parameter {{{{ {missing[0]} }}}}, which is not"
                               " defined", where=_label(step), fix="define it in a %%params cell")
        try:
            return sql.run(self._duck, step.sql, tables, self.defs.params)
        except Exception as e:  # noqa: BLE001 - duckdb.Error and friends
            line = sql.error_line(str(e), step.sql.query)
            where = _label(step) + (f", line {line + step.line_offset}" if line else "")
            raise StepFailed(step.name, e, where=where, traceback_text=str(e) + "\n") from None

    def _save(self, step: StepDef, values: dict[str, Any]) -> None:
        """``--save out=path``: also write a table output as Parquet, atomically."""
        from .codecs import to_arrow, type_tag
        import pyarrow.parquet as pq
        for out, path in step.spec.saves:
            value = values[out]
            tag = type_tag(value)
            try:
                table = to_arrow(value, tag)
            except TypeError:
                raise Nb2pipeError(f"--save {out}=... of step `{step.name}`: `{out}` is a {tag}, not a"
                                   " table", where=_label(step), fix="save only table outputs") from None
            if "://" in path:
                import fsspec
                with fsspec.open(path, "wb") as f:
                    pq.write_table(table, f)
                continue
            full = os.path.join(self.project_dir, path)
            os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
            tmp = f"{full}.tmp-{os.getpid()}"
            pq.write_table(table, tmp)
            os.replace(tmp, full)

    def _forget_values(self, replaced: Result) -> None:
        """Drop in-memory values of a replaced result unless a current result still uses them."""
        live = {r.oid for res in self.results.values() for r in res.outputs.values()}
        for r in replaced.outputs.values():
            if r.oid not in live:
                self._values.pop(r.oid, None)

    def _load(self, ref: ObjectRef) -> Any:
        """A value for one consumer: shared when immutable or copy-on-write,
        decoded afresh when it is a plain Python object (so mutation stays local)."""
        if ref.codec in ("json", "pickle"):
            return self.store.get(ref)
        value = self._values.get(ref.oid)
        if value is None:
            value = self.store.get(ref)
            self._values[ref.oid] = value
        if ref.type in ("pandas.DataFrame", "pandas.Series"):
            return value.copy(deep=not _pandas_cow())
        return value

    def values_of(self, name: str) -> dict[str, Any]:
        """Load the last outputs of a step (e.g. to show them)."""
        res = self._last_result(name)
        if res is None:
            raise Nb2pipeError(f"step `{name}` has no stored result yet", fix=f"run `{name}` first")
        return {o: self._load(r) for o, r in res.outputs.items()}


# ------------------------------------------------------------ helpers

def _label(step: StepDef) -> str:
    return f"step `{step.name}`" + (f", {step.where}" if step.where else "")


def _summary(ref: ObjectRef) -> dict:
    m = ref.meta or {}
    if ref.codec == "arrow":
        return {"rows": m.get("rows"), "columns": m.get("columns"), "schema": m.get("schema"),
                "nbytes": ref.nbytes}
    if ref.codec == "npy":
        return {"shape": m.get("shape"), "dtype": m.get("dtype"), "nbytes": ref.nbytes}
    return {"nbytes": ref.nbytes}


def _offset_tree(code: str, line_offset: int):
    import ast
    tree = ast.parse(code)
    if line_offset:
        ast.increment_lineno(tree, line_offset)
    return tree


def _register_source(filename: str, text: str) -> None:
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)


def _step_failed(step: StepDef, exc: Exception) -> StepFailed:
    tb = exc.__traceback__
    frames = traceback.extract_tb(tb)
    start = next((i for i, f in enumerate(frames) if f.filename == step.filename), 0)
    line = next((f.lineno for f in reversed(frames) if f.filename == step.filename), None)
    tb_text = "".join(traceback.format_list(frames[start:])) + "".join(
        traceback.format_exception_only(type(exc), exc))
    where = _label(step) + (f", line {line}" if line else "")
    return StepFailed(step.name, exc, where=where, traceback_text=tb_text)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _as_table(value: Any, kind: str) -> Any:
    from .codecs import type_tag
    tag = type_tag(value)
    if kind == "pandas" and tag.startswith("pyarrow."):
        return value.to_pandas()
    if kind == "arrow" and tag == "pandas.DataFrame":
        import pyarrow as pa
        return pa.Table.from_pandas(value)
    return value


def _pandas_cow() -> bool:
    pd = sys.modules.get("pandas")
    try:
        return int(pd.__version__.split(".")[0]) >= 3
    except Exception:  # noqa: BLE001
        return False


def _user() -> str:
    try:
        import getpass
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return "unknown"
