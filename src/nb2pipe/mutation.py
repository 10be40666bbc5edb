"""Which names a piece of code may change in place, found from its syntax.

A step that changes an input in place (``df['b'] = ...``, ``model.fit(X)``,
``for d in [df]: d['b'] = ...``) hands the changed value on to the steps below
it, as restart-and-run-all would.  To wire the DAG before anything runs, the
engine needs to know *which* inputs a step may change; this module answers
conservatively from the AST: a name counts as possibly changed unless every use
of it is one that cannot change it (reading an attribute or an item, an
operand, a call to a method not known to mutate, an argument to a library
function).  What is decided here is only a may: the engine compares the value
after the step and passes the input on unchanged when nothing happened.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

# methods that change their receiver (lists, dicts, sets, numpy, pandas, scikit-learn, matplotlib)
MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
    "update", "setdefault", "popitem", "add", "discard", "difference_update",
    "intersection_update", "symmetric_difference_update",
    "fill", "resize", "put", "itemset", "setfield", "setflags", "partition",
    "set_axis", "set_flags", "__setitem__", "__delitem__", "__iadd__",
    "fit", "partial_fit", "fit_transform", "fit_predict", "fit_resample", "set_params",
    "set_output", "compile", "train", "load_state_dict", "seed",
})

_CONTAINERS = (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Starred)


@dataclass(frozen=True)
class MutationInfo:
    direct: frozenset[str]              # names changed in place by the code itself
    passed: dict                        # name -> frozenset of callee roots it is passed to


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    out: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            out[id(child)] = node
    return out


def _callee_root(func: ast.AST) -> str | None:
    """``f`` for ``f(...)``, ``pd`` for ``pd.concat(...)``; None for ``obj.method(...)``
    calls on a non-name expression."""
    while isinstance(func, ast.Attribute):
        func = func.value
    return func.id if isinstance(func, ast.Name) else None


def _is_method_call(func: ast.AST) -> bool:
    return isinstance(func, ast.Attribute)


def _inplace_kw(call: ast.Call) -> bool:
    return any(k.arg == "inplace" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
               for k in call.keywords)


def find(tree: ast.AST, names) -> MutationInfo:
    """Uses of ``names`` in ``tree`` that may change them in place."""
    names = set(names)
    if not names:
        return MutationInfo(frozenset(), {})
    parent = _parents(tree)
    direct: set[str] = set()
    passed: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) \
                and node.target.id in names:
            direct.add(node.target.id)                # arr += 1 changes an array in place
            continue
        if not (isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load)):
            continue
        verdict = _use(node, parent)
        if verdict is True:
            direct.add(node.id)
        elif isinstance(verdict, str):
            passed.setdefault(node.id, set()).add(verdict)
    return MutationInfo(frozenset(direct), {k: frozenset(v) for k, v in passed.items()})


def _use(node: ast.Name, parent: dict[int, ast.AST]):
    """True: may change it; a str: passed to that callee (decided by the caller); None: safe."""
    top: ast.AST = node
    chained = False
    while True:
        up = parent.get(id(top))
        if isinstance(up, (ast.Attribute, ast.Subscript)) and up.value is top:
            top, chained = up, True
            continue
        break
    if chained and isinstance(getattr(top, "ctx", None), (ast.Store, ast.Del)):
        return True                                   # df['b'] = ..., del d[k], obj.attr = ...
    up = parent.get(id(top))
    if isinstance(up, ast.AugAssign) and up.target is top:
        return True                                   # df['b'] += 1
    if isinstance(up, ast.Call) and up.func is top:
        if not chained:
            return None                               # calling it: f(...)
        if _inplace_kw(up) or top.attr in MUTATING_METHODS:  # type: ignore[attr-defined]
            return True
        return None
    # climb out of containers: [df], (a, df), {"k": df}
    holder, contained = top, False
    while isinstance(parent.get(id(holder)), _CONTAINERS):
        holder, contained = parent[id(holder)], True
    up = parent.get(id(holder))
    if isinstance(up, ast.keyword):
        holder, up = up, parent.get(id(up))
    if isinstance(up, ast.Call) and up.func is not holder:
        if _is_method_call(up.func):
            return None                               # model.fit(X): the receiver changes, not X
        root = _callee_root(up.func)
        return root if root is not None else True
    if chained and not contained:
        return None                                   # df.shape, df['a'] read
    if contained:
        return True                                   # for d in [df]: ...; lst = [df]
    if isinstance(up, (ast.For, ast.AsyncFor)) and up.iter is holder:
        return True                                   # for row in rows: row['x'] = ...
    if isinstance(up, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and up.value is holder:
        return True                                   # alias = df
    if isinstance(up, (ast.withitem,)):
        return True
    return None
