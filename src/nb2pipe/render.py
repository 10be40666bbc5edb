"""Pictures of the step DAG: a standalone SVG, Mermaid and DOT text.

In JupyterLab, ``%dag show`` is drawn by the labextension (js/dagoutput.ts) with the Pipeline
sidebar's own layout (dagre) and theme, from the graph sent as ``DAG_MIME``; the SVG made here
goes beside it as the fallback for frontends without the extension (nbconvert, GitHub, a Lab
without it) and is what ``nb2pipe dag --format svg`` writes.  Its layout is daglayout.py's.
Everything is deterministic: the same steps and edges give byte-identical output.
"""
from __future__ import annotations

from .daglayout import LABEL_CH, MARGIN, layout
from .errors import Nb2pipeError
from .report import STATE_COLORS

# `%dag show` in JupyterLab: the labextension draws this with the Pipeline sidebar's own layout
# (dagre) and theme colours; the SVG beside it is for frontends without the extension
DAG_MIME = "application/vnd.nb2pipe.dag+json"
FALLBACK = "#455a64"                     # colour of a state report.STATE_COLORS does not know
NODE_H = 44
NAME_CH, SUB_CH = 7.9, 6.0               # rough glyph widths: bold 13 px, 10 px
FONT = "-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
ARROW = "nb2pipe-arrow"


# ------------------------------------------------------------------ small helpers

def _direction(direction: str) -> str:
    d = str(direction).upper()
    d = "TB" if d == "TD" else d
    if d not in ("TB", "LR"):
        raise Nb2pipeError(f"unknown direction {direction!r}",
                           fix="use TB (top to bottom) or LR (left to right)")
    return d


def _color(state: str) -> str:
    return STATE_COLORS.get(state, FALLBACK)


def _tint(color: str, keep: float = 0.13) -> str:
    """``color`` mixed with white: a light fill that still reads as the state's colour."""
    rgb = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(255 - (255 - c) * keep):02x}" for c in rgb)


def _esc(text) -> str:
    s = "".join(ch for ch in str(text) if ch >= " " or ch in "\t\n")
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _n(v: float) -> str:
    s = f"{round(v, 1) or 0.0:.1f}"
    return s[:-2] if s.endswith(".0") else s


def _duration(s: float | None) -> str:
    if s is None:
        return ""
    if s < 1:
        return f"{s * 1000:.0f} ms"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def _subtitle(step: dict) -> str:
    d = _duration(step.get("duration"))
    return f"{step['state']} · {d}" if d else step["state"]


def _outputs(step: dict) -> str:
    parts = []
    for name in step.get("outputs") or ():
        m = (step.get("summaries") or {}).get(name) or {}
        if m.get("rows") is not None:
            parts.append(f"{name} ({m['rows']}×{m.get('columns', '?')})")
        elif m.get("shape") is not None:
            parts.append(f"{name} {tuple(m['shape'])}")
        elif m.get("type"):
            parts.append(f"{name} ({str(m['type']).rsplit('.', 1)[-1]})")
        else:
            parts.append(str(name))
    return ", ".join(parts)


def _tooltip(step: dict) -> str:
    lines = [f"{step['step']} — {step['state']}"]
    lines += [f"• {r}" for r in step.get("reasons") or ()]
    if step.get("outputs"):
        lines.append("outputs: " + _outputs(step))
    return "\n".join(lines)


def _merge(steps: list[dict], edges) -> list[tuple[str, str, str]]:
    """One edge per (source, target) pair, data names joined; unknown steps and loops dropped."""
    known = {s["step"] for s in steps}
    merged: dict[tuple[str, str], list[str]] = {}
    for src, dst, data in edges:
        if src in known and dst in known and src != dst:
            labels = merged.setdefault((src, dst), [])
            if str(data) not in labels:
                labels.append(str(data))
    return [(s, t, ", ".join(names)) for (s, t), names in merged.items()]


def _states(steps: list[dict]) -> list[str]:
    present = {s["state"] for s in steps}
    return [s for s in STATE_COLORS if s in present] + sorted(present - set(STATE_COLORS))


# ------------------------------------------------------------------ SVG

