"""nbformat and nbclient, imported at the cost of a lean environment.

Importing nbformat imports jsonschema, whose format checkers import every optional package
that happens to be installed.  In a JupyterLab environment that includes ``rfc3987_syntax``,
which compiles its grammars on import: 2-5 s on every headless run, before any step (issue
measurements in bench/README.md).  nbformat validates notebooks against schemas that use no
IRI format, so nb2pipe imports them with that one optional package hidden.  The hiding is
scoped to the import and undone after it; the only lasting effect is that jsonschema in this
process does not check the ``iri``/``iri-reference`` formats.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator

SLOW_OPTIONAL = ("rfc3987_syntax",)


@contextlib.contextmanager
def _hidden(names: tuple[str, ...]) -> Iterator[None]:
    added = [n for n in names if n not in sys.modules]
    for n in added:
        sys.modules[n] = None          # `import n` raises ImportError: the optional path is skipped
    try:
        yield
    finally:
        for n in added:
            if sys.modules.get(n, 0) is None:
                del sys.modules[n]


def nbformat():
    """The nbformat module (and nbclient, which imports it), imported quickly."""
    if "nbclient" not in sys.modules:
        with _hidden(SLOW_OPTIONAL):
            import nbclient  # noqa: F401
            import nbformat as _nbformat  # noqa: F401
    return sys.modules["nbformat"]
