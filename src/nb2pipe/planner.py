"""Planning: a step's key components, the cache lookup, and why a step is stale.

One code path serves ``plan()`` (status, the sidebar, headless planning) and running: a
step's key is made from its code, setup, modules, parameters, sources and the data
versions its inputs have in the versions of their producers (notebook order).
"""
from __future__ import annotations

import os
from typing import Callable, Iterable, NamedTuple

from . import filerefs, keys
from .errors import Nb2pipeError
from .fingerprint import secret_fingerprint, value_fingerprint
from .errors import did_you_mean
from .graph import Graph
from .saves import missing_saves
from .results import Result, StepStatus, label, summary
from .steps import StepDef


class KeyParts(NamedTuple):
    """What the definitions decide about one step's key (see :meth:`Planner._key_parts`)."""
    fixed: dict                        # components fixed by the definitions
    params: tuple[str, ...]            # parameters read
    modules: tuple[str, ...]           # modules used
    inputs: tuple[str, ...]            # names taken from steps above
    own: tuple[str, ...]               # --src paths and the files a query reads
    opened: tuple[tuple[str, str], ...]   # (path, full path): files the code opens, if they exist


class Fresh(NamedTuple):
    """Why a step was fresh when :meth:`Planner.stale_upstream` last looked."""
    step: StepDef                      # its definition then (the same object now)
    key: str
    entry: dict                        # the store's entry of ``key`` then (the same object now)
    inputs: dict                       # input -> the version its key was made from
    files: dict | None                 # its module and source files' parts, if it has any


