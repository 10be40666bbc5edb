"""Make tagged.ipynb from original.ipynb by adding ONLY header lines (a first-pass tagger;
the result is committed and may be adjusted by hand).  Also the shared AST helpers of the
harness: which names a cell writes / reads at top level.

    python tests/notebooks/tagging.py tests/notebooks/real/<slug>
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

MUTATORS = {"fit", "partial_fit", "fit_transform", "append", "extend", "insert", "update", "sort",
            "pop", "remove", "clear", "setdefault", "set_params", "fill", "resize", "sort_index",
            "sort_values", "drop", "rename", "fillna", "dropna", "set_index", "reset_index", "replace",
            "add", "discard", "shuffle", "put", "itemset", "astype", "tz_localize"}
CONFIG = ("pd.options", "pd.set_option", "np.set_printoptions", "plt.rcParams", "plt.rc", "mpl.rc",
          "plt.style", "warnings.")


def transform(src: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(src)


def parse(src: str) -> ast.Module | None:
    try:
        return ast.parse(transform(src))
    except SyntaxError:
        return None


def _targets(t, out: list[str], muts: list[str]) -> None:
    if isinstance(t, ast.Name):
        out.append(t.id)
    elif isinstance(t, (ast.Tuple, ast.List)):
        for e in t.elts:
            _targets(e, out, muts)
    elif isinstance(t, ast.Starred):
        _targets(t.value, out, muts)
    elif isinstance(t, (ast.Subscript, ast.Attribute)):
        base = t
        while isinstance(base, (ast.Subscript, ast.Attribute)):
            base = base.value
        if isinstance(base, ast.Name):
            muts.append(base.id)


def writes(tree: ast.Module) -> tuple[list[str], list[str]]:
    """(names bound at top level, names mutated at top level: x[..] = , x.a = , x.fit(...))."""
    bound: list[str] = []
    muts: list[str] = []

    def visit(stmts):
        for s in stmts:
            if isinstance(s, ast.Assign):
                for t in s.targets:
                    _targets(t, bound, muts)
            elif isinstance(s, (ast.AugAssign, ast.AnnAssign)):
                _targets(s.target, bound, muts)
            elif isinstance(s, (ast.For, ast.AsyncFor)):
                _targets(s.target, bound, muts)
                visit(s.body), visit(s.orelse)
            elif isinstance(s, (ast.With, ast.AsyncWith)):
                for it in s.items:
                    if it.optional_vars is not None:
                        _targets(it.optional_vars, bound, muts)
                visit(s.body)
            elif isinstance(s, (ast.If, ast.While)):
                visit(s.body), visit(s.orelse)
            elif isinstance(s, ast.Try):
                visit(s.body), visit(s.orelse), visit(s.finalbody)
                for h in s.handlers:
                    visit(h.body)
            elif isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.append(s.name)
            elif isinstance(s, (ast.Import, ast.ImportFrom)):
                for a in s.names:
                    bound.append((a.asname or a.name).split(".")[0])
            elif isinstance(s, ast.Delete):
                for t in s.targets:
                    _targets(t, [], muts)
            if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for n in ast.walk(s):
                    if isinstance(n, ast.NamedExpr):
                        bound.append(n.target.id)
                    if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                            and isinstance(n.func.value, ast.Name)
                            and (n.func.attr in MUTATORS or any(
                                k.arg == "inplace" and isinstance(k.value, ast.Constant)
                                and k.value.value is True for k in n.keywords))):
                        muts.append(n.func.value.id)

    visit(tree.body)
    return list(dict.fromkeys(bound)), list(dict.fromkeys(muts))


def reads(tree: ast.Module) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _is_setup(tree: ast.Module, src: str) -> bool:
    ok = 0
    for s in tree.body:
        if isinstance(s, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
            ok += 1
            continue
        text = ast.unparse(s)
        if text.startswith("get_ipython()") or text.startswith(CONFIG) or text.startswith("assert sys.version"):
            continue
        return False
    return ok > 0


def tag_source(i: int, src: str) -> str | None:
    """The header line for code cell ``i`` (None: stays a plain cell)."""
    if src.lstrip().startswith("%%"):
        return None
    tree = parse(src)
    if tree is None or not tree.body:
        return None
    if _is_setup(tree, src):
        return "%%setup"
    bound, muts = writes(tree)
    bound = [n for n in bound if not n.startswith("_")]
    if bound or muts:
        hint = (bound or muts)[0]
        return f"%%step c{i:03d}_{hint}"[:60]
    if file_writes(tree):           # `np.save('a', x)`: the file it writes is its output
        return f"%%step c{i:03d}_file"
    return None


def file_writes(tree: ast.Module) -> tuple[str, ...]:
    """Paths the cell writes by a literal path, as nb2pipe finds them."""
    from nb2pipe.filerefs import find
    return find(tree).writes


def main(folder: str) -> None:
    d = Path(folder)
    nb = json.loads((d / "original.ipynb").read_text())
    cells = [{"cell_type": "code", "execution_count": None, "id": "nb2pipe-load", "metadata": {},
              "outputs": [], "source": "%load_ext nb2pipe"}]
    i = 0
    for c in nb["cells"]:
        c = dict(c)
        if c["cell_type"] == "code":
            h = tag_source(i, c["source"])
            if h:
                c["source"] = h + "\n" + c["source"]
            i += 1
        cells.append(c)
    nb["cells"] = cells
    (d / "tagged.ipynb").write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    for f in sys.argv[1:]:
        main(f)