def _sizes(steps: list[dict], lr: bool) -> list[tuple[float, float]]:
    """Each node's (main, cross) extent: wide enough for its name and subtitle."""
    size = []
    for s in steps:
        w = max(80.0, len(s["step"]) * NAME_CH, len(_subtitle(s)) * SUB_CH) + 24
        size.append((w, NODE_H) if lr else (NODE_H, w))
    return size


def _svg_edges(merged, paths, xy, lr: bool) -> list[str]:
    """The edges as curves through their points, then their labels above every line."""
    body, tags = [], []
    for (src, dst, text), (pts, (lm, lc)) in zip(merged, paths):
        d = ["M" + xy(*pts[0])]
        for k in range(0, len(pts) - 1, 2):
            (m0, c0), (m1, c1) = pts[k], pts[k + 1]
            h = (m1 - m0) / 2
            d.append(f"C{xy(m0 + h, c0)} {xy(m1 - h, c1)} {xy(m1, c1)}")
            if k + 2 < len(pts):
                d.append("L" + xy(*pts[k + 2]))
        x, y = (lm, lc) if lr else (lc, lm)
        body.append(f'<g class="edge" data-source="{_esc(src)}" data-target="{_esc(dst)}">'
                    f'<title>{_esc(f"{src} → {dst}: {text}")}</title>'
                    f'<path d="{" ".join(d)}" fill="none" stroke="#9e9e9e" stroke-width="1.4" '
                    f'marker-end="url(#{ARROW})"/></g>')
        w = len(text) * LABEL_CH + 6
        tags.append(f'<rect x="{_n(x - w / 2)}" y="{_n(y - 7)}" width="{_n(w)}" height="14" rx="3" '
                    f'fill="#ffffff" fill-opacity="0.85"/>'
                    f'<text x="{_n(x)}" y="{_n(y + 3.5)}">{_esc(text)}</text>')
    body.append('<g class="edge-labels" text-anchor="middle" font-size="9.5" fill="#616161">'
                + "".join(tags) + "</g>")
    return body


def _svg_node(s: dict, m: float, c: float, sm: float, sc: float, lr: bool) -> str:
    color = _color(s["state"])
    w, h = (sm, sc) if lr else (sc, sm)
    x, y = (m, c) if lr else (c, m)
    return (f'<g class="node" data-step="{_esc(s["step"])}" data-state="{_esc(s["state"])}">'
            f'<title>{_esc(_tooltip(s))}</title>'
            f'<rect x="{_n(x - w / 2)}" y="{_n(y - h / 2)}" width="{_n(w)}" height="{_n(h)}" '
            f'rx="8" fill="{_tint(color)}" stroke="{color}" stroke-width="1.6"/>'
            f'<text x="{_n(x)}" y="{_n(y - 2)}" text-anchor="middle" font-size="13" '
            f'font-weight="bold" fill="#212121">{_esc(s["step"])}</text>'
            f'<text x="{_n(x)}" y="{_n(y + 13)}" text-anchor="middle" font-size="10" '
            f'fill="{color}">{_esc(_subtitle(s))}</text></g>')


def _svg_legend(steps: list[dict], top: float) -> tuple[str, float]:
    """One swatch per state present, in a row at ``top``; and the row's right end."""
    legend, at = [], float(MARGIN)
    for state in _states(steps):
        color = _color(state)
        legend.append(f'<rect x="{_n(at)}" y="{_n(top)}" width="12" height="12" rx="3" '
                      f'fill="{_tint(color)}" stroke="{color}"/><text x="{_n(at + 17)}" '
                      f'y="{_n(top + 10)}" font-size="11" fill="#424242">{_esc(state)}</text>')
        at += 17 + len(state) * 6.2 + 16
    return "".join(legend), at