class Planner:
    """Mixed into :class:`~nb2pipe.engine.Engine`: reads definitions, results and the store."""

    # ------------------------------------------------------------ keys
    def lookup(self, step: StepDef, graph: Graph, parents: dict[str, Result], *,
               entry: bool = True) -> tuple[dict, str, dict | None]:
        """The one path from a definition to its cached result, taken by ``plan()`` and by
        running: the step's key components and key, made from its definition and the
        versions its inputs have in ``parents`` (producer -> result), and the store's entry
        of that key (None: none stored, or not looked up when ``entry`` is False).  Raises
        :class:`Nb2pipeError` when the key cannot be made (an input not produced)."""
        parts = self._key_parts(step)
        comps, key = self._keyed(step, parts, self._input_versions(step, parents, graph, parts))
        found = self.store.get_entry(key) if entry else None
        if found is not None and self._indexed_keys and step.name in self._indexed_keys:
            self._indexed_keys.discard(step.name)
            if found.get("components") != comps:   # taken from the index for other components
                key = keys.make_key(comps)
                self._keys[step.name] = (comps, key)
                found = self.store.get_entry(key)
        return comps, key, found

    def components(self, step: StepDef, input_versions: dict[str, str]) -> dict:
        return self.keyed(step, input_versions)[0]

    def keyed(self, step: StepDef, input_versions: dict[str, str]) -> tuple[dict, str]:
        """The step's key components and key.  What its definition decides is kept per
        (definition, ``defs.context``); what can change without any definition changing
        (its inputs' versions, parameter values, module and source files) is looked at each
        time, and the key is hashed again only when the components differ."""
        return self._keyed(step, self._key_parts(step), input_versions)

    def _keyed(self, step: StepDef, parts: "KeyParts", input_versions: dict[str, str]) -> tuple[dict, str]:
        comps = {**parts.fixed,
                 "inputs": {i: input_versions[i] for i in sorted(input_versions)},
                 "params": {p: self._param_fingerprint(step, p) for p in parts.params},
                 **self._file_parts(step, parts)}
        last = self._keys.get(step.name)
        if last is None:       # a new session: the key the notebook's index has for these components
            last = self.store.indexed_key(self.pipeline, step.name)
            if last is not None and last[0] == comps:
                self._keys[step.name] = last
                self._indexed_keys.add(step.name)      # its entry's components are checked once
                return last
        elif last[0] == comps:
            return last
        self._indexed_keys.discard(step.name)
        self._keys[step.name] = (comps, keys.make_key(comps))
        return self._keys[step.name]

    def _file_parts(self, step: StepDef, parts: "KeyParts | None" = None) -> dict:
        """The key components that are files: local modules used and sources read."""
        parts = parts or self._key_parts(step)
        if not (parts.modules or parts.own or parts.opened):
            return {"modules": {}, "srcs": {}}
        module_fps: dict[str, str] = {}
        for mod in parts.modules:
            fp = self.hasher.module(mod, self.project_dir)
            if fp is not None:
                module_fps[mod] = fp
        return {"modules": module_fps,
                "srcs": {s: self.hasher.source(s, self.project_dir, step.name)
                         for s in self._sources(parts)}}

    def _key_parts(self, step: StepDef) -> "KeyParts":
        """What the definitions decide about a step's key, kept per (definition, context)."""
        d = self.defs
        hit = self._parts.get(step.name)
        if hit is not None and hit[1] == d.context and hit[0].same_code(step):
            return hit[2]
        node = self._node(step)          # the graph's: inputs and outputs derived once
        extra = {"expects": list(step.spec.expects)} if step.spec.expects else {}
        fixed = {**extra,                # --expect: a result is good only if they held
                 "kind": "sql" if step.spec.sql else "python",
                 "code": step.code_hash,
                 "outputs": sorted(node.outputs if node else d.outputs_of(step)),
                 "setup": d.setup_hashes_for(step)}
        params = tuple(sorted(p for p in set(step.external_reads())
                              if p in d.params and p not in d.credential_params)) if d.params else ()
        inputs = node.inputs if node else d.inputs_of(step)
        own, opened = self._source_candidates(step, inputs)
        parts = KeyParts(fixed, params, tuple(sorted(d.modules_for(step))), inputs, own, opened)
        self._parts[step.name] = (step, d.context, parts)
        return parts

    def _node(self, step: StepDef):
        """The current graph's node of ``step`` (its inputs and outputs as the graph has
        them), or None when ``step`` is not the current definition or there is no graph."""
        if self.defs.steps.get(step.name) is not step:
            return None
        try:
            graph = self.defs.graph()
        except Nb2pipeError:
            return None
        return graph[step.name] if step.name in graph else None

    def sources_of(self, step: StepDef) -> tuple[str, ...]:
        """``--src`` paths, files a SQL query reads, and files the code opens by a literal path
        that exist in the project now, except those a step above writes (its output)."""
        return self._sources(self._key_parts(step))

    @staticmethod
    def _sources(parts: "KeyParts") -> tuple[str, ...]:
        if not parts.opened:
            return parts.own
        return parts.own + tuple(rel for rel, full in parts.opened if os.path.isfile(full))

    def _source_candidates(self, step: StepDef, inputs: tuple[str, ...]) -> tuple[tuple, tuple]:
        """(the step's own sources, (path, full path) of the files its code opens that are
        sources if they exist): what the definitions decide of :meth:`sources_of`."""
        if not (step.sources or step.info.files.paths):
            return (), ()                        # most steps: no file named, none opened
        made = set(inputs)                       # files a step above writes: inputs, not sources
        own = step.spec.srcs + tuple(p for p in step.sources[len(step.spec.srcs):]   # a query's files
                                     if filerefs.name_of(p) not in made)
        opened: dict[str, str] = {}
        for p in step.info.files.paths:
            full = os.path.normpath(os.path.join(self.project_dir, p))
            if (p not in step.sources and filerefs.name_of(p) not in made
                    and full.startswith(self.project_dir + os.sep)):
                opened.setdefault(os.path.relpath(full, self.project_dir).replace(os.sep, "/"), full)
        return own, tuple(opened.items())

    def _param_fingerprint(self, step: StepDef, name: str) -> str:
        value = self.defs.params[name]
        try:
            return (secret_fingerprint(name, value) if name in self.defs.secret_params
                    else value_fingerprint(value))
        except TypeError as e:
            raise Nb2pipeError(f"parameter `{name}`, read by step `{step.name}`, cannot be part of a"
                               f" cache key: {e}", where=label(step),
                               fix="give it a plain value: a number, string, list, dict, set, date,"
                                   " numpy array, or a dataclass of those") from None

    def _input_versions(self, step: StepDef, parent_results: dict[str, Result], graph: Graph,
                        parts: "KeyParts | None" = None) -> dict:
        out = {}
        name = step.name
        for i in (parts or self._key_parts(step)).inputs:
            producer = graph.source(name, i)
            res = parent_results.get(producer)
            ref = res.outputs.get(i) if res is not None else None
            if ref is not None:
                out[i] = ref.version
                continue
            if res is not None:             # the producer ran but did not store it
                raise Nb2pipeError(
                    f"step `{step.name}` needs `{i}`, which step `{producer}` made but did not store"
                    " (a value nb2pipe cannot store, such as a function, or a branch that did not"
                    " assign it)", where=label(step),
                    fix=f"define `{i}` in a %%setup cell if it is a function or a constant, or make"
                        f" `{producer}` assign it plain data on every path")
            raise Nb2pipeError(f"step `{step.name}` needs `{i}`, which has not been produced yet",
                               where=label(step), fix=f"run `{producer}` first, or `%dag run {step.name}`")
        return out

    def _last_result(self, name: str) -> Result | None:
        if name in self.results:
            return self.results[name]
        last = self.store.get_last(name, self.pipeline)
        if last and last.get("key"):
            entry = self.store.get_entry(last["key"])
            if entry:
                res = self._result(entry)
                self.results[name] = res
                return res
        return None

    def _result(self, entry: dict) -> Result:
        """The entry as a Result, parsed once per entry read from the store."""
        hit = self._entry_results.get(entry["key"])
        if hit is None or hit[0] is not entry:
            hit = self._entry_results[entry["key"]] = (entry, Result.from_entry(entry))
        return hit[1]

    def _damage(self, res: Result, step: StepDef | None = None) -> list[str]:
        """Why a cached result cannot be served: missing or damaged objects (a stat for
        objects verified before, a hash otherwise), or a --save file that is gone."""
        out = []
        for o, ref in res.outputs.items():
            problem = self.store.check(ref)
            if problem:
                out.append(f"output `{o}` {problem}; it will be recomputed")
        if step is not None and step.spec.saves:
            out += missing_saves(step.spec.saves, self.project_dir)
        return out

    # ------------------------------------------------------------ planning
    def plan(self, graph: Graph | None = None, names: Iterable[str] | None = None) -> dict[str, StepStatus]:
        """The state of every step (or of ``names``, which must be closed under ancestry),
        computed from definitions and the store only."""
        self.plan_count += 1                     # plans made by this engine (an honest counter)
        graph = graph or self.graph()
        self._learned_listed = None              # definitions after a plan list learned/ again
        self.store.load_index(self.pipeline)     # opens the plan: an object is stat'ed once
        states: dict[str, tuple] = {}
        try:
            states = self._states(graph, names)
        finally:                                 # closes it, even when planning failed
            self.store.save_index(self.pipeline, [s[2] for s in states.values() if s[2]])
        out: dict[str, StepStatus] = {}
        for name, (state, reasons, key, res) in states.items():
            step = self.defs.steps[name]
            fail = self.failures.get(name)
            shown = res or self.results.get(name)
            out[name] = StepStatus(
                step=name, state=state, reasons=reasons, key=key,
                duration=shown.duration if shown else None,
                finished=shown.finished if shown else None,
                where=step.where, cell_id=step.cell_id,
                inputs=graph[name].inputs, outputs=step.outputs,
                summaries={k: {"type": r.type, **summary(r)} for k, r in shown.outputs.items()} if shown else {},
                error=fail[1] if fail else None)
        return out

    def _states(self, graph: Graph, names: Iterable[str] | None = None,
                known: "Callable[[str], tuple | None] | None" = None) -> dict[str, tuple]:
        """name -> (state, reasons, key, cached result or None), in order.  ``known``: a
        step's state when it is known without a lookup (fresh), else None."""
        out: dict[str, tuple] = {}
        resolved: dict[str, Result] = {}
        for name in (graph.order if names is None else names):
            hit = known(name) if known is not None else None
            if hit is not None:
                out[name] = hit
                resolved[name] = hit[3]
                continue
            state, reasons, key, res = self._state(name, graph, resolved, out)
            if res is not None:
                resolved[name] = res
            fail = self.failures.get(name)
            if fail and state != "fresh" and (fail[0] is None or fail[0] == key):
                state = "failed"
            if name in self.running:
                state = "running"
            out[name] = (state, reasons, key, res)
        return out

    def _state(self, name: str, graph: Graph, resolved: dict[str, Result], out: dict) -> tuple:
        step = self.defs.steps[name]
        if name in graph.missing:
            return "blocked", [f"needs `{i}`, which no step produces" for i in graph.missing[name]], None, None
        bad = [p for p in graph.parents(name) if p not in resolved]
        if bad:
            if self._last_result(name) is None and name not in self.results:
                return "never run", [], None, None
            return "stale", [f"upstream `{p}` is {out[p][0]}" for p in bad], None, None
        try:
            comps, key, entry = self.lookup(step, graph, resolved)
        except Nb2pipeError as e:
            return "blocked", [e.what], None, None
        res = self._result(entry) if entry else None
        damage = self._damage(res, step) if res and step.spec.cache else []
        if res and step.spec.cache and not damage:
            return "fresh", [], key, res
        if damage:
            return "stale", damage, key, None
        last = self._last_result(name)
        if last is None:
            return "never run", [], key, None
        return "stale", ["--no-cache"] if entry else keys.explain(last.components, comps), key, None

    def stale_upstream(self, graph: Graph, name: str) -> list[str]:
        """The ancestors of ``name`` that are not fresh, in order (a cell's note).  A step
        found fresh is remembered (:class:`Fresh`) while nothing its state was derived from
        changes: the key-part context, the store, failures and running steps and parameter
        values for all; per step its definition, the entry of its key as the store holds it
        now, the versions of its inputs in its producers' entries, and its module and source
        files (looked at again).  When every ancestor's memory holds, no key is made and no
        entry looked up: a new cell below a fresh pipeline costs its ancestors' count in
        dictionary reads, not a plan of them."""
        try:
            token = (self.defs.context, id(self.store), tuple(self.failures.items()),
                     frozenset(self.running),
                     tuple((p, self._param_fingerprint(self.defs.steps[name], p))
                           for p in sorted(self.defs.params) if p not in self.defs.credential_params))
        except Nb2pipeError:
            token = None                  # a parameter with no fingerprint: nothing is kept
        if token is None or token != self._fresh_token:
            self._fresh_seen, self._fresh_token, self._all_fresh = {}, token, {}
        # the same cell run again with nothing changed: what it found is still so
        when = (self.defs.version, self.entry_writes)
        hit = self._all_fresh.get(name)
        if hit is not None and hit[0] == when and all(
                self._file_parts(self.defs.steps[p]) == files for p, files in hit[1]):
            return []
        up = graph.upto(*graph.parents(name))
        seen = self._fresh_seen
        held: set[str] = set()

        def known(p: str) -> tuple | None:
            if not self._still_fresh(p, graph, seen):
                seen.pop(p, None)         # its dependents below are not known fresh either
                return None
            held.add(p)
            return "fresh", [], seen[p].key, self._result(seen[p].entry)
        states = self._states(graph, up, known)
        stale = [p for p in up if states[p][0] != "fresh"]
        for p in up:
            if p in held:
                continue
            state, _, key, res = states[p]
            last = self._keys.get(p)
            if token is None or state != "fresh" or res is None or last is None or last[1] != key:
                seen.pop(p, None)
                continue
            step = self.defs.steps[p]
            files = self._file_parts(step)
            seen[p] = Fresh(step, key, self.store.get_entry(key), dict(last[0]["inputs"]),
                            files if files["modules"] or files["srcs"] or step.info.files.paths else None)
        if not stale and token is not None and all(p in seen for p in up):
            self._all_fresh[name] = (when, [(p, seen[p].files) for p in up if seen[p].files is not None])
        return stale

    def _still_fresh(self, name: str, graph: Graph, seen: dict) -> bool:
        """Does what made ``name`` fresh (its :class:`Fresh`) still hold?  Its producers are
        asked first (``up`` is in order), so their entries are the ones checked here."""
        hit = seen.get(name)
        if hit is None or hit.step is not self.defs.steps.get(name):
            return False
        if self.store.get_entry(hit.key) is not hit.entry:   # written again (a forced run), or gone
            return False
        for i, version in hit.inputs.items():
            producer = seen.get(graph.source(name, i))
            ref = self._result(producer.entry).outputs.get(i) if producer is not None else None
            if ref is None or ref.version != version:
                return False
        return hit.files is None or self._file_parts(hit.step) == hit.files

    def status(self) -> list[StepStatus]:
        return list(self.plan().values())

    def _missing_error(self, graph: Graph, step: StepDef) -> Nb2pipeError:
        parts = []
        for m in graph.missing[step.name]:
            below = graph.below.get((step.name, m))
            parts.append(f"`{m}`, which only step `{below}` below it writes" if below else
                         f"`{m}`, which no step above it writes"
                         + did_you_mean(m, set(graph.producer) - {m}))
        return Nb2pipeError(
            f"step `{step.name}` reads " + "; ".join(parts), where=label(step),
            fix="run the cell of the step that writes it first, keeping it above this one (Run All"
                " runs them in order), or correct the name")
