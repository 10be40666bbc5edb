"""What a run showed, kept for audit: each step's captured outputs (nbformat's shapes:
streams, warnings, figures, rich displays, errors — already masked for secrets) are kept
with the run record, shown as text by ``nb2pipe log RUN --step S``, and assembled into an
executed notebook (papermill-style: the source notebook, each step cell with its outputs
and an execution count) by ``nb2pipe run … --output-notebook PATH``.
"""
from __future__ import annotations

import base64
import json
import os
import struct
from typing import Any

from .errors import Nb2pipeError
from .store import ObjectRef


def error_output(error: str | None, traceback: str | None) -> dict:
    """A failed step's error as a notebook error output."""
    ename, _, evalue = (error or "failed").partition(": ")
    lines = (traceback or "").rstrip("\n").splitlines() + ([error] if error else [])
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": lines}


def with_error(outputs: list[dict], error: str | None, traceback: str | None) -> list[dict]:
    """A failed step's outputs, ending with its error (unless the kernel showed one)."""
    if any(o.get("output_type") == "error" for o in outputs):
        return list(outputs)
    return [*outputs, error_output(error, traceback)]


def keep(store, outputs: list[dict], redactor=None) -> dict | None:
    """Store ``outputs`` (masked, trimmed) and return the ref a run record keeps."""
    from .capture import trim
    if not outputs:
        return None
    kept = trim(outputs)
    return store.put(redactor.scrub(kept) if redactor is not None else kept).to_json()


def outputs_of(store, step: dict) -> list[dict]:
    """The outputs a run record's step kept (empty if none, or if they are gone)."""
    ref = step.get("display")
    if not ref:
        return []
    try:
        out = store.get(ObjectRef.from_json(ref))
    except Exception:  # noqa: BLE001 - a collected or damaged object: the record still shows
        return [{"output_type": "stream", "name": "stderr",
                 "text": "[the outputs kept with this run are no longer in the store]\n"}]
    return [o for o in out if isinstance(o, dict)] if isinstance(out, list) else []


def png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    return struct.unpack(">II", data[16:24])


def as_text(outputs: list[dict], figures: str | None = None, prefix: str = "figure") -> list[str]:
    """Outputs as terminal lines; a figure is one ``[figure WxH]`` line (and a PNG file in
    ``figures`` when given)."""
    lines: list[str] = []
    n = 0
    for o in outputs:
        kind = o.get("output_type")
        if kind == "stream":
            lines += str(o.get("text", "")).rstrip("\n").splitlines()
        elif kind == "error":
            lines += [str(t) for t in o.get("traceback") or [f"{o.get('ename')}: {o.get('evalue')}"]]
        elif kind in ("display_data", "execute_result"):
            data = o.get("data") or {}
            if "image/png" in data:
                n += 1
                png = base64.b64decode(data["image/png"])
                w, h = png_size(png) or (0, 0)
                line = f"[figure {w}x{h}]"
                if figures:
                    os.makedirs(figures, exist_ok=True)
                    path = os.path.join(figures, f"{prefix}-{n}.png")
                    with open(path, "wb") as f:
                        f.write(png)
                    line += f" {path}"
                lines.append(line)
            else:
                text = data.get("text/plain", "")
                lines += ("".join(text) if isinstance(text, list) else str(text)).splitlines()
    return lines


def executed_notebook(nb, store, record: dict) -> dict:
    """The source notebook as this run executed it: setup and parameter cells numbered as
    they ran, each step cell with the outputs it kept and its status in the cell's metadata."""
    from .spec import parse_step_line
    raw = json.loads(json.dumps(nb.raw))
    steps = {s["step"]: s for s in record.get("steps", [])}
    kinds = {c.index: c for c in nb.cells}
    count = 0
    for i, cell in enumerate(raw.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        c = kinds.get(i)
        if c is None or c.kind not in ("setup", "params", "step", "control"):
            continue                            # exploration cells do not run headless
        if c.kind != "step":
            count += 1
            cell["execution_count"] = count
            continue
        try:
            s = steps.get(parse_step_line(c.line).name)
        except Nb2pipeError:
            s = None
        if s is None:
            continue
        cell["outputs"] = outputs_of(store, s)
        if s.get("status") in ("ran", "cached", "failed"):
            count += 1
            cell["execution_count"] = count
        cell.setdefault("metadata", {})["nb2pipe"] = {
            k: s.get(k) for k in ("step", "status", "duration", "key", "error") if s.get(k) is not None}
    raw.setdefault("metadata", {})["nb2pipe"] = {
        k: record.get(k) for k in ("run_id", "finished", "user", "env", "store", "params") if k in record}
    return raw


def write_notebook(book: dict, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(book, f, indent=1, ensure_ascii=False)
        f.write("\n")


def show_run(store, run_id: str, step: str | None, *, figures: str | None = None,
             notebook: str | None = None, mask: Any = None) -> int:
    """``nb2pipe log RUN [--step S]``: the run's steps and what each showed."""
    from . import records
    rec = records.run(store, run_id)
    if rec is None:
        raise Nb2pipeError(f"no run `{run_id}` in the store {store.url}",
                           fix="list the runs with `nb2pipe log` (same --store / --env)")
    steps = rec.get("steps", [])
    if step is not None:
        steps = [s for s in steps if s.get("step") == step]
        if not steps:
            names = [s.get("step") for s in rec.get("steps", [])]
            raise Nb2pipeError(f"run `{run_id}` has no step `{step}`",
                               fix="its steps: " + ", ".join(str(n) for n in names))
    clean = mask.text if mask is not None else (lambda t: t)
    print(f"run {run_id} · {rec.get('kind', '')} · {rec.get('user', '')} · env {rec.get('env') or '-'}")
    for s in steps:
        print(f"\n── {s.get('step')}: {s.get('status')}"
              + (f" in {s['duration']:.2f} s" if isinstance(s.get("duration"), (int, float)) else ""))
        for line in as_text(outputs_of(store, s), figures, prefix=f"{run_id}-{s.get('step')}"):
            print("   " + clean(line))
    if notebook:
        kept = rec.get("executed_notebook")
        if not kept:
            raise Nb2pipeError(f"run `{run_id}` kept no executed notebook",
                               fix="run with `nb2pipe run NOTEBOOK --output-notebook PATH` to keep one")
        write_notebook(store.get(ObjectRef.from_json(kept)), notebook)
        print(f"\nexecuted notebook: {notebook}")
    return 0
