"""One export as both the CLI and the sidebar do it: refuse an already-exported
pipeline, compile the package, and describe the result in the lines a user reads."""
from __future__ import annotations

from ..errors import Nb2pipeError
from .data import source_lines
from .package import Exported, export


def export_described(nb, engine, output: str, **options) -> tuple[Exported, list[str]]:
    """Export ``nb`` (a notebook as read by :func:`nb2pipe.notebook.read`) to ``output`` and
    return the package with the lines that describe it: where it went, which sources it
    reads, and how to install and test it."""
    if nb.manifest:
        raise Nb2pipeError(f"{nb.path} is already an exported pipeline",
                           fix="export the source notebook instead")
    out = export(nb, engine, output, **options)
    return out, [f"exported {out.package} {out.version} to {out.path} ({len(out.files)} files)",
                 *source_lines(out),
                 f"  cd {out.path} && pip install --find-links wheels/ -c {out.package}/requirements.lock"
                 " '.[test]' && python -m pytest"]
