"""What a piece of Python code reads and writes, and its normalised form.

``analyze(code)`` is pure: it parses the code with :mod:`ast` and walks it in
evaluation order, so ``df = df.dropna()`` reads ``df`` (from outside) and then
writes it, while ``x = 1; y = x`` reads nothing from outside.  Function and
lambda bodies run later, so the names they use count as reads only when the
cell itself never binds them.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from . import filerefs, mutation
from .errors import AnalysisError

_COMPS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef) + _COMPS


@dataclass(frozen=True)
class CodeInfo:
    reads: tuple[str, ...]     # names used before the code binds them, in order of first use
    writes: tuple[str, ...]    # top-level names bound by assignment: candidate outputs
    defines: tuple[str, ...]   # every top-level binding: assignments, imports, defs, loops...
    imports: tuple[str, ...]   # top-level modules imported (``a`` for ``import a.b``)
    import_map: dict           # name bound by an import -> its top-level module
    normalized: str            # ``ast.unparse`` of the code: comments and layout do not count
    mutation: mutation.MutationInfo = mutation.MutationInfo(frozenset(), {})
    #                            which reads the code may change in place (see nb2pipe.mutation)
    files: filerefs.FileRefs = filerefs.FileRefs()   # files the code reads and writes (nb2pipe.filerefs)
    optional: tuple[str, ...] = ()   # writes that exist only if a loop ran (for/with targets)
    definitions: str = ""            # its top-level imports, functions, classes (definitions_source)


def parse(code: str, *, filename: str = "<cell>", line_offset: int = 0) -> ast.Module:
    """Parse ``code``; a syntax error names the file and the line as the user sees it."""
    try:                              # blank lines first: the lines are numbered as shown,
        tree = ast.parse("\n" * line_offset + code, filename=filename)   # with no walk after
    except SyntaxError as e:
        line = e.lineno or 1 + line_offset
        text = (e.text or "").rstrip("\n")
        where = f"{filename}, line {line}" + (f": {text.strip()}" if text else "")
        raise AnalysisError(f"syntax error: {e.msg}", where=where,
                            fix="correct the code and run the cell again") from None
    return tree


def _target_names(node: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]


def _pattern_names(node: ast.AST) -> list[str]:
    out = []
    for n in ast.walk(node):
        if isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            out.append(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            out.append(n.rest)
    return out


def _free_names(node: ast.AST) -> set[str]:
    """Names a nested scope (function, lambda, class body, comprehension) takes from outside."""
    local: set[str] = set()
    loads: set[str] = set()
    declared_global: set[str] = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = node.args
        for arg in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]:
            if arg is not None:
                local.add(arg.arg)
        body = node.body if isinstance(node.body, list) else [node.body]
    elif isinstance(node, ast.ClassDef):
        body = node.body
    else:  # comprehension: generators then element(s)
        body = []
        for i, gen in enumerate(node.generators):
            local.update(_target_names(gen.target))
            body.extend(([] if i == 0 else [gen.iter]) + gen.ifs)
        body.extend([node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt])

    stack = list(body)
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else local).add(n.id)
            continue
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            declared_global.update(n.names)
            continue
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            local.update((a.asname or a.name).split(".")[0] for a in n.names)
            continue
        if isinstance(n, ast.ExceptHandler) and n.name:
            local.add(n.name)
        if isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            local.add(n.name)
        if isinstance(n, ast.MatchMapping) and n.rest:
            local.add(n.rest)
        if isinstance(n, _SCOPES):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local.add(n.name)
                outer = list(n.decorator_list)
                if isinstance(n, ast.ClassDef):
                    outer += n.bases + [k.value for k in n.keywords]
                else:
                    outer += n.args.defaults + [d for d in n.args.kw_defaults if d]
                stack.extend(outer)
            elif isinstance(n, ast.Lambda):
                stack.extend(n.args.defaults + [d for d in n.args.kw_defaults if d])
            else:
                stack.append(n.generators[0].iter)
            loads.update(_free_names(n))
            continue
        stack.extend(ast.iter_child_nodes(n))
    return (loads - local) | (loads & declared_global)


class _ModuleVisitor(ast.NodeVisitor):
    """Walks top-level code in evaluation order."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.reads: dict[str, None] = {}
        self.deferred: dict[str, None] = {}
        self.writes: dict[str, None] = {}
        self.defines: dict[str, None] = {}
        self.imports: dict[str, None] = {}
        self.import_map: dict[str, str] = {}
        self.loop_bound: dict[str, None] = {}   # for/with targets: bound only if the code runs
        self.assigned: dict[str, None] = {}     # bound by an assignment
        self._assigning = False

    # -- helpers
    def _read(self, name: str, deferred: bool = False) -> None:
        if deferred:
            self.deferred.setdefault(name)
        elif name not in self.bound:
            self.reads.setdefault(name)

    def _bind(self, name: str, write: bool = False, loop: bool = False) -> None:
        self.bound.add(name)
        self.defines.setdefault(name)
        if write:
            self.writes.setdefault(name)
            if loop:
                self.loop_bound.setdefault(name)
            else:
                self.assigned.setdefault(name)

    def _assign_targets(self, targets: list[ast.AST]) -> None:
        old, self._assigning = self._assigning, True
        for t in targets:
            self.visit(t)
        self._assigning = old

    # -- names and bindings
    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id)
        else:
            self._bind(node.id, write=self._assigning and isinstance(node.ctx, ast.Store))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        old, self._assigning = self._assigning, False  # `a.b = 1` reads a, does not bind it
        self.visit(node.value)
        self._assigning = old

    visit_Subscript = None  # set below

    def _visit_subscript(self, node: ast.Subscript) -> None:
        old, self._assigning = self._assigning, False
        self.visit(node.value)
        self.visit(node.slice)
        self._assigning = old

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        self._assign_targets(node.targets)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._assign_targets([node.target])

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self._read(node.target.id)
            self._bind(node.target.id, write=True)
        else:
            self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._bind(node.target.id, write=True)

    def visit_For(self, node) -> None:
        self.visit(node.iter)
        for n in _target_names(node.target):
            self._bind(n, write=True, loop=True)
        for s in node.body + node.orelse:
            self.visit(s)

    visit_AsyncFor = visit_For

    def visit_withitem(self, node: ast.withitem) -> None:
        self.visit(node.context_expr)
        if node.optional_vars is not None:
            for n in _target_names(node.optional_vars):
                self._bind(n, write=True, loop=True)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._bind(node.name)
        for s in node.body:
            self.visit(s)

    def visit_match_case(self, node) -> None:
        for n in _pattern_names(node.pattern):
            self._bind(n)
        for n in ast.walk(node.pattern):
            if isinstance(n, ast.MatchValue):
                self.visit(n.value)
        if node.guard is not None:
            self.visit(node.guard)
        for s in node.body:
            self.visit(s)

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            mod = a.name.split(".")[0]
            self.imports.setdefault(mod)
            bound = a.asname or mod
            self.import_map[bound] = a.name if a.asname else mod
            self.import_map[bound] = self.import_map[bound].split(".")[0]
            self._bind(bound)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.imports.setdefault(node.module.split(".")[0])
        for a in node.names:
            if a.name != "*":
                if node.level == 0 and node.module:
                    self.import_map[a.asname or a.name] = node.module.split(".")[0]
                self._bind(a.asname or a.name)

    def visit_Global(self, node) -> None:  # meaningless at top level
        pass

    visit_Nonlocal = visit_Global

    # -- nested scopes
    def _visit_function(self, node) -> None:
        for d in node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d]:
            self.visit(d)
        for n in _free_names(node):
            self._read(n, deferred=True)
        self._bind(node.name)

    visit_FunctionDef = visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for d in node.args.defaults + [d for d in node.args.kw_defaults if d]:
            self.visit(d)
        for n in _free_names(node):
            self._read(n, deferred=True)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for d in node.decorator_list + node.bases + [k.value for k in node.keywords]:
            self.visit(d)
        for n in _free_names(node):
            self._read(n)
        self._bind(node.name)

    def _visit_comp(self, node) -> None:
        self.visit(node.generators[0].iter)
        for n in _free_names(node):
            self._read(n)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _visit_comp


