"""Definitions the engine works from: steps, setup cells, parameters.

A :class:`StepDef` is a parsed ``%%step`` cell.  :class:`Definitions` holds the
current set of them and turns them into a validated :class:`~nb2pipe.graph.Graph`,
resolving each step's inputs against setup names and parameters.
"""
from __future__ import annotations

import builtins
import functools
from dataclasses import dataclass, field
from typing import Any, Callable

from .analysis import CodeInfo, analyze
from .errors import AnalysisError, GraphError, UntrackedNameError
from .fingerprint import hash_bytes
from .errors import did_you_mean
from .graph import Graph, Node
from .spec import StepSpec

# names a step may read without declaring them: Python's builtins and what
# IPython adds to them (display, get_ipython) plus module dunders.
ALWAYS_AVAILABLE = frozenset(dir(builtins)) | {"display", "get_ipython", "__name__", "__file__"}
# builtins that can change what they are given
_MUTATING_BUILTINS = frozenset({"setattr", "delattr", "exec", "eval", "vars", "next", "iter"})


@dataclass(frozen=True)
class StepDef:
    spec: StepSpec
    code: str                       # Python (or SQL) body, without the %%step line
    info: CodeInfo
    outputs: tuple[str, ...]
    cell_id: str | None = None
    where: str = ""                 # "cell [5]" as the user sees it
    line_offset: int = 1            # body line 1 is cell line 1 + line_offset
    cell_text: str = field(default="", compare=False)
    sql: Any = field(default=None, compare=False)    # SqlInfo for --sql steps

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def code_hash(self) -> str:
        return hash_bytes(self.info.normalized.encode())

    @property
    def filename(self) -> str:
        return f"<step {self.spec.name}>"

    def external_reads(self) -> tuple[str, ...]:
        if self.sql is not None:
            return self.info.reads
        return tuple(r for r in self.info.reads if r not in ALWAYS_AVAILABLE)

    @property
    def sources(self) -> tuple[str, ...]:
        """``--src`` paths, plus the files a SQL query reads."""
        return self.spec.srcs + (tuple(f for f in self.sql.files if "://" not in f) if self.sql else ())


@dataclass(frozen=True)
class SetupCell:
    cell_key: str
    code: str
    info: CodeInfo

    @property
    def code_hash(self) -> str:
        return hash_bytes(self.info.normalized.encode())

    @functools.cached_property
    def statements(self) -> tuple[dict[str, tuple[str, tuple[str, ...]]], tuple[str, ...]]:
        """({name: (hash of the statement that defines it, names that statement reads)},
        hashes of the statements that define nothing: ``pd.set_option(...)``, ``%matplotlib``).
        A step's key holds only the definitions it uses, so two cells that both say
        ``import numpy as np`` are one definition, whichever of them owns the name."""
        import ast
        defs: dict[str, tuple[str, tuple[str, ...]]] = {}
        effects: list[str] = []
        try:
            tree = ast.parse(self.code)
        except SyntaxError:
            return {}, (self.code_hash,)
        for stmt in tree.body:
            text = ast.unparse(stmt)
            info = analyze(text)
            h = hash_bytes(text.encode())
            if not info.defines:
                effects.append(h)
            for n in info.defines:
                defs[n] = (h, info.reads)
        return defs, tuple(effects)


def make_step(spec: StepSpec, code: str, *, cell_id: str | None = None, where: str = "",
              line_offset: int = 1, cell_text: str = "") -> StepDef:
    """Parse and check one step on its own (no other steps needed)."""
    label = f"step `{spec.name}`" + (f", {where}" if where else "")
    if spec.sql:
        return _make_sql_step(spec, code, label, cell_id, where, line_offset, cell_text)
    info = analyze(code, filename=label, line_offset=line_offset)
    if spec.outputs is not None:
        missing = [o for o in spec.outputs if o not in info.defines]
        if missing:
            raise AnalysisError(
                f"step `{spec.name}` declares --out {', '.join(missing)} but its code never assigns"
                f" {'it' if len(missing) == 1 else 'them'}",
                where=label,
                fix=f"assign {missing[0]} in the cell, or remove it from --out")
        outputs = spec.outputs
    else:
        outputs = tuple(w for w in info.writes if not w.startswith("_"))
    return StepDef(spec, code, info, outputs, cell_id, where, line_offset,
                   cell_text or "\n" * line_offset + code)


