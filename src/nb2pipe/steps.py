"""Definitions the engine works from: steps, setup cells, parameters.

:class:`Definitions` holds the current set of parsed steps (:mod:`nb2pipe.stepdef`) and
turns them into a validated :class:`~nb2pipe.graph.Graph`, resolving each step's inputs
against setup names and parameters.
"""
from __future__ import annotations

import operator
from typing import Any, Callable, Iterable, Mapping

from . import filerefs
from .errors import GraphError, did_you_mean
from .graph import Graph, Node
from .setupuse import SetupUse
from .stepdef import ALWAYS_AVAILABLE, SetupCell, StepDef, make_step  # noqa: F401 - re-exported

# builtins that can change what they are given
_MUTATING_BUILTINS = frozenset({"setattr", "delattr", "exec", "eval", "vars", "next", "iter"})


class Definitions(SetupUse):
    """The steps, setup cells and parameters currently known.  Not thread-safe;
    one per engine (no module-level state)."""

    def __init__(self, local_module: Callable[[str], bool] = lambda module: False) -> None:
        # version: bumped on any change of what the definitions say (steps, setup cells,
        # parameters, learned in-place changes); every derived map and the graph are kept
        # for one version.  context: bumped only on changes that can change a step's key
        # parts other than through its own definition (the order of the steps, the names
        # they write, setup cells, parameters' names, learned changes): a step's key parts
        # are kept for (its definition, context), see Planner.components
        self.version = 0
        self.context = 0
        self._derived: tuple[int, dict] = (-1, {})   # (version, maps derived from that version)
        self._candidate: tuple = (None, frozenset())  # (steps being checked, names they write)
        self._steps: dict[str, StepDef] = {}      # in notebook order
        self.local_module = local_module          # module name -> is it project code?
        self.setup: dict[str, SetupCell] = {}     # change them with set_setup / drop_setup
        self.setup_owner: dict[str, str] = {}   # setup name -> cell key
        self._params: dict[str, Any] = {}
        self.secret_params: frozenset[str] = frozenset()      # never shown (secrets and credentials)
        self.credential_params: frozenset[str] = frozenset()  # never shown, and not part of keys
        # step -> (code hash, inputs it was seen changing in place though its code does not
        # show it): they are passed on like the ones the code shows.  Change with set_learned
        self._learned: dict[str, tuple[str, frozenset[str]]] = {}

    # -- changes (each bumps the version the derived maps are kept for)
    @property
    def steps(self) -> dict[str, StepDef]:
        return self._steps

    @steps.setter
    def steps(self, steps: dict[str, StepDef]) -> None:
        old = self._steps
        if self._same_code(steps, old):
            self._steps = steps
            return                     # the same definitions: nothing derived changes
        added = next(reversed(steps.values())) if self._appended(old, steps) else None
        reaches = added is None or self._reaches_above(added)      # asked of the old steps
        self._steps = steps
        if reaches and (list(old) != list(steps) or any(
                s is not old[n] and s.outputs != old[n].outputs for n, s in steps.items())):
            self.context += 1          # the order or the written names changed
        version, derived = self._derived
        self.version += 1
        if version == self.version - 1 and added is not None:
            self._derived = (self.version, self._extended(derived, added, reaches))

    def append(self, steps: dict[str, StepDef]) -> None:
        """Make ``steps`` the steps when it is the current ones and one new step at the end
        (the caller knows: a new name in a new cell).  Nothing is compared with the steps
        already there, and the derived maps that only grow are extended: adding a step costs
        the step, not the steps."""
        step = next(reversed(steps.values()))
        reaches = self._reaches_above(step)
        self._steps = steps
        if reaches:
            self.context += 1          # the names the steps above take from steps changed
        version, derived = self._derived
        self.version += 1
        if version == self.version - 1:
            self._derived = (self.version, self._extended(derived, step, reaches))

    def _reaches_above(self, step: StepDef) -> bool:
        """Can ``step``, added below the current steps, change what one of them takes from
        the others (so its node and key parts)?  Only by writing a name none of them writes
        that one of them reads: that read becomes an input (from below: a problem).  Adding
        any other step leaves every step above as it was, so their key parts are kept."""
        new = set(step.outputs) - self._written(self._steps)
        return bool(new) and not new.isdisjoint(self._reads())

    def _reads(self) -> set[str]:
        """Every name a current step reads (builtins too)."""
        return self._memo("reads", lambda: {r for s in self._steps.values() for r in s.info.reads})

    def replace(self, step: StepDef) -> None:
        """Put ``step`` in the place of the step of its name (the same cell run again)."""
        old = self._steps[step.name]
        self._steps = {**self._steps, step.name: step}
        if old.same_code(step):
            return                     # the same definition: nothing derived changes
        self.version += 1
        if step.outputs != old.outputs:
            self.context += 1

    @staticmethod
    def _appended(old: dict[str, StepDef], steps: dict[str, StepDef]) -> bool:
        """``steps`` is ``old`` and one more step at the end."""
        return (len(steps) == len(old) + 1 and next(reversed(steps)) not in old
                and list(old) == list(steps)[:-1]
                and all(map(operator.is_, old.values(), steps.values())))

    def _extended(self, derived: dict, step: StepDef, reaches: bool = True) -> dict:
        """The derived maps that only grow when a step is added at the end, with it added;
        the others (graph) are derived again when asked for.  The steps' inputs and nodes are
        kept when the step does not reach above (:meth:`_reaches_above`)."""
        out = {k: derived[k] for k in ("positions", "definers") if k in derived}
        if not reaches:
            out.update((k, derived[k]) for k in ("inputs", "nodes") if k in derived)
            if "graph" in derived:
                out["graph above"] = derived["graph"]     # extended by the step when asked for
        if "reads" in derived:             # only ever read by _reaches_above: grown in place
            out["reads"] = derived["reads"]
            out["reads"].update(step.info.reads)
        if "cell ids" in derived:
            out["cell ids"] = derived["cell ids"] | {step.cell_id}
        if "problems" in derived:
            out["problems"] = derived["problems"] + self._problems({step.name: step})
        if "written" in derived:
            out["written"] = derived["written"] | frozenset(step.outputs)
        if "step index" in derived:
            out["step index"] = {**derived["step index"], step.name: len(derived["step index"])}
        if "writers" in derived:
            writers = dict(derived["writers"])
            for o in step.outputs:
                writers[o] = writers.get(o, []) + [step.name]
            out["writers"] = writers
        return out

    @staticmethod
    def _same_code(steps: dict[str, StepDef], old: dict[str, StepDef]) -> bool:
        return list(old) == list(steps) and all(s.same_code(old[n]) for n, s in steps.items())

    def drop_step(self, name: str) -> None:
        self.steps = {n: s for n, s in self._steps.items() if n != name}

    @property
    def params(self) -> dict[str, Any]:
        """Parameter values (read-only: change them with :meth:`set_params`)."""
        return self._params

    def set_params(self, params: dict[str, Any], secret: Iterable[str] = (),
                   credential: Iterable[str] = ()) -> None:
        credential = frozenset(credential)
        secret = frozenset(secret) | credential
        shape = (list(self._params), self.secret_params, self.credential_params)
        self._params = dict(params)    # values are looked at by each key, never memoised
        self.credential_params, self.secret_params = credential, secret
        if shape != (list(self._params), secret, credential):
            self.version += 1
            self.context += 1

    @property
    def learned(self) -> Mapping[str, tuple[str, frozenset[str]]]:
        return self._learned

    def set_learned(self, step: str, code_hash: str, names: Iterable[str]) -> None:
        new = (code_hash, frozenset(names))
        if self._learned.get(step) != new:
            self._learned[step] = new
            self.version += 1
            self.context += 1

    def set_setup(self, cell: SetupCell) -> None:
        if self.setup.get(cell.cell_key) == cell:
            return                     # re-run unchanged: keep the cell (its parsed statements)
        self.drop_setup(cell.cell_key)
        self.setup[cell.cell_key] = cell
        for n in cell.info.defines:
            self.setup_owner[n] = cell.cell_key
        self.version += 1
        self.context += 1

    def drop_setup(self, cell_key: str) -> None:
        old = self.setup.pop(cell_key, None)
        if old is None:
            return
        for n in old.info.defines:
            if self.setup_owner.get(n) == cell_key:
                del self.setup_owner[n]
        self.version += 1
        self.context += 1

    def _memo(self, what: str, build: Callable[[], Any]) -> Any:
        version, memo = self._derived
        if version != self.version:
            memo = {}
            self._derived = (self.version, memo)
        if what not in memo:
            memo[what] = build()
        return memo[what]

    # -- inputs
    def inputs_of(self, step: StepDef, steps: dict[str, StepDef] | None = None) -> tuple[str, ...]:
        """Names the step takes from steps above it.  A name no step writes at all (and no
        setup cell or parameter defines) is not an input: like a plain cell, the step then
        fails with a NameError only if that line runs (``unicode`` under ``if PY2:``)."""
        current = steps is None or steps is self._steps
        if step.spec.inputs is not None:     # declared; files a step above writes come too
            written = self._written(self._steps if current else steps)
            return step.spec.inputs + tuple(r for r in step.external_reads()
                                            if filerefs.is_file(r) and r in written)
        if current:                      # kept per version, for the step as defined now
            hit = self._memo("inputs", dict).get(step.name)
            if hit is not None and hit[0] is step:
                return hit[1]
        written = self._written(self._steps if current else steps)
        found = tuple(r for r in step.external_reads()
                      if r not in self.setup_owner and r not in self.params
                      and (r in written or (step.sql is not None and not filerefs.is_file(r))))
        if current:
            self._memo("inputs", dict)[step.name] = (step, found)
        return found

    def _written(self, steps: dict[str, StepDef]) -> frozenset[str]:
        def build() -> frozenset[str]:
            return frozenset(o for s in steps.values() for o in s.outputs)
        if steps is self._steps:
            return self._memo("written", build)
        if self._candidate[0] is not steps:          # a definition being checked
            self._candidate = (steps, build())
        return self._candidate[1]

    def passthrough(self, step: StepDef, steps: dict[str, StepDef] | None = None) -> tuple[str, ...]:
        """Inputs the step may change in place: they become outputs too (a new version of
        the name for the steps below), stored only if the step really changed them."""
        if step.sql is not None:
            return ()
        m = step.info.mutation
        learned = self.learned.get(step.name)
        seen = learned[1] if learned and learned[0] == step.code_hash else frozenset()
        out = []
        for i in self.inputs_of(step, steps):
            if i in step.outputs:
                continue
            if i in m.direct or i in seen or any(not self._library_callee(root, step)
                                                 for root in m.passed.get(i, ())):
                out.append(i)
        return tuple(out)

    def outputs_of(self, step: StepDef, steps: dict[str, StepDef] | None = None) -> tuple[str, ...]:
        """What the step hands to the steps below it: what it assigns, and the inputs it may
        change in place."""
        return step.outputs + self.passthrough(step, steps)

    def _library_callee(self, root: str, step: StepDef) -> bool:
        """A call rooted at ``root`` (``len``, ``pd.concat``) is taken not to change its
        arguments when it is a builtin or comes from an installed library; a function of the
        notebook or of a local module may."""
        if root in _MUTATING_BUILTINS:
            return False
        module = step.info.import_map.get(root)
        if module is None and root in self.setup_owner:
            module = self.setup[self.setup_owner[root]].info.import_map.get(root)
        if module is not None:
            return not self.local_module(module)
        return root in ALWAYS_AVAILABLE and root not in step.info.defines

    def cell_ids(self) -> set[str]:
        """The cells that hold a step."""
        return self._memo("cell ids", lambda: {s.cell_id for s in self.steps.values()})

    def writers(self) -> dict[str, list[str]]:
        """Name -> the steps that write it, in notebook order."""
        def build() -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for s in self.steps.values():
                for o in s.outputs:
                    out.setdefault(o, []).append(s.name)
            return out
        return self._memo("writers", build)

    def graph(self, steps: dict[str, StepDef] | None = None, *, allow_missing: bool = True) -> Graph:
        """The DAG of ``steps`` (default: the current ones), built once per version of the
        definitions; other ``steps`` are built each time."""
        if steps is None or steps is self._steps or self._same_code(steps, self._steps):
            loose = lambda: self._memo("graph", self._loose_graph)  # noqa: E731
            if allow_missing:
                return loose()
            try:                       # with nothing missing, the strict graph is the same graph
                g = loose()
                if not g.missing:
                    return g
            except GraphError:
                pass                   # the strict build lists every problem
            return self._memo("graph strict", lambda: self._build_graph(self._steps, False))
        return self._build_graph(steps, allow_missing)

    def check(self, steps: dict[str, StepDef], appended: StepDef | None = None) -> None:
        """Raise GraphError with every problem the graph of ``steps`` (missing reads allowed)
        would have, without building it: the only ones are outputs that are also setup names
        or parameters (steps are keyed by name, so none is defined twice).  ``appended``:
        ``steps`` are the current ones and this one at the end (their problems are kept per
        version, so only its own are looked for)."""
        if appended is not None:
            problems = self._memo("problems", lambda: self._problems(self._steps)) \
                + self._problems({appended.name: appended})
        else:
            problems = self._problems(steps)
        if problems:
            raise GraphError(problems, fix="fix the steps named above; all problems are listed at once")

    def _problems(self, steps: dict[str, StepDef]) -> list[str]:
        problems = []
        for s in steps.values():
            for o in s.outputs:
                if o in self.setup_owner:
                    problems.append(f"`{o}` is both an output of step `{s.name}` and defined by a"
                                    " %%setup cell; rename one")
                if o in self.params:
                    problems.append(f"`{o}` is both an output of step `{s.name}` and a parameter;"
                                    " rename one")
        return problems

    def _build_graph(self, steps: dict[str, StepDef], allow_missing: bool) -> Graph:
        problems = self._problems(steps)
        nodes = [self._node_of(s, steps) for s in steps.values()]
        try:
            g = Graph(nodes, allow_missing=allow_missing)
        except GraphError as e:
            problems += e.problems
            g = None
        if problems:
            raise GraphError(problems, fix="fix the steps named above; all problems are listed at once")
        return g

    def _loose_graph(self) -> Graph:
        """The graph of the current steps, missing reads allowed: the last one's graph with
        the step added since, when it was added below without reaching above."""
        above = self._derived[1].get("graph above")
        if above is not None and len(above) == len(self._steps) - 1:
            last = next(reversed(self._steps.values()))
            problems = self._problems({last.name: last})
            if not problems:
                return above.with_last(self._node_of(last, self._steps))
        return self._build_graph(self._steps, True)

    def _node_of(self, step: StepDef, steps: dict[str, StepDef]) -> Node:
        """The step's node in the graph of ``steps``: kept per version for the current steps
        (and across a step added below that does not reach above)."""
        if steps is not self._steps:
            return Node(step.name, self.inputs_of(step, steps), self.outputs_of(step, steps), step.where)
        memo = self._memo("nodes", dict)
        hit = memo.get(step.name)
        if hit is None or hit[0] is not step:
            hit = memo[step.name] = (step, Node(step.name, self.inputs_of(step), self.outputs_of(step),
                                                step.where))
        return hit[1]

    def did_you_mean(self, name: str) -> str:
        return did_you_mean(name, self.steps)
