"""Human-readable views: one-line outcomes, status tables (text and HTML)."""
from __future__ import annotations

import html
import time
from typing import Iterable

STATE_COLORS = {
    "fresh": "#2e7d32", "stale": "#ef6c00", "never run": "#757575", "failed": "#c62828",
    "running": "#1565c0", "blocked": "#6a1b9a", "skipped": "#9e9e9e",
}


def seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.2f} s"
    return f"{s / 60:.1f} min"


def outcome_line(o) -> str:
    key = (o.key or "")[:8]
    if o.status == "cached":
        return f"✓ {o.step}  cached  key {key}  (saved {seconds(o.saved)})"
    if o.status == "fresh":
        return f"✓ {o.step}  fresh   key {key}"
    if o.status == "ran":
        return f"✓ {o.step}  ran in {seconds(o.duration)}  → stored, key {key}"
    if o.status == "skipped":
        return f"- {o.step}  skipped ({'; '.join(o.notes)})"
    return f"✗ {o.step}  failed"


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    d = time.time() - ts
    if d < 60:
        return f"{d:.0f} s ago"
    if d < 3600:
        return f"{d / 60:.0f} min ago"
    if d < 86400:
        return f"{d / 3600:.0f} h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _outputs(s) -> str:
    parts = []
    for name in s.outputs:
        m = s.summaries.get(name)
        if not m:
            parts.append(name)
        elif m.get("rows") is not None:
            parts.append(f"{name} ({m['rows']}×{m['columns']})")
        elif m.get("shape") is not None:
            parts.append(f"{name} {tuple(m['shape'])}")
        else:
            parts.append(f"{name} ({m['type'].rsplit('.', 1)[-1]})")
    return ", ".join(parts)


def status_rows(statuses: Iterable) -> list[list[str]]:
    rows = []
    for s in statuses:
        why = "; ".join(s.reasons) if s.state != "fresh" else ""
        if s.error and s.state == "failed":
            why = s.error.splitlines()[0]
        rows.append([s.step, s.state, why, seconds(s.duration), _ago(s.finished), _outputs(s),
                     s.where or ""])
    return rows


HEADER = ["step", "state", "why", "took", "last run", "outputs", "cell"]


class StatusTable:
    """What ``%dag status`` displays: an HTML table in the notebook, text elsewhere."""

    def __init__(self, statuses, store_url: str = "", env: str | None = None):
        self.statuses = list(statuses)
        self.store_url = store_url
        self.env = env

    def __repr__(self) -> str:
        rows = [HEADER] + status_rows(self.statuses)
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if self.store_url:
            lines.append((f"env: {self.env} · " if self.env else "") + f"store: {self.store_url}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        out = ["<table class='nb2pipe-status'><thead><tr>"
               + "".join(f"<th style='text-align:left'>{h}</th>" for h in HEADER) + "</tr></thead><tbody>"]
        for s, row in zip(self.statuses, status_rows(self.statuses)):
            color = STATE_COLORS.get(s.state, "#000")
            cells = [html.escape(c) for c in row]
            cells[1] = f"<span style='color:{color};font-weight:bold'>● {cells[1]}</span>"
            out.append("<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in cells) + "</tr>")
        out.append("</tbody></table>")
        if self.store_url:
            env = f"env: <b>{html.escape(self.env)}</b> · " if self.env else ""
            out.append(f"<div style='color:#777;font-size:85%'>{env}store: {html.escape(self.store_url)}</div>")
        return "".join(out)
