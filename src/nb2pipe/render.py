"""Pictures of the step DAG: a standalone SVG with its own layered layout, Mermaid and DOT text.

The SVG layout is a small Sugiyama pipeline: longest-path layers from the sources, dummy
nodes on edges that span several layers, barycenter sweeps against crossings, then
coordinates (layers packed and centred, then pulled toward their neighbours).  Everything
is deterministic: the same steps and edges give byte-identical output.
"""
from __future__ import annotations

import heapq
from bisect import bisect_right, insort

from .errors import Nb2pipeError
from .report import STATE_COLORS

# `%dag show` in JupyterLab: the labextension draws this with the Pipeline sidebar's own layout
# (dagre) and theme colours; the SVG beside it is for frontends without the extension
DAG_MIME = "application/vnd.nb2pipe.dag+json"
FALLBACK = "#455a64"                     # colour of a state report.STATE_COLORS does not know
NODE_H, MARGIN, LAYER_GAP, GAP, DUMMY_GAP = 44, 20, 58, 28, 14
NAME_CH, SUB_CH, LABEL_CH = 7.9, 6.0, 5.6  # rough glyph widths: bold 13 px, 10 px, 9.5 px
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


# ------------------------------------------------------------------ layout

def _layers(n: int, pairs: list[tuple[int, int]]) -> list[int]:
    """Longest path from the sources: each node sits one layer below its deepest parent."""
    kids: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for u, v in pairs:
        kids[u].append(v)
        indeg[v] += 1
    layer, done = [0] * n, [False] * n
    ready = [i for i in range(n) if indeg[i] == 0]
    for _ in range(n):
        # a cycle (the Graph forbids them) would leave nothing ready: break it at the first node
        i = heapq.heappop(ready) if ready else next(i for i in range(n) if not done[i])
        done[i] = True
        for c in kids[i]:
            if not done[c]:
                layer[c] = max(layer[c], layer[i] + 1)
                indeg[c] -= 1
                if indeg[c] == 0:
                    heapq.heappush(ready, c)
    return layer


def _crossings(rows: list[list[int]], down: list[list[int]], pos: list[int]) -> int:
    total = 0
    for row in rows[:-1]:
        seen: list[int] = []
        for a in row:
            ends = sorted(pos[b] for b in down[a])
            total += sum(len(seen) - bisect_right(seen, b) for b in ends)
            for b in ends:
                insort(seen, b)
    return total


def _order(rows: list[list[int]], up, down, sweeps: int = 4) -> list[list[int]]:
    """Barycenter sweeps down and up; keeps the ordering with the fewest crossings."""
    pos = [0] * sum(map(len, rows))
    for row in rows:
        for k, i in enumerate(row):
            pos[i] = k
    best, fewest = [r[:] for r in rows], _crossings(rows, down, pos)
    for _ in range(sweeps):
        for layers, nbrs in ((range(1, len(rows)), up), (range(len(rows) - 2, -1, -1), down)):
            for li in layers:
                row = rows[li]
                key = {i: sum(pos[j] for j in nbrs[i]) / len(nbrs[i]) if nbrs[i] else pos[i] for i in row}
                row.sort(key=lambda i: (key[i], pos[i]))
                for k, i in enumerate(row):
                    pos[i] = k
            count = _crossings(rows, down, pos)
            if count < fewest:
                best, fewest = [r[:] for r in rows], count
    return best


