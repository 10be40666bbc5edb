"""A parsed ``%%step`` cell (:class:`StepDef`) and a ``%%setup`` cell (:class:`SetupCell`),
each checked on its own, with no other step needed."""
from __future__ import annotations

import builtins
import functools
from dataclasses import dataclass, field
from typing import Any

from .analysis import CodeInfo, analyze
from .errors import AnalysisError
from .filerefs import is_file
from .fingerprint import hash_bytes
from .spec import StepSpec

# names a step may read without declaring them: Python's builtins and what
# IPython adds to them (display, get_ipython) plus module dunders.
ALWAYS_AVAILABLE = frozenset(dir(builtins)) | {"display", "get_ipython", "__name__", "__file__"}


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

    @functools.cached_property
    def code_hash(self) -> str:
        return hash_bytes(self.info.normalized.encode())

    @property
    def filename(self) -> str:
        return f"<step {self.spec.name}>"

    def same_code(self, other: "StepDef") -> bool:
        """The same step, perhaps shown at another prompt (``cell [7]``): nothing a key, the
        graph or a check depends on differs."""
        return self is other or (self.spec == other.spec and self.code == other.code
                                 and self.outputs == other.outputs and self.cell_id == other.cell_id)

    def external_reads(self) -> tuple[str, ...]:
        return self._external_reads

    @functools.cached_property
    def _external_reads(self) -> tuple[str, ...]:
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
              line_offset: int = 1, cell_text: str = "", analysis=None) -> StepDef:
    """Parse and check one step on its own (no other steps needed).  ``analysis``: an
    :class:`~nb2pipe.analysiscache.AnalysisCache` to take the code's analysis from."""
    label = f"step `{spec.name}`" + (f", {where}" if where else "")
    if spec.sql:
        return _make_sql_step(spec, code, label, cell_id, where, line_offset, cell_text, analysis)
    info = (analysis.python if analysis is not None else analyze)(code, filename=label, line_offset=line_offset)
    if spec.outputs is not None:
        missing = [o for o in spec.outputs if o not in info.defines]
        if missing:
            raise AnalysisError(
                f"step `{spec.name}` declares --out {', '.join(missing)} but its code never assigns"
                f" {'it' if len(missing) == 1 else 'them'}",
                where=label,
                fix=f"assign {missing[0]} in the cell, or remove it from --out")
        outputs = spec.outputs + tuple(w for w in info.writes if is_file(w))   # and the files it writes
    else:
        outputs = tuple(w for w in info.writes if not w.startswith("_"))
    return StepDef(spec, code, info, outputs, cell_id, where, line_offset,
                   cell_text or "\n" * line_offset + code)


def _make_sql_step(spec, code, label, cell_id, where, line_offset, cell_text, analysis) -> StepDef:
    from .sql import analyze_sql, code_info
    sql = (analysis.sql if analysis is not None else analyze_sql)(code, filename=label, line_offset=line_offset)
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
