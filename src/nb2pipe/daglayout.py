"""The layered layout of the DAG picture render.py draws as SVG (the fallback for frontends
without the labextension, whose sidebar and ``%dag show`` share dagre's layout instead).

A small Sugiyama pipeline: longest-path layers from the sources, dummy nodes on edges that
span several layers, barycenter sweeps against crossings, then coordinates (layers packed and
centred, then pulled toward their neighbours).  Positions are in (main, cross) axes: main
runs along the edges (down for TB, right for LR).  Deterministic: the same input gives the
same floats.
"""
from __future__ import annotations

import heapq
from bisect import bisect_right, insort
from dataclasses import dataclass

MARGIN, LAYER_GAP, GAP, DUMMY_GAP = 20, 58, 28, 14
LABEL_CH = 5.6                          # rough glyph width of an edge label (9.5 px)


@dataclass
class _Layered:
    """Nodes 0..n-1 are the steps, the rest dummies on long edges."""
    n: int
    size: list[tuple[float, float]]     # (main, cross) extent per node
    vlayer: list[int]                   # layer of each node
    chains: list[list[int]]             # per edge: its source, its dummies, its target
    up: list[list[int]]
    down: list[list[int]]
    rows: list[list[int]]               # nodes of each layer, in order


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


def _layered(sizes: list[tuple[float, float]], pairs: list[tuple[int, int]]) -> _Layered:
    """Layers, a dummy node per layer a long edge crosses, and each layer's order."""
    layer = _layers(len(sizes), pairs)
    size, vlayer, chains = list(sizes), list(layer), []
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
    return _Layered(len(sizes), size, vlayer, chains, up, down, _order(rows, up, down))


def _main_axis(g: _Layered, labels: list[int], texts: list[str], lr: bool):
    """A band per layer and a gap after it (wide enough for labels when they sit sideways):
    each band's start and extent, each node's centre, the total length."""
    gaps = [LAYER_GAP] * len(g.rows)
    for chain, seg, text in zip(g.chains, labels, texts):
        if lr:                                          # labels sit across the gap: widen it
            gaps[g.vlayer[chain[seg]]] = max(gaps[g.vlayer[chain[seg]]], LAYER_GAP + len(text) * LABEL_CH + 16)
    band, start, at = [max(g.size[i][0] for i in row) for row in g.rows], [], float(MARGIN)
    for b, gap in zip(band, gaps):
        start.append(at)
        at += b + gap
    main = [start[g.vlayer[i]] + band[g.vlayer[i]] / 2 for i in range(len(g.vlayer))]
    return start, band, main, at - gaps[-1] + MARGIN


def _cross_axis(g: _Layered):
    """Each layer packed and centred, then nodes pulled toward their neighbours: each node's
    centre and the total width."""
    size, rows = g.size, g.rows
    sep = {}
    for row in rows:
        for a, b in zip(row, row[1:]):
            gap = GAP if a < g.n and b < g.n else DUMMY_GAP
            sep[a] = (size[a][1] + size[b][1]) / 2 + gap
    widths = [sum(sep.get(i, 0) for i in row[:-1]) for row in rows]
    cross = [0.0] * len(g.vlayer)
    for row, w in zip(rows, widths):
        at = (max(widths) - w) / 2
        for i in row:
            cross[i] = at
            at += sep.get(i, 0)
    for _ in range(3):
        for layers, nbrs in ((range(1, len(rows)), g.up), (range(len(rows) - 2, -1, -1), g.down)):
            for li in layers:
                row = rows[li]
                want = [sum(cross[j] for j in nbrs[i]) / len(nbrs[i]) if nbrs[i] else cross[i] for i in row]
                for i, x in zip(row, _fit(want, [sep[i] for i in row[:-1]])):
                    cross[i] = x
    lo = min(cross[i] - size[i][1] / 2 for i in range(len(g.vlayer)))
    cross = [c - lo + MARGIN for c in cross]
    return cross, max(cross[i] + size[i][1] / 2 for i in range(len(g.vlayer))) + MARGIN


def _ports(g: _Layered, cross: list[float]) -> dict[tuple[int, int], float]:
    """Where each edge leaves its source (end 0) and enters its target (end -1): spread over
    the node's side in the order of the nodes at the other end."""
    port: dict[tuple[int, int], float] = {}
    for end, nb in ((0, 1), (-1, -2)):
        sides: dict[int, list[int]] = {}
        for ch in sorted(range(len(g.chains)), key=lambda ch: (cross[g.chains[ch][nb]], ch)):
            sides.setdefault(g.chains[ch][end], []).append(ch)
        for node, mine in sides.items():
            for k, ch in enumerate(mine):
                port[ch, end] = ((k + 0.5) / len(mine) - 0.5) * g.size[node][1] * 0.6
    return port


def _paths(g: _Layered, labels: list[int], main, cross, start, band) -> list:
    """Each edge's points (straight through the bands of its dummies) and its label's place."""
    port, size, paths = _ports(g, cross), g.size, []
    for ch, chain in enumerate(g.chains):
        u, v = chain[0], chain[-1]
        pts = [(main[u] + size[u][0] / 2, cross[u] + port[ch, 0])]
        for d in chain[1:-1]:
            li = g.vlayer[d]
            pts += [(start[li], cross[d]), (start[li] + band[li], cross[d])]
        pts.append((main[v] - size[v][0] / 2, cross[v] + port[ch, -1]))
        (m0, c0), (m1, c1) = pts[2 * labels[ch]], pts[2 * labels[ch] + 1]
        paths.append((pts, ((m0 + m1) / 2, (c0 + c1) / 2)))
    return paths


def layout(sizes: list[tuple[float, float]], pairs: list[tuple[int, int]], texts: list[str], lr: bool):
    """Nodes of ``sizes`` ((main, cross) extents) and edges ``pairs`` (indices) labelled
    ``texts`` (across the gaps between layers when ``lr``) -> each node's (main, cross,
    size), each edge's points (curves between consecutive pairs) and label position, and
    the picture's (main, cross) extent."""
    g = _layered(sizes, pairs)
    labels = [max(0, (len(chain) - 2) // 2) for chain in g.chains]   # segment carrying the label
    start, band, main, main_len = _main_axis(g, labels, texts, lr)
    cross, cross_len = _cross_axis(g)
    nodes = [(main[i], cross[i], g.size[i]) for i in range(g.n)]
    return nodes, _paths(g, labels, main, cross, start, band), (main_len, cross_len)
