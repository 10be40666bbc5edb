"""A step's reads checked against what the definitions provide: names its --in does not list
(outputs of steps above), and names defined only in exploration cells, which production will
not run.  Errors say what, where and what to do."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from . import filerefs
from .errors import AnalysisError, UntrackedNameError
from .stepdef import StepDef

if TYPE_CHECKING:
    from .steps import Definitions


def check_reads(defs: Definitions, step: StepDef, provenance: Callable[[str], str | None]) -> None:
    """Declared inputs against the code; untracked names (exploration cells)."""
    reads = step.external_reads()
    writers = defs.writers()
    known = {}                   # read -> the last other step that writes it
    for r in reads:
        others = [w for w in writers.get(r, ()) if w != step.name]
        if others:
            known[r] = others[-1]
    label = f"step `{step.name}`" + (f", {step.where}" if step.where else "")
    untracked = []
    for r in reads:
        if r in defs.setup_owner or r in defs.params or r in known:
            continue
        if step.spec.inputs is not None and r in step.spec.inputs:
            continue
        origin = provenance(r)
        if origin is not None:
            untracked.append((r, origin))
    if untracked:
        r, origin = untracked[0]
        more = "" if len(untracked) == 1 else f" (and {', '.join(f'`{n}`' for n, _ in untracked[1:])})"
        raise UntrackedNameError(
            f"step `{step.name}` reads `{r}`{more}, defined only in {origin}, an exploration"
            " cell that production will not run",
            where=label,
            fix=f"move `{r}` into a %%params cell (a setting) or a %%setup cell (an import or"
                f" helper), or make it the --out of a step")
    if step.spec.inputs is not None:
        undeclared = [r for r in reads if r in known and r not in step.spec.inputs
                      and not filerefs.is_file(r)]     # files come without --in
        if undeclared:
            raise AnalysisError(
                f"step `{step.name}` reads {', '.join(f'`{u}`' for u in undeclared)} (output of"
                f" step `{known[undeclared[0]]}`) but --in lists only"
                f" {', '.join(step.spec.inputs) or 'nothing'}",
                where=label,
                fix=f"add {' '.join(undeclared)} to --in, or drop --in to infer inputs")

def unread_declared(step: StepDef) -> list[str]:
    """Names the %%step line lists with --in that the code never reads."""
    if step.spec.inputs is None:
        return []
    return [i for i in step.spec.inputs if i not in step.info.reads]

# -- graph
