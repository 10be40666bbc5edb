"""Files a step reads, found in its code: ``open('data.txt')``, ``pd.read_csv('data/x.csv')``,
``np.load(...)``, ``Path('a.json').read_text()``.  Such a file is a source of the step like a
``--src``: editing it makes the step stale.  A reader called with a path the code computes
(a variable, an f-string with fields) cannot be followed; it is reported so the user can add
``--src``.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

# functions and methods that read a file named by their first argument
READERS = frozenset({
    "open", "Path", "PurePath", "read_csv", "read_table", "read_parquet", "read_json", "read_excel",
    "read_feather", "read_pickle", "read_hdf", "read_fwf", "read_orc", "read_xml", "read_stata",
    "read_sas", "read_spss", "read_ndjson", "read_ipc", "read_avro", "read_delta", "scan_csv",
    "scan_parquet", "scan_ndjson", "scan_ipc", "load", "loadtxt", "genfromtxt", "fromfile",
    "imread", "load_workbook", "read_file", "read_text", "read_bytes",
})
_PATH_KWARGS = ("path", "filepath_or_buffer", "fname", "file", "filename", "io", "source", "path_or_buf")
_WRITE_MODES = set("wax")


@dataclass(frozen=True)
class FileRefs:
    paths: tuple[str, ...] = ()               # literal paths read, in order of appearance
    unresolved: tuple[tuple[int, str], ...] = ()   # (line, call text) of reads of computed paths


def _func_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _path_arg(call: ast.Call) -> ast.AST | None:
    if call.args:
        return call.args[0]
    for k in call.keywords:
        if k.arg in _PATH_KWARGS:
            return k.value
    return None


def _writes(call: ast.Call, name: str) -> bool:
    if name != "open":
        return False
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords
                                                          if k.arg == "mode"), None)
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and bool(set(mode.value) & _WRITE_MODES)


def find(tree: ast.AST) -> FileRefs:
    paths: dict[str, None] = {}
    unresolved: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _func_name(node.func)
        if name not in READERS or _writes(node, name):
            continue
        if name in ("read_text", "read_bytes") and isinstance(node.func, ast.Attribute):
            continue                     # Path('x').read_text(): the Path(...) call names it
        arg = _path_arg(node)
        if arg is None:
            continue
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            if "://" not in arg.value and arg.value.strip():
                paths.setdefault(arg.value)
        elif _looks_like_a_path(arg) or not (
                name == "load" and isinstance(arg, (ast.Name, ast.Attribute, ast.Subscript))
                or name in ("Path", "PurePath")):
            # `json.load(f)` reads an already open file, `Path(d)` names a folder: not reads
            unresolved.append((getattr(node, "lineno", 0), ast.unparse(node)[:80]))
    return FileRefs(tuple(paths), tuple(unresolved))


def _looks_like_a_path(arg: ast.AST) -> bool:
    return isinstance(arg, (ast.JoinedStr, ast.BinOp)) or (
        isinstance(arg, ast.Call) and _func_name(arg.func) in ("join", "Path", "format"))