_ModuleVisitor.visit_Subscript = _ModuleVisitor._visit_subscript
_ModuleVisitor.visit_Starred = ast.NodeVisitor.generic_visit


def analyze_tree(tree: ast.Module) -> CodeInfo:
    v = _ModuleVisitor()
    for stmt in tree.body:
        v.visit(stmt)
    reads = dict(v.reads)
    for n in v.deferred:
        if n not in v.defines:
            reads.setdefault(n)
    files = filerefs.find(tree)
    # files are data too: one a step writes is its output `file:PATH`; one it reads is an
    # input when a step above writes it (else a source, see Planner.sources_of)
    written = tuple(filerefs.name_of(p) for p in files.writes)
    read = tuple(filerefs.name_of(p) for p in files.paths if p not in files.writes)
    return CodeInfo(
        reads=tuple(reads) + read, writes=tuple(v.writes) + written, defines=tuple(v.defines),
        imports=tuple(v.imports), import_map=dict(v.import_map), normalized=ast.unparse(tree),
        mutation=mutation.find(tree, reads), files=files,
        optional=tuple(n for n in v.loop_bound if n not in v.assigned),
        definitions=_definitions(tree),
    )


def analyze(code: str, *, filename: str = "<cell>", line_offset: int = 0) -> CodeInfo:
    """Analyse Python source.  Raises :class:`AnalysisError` on a syntax error."""
    return analyze_tree(parse(code, filename=filename, line_offset=line_offset))


_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def definitions_source(code: str) -> str:
    """The top-level imports, functions and classes of ``code``, as source (empty if none)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    return _definitions(tree)


def _definitions(tree: ast.Module) -> str:
    return "\n".join(ast.unparse(n) for n in tree.body if _only_definitions(n))


def _only_definitions(node: ast.stmt) -> bool:
    """An import, function or class — or a ``try``/``if`` made only of those (``try: from a
    import f`` / ``except ImportError: def f(...)``)."""
    if isinstance(node, _DEFINITIONS):
        return True
    if isinstance(node, ast.Try):
        blocks = [node.body, node.orelse, node.finalbody] + [h.body for h in node.handlers]
    elif isinstance(node, ast.If):
        blocks = [node.body, node.orelse]
    else:
        return False
    stmts = [s for b in blocks for s in b]
    return bool(stmts) and all(isinstance(s, ast.Pass) or _only_definitions(s) for s in stmts)
