"""Files a step reads and writes, found in its code.

Reads: ``open('data.txt')``, ``pd.read_csv('data/x.csv')``, ``np.load(...)``,
``Path('a.json').read_text()``.  A file read is a source of the step like a ``--src`` (editing
it makes the step stale), unless a step above writes it: then it is that step's output.

Writes: ``open('x', 'w')``, ``df.to_csv('x.csv')``, ``fig.savefig('f.png')``,
``np.save('a', arr)`` (numpy adds ``.npy``), ``np.savez``, ``np.savetxt``,
``Path('x').write_text(...)``, ``joblib.dump(obj, 'm.pkl')``.  A file a step writes is an output
of that step, named ``file:<path>`` (:func:`name_of`), versioned and stored like a value: a step
below that reads it depends on the writer, and gets the writer's version of the file.

A reader called with a path the code computes (a variable, an f-string with fields) cannot be
followed; it is reported so the user can add ``--src``.
"""
from __future__ import annotations

import ast
import posixpath
from dataclasses import dataclass

# functions and methods that read a file named by their first argument
READERS = frozenset({
    "open", "Path", "PurePath", "read_csv", "read_table", "read_parquet", "read_json", "read_excel",
    "read_feather", "read_pickle", "read_hdf", "read_fwf", "read_orc", "read_xml", "read_stata",
    "read_sas", "read_spss", "read_ndjson", "read_ipc", "read_avro", "read_delta", "scan_csv",
    "scan_parquet", "scan_ndjson", "scan_ipc", "load", "loadtxt", "genfromtxt", "fromfile",
    "imread", "load_workbook", "read_file", "read_text", "read_bytes",
})
# methods and functions that write a file named by their first argument (`df.to_csv(path)`)
WRITERS_FIRST = frozenset({
    "to_csv", "to_parquet", "to_json", "to_excel", "to_feather", "to_pickle", "to_hdf", "to_html",
    "to_latex", "to_markdown", "to_stata", "to_orc", "to_xml", "write_csv", "write_parquet",
    "write_ndjson", "write_ipc", "write_json", "write_excel", "savefig", "savetxt", "save",
    "savez", "savez_compressed", "imsave", "imwrite", "tofile", "to_netcdf",
})
# functions that write a file named by their second argument (`joblib.dump(model, path)`)
WRITERS_SECOND = frozenset({"dump", "write_table", "write_feather", "write_csv"})
# numpy adds an extension when the name has none
_NUMPY_SUFFIX = {"save": ".npy", "savez": ".npz", "savez_compressed": ".npz"}
_PATH_KWARGS = ("path", "filepath_or_buffer", "fname", "file", "filename", "io", "source", "path_or_buf")
_WRITE_MODES = set("wax")
PREFIX = "file:"


@dataclass(frozen=True)
class FileRefs:
    paths: tuple[str, ...] = ()               # literal paths read, in order of appearance
    unresolved: tuple[tuple[int, str], ...] = ()   # (line, call text) of reads of computed paths
    writes: tuple[str, ...] = ()              # literal paths written, in order of appearance


def name_of(path: str) -> str:
    """The data name of a file a step writes: ``file:data/x.csv``."""
    return PREFIX + path


def is_file(name: str) -> bool:
    return name.startswith(PREFIX)


def path_of(name: str) -> str:
    return name[len(PREFIX):]


def _func_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _path_arg(call: ast.Call, position: int = 0) -> ast.AST | None:
    if len(call.args) > position:
        return call.args[position]
    for k in call.keywords:
        if k.arg in _PATH_KWARGS:
            return k.value
    return None


def _literal(arg: ast.AST | None) -> str | None:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        path = arg.value.strip()
        if path and "://" not in path:
            return posixpath.normpath(path.replace("\\", "/"))
    return None


def _open_writes(call: ast.Call) -> bool:
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords
                                                          if k.arg == "mode"), None)
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and bool(set(mode.value) & _WRITE_MODES)


def _written(call: ast.Call, name: str) -> str | None:
    """The literal path ``call`` writes, if it writes one."""
    func = call.func
    if name == "open":
        return _literal(_path_arg(call)) if _open_writes(call) else None
    if name in ("write_text", "write_bytes", "touch") and isinstance(func, ast.Attribute) \
            and isinstance(func.value, ast.Call) and _func_name(func.value.func) in ("Path", "PurePath"):
        return _literal(_path_arg(func.value))             # Path('x').write_text(...)
    if name in WRITERS_SECOND and not (name == "write_csv" and len(call.args) < 2):
        path = _literal(_path_arg(call, 1))
        if path is not None or name != "write_csv":
            return path
    if name in WRITERS_FIRST and isinstance(func, ast.Attribute):
        path = _literal(_path_arg(call))
        if path is None:
            return None
        if name == "save" and not _is_numpy(func.value):
            return None                 # `model.save(path)`, `wb.save(...)`: not known to write there
        suffix = _NUMPY_SUFFIX.get(name) if _is_numpy(func.value) else None
        if suffix and not path.endswith(suffix):
            path += suffix
        if name == "savefig" and not posixpath.splitext(path)[1]:
            path += ".png"              # matplotlib's default format
        return path
    return None


def _is_numpy(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in ("np", "numpy")


def find(tree: ast.AST) -> FileRefs:
    reads: dict[str, int] = {}          # path -> line of its first read
    writes: dict[str, int] = {}         # path -> line of its first write
    unresolved: list[tuple[int, str]] = []
    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)),
                   key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
    for node in calls:
        name = _func_name(node.func)
        line = getattr(node, "lineno", 0)
        written = _written(node, name) if name else None
        if written is not None:
            writes.setdefault(written, line)
            continue
        if name not in READERS or (name == "open" and _open_writes(node)):
            continue
        if name in ("read_text", "read_bytes") and isinstance(node.func, ast.Attribute):
            continue                     # Path('x').read_text(): the Path(...) call names it
        if name in ("Path", "PurePath") and _writes_through(node, tree):
            continue                     # Path('x').write_text(...): a write, found above
        arg = _path_arg(node)
        if arg is None:
            continue
        path = _literal(arg)
        if path is not None:
            reads.setdefault(path, line)
        elif isinstance(arg, ast.Constant):
            continue                     # a URL or an empty string
        elif _looks_like_a_path(arg) or not (
                name == "load" and isinstance(arg, (ast.Name, ast.Attribute, ast.Subscript))
                or name in ("Path", "PurePath")):
            # `json.load(f)` reads an already open file, `Path(d)` names a folder: not reads
            unresolved.append((line, ast.unparse(node)[:80]))
    # a file the code writes before it reads it is its own output, not something it reads
    paths = tuple(p for p, line in reads.items() if p not in writes or line < writes[p])
    return FileRefs(paths, tuple(unresolved), tuple(writes))


def _writes_through(path_call: ast.Call, tree: ast.AST) -> bool:
    """``Path('x')`` whose method writes (``Path('x').write_text(...)``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.value is path_call and node.func.attr in ("write_text", "write_bytes", "touch"):
            return True
    return False


def _looks_like_a_path(arg: ast.AST) -> bool:
    return isinstance(arg, (ast.JoinedStr, ast.BinOp)) or (
        isinstance(arg, ast.Call) and _func_name(arg.func) in ("join", "Path", "format"))
