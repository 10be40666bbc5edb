"""pyproject's runtime dependencies match what src/ imports: every third-party import comes
from a declared dependency (runtime, or the extra of the feature that imports it), and every
runtime dependency is imported (or listed below with the reason it is needed anyway)."""
import ast
import importlib.metadata
import os
import re
import sys

try:
    import tomllib
except ModuleNotFoundError:      # Python 3.10
    import tomli as tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src", "nb2pipe")

# needed without an import in src/
NOT_IMPORTED = {"ipykernel": "the kernel that headless runs start (python -m ipykernel_launcher)",
                "tomli": "read as tomllib's stand-in on Python 3.10 (config.py)"}
# imported, but brought by something declared
BROUGHT = {"jupyter_client": "ipykernel and nbclient", "jupyter_core": "ipykernel and nbclient",
           "traitlets": "ipykernel", "tornado": "ipykernel", "psutil": "distributed (extra dask)",
           "dask": "distributed (extra dask)",
           "numpy": "a numpy value (imported only when a value is an array)",
           "pandas": "a pandas value (imported only when a value is a frame)",
           "polars": "a polars value (imported only when a value is one)"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, 1)[0].lower().replace("_", "-")


def _declared():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    extras = {_name(r) for k, reqs in project["optional-dependencies"].items() if k != "test"
              for r in reqs}
    return runtime, extras


def _imports() -> dict[str, str]:
    """Top-level third-party module -> a file importing it."""
    found = {}
    for folder, _, files in os.walk(SRC):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(folder, f)
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                for n in names:
                    top = n.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in ("nb2pipe", "tomllib"):
                        found.setdefault(top, os.path.relpath(path, ROOT))
    return found


def _distribution(module: str, known=importlib.metadata.packages_distributions()) -> str:
    dists = known.get(module) or [module]
    return dists[0].lower().replace("_", "-")


def test_every_import_comes_from_a_declared_dependency():
    runtime, extras = _declared()
    undeclared = {m: where for m, where in _imports().items()
                  if _distribution(m) not in runtime | extras and m not in BROUGHT and m != "tomli"}
    assert undeclared == {}


def test_every_runtime_dependency_is_imported():
    runtime, _ = _declared()
    imported = {_distribution(m) for m in _imports()}
    unused = sorted(runtime - imported - set(NOT_IMPORTED))
    assert unused == []