def to_svg(steps: list[dict], edges, *, direction: str = "TB") -> str:
    """A standalone SVG of the DAG: nodes coloured by state, labelled edges, and a legend."""
    lr = _direction(direction) == "LR"
    head = f'<svg xmlns="http://www.w3.org/2000/svg" font-family="{FONT}" '
    if not steps:
        return (head + 'width="160" height="44" viewBox="0 0 160 44"><rect width="160" height="44" '
                'rx="6" fill="#ffffff" stroke="#dddddd"/><text x="80" y="27" text-anchor="middle" '
                'font-size="13" fill="#757575">no steps yet</text></svg>')
    merged = _merge(steps, edges)
    index = {s["step"]: i for i, s in enumerate(steps)}
    nodes, paths, (main_len, cross_len) = layout(
        _sizes(steps, lr), [(index[a], index[b]) for a, b, _ in merged], [t for _, _, t in merged], lr)

    def xy(m: float, c: float) -> str:
        return f"{_n(m)},{_n(c)}" if lr else f"{_n(c)},{_n(m)}"

    body = _svg_edges(merged, paths, xy, lr)
    body += [_svg_node(s, m, c, sm, sc, lr) for s, (m, c, (sm, sc)) in zip(steps, nodes)]
    width, height = (main_len, cross_len) if lr else (cross_len, main_len)
    legend, at = _svg_legend(steps, height)
    width, height = max(width, at + MARGIN), height + 12 + 14
    defs = (f'<defs><marker id="{ARROW}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#9e9e9e"/>'
            '</marker></defs>')
    return (head + f'width="{_n(width)}" height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}">'
            f'{defs}<rect width="100%" height="100%" fill="#ffffff"/>'
            f'{"".join(body)}<g class="legend">{legend}</g></svg>')


def bundle(steps: list[dict], edges, *, direction: str = "TB") -> dict:
    """The display bundle of `%dag show`: the graph as data for the labextension's renderer
    (the sidebar's layout and colours, so the two pictures agree) and the SVG as the fallback
    (nbconvert, GitHub, a Lab without the extension)."""
    dag = {"v": 1, "direction": _direction(direction), "steps": steps,
           "edges": [{"source": a, "target": b, "data": d} for a, b, d in edges]}
    return {DAG_MIME: dag, "image/svg+xml": to_svg(steps, edges, direction=direction),
            "text/plain": f"<nb2pipe DAG: {len(steps)} steps>"}


def _mermaid_text(text: str) -> str:
    return (str(text).replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;").replace("\n", " "))


def _klass(state: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in state)


def to_mermaid(steps: list[dict], edges, *, direction: str = "TB") -> str:
    """Mermaid flowchart text; nodes carry a ``classDef`` per state, edges their data names."""
    lines = [f"flowchart {_direction(direction)}"]
    if not steps:
        return "\n".join(lines + ['  empty["no steps yet"]'])
    for state in _states(steps):
        color = _color(state)
        lines.append(f"  classDef {_klass(state)} fill:{_tint(color)},stroke:{color},color:#212121")
    ids = {s["step"]: f"n{i}" for i, s in enumerate(steps)}
    for s in steps:
        lines.append(f'  {ids[s["step"]]}["<b>{_mermaid_text(s["step"])}</b><br/>'
                     f'{_mermaid_text(_subtitle(s))}"]:::{_klass(s["state"])}')
    for src, dst, text in _merge(steps, edges):
        lines.append(f'  {ids[src]} -->|"{_mermaid_text(text)}"| {ids[dst]}')
    return "\n".join(lines)


def _dot(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(steps: list[dict], edges, *, direction: str = "TB") -> str:
    """Graphviz DOT text: ``fillcolor``/``color`` per state, edges labelled with data names."""
    lines = ["digraph nb2pipe {", f"  rankdir={_direction(direction)};",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
             '  edge [color="#9e9e9e", fontname="Helvetica", fontsize=9, fontcolor="#616161"];']
    if not steps:
        lines.append('  empty [label="no steps yet", shape=plaintext, style=""];')
    for s in steps:
        color = _color(s["state"])
        lines.append(f'  {_dot(s["step"])} [label={_dot(s["step"] + chr(10) + _subtitle(s))}, '
                     f'fillcolor="{_tint(color)}", color="{color}", tooltip={_dot(_tooltip(s))}];')
    for src, dst, text in _merge(steps, edges):
        lines.append(f"  {_dot(src)} -> {_dot(dst)} [label={_dot(text)}];")
    lines.append("}")
    return "\n".join(lines)
