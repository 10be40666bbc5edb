"""What a step's ``--src`` names, as files: one expansion for the hasher, ``run --watch`` and
export."""
from __future__ import annotations

import glob
import os


def is_glob(spec: str) -> bool:
    return any(c in spec for c in "*?[")


def _walk(directory: str) -> set[str]:
    return {os.path.join(d, f) for d, _, fs in os.walk(directory) for f in fs}


def expand_source(spec: str, base: str) -> list[str]:
    """The files ``spec`` (relative to ``base``) names, sorted: the file itself, every file
    under a directory, or every file a glob (``**`` recursive) matches, directories matched
    by a glob standing for the files under them.  Empty when nothing exists."""
    full = os.path.join(base, spec)
    out: set[str] = set()
    for p in (glob.glob(full, recursive=True) if is_glob(spec) else [full]):
        if os.path.isdir(p):
            out |= _walk(p)
        elif os.path.isfile(p):
            out.add(p)
    return sorted(out)


def expand_sources(specs, base: str) -> list[str]:
    """The union of :func:`expand_source` over ``specs``, sorted."""
    out: set[str] = set()
    for spec in specs:
        out.update(expand_source(spec, base))
    return sorted(out)
