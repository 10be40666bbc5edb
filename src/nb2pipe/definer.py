"""The engine's definitions: %%setup cells, parameters and steps as the cells define them
(a mixin of :class:`nb2pipe.engine.Engine`; no IPython here)."""
from __future__ import annotations

import builtins
from typing import Any, Iterable

from . import readcheck
from .analysis import analyze
from .errors import Nb2pipeError
from .executor import _offset_tree, _register_source
from .protocol import GraphChanged
from .spec import StepSpec
from .steps import SetupCell, StepDef, make_step


class Definer:
    """Adds, replaces and forgets definitions; each change is announced (GraphChanged)."""

    analysis_cache = None      # an AnalysisCache the code's analyses come from (headless planning)

    def run_setup(self, code: str, *, cell_id: str | None = None, where: str = "",
                  line_offset: int = 1, execute: bool = True) -> tuple[str, ...]:
        """Execute a %%setup cell; its definitions become available to every step.
        ``execute=False`` only records it (planning a headless run)."""
        info = (self.analysis_cache.python if self.analysis_cache is not None else analyze)(
            code, filename=f"%%setup {where}".strip(), line_offset=line_offset)
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
        code = step.info.definitions if step.sql is None else ""
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
        self.defs.set_params(params, secret, credential)
        self._publish(dict(params))
        self._emit(GraphChanged())
        return params

    def define(self, spec: StepSpec, code: str, *, cell_id: str | None = None, where: str = "",
               line_offset: int = 1, cell_text: str = "", validate: bool = True) -> StepDef:
        """Add or replace a step.  Nothing changes if the new definition is invalid.
        ``validate=False`` (headless planning, which defines every step of a notebook and then
        checks the whole graph once) skips the checks of its reads and outputs."""
        step = make_step(spec, code, cell_id=cell_id, where=where, line_offset=line_offset,
                         cell_text=cell_text, analysis=self.analysis_cache)
        if validate:                      # else: check_all_reads() once all steps are defined
            readcheck.check_reads(self.defs, step, self._provenance)
        learned = self._learned_for(step.code_hash) if step.sql is None else []
        if learned:
            self.defs.set_learned(spec.name, step.code_hash, learned)
        steps, how = self._with_step(step)
        if validate:
            self.defs.check(steps, step if how == "append" else None)   # GraphError: every problem
        if how == "append":               # a new cell at the end, nothing replaced: O(the step)
            self.defs.append(steps)
        elif how == "replace":            # a cell run again: its place is kept
            self.defs.replace(step)
        else:
            for gone in set(self.defs.steps) - set(steps):
                self.forget(gone, emit=False)
            self.defs.steps = steps
        self._hoist_definitions(step)
        for name in readcheck.unread_declared(step):
            self._warn(f"nb2pipe: step `{step.name}` declares --in {name} but never reads it")
        if not step.spec.srcs and (step.name, step.code_hash) not in self._told:
            self._told.add((step.name, step.code_hash))
            for line, call in step.info.files.unresolved:
                self._warn(f"nb2pipe: step `{step.name}` line {line - step.line_offset} reads a file"
                           f" whose path is computed (`{call}`), so its changes cannot be tracked;"
                           f" add `--src PATH` to the %%step line to track it")
        self._emit(GraphChanged())
        return step

    def _with_step(self, step: StepDef) -> tuple[dict[str, StepDef], str]:
        """The steps with ``step`` added, or replacing the step of the same name or cell (a
        redefined or renamed cell keeps its place), in the notebook's cell order; and how:
        "replace" (the same cell run again), "append" (a new cell at the end) or "walk"."""
        current = self.defs.steps
        old = current.get(step.name)
        if old is not None and old.cell_id == step.cell_id:
            return {**current, step.name: step}, "replace"     # its place is kept
        if old is None and not self.cell_order and (
                not step.cell_id or step.cell_id not in self.defs.cell_ids()):
            return {**current, step.name: step}, "append"      # no walk
        steps: dict[str, StepDef] = {}
        for n, s in current.items():
            if n == step.name or (step.cell_id and s.cell_id == step.cell_id):
                steps.setdefault(step.name, step)
            else:
                steps[n] = s
        steps.setdefault(step.name, step)
        return self._in_cell_order(steps), "walk"

    def check_all_reads(self) -> None:
        """What define() checks per step, for every step at once (after define(validate=False))."""
        for step in self.defs.steps.values():
            readcheck.check_reads(self.defs, step, self._provenance)

    def _learned_for(self, code_hash: str) -> list[str]:
        """learned/<hash>.json, read once per code hash (a cell re-run with the same code, or
        a store switched by %nb2pipe env/store, does not read it again; this engine's own
        learning updates the memo)."""
        if code_hash not in self._learned:
            if not self.execute_definitions:      # planning a notebook: one listing, not a read
                if self._learned_listed is None:   # per step (taken again after each plan)
                    self._learned_listed = self.store.learned_hashes()
                if code_hash not in self._learned_listed:
                    return []
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
