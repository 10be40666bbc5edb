"""The sidebar's requests that answer with more than the live graph: a plan of the notebook as
saved (before its cells run), a sample check, an export -- each on the kernel's store and
parameters, in the kernel, never a traceback -- and the graph message's parts (groups, the
rows x columns on edges) shared with ``%dag show``."""
from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

from . import protocol as P
from .errors import Nb2pipeError

if TYPE_CHECKING:
    from .engine import Engine


def with_groups(planner, statuses) -> list[P.StepStatus]:
    """The statuses, each with its step's ``--group`` (the panel collapses a group into one node)."""
    out = list(statuses)
    for s in out:
        step = planner.defs.steps.get(s.step)
        s.group = step.spec.group if step is not None else None
    return out


def edges_with_sizes(graph, statuses) -> list[P.Edge]:
    """The graph's edges, a table's rows x columns on each (its producer's stored summary:
    entry metadata, no object read)."""
    summaries = {s.step: s.summaries for s in statuses}
    edges = []
    for a, b, d in graph.edges():
        summary = (summaries.get(a) or {}).get(d) or {}      # the planner's: a dict per output
        edges.append(P.Edge(a, b, d, rows=summary.get("rows"), columns=summary.get("columns")))
    return edges


def plan_message(engine: Engine, req: P.PlanRequest) -> dict:
    """The notebook's steps as ``nb2pipe status`` plans them -- definitions only, nothing
    executed, keys looked up in this kernel's store -- for the panel before the cells run
    (or after a restart).  The live engine is not touched."""
    import dataclasses
    import json

    from . import notebook as nbmod
    from .runner import plan
    name = os.path.basename(req.name or "notebook.ipynb")
    if not isinstance(req.notebook, dict):
        return P.PlanMsg(steps=[], edges=[], problems=["plan: the request carries no notebook"]).to_json()
    tmp = tempfile.mkdtemp(prefix="nb2pipe-plan-")
    try:
        path = os.path.join(tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(req.notebook, f)
        # planned as if it were where the kernel runs (relative `--src` paths, local modules)
        nb = dataclasses.replace(nbmod.read(path), path=os.path.join(os.getcwd(), name))
        planner = plan.engine_for(nb, engine.store)
        graph = planner.graph()
        steps = with_groups(planner, planner.plan(graph).values())
        edges = edges_with_sizes(graph, steps)
        return P.PlanMsg(steps=steps, edges=edges, problems=[]).to_json()
    except Nb2pipeError as e:
        return P.PlanMsg(steps=[], edges=[], problems=getattr(e, "problems", None) or [e.what]).to_json()
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


def check_message(engine: Engine, rows: int) -> dict:
    """The answer to ``check``: ``%dag check --sample ROWS`` (the notebook as last saved, on
    samples, in a separate kernel), as data for the sidebar.  Blocks this kernel while it runs,
    as the magic does; an error that is not nb2pipe's is one line, never a traceback."""
    from . import samplecheck
    try:
        check, saved = samplecheck.of_saved_notebook(engine, engine.param_overrides, rows)
    except Nb2pipeError:
        raise
    except Exception as e:  # noqa: BLE001 - the sample kernel could not start, ...
        raise Nb2pipeError(f"the sample check could not run: {type(e).__name__}: {e}",
                           fix="run `%dag check --sample` in a cell to see the whole error") from e
    breaks = [P.CheckBreak(step=b.step, output=b.output, column=b.column, expected=b.want, got=b.got,
                           made_by=o.step, line=o.line, message=samplecheck.describe(b, o))
              for b, o in zip(check.breaks, check.made_by)]
    msg = P.CheckMsg(ok=check.ok, rows=check.rows, breaks=breaks, sampled=check.sampled, full=check.full,
                     unsampled_steps=check.unsampled_steps, failed=check.failed, skipped=check.skipped,
                     not_checked=check.not_checked, no_contract=check.no_contract,
                     durations=check.durations, wall=check.wall,
                     report=samplecheck.render(check, saved.graph()))
    return saved.redactor().scrub(msg.to_json())


def export_notebook(req: P.ExportRequest, engine) -> dict:
    """Export the notebook as ``nb2pipe export NOTEBOOK -o DIR`` does (the same function,
    called in the kernel on the kernel's store and parameters, with the same lines as the
    answer).

    ``name`` is the notebook's file name; when a file of that name is in the kernel's
    working directory (a local kernel) it is exported as saved, otherwise (a remote
    kernel) ``notebook`` (its JSON) is written to a temporary directory first."""
    output = req.output or ""
    name = os.path.basename(req.name or "notebook.ipynb")
    if not output:
        return {"ok": False, "message": "no output folder given"}
    path, tmp = os.path.abspath(name), None
    if not os.path.exists(path) and req.notebook is not None:
        import json
        tmp = tempfile.mkdtemp(prefix="nb2pipe-export-")
        path = os.path.join(tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(req.notebook, f)

    def as_known(text: str) -> str:       # the notebook as the user knows it, not our copy
        return text.replace(os.path.join(tmp, ""), "") if tmp else text
    try:
        from . import notebook
        from .export.summary import export_described
        from .runner import plan
        nb = notebook.read(path)
        saved = plan.engine_for(nb, engine.store, engine.param_overrides)
        _, lines = export_described(nb, saved, output, overwrite=req.overwrite)
    except Nb2pipeError as e:
        return {"ok": False, "message": as_known(f"nb2pipe: {e}")}
    except Exception as e:  # noqa: BLE001 - report, never break the kernel
        return {"ok": False, "message": as_known(f"export failed: {type(e).__name__}: {e}")}
    finally:
        if tmp:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    return {"ok": True, "message": as_known("\n".join(lines)), "output": output}