def _fit(want: list[float], seps: list[float]) -> list[float]:
    """Closest positions to ``want`` (least squares) that keep order and min separations."""
    offs = [0.0]
    for s in seps:
        offs.append(offs[-1] + s)
    blocks: list[list[float]] = []                     # [mean, weight] of pooled y = x - offset
    for w, o in zip(want, offs):
        blocks.append([w - o, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m, k = blocks.pop()
            blocks[-1] = [(blocks[-1][0] * blocks[-1][1] + m * k) / (blocks[-1][1] + k), blocks[-1][1] + k]
    ys = [m for m, k in blocks for _ in range(int(k))]
    return [y + o for y, o in zip(ys, offs)]


def _layout(steps: list[dict], merged, lr: bool):
    """Positions of nodes (centre, size) and edges (point lists) in (main, cross) axes."""
    n = len(steps)
    index = {s["step"]: i for i, s in enumerate(steps)}
    pairs = [(index[a], index[b]) for a, b, _ in merged]
    layer = _layers(n, pairs)
    size = []                                           # (main, cross) extent per node
    for s in steps:
        w = max(80.0, len(s["step"]) * NAME_CH, len(_subtitle(s)) * SUB_CH) + 24
        size.append((w, NODE_H) if lr else (NODE_H, w))
    vlayer, chains = list(layer), []
    for u, v in pairs:
        chain = [u]
        for li in range(layer[u] + 1, layer[v]):        # dummy nodes on long edges
            vlayer.append(li)
            size.append((0.0, 6.0))
            chain.append(len(vlayer) - 1)
        chains.append(chain + [v])
    up: list[list[int]] = [[] for _ in vlayer]
    down: list[list[int]] = [[] for _ in vlayer]
    for chain in chains:
        if layer[chain[-1]] > layer[chain[0]]:
            for a, b in zip(chain, chain[1:]):
                down[a].append(b)
                up[b].append(a)
    rows: list[list[int]] = [[] for _ in range(max(vlayer) + 1)]
    for i, li in enumerate(vlayer):
        rows[li].append(i)
    rows = _order(rows, up, down)

    # main axis: band per layer, gap after it (wide enough for labels when they sit sideways)
    gaps = [LAYER_GAP] * len(rows)
    labels = [max(0, (len(chain) - 2) // 2) for chain in chains]   # segment carrying the label
    for chain, seg, (_, _, text) in zip(chains, labels, merged):
        if lr:                                          # labels sit across the gap: widen it
            gaps[vlayer[chain[seg]]] = max(gaps[vlayer[chain[seg]]], LAYER_GAP + len(text) * LABEL_CH + 16)
    band, start, at = [max(size[i][0] for i in row) for row in rows], [], float(MARGIN)
    for b, g in zip(band, gaps):
        start.append(at)
        at += b + g
    main = [start[vlayer[i]] + band[vlayer[i]] / 2 for i in range(len(vlayer))]
    main_len = at - gaps[-1] + MARGIN

    # cross axis: pack each layer, centre it, then pull nodes toward their neighbours
    sep = {}
    for row in rows:
        for a, b in zip(row, row[1:]):
            gap = GAP if a < n and b < n else DUMMY_GAP
            sep[a] = (size[a][1] + size[b][1]) / 2 + gap
    widths = [sum(sep.get(i, 0) for i in row[:-1]) for row in rows]
    cross = [0.0] * len(vlayer)
    for row, w in zip(rows, widths):
        at = (max(widths) - w) / 2
        for i in row:
            cross[i] = at
            at += sep.get(i, 0)
    for _ in range(3):
        for layers, nbrs in ((range(1, len(rows)), up), (range(len(rows) - 2, -1, -1), down)):
            for li in layers:
                row = rows[li]
                want = [sum(cross[j] for j in nbrs[i]) / len(nbrs[i]) if nbrs[i] else cross[i] for i in row]
                for i, x in zip(row, _fit(want, [sep[i] for i in row[:-1]])):
                    cross[i] = x
    lo = min(cross[i] - size[i][1] / 2 for i in range(len(vlayer)))
    cross = [c - lo + MARGIN for c in cross]
    cross_len = max(cross[i] + size[i][1] / 2 for i in range(len(vlayer))) + MARGIN

    # edges: spread ports on each node's side, straight through dummy bands, curves between
    port: dict[tuple[int, int], float] = {}
    for end, nb in ((0, 1), (-1, -2)):
        sides: dict[int, list[int]] = {}
        for ch in sorted(range(len(chains)), key=lambda ch: (cross[chains[ch][nb]], ch)):
            sides.setdefault(chains[ch][end], []).append(ch)
        for node, mine in sides.items():
            for k, ch in enumerate(mine):
                port[ch, end] = ((k + 0.5) / len(mine) - 0.5) * size[node][1] * 0.6
    paths = []
    for ch, chain in enumerate(chains):
        u, v = chain[0], chain[-1]
        pts = [(main[u] + size[u][0] / 2, cross[u] + port[ch, 0])]
        for d in chain[1:-1]:
            li = vlayer[d]
            pts += [(start[li], cross[d]), (start[li] + band[li], cross[d])]
        pts.append((main[v] - size[v][0] / 2, cross[v] + port[ch, -1]))
        (m0, c0), (m1, c1) = pts[2 * labels[ch]], pts[2 * labels[ch] + 1]
        paths.append((pts, ((m0 + m1) / 2, (c0 + c1) / 2)))
    nodes = [(main[i], cross[i], size[i]) for i in range(n)]
    return nodes, paths, (main_len, cross_len)


# ------------------------------------------------------------------ renderers

def to_svg(steps: list[dict], edges, *, direction: str = "TB") -> str:
    """A standalone SVG of the DAG: nodes coloured by state, labelled edges, and a legend."""
    lr = _direction(direction) == "LR"
    head = f'<svg xmlns="http://www.w3.org/2000/svg" font-family="{FONT}" '
    if not steps:
        return (head + 'width="160" height="44" viewBox="0 0 160 44"><rect width="160" height="44" '
                'rx="6" fill="#ffffff" stroke="#dddddd"/><text x="80" y="27" text-anchor="middle" '
                'font-size="13" fill="#757575">no steps yet</text></svg>')
    merged = _merge(steps, edges)
    nodes, paths, (main_len, cross_len) = _layout(steps, merged, lr)

    def xy(m: float, c: float) -> str:
        return f"{_n(m)},{_n(c)}" if lr else f"{_n(c)},{_n(m)}"

    body, tags = [], []                                 # labels go above every edge line
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
    for s, (m, c, (sm, sc)) in zip(steps, nodes):
        color = _color(s["state"])
        w, h = (sm, sc) if lr else (sc, sm)
        x, y = (m, c) if lr else (c, m)
        body.append(f'<g class="node" data-step="{_esc(s["step"])}" data-state="{_esc(s["state"])}">'
                    f'<title>{_esc(_tooltip(s))}</title>'
                    f'<rect x="{_n(x - w / 2)}" y="{_n(y - h / 2)}" width="{_n(w)}" height="{_n(h)}" '
                    f'rx="8" fill="{_tint(color)}" stroke="{color}" stroke-width="1.6"/>'
                    f'<text x="{_n(x)}" y="{_n(y - 2)}" text-anchor="middle" font-size="13" '
                    f'font-weight="bold" fill="#212121">{_esc(s["step"])}</text>'
                    f'<text x="{_n(x)}" y="{_n(y + 13)}" text-anchor="middle" font-size="10" '
                    f'fill="{color}">{_esc(_subtitle(s))}</text></g>')
    width, height = (main_len, cross_len) if lr else (cross_len, main_len)
    legend, at = [], float(MARGIN)
    for state in _states(steps):
        color = _color(state)
        legend.append(f'<rect x="{_n(at)}" y="{_n(height)}" width="12" height="12" rx="3" '
                      f'fill="{_tint(color)}" stroke="{color}"/><text x="{_n(at + 17)}" '
                      f'y="{_n(height + 10)}" font-size="11" fill="#424242">{_esc(state)}</text>')
        at += 17 + len(state) * 6.2 + 16
    width, height = max(width, at + MARGIN), height + 12 + 14
    defs = (f'<defs><marker id="{ARROW}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#9e9e9e"/>'
            '</marker></defs>')
    return (head + f'width="{_n(width)}" height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}">'
            f'{defs}<rect width="100%" height="100%" fill="#ffffff"/>'
            f'{"".join(body)}<g class="legend">{"".join(legend)}</g></svg>')


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
