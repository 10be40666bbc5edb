"""``%%step NAME --expect "EXPR"``: checks on a step's outputs after every run (real and
sample alike).  EXPR is Python evaluated with the step's outputs, the parameters and the
setup names; it must give True.  When it is a reduction of a boolean Series or array
(``df.amount.ge(0).all()``, ``np.all(x > 0)``) or such a Series itself, a failure shows a
few of the offending rows.  A failing or raising expectation fails the step: its result is
not stored as good."""
from __future__ import annotations

import ast
from typing import Any

from .errors import Nb2pipeError

SHOWN_ROWS = 5


def check_all(step, values: dict[str, Any], names: dict[str, Any], where: str) -> None:
    """Raise one error naming every expectation of ``step`` that fails on ``values``."""
    problems = [p for expr in step.spec.expects
                if (p := check(step.name, expr, values, names)) is not None]
    if problems:
        raise Nb2pipeError("\n".join(problems), where=where,
                           fix="fix the step (or its inputs) so the expectation holds, or correct the"
                               " expectation on the %%step line")


def check(step: str, expr: str, values: dict[str, Any], names: dict[str, Any]) -> str | None:
    """None when ``expr`` holds, else what failed and a few offending rows."""
    ns = {**names, **values}
    head = f"step `{step}`: expectation `{expr}`"
    try:
        tree = ast.parse(expr.strip(), mode="eval")
        result = eval(compile(tree, f"<expect {step}>", "eval"), ns)
    except Exception as e:  # noqa: BLE001 - the user's expression
        return f"{head} raised {type(e).__name__}: {e}"
    verdict = _truth(result)
    if verdict is None:
        return (f"{head} gave a {type(result).__name__}, not True or False (end it with .all()"
                " for a column of checks)")
    if verdict:
        return None
    mask = result if _is_mask(result) else _inner_mask(tree, ns)
    return head + " failed" + (_offending(mask, tree, ns) if mask is not None else "")


def _truth(value: Any) -> bool | None:
    if _is_mask(value):
        return bool(value.all())
    if type(value).__name__ in ("bool", "bool_") or isinstance(value, bool):
        return bool(value)
    return None


def _is_mask(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    return dtype is not None and str(dtype) in ("bool", "boolean") and getattr(value, "ndim", 0) >= 1


def _inner_mask(tree: ast.Expression, ns: dict) -> Any:
    """The boolean Series/array a reduction was made of: ``X.all()``, ``all(X)``,
    ``np.all(X)``; None for anything else."""
    node = tree.body
    inner = None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "all" \
            and not node.args:
        inner = node.func.value
    elif isinstance(node, ast.Call) and len(node.args) == 1 and (
            isinstance(node.func, ast.Name) and node.func.id == "all"
            or isinstance(node.func, ast.Attribute) and node.func.attr == "all"):
        inner = node.args[0]
    if inner is None:
        return None
    try:
        value = eval(compile(ast.Expression(inner), "<expect>", "eval"), ns)
    except Exception:  # noqa: BLE001 - it ran once already; give up on rows
        return None
    return value if _is_mask(value) else None


def _offending(mask: Any, tree: ast.Expression, ns: dict) -> str:
    """': N of M rows break it; the first:' and those rows (of the frame the expression
    reads, when one matches the mask)."""
    import numpy as np
    bad = ~np.asarray(mask, dtype=bool)
    n, total = int(bad.sum()), int(bad.size)
    text = f": {n} of {total} rows break it; the first:\n"
    if getattr(mask, "ndim", 1) > 1:
        return text + "  at " + ", ".join(str(tuple(i)) for i in np.argwhere(bad)[:SHOWN_ROWS])
    frame = _frame_of(tree, ns, total)
    if frame is not None:
        rows = frame[bad][:SHOWN_ROWS] if hasattr(frame, "iloc") else frame[bad][:SHOWN_ROWS]
        return text + _indent(rows.to_string() if hasattr(rows, "to_string") else repr(rows))
    return text + "  at positions " + ", ".join(str(int(i)) for i in np.flatnonzero(bad)[:SHOWN_ROWS])


def _frame_of(tree: ast.Expression, ns: dict, length: int) -> Any:
    """The first name the expression reads whose value has ``length`` rows."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in ns:
            v = ns[node.id]
            if hasattr(v, "shape") and getattr(v, "ndim", 0) >= 1 and len(v) == length:
                return v
    return None


def _indent(text: str) -> str:
    return "\n".join("  " + ln for ln in text.splitlines())
