"""Where a contract break comes from: the step that made it and the line of that step's cell.

A break found at step ``features`` (column ``age``) usually follows from a step above it
that changed ``age`` first; that step is the break's maker.  Its line is the first line of
the maker's cell that assigns the column (``df['age'] = ...``, ``df.assign(age=...)``), else
the first that names it, else the last that assigns the broken output itself.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    step: str
    line: int | None        # in the step's cell (the %%step line is line 1); None: not found


def makers(breaks, graph) -> dict[int, str]:
    """index of a break -> the step that made it: the first step, in run order, among the
    break's step and those above it, with a break of the same column (or, for a whole-output
    break, any break); the break's own step when none is above."""
    out = {}
    order = {n: k for k, n in enumerate(graph.order)}
    for i, b in enumerate(breaks):
        above = graph.ancestors(b.step) | {b.step}
        same = [o for o in breaks if o.step in above and (b.column is None or o.column == b.column)]
        out[i] = min(same, key=lambda o: order[o.step]).step if same else b.step
    return out


def locate(step, column: str | None, output: str | None) -> int | None:
    """The cell line of ``step`` (a StepDef) where ``column`` (or ``output``) is made."""
    code = step.code or ""
    if step.sql is not None:
        found = _text_line(code, column) if column else None
        return found + step.line_offset if found else None
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    stmts = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)
             and not isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.If, ast.For, ast.While, ast.With, ast.Try))]
    stmts.sort(key=lambda n: n.lineno)
    line = None
    if column:
        line = next((n.lineno for n in stmts if _assigns_column(n, column)), None) \
            or next((n.lineno for n in stmts if _names(n, column)), None)
    if line is None and output:
        lines = [n.lineno for n in stmts if output in _targets(n)]
        line = lines[-1] if lines else None
    return line + step.line_offset if line else None


def _text_line(code: str, word: str) -> int | None:
    pat = re.compile(rf"(?<![\w\"']){re.escape(word)}(?![\w\"'])|\"{re.escape(word)}\"", re.I)
    return next((i for i, ln in enumerate(code.splitlines(), 1) if pat.search(ln)), None)


def _targets(stmt) -> set[str]:
    targets = getattr(stmt, "targets", None) or [getattr(stmt, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)}


def _assigns_column(stmt, column: str) -> bool:
    targets = getattr(stmt, "targets", None) or [getattr(stmt, "target", None)]
    for t in targets:
        if isinstance(t, ast.Subscript) and _names(t.slice, column):
            return True
        if isinstance(t, ast.Attribute) and t.attr == column:
            return True
    value = getattr(stmt, "value", None)
    return value is not None and any(isinstance(n, ast.keyword) and n.arg == column for n in ast.walk(value)) \
        and any(isinstance(n, ast.Call) for n in ast.walk(value))


def _names(node, column: str) -> bool:
    return any((isinstance(n, ast.Constant) and n.value == column)
               or (isinstance(n, ast.Attribute) and n.attr == column) for n in ast.walk(node))
