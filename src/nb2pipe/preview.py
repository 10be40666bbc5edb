"""The first rows of a step's stored output, for the sidebar: read from the store by the
step's last entry, never from the kernel's variables, and nothing executed."""
from __future__ import annotations

import reprlib

from . import protocol as P
from .errors import Nb2pipeError
from .errors import CorruptObjectError
from .store import ObjectRef

MAX_ROWS = 200          # a preview, not an export
CELL_CHARS = 200        # one cell's text
REPR_CHARS = 2000


def _entry_of(engine, step: str) -> tuple[str, dict]:
    """(key, entry) of the step's last result: this session's, else the store's last."""
    res = engine.results.get(step)
    last = engine.store.get_last(step, engine.pipeline)
    key = res.key if res is not None else (last or {}).get("key")
    if key is None:
        if step in engine.defs.steps:
            raise Nb2pipeError(f"preview: step `{step}` has no stored result yet",
                               fix=f"run the cell of `{step}` (or `%dag run {step}`), then preview it")
        known = ", ".join(f"`{n}`" for n in engine.defs.steps) or "none yet"
        raise Nb2pipeError(f"preview: no step `{step}` in this kernel (its steps: {known})",
                           fix="pick a step of this notebook")
    entry = engine.store.get_entry(key)
    if entry is None:
        raise Nb2pipeError(f"preview: the entry {key[:12]} of step `{step}` is not in the store",
                           fix=f"run step `{step}` again to store its outputs")
    return key, entry


def _cell(v) -> str:
    text = "None" if v is None else str(v)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS - 1] + "…"


def preview_message(engine, req: P.PreviewRequest) -> dict:
    """The answer to ``preview`` (see :class:`nb2pipe.protocol.PreviewMsg`)."""
    if req.rows < 0:
        raise Nb2pipeError(f"preview: rows must be 0 or more (got {req.rows})", fix="ask for 10 rows")
    key, entry = _entry_of(engine, req.step)
    outputs = entry.get("outputs") or {}
    if req.output not in outputs:
        names = ", ".join(f"`{o}`" for o in outputs) or "none"
        raise Nb2pipeError(f"preview: step `{req.step}` has no stored output `{req.output}` (its outputs: {names})",
                           fix="pick one of the step's outputs")
    ref = ObjectRef.from_json(outputs[req.output])
    msg = P.PreviewMsg(step=req.step, output=req.output, key=key[:12], value_type=ref.type, nbytes=ref.nbytes)
    try:
        if ref.codec == "arrow":
            table = engine.store.get_arrow(ref)
            msg.rows, msg.columns = table.num_rows, table.num_columns
            msg.schema = [(f.name, str(f.type)) for f in table.schema]
            head = table.slice(0, min(req.rows, MAX_ROWS))
            cols = [[_cell(v) for v in c.to_pylist()] for c in head.columns]
            msg.head = [list(row) for row in zip(*cols)] if cols else []
        else:
            value = engine.store.get(ref)
            short = reprlib.Repr()
            short.maxstring = short.maxother = REPR_CHARS
            msg.repr = short.repr(value)[:REPR_CHARS]
    except (CorruptObjectError, FileNotFoundError) as e:
        raise Nb2pipeError(f"preview: the stored object of `{req.output}` (step `{req.step}`,"
                           f" entry {key[:12]}) cannot be read: {e}",
                           fix=f"run step `{req.step}` again (`%dag run --force {req.step}`) to store it anew") from None
    return msg.to_json()
