"""nbformat and nbclient, imported at the cost of a lean environment.

Importing nbformat imports jsonschema, whose format checkers import every optional package
that happens to be installed.  In a JupyterLab environment that includes ``rfc3987_syntax``,
which compiles its grammars on import: 2-5 s on every headless run, before any step (issue
measurements in bench/README.md); the other format packages cost ~40 ms more.  nbformat
validates notebooks against schemas that use none of those formats, so nb2pipe imports them
with these optional packages hidden.  The hiding is scoped to the import and undone after it;
the only lasting effect is that jsonschema in this process does not check those formats
(``iri``, ``uri``, ``date-time``, ``color``, ``json-pointer``, ``duration`` ...).
"""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator

# the optional packages jsonschema's format checkers import when they are installed (a
# JupyterLab environment has them all, through jupyter_events): rfc3987_syntax takes seconds,
# the others ~40 ms together (isoduration imports arrow).  nbformat's schemas use none of
# these formats, and nb2pipe reads notebooks itself.
SLOW_OPTIONAL = ("rfc3987_syntax", "rfc3987", "rfc3986_validator", "rfc3339_validator", "webcolors",
                 "jsonpointer", "uri_template", "isoduration", "fqdn")


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