def _make_sql_step(spec, code, label, cell_id, where, line_offset, cell_text) -> StepDef:
    from .sql import analyze_sql, code_info
    sql = analyze_sql(code, filename=label, line_offset=line_offset)
    outputs = spec.outputs or (spec.name,)
    if len(outputs) != 1:
        raise AnalysisError(f"SQL step `{spec.name}` has one result, but --out lists {len(outputs)} names",
                            where=label, fix="give a single --out name")
    if not outputs[0].isidentifier():
        raise AnalysisError(f"SQL step name `{spec.name}` is not a Python name, so it cannot name"
                            " its result", where=label, fix="add --out NAME")
    if spec.inputs is not None:
        missing = [t for t in sql.tables if t not in spec.inputs]
        if missing:
            raise AnalysisError(f"SQL step `{spec.name}` reads table {', '.join(missing)} but --in lists"
                                f" only {', '.join(spec.inputs) or 'nothing'}", where=label,
                                fix=f"add {' '.join(missing)} to --in, or drop --in to infer it")
    return StepDef(spec, code, code_info(sql, tuple(outputs)), tuple(outputs), cell_id, where,
                   line_offset, cell_text or "\n" * line_offset + code, sql=sql)


class Definitions:
    """The steps, setup cells and parameters currently known.  Not thread-safe;
    one per engine (no module-level state)."""

    def __init__(self, local_module: Callable[[str], bool] = lambda module: False) -> None:
        self.version = 0                          # bumped on any change of the steps or setup cells
        self._derived: tuple[int, dict] = (-1, {})   # (version, maps derived from that version)
        self._candidate: tuple = (None, frozenset())  # (steps being checked, names they write)
        self.steps: dict[str, StepDef] = {}      # in notebook order
        self.local_module = local_module          # module name -> is it project code?
        self.setup: dict[str, SetupCell] = {}
        self.setup_owner: dict[str, str] = {}   # setup name -> cell key
        self.params: dict[str, Any] = {}
        self.secret_params: set[str] = set()       # never shown (secrets and credentials)
        self.credential_params: set[str] = set()   # never shown, and not part of keys
        self._graph_memo: tuple = (None, None)      # (what the graph was built from, graph)
        # step -> (code hash, inputs it was seen changing in place though its code does not
        # show it): they are passed on like the ones the code shows
        self.learned: dict[str, tuple[str, frozenset[str]]] = {}

    # -- changes (each bumps the version the derived maps are kept for)
    @property
    def steps(self) -> dict[str, StepDef]:
        return self._steps

    @steps.setter
    def steps(self, steps: dict[str, StepDef]) -> None:
        self._steps = steps
        self.version += 1

    def drop_step(self, name: str) -> None:
        del self._steps[name]
        self.version += 1

    def set_setup(self, cell: SetupCell) -> None:
        self.drop_setup(cell.cell_key)
        self.setup[cell.cell_key] = cell
        for n in cell.info.defines:
            self.setup_owner[n] = cell.cell_key
        self.version += 1

    def drop_setup(self, cell_key: str) -> None:
        old = self.setup.pop(cell_key, None)
        if old:
            for n in old.info.defines:
                if self.setup_owner.get(n) == cell_key:
                    del self.setup_owner[n]
        self.version += 1

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
        if step.spec.inputs is not None:
            return step.spec.inputs
        written = self._written(self.steps if steps is None else steps)
        return tuple(r for r in step.external_reads()
                     if r not in self.setup_owner and r not in self.params
                     and (r in written or step.sql is not None))

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

    def check_reads(self, step: StepDef, provenance: Callable[[str], str | None]) -> None:
        """Declared inputs against the code; untracked names (exploration cells)."""
        reads = step.external_reads()
        writers = self.writers()
        known = {}                   # read -> the last other step that writes it
        for r in reads:
            others = [w for w in writers.get(r, ()) if w != step.name]
            if others:
                known[r] = others[-1]
        label = f"step `{step.name}`" + (f", {step.where}" if step.where else "")
        untracked = []
        for r in reads:
            if r in self.setup_owner or r in self.params or r in known:
                continue
            if step.spec.inputs is not None and r in step.spec.inputs:
                continue
            origin = provenance(r)
            if origin is not None:
                untracked.append((r, origin))
        if untracked:
            r, origin = untracked[0]
            more = "" if len(untracked) == 1 else f" (and {', '.join(f'`{n}`' for n, _ in untracked[1:])})"
            raise UntrackedNameError(
                f"step `{step.name}` reads `{r}`{more}, defined only in {origin}, an exploration"
                " cell that production will not run",
                where=label,
                fix=f"move `{r}` into a %%params cell (a setting) or a %%setup cell (an import or"
                    f" helper), or make it the --out of a step")
        if step.spec.inputs is not None:
            undeclared = [r for r in reads if r in known and r not in step.spec.inputs]
            if undeclared:
                raise AnalysisError(
                    f"step `{step.name}` reads {', '.join(f'`{u}`' for u in undeclared)} (output of"
                    f" step `{known[undeclared[0]]}`) but --in lists only"
                    f" {', '.join(step.spec.inputs) or 'nothing'}",
                    where=label,
                    fix=f"add {' '.join(undeclared)} to --in, or drop --in to infer inputs")

    def unread_declared(self, step: StepDef) -> list[str]:
        if step.spec.inputs is None:
            return []
        return [i for i in step.spec.inputs if i not in step.info.reads]

    # -- graph
    def graph(self, steps: dict[str, StepDef] | None = None, *, allow_missing: bool = True) -> Graph:
        """The DAG of ``steps`` (default: the current ones).  It is built again only when what
        it is built from changed: the step definitions (in order), the setup cells, the
        parameters' names, the learned in-place changes.  A cell run in a session of 1,000
        steps then costs a comparison of 1,000 references, not a rebuild."""
        steps = self.steps if steps is None else steps
        sig = (tuple(steps.values()), tuple(self.setup_owner.items()), tuple(self.setup.values()),
               tuple(self.params), tuple(self.learned.items()), allow_missing)
        if self._graph_memo[0] == sig:
            return self._graph_memo[1]
        g = self._build_graph(steps, allow_missing)
        self._graph_memo = (sig, g)
        return g

    def _build_graph(self, steps: dict[str, StepDef], allow_missing: bool) -> Graph:
        problems = []
        for s in steps.values():
            for o in s.outputs:
                if o in self.setup_owner:
                    problems.append(f"`{o}` is both an output of step `{s.name}` and defined by a"
                                    " %%setup cell; rename one")
                if o in self.params:
                    problems.append(f"`{o}` is both an output of step `{s.name}` and a parameter;"
                                    " rename one")
        nodes = [Node(s.name, self.inputs_of(s, steps), self.outputs_of(s, steps), s.where)
                 for s in steps.values()]
        try:
            g = Graph(nodes, allow_missing=allow_missing)
        except GraphError as e:
            problems += e.problems
            g = None
        if problems:
            raise GraphError(problems, fix="fix the steps named above; all problems are listed at once")
        return g

    def did_you_mean(self, name: str) -> str:
        return did_you_mean(name, self.steps)

    # -- setup
    def modules_for(self, step: StepDef) -> set[str]:
        """Modules a step depends on: its own imports, the modules behind setup names it
        reads, and every import of a setup cell whose functions or values it uses."""
        mods = set(step.info.imports)
        todo = [r for r in step.external_reads() if r in self.setup_owner]
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            cell = self.setup[self.setup_owner[name]]
            if name in cell.info.import_map:
                mods.add(cell.info.import_map[name])
            else:
                mods.update(cell.info.imports)
                todo += [r for r in cell.info.reads if r in self.setup_owner]
        return mods

    def setup_hashes_for(self, step: StepDef) -> list[str]:
        """The setup definitions the step uses, transitively, as statement hashes; plus the
        side-effect statements of each setup cell it uses.  A name defined by several cells
        (``import numpy as np`` in many steps) is taken from the nearest one above the step,
        as the naming rule says; %%setup cells count as above every step."""
        where = self._positions()
        here = self._step_index().get(step.name, len(self.steps))
        definers = self._definers()
        hashes: set[str] = set()
        cells: set[str] = set()
        seen: set[str] = set()
        todo = [r for r in step.external_reads() if r in definers]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            above = [k for k in definers.get(name, ()) if where.get(k, -1) < here]
            if not above:
                continue                  # defined only below: not something this step can use
            cell = self.setup[max(above, key=lambda k: where.get(k, -1))]
            cells.add(cell.cell_key)
            h, reads = cell.statements[0].get(name, (cell.code_hash, cell.info.reads))
            hashes.add(h)
            todo += [r for r in reads if r in definers]
        for key in cells:
            hashes.update(self.setup[key].statements[1])
        return sorted(hashes)

    def _positions(self) -> dict[str, int]:
        """Setup cell key -> position: -1 for %%setup cells, the step's index for the
        definitions a step makes (``step:NAME``)."""
        index = self._step_index()
        return self._memo("positions", lambda: {k: index.get(k[5:], -1) if k.startswith("step:") else -1
                                                for k in self.setup})

    def _step_index(self) -> dict[str, int]:
        return self._memo("step index", lambda: {n: i for i, n in enumerate(self._steps)})

    def _definers(self) -> dict[str, list[str]]:
        def build() -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for k, c in self.setup.items():
                for n in c.statements[0]:
                    out.setdefault(n, []).append(k)
            return out
        return self._memo("definers", build)
