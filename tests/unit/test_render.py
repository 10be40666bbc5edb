"""Tests of nb2pipe.render: SVG layout, Mermaid and DOT text."""
from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest

from nb2pipe import render
from nb2pipe.errors import Nb2pipeError
from nb2pipe.report import STATE_COLORS

NS = "{http://www.w3.org/2000/svg}"
STATES = list(STATE_COLORS)


def step(name, state="fresh", duration=None, reasons=(), outputs=()):
    return {"step": name, "state": state, "reasons": list(reasons), "duration": duration,
            "outputs": list(outputs), "summaries": {}}


def graph(names, edges):
    """Steps (states cycling through every state) and (source, target, data) edges."""
    return [step(n, STATES[i % len(STATES)], 0.5 * i or None) for i, n in enumerate(names)], edges


def random_dag(n, seed, fanin=3):
    rnd = random.Random(seed)
    names = [f"s{i}" for i in range(n)]
    edges = [(names[j], names[i], f"d{j}") for i in range(1, n)
             for j in rnd.sample(range(i), min(i, rnd.randint(0, fanin)))]
    return graph(names, edges)


CASES = {
    "single": graph(["only"], []),
    "chain": graph(["a", "b", "c"], [("a", "b", "x"), ("b", "c", "y")]),
    "fan_out": graph(["src", "l", "m", "r"], [("src", k, "d") for k in "lmr"]),
    "fan_in": graph(["l", "m", "r", "sink"], [(k, "sink", f"d{k}") for k in "lmr"]),
    "diamond": graph(["a", "b", "c", "d"], [("a", "b", "x"), ("a", "c", "x"), ("b", "d", "y"), ("c", "d", "z")]),
    "long_span": graph(["a", "b", "c", "d"], [("a", "b", "x"), ("b", "c", "y"), ("c", "d", "z"), ("a", "d", "w")]),
    "multi_edge": graph(["a", "b"], [("a", "b", "x"), ("a", "b", "y")]),
    "disconnected": graph(["a", "b", "c", "d"], [("a", "b", "x")]),
    "wide_names": graph(["a_rather_long_step_name", "b", "c"], [("a_rather_long_step_name", "c", "q"), ("b", "c", "r")]),
    "random40": random_dag(40, seed=1),
}
DIRECTIONS = ["TB", "LR"]
PARAMS = [pytest.param(c, d, id=f"{c}-{d}") for c in CASES for d in DIRECTIONS]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == NS + "svg"
    return root


def nodes(root):
    """step name -> (x0, y0, x1, y1, node group)"""
    out = {}
    for g in root.iter(NS + "g"):
        if g.get("class") == "node":
            r = g.find(NS + "rect")
            x, y, w, h = (float(r.get(k)) for k in ("x", "y", "width", "height"))
            out[g.get("data-step")] = (x, y, x + w, y + h, g)
    return out


def edge_groups(root):
    return [g for g in root.iter(NS + "g") if g.get("class") == "edge"]


def pairs(edges):
    return {(s, t) for s, t, _ in edges}


@pytest.mark.parametrize("case,direction", PARAMS)
def test_svg_is_xml_with_every_step_and_edge(case, direction):
    steps, edges = CASES[case]
    root = parse(render.to_svg(steps, edges, direction=direction))
    found = nodes(root)
    assert set(found) == {s["step"] for s in steps}
    for s in steps:
        texts = [t.text for t in found[s["step"]][4].iter(NS + "text")]
        assert texts[0] == s["step"] and texts[1].startswith(s["state"])
        assert found[s["step"]][4].find(NS + "title").text.startswith(s["step"])
    drawn = {(g.get("data-source"), g.get("data-target")) for g in edge_groups(root)}
    assert len(edge_groups(root)) == len(pairs(edges)) and drawn == pairs(edges)
    for g in edge_groups(root):
        assert g.find(NS + "path").get("marker-end") == f"url(#{render.ARROW})"


@pytest.mark.parametrize("case,direction", PARAMS)
def test_parents_come_before_children(case, direction):
    steps, edges = CASES[case]
    found = nodes(parse(render.to_svg(steps, edges, direction=direction)))
    for src, dst, _ in edges:
        a, b = found[src], found[dst]
        if direction == "TB":
            assert a[3] < b[1], (src, dst)      # bottom of parent above top of child
        else:
            assert a[2] < b[0], (src, dst)      # right of parent left of child


@pytest.mark.parametrize("case,direction", PARAMS)
def test_node_boxes_do_not_overlap(case, direction):
    steps, edges = CASES[case]
    root = parse(render.to_svg(steps, edges, direction=direction))
    boxes = sorted(b[:4] for b in nodes(root).values())
    width, height = float(root.get("width")), float(root.get("height"))
    for i, (ax0, ay0, ax1, ay1) in enumerate(boxes):
        assert 0 <= ax0 and ax1 <= width and 0 <= ay0 and ay1 <= height
        for bx0, by0, bx1, by1 in boxes[i + 1:]:
            assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, "boxes overlap"


@pytest.mark.parametrize("state", STATES + ["something new"])
def test_node_colours_follow_state(state):
    root = parse(render.to_svg([step("x", state)], []))
    rect = nodes(root)["x"][4].find(NS + "rect")
    color = STATE_COLORS.get(state, render.FALLBACK)
    assert rect.get("stroke") == color
    assert rect.get("fill") == render._tint(color) != color
    legend = [t.text for g in root.iter(NS + "g") if g.get("class") == "legend" for t in g.iter(NS + "text")]
    assert legend == [state]


def test_tint_is_light_version_of_colour():
    assert render._tint("#000000") == "#dedede"
    assert render._tint("#ffffff") == "#ffffff"


@pytest.mark.parametrize("case,direction", PARAMS)
def test_output_is_deterministic(case, direction):
    steps, edges = CASES[case]
    outs = {fmt(steps, edges, direction=direction) for fmt in (render.to_svg,) for _ in range(3)}
    assert len(outs) == 1
    assert render.to_mermaid(steps, edges, direction=direction) == render.to_mermaid(steps, edges, direction=direction)
    assert render.to_dot(steps, edges, direction=direction) == render.to_dot(steps, edges, direction=direction)


def test_empty_graph():
    root = parse(render.to_svg([], []))
    assert "no steps yet" in "".join(root.itertext())
    assert render.to_mermaid([], []).startswith("flowchart TB")
    assert "no steps yet" in render.to_dot([], [])


def test_details_and_tooltip():
    s = step("train", "stale", 1.234, reasons=["code changed", "input `df` changed"], outputs=["model", "df"])
    s["summaries"] = {"df": {"rows": 10, "columns": 3}}
    g = nodes(parse(render.to_svg([s], [])))["train"][4]
    assert [t.text for t in g.iter(NS + "text")] == ["train", "stale · 1.2 s"]
    title = g.find(NS + "title").text
    assert "code changed" in title and "input `df` changed" in title and "df (10×3)" in title
    assert render._duration(0.25) == "250 ms" and render._duration(300) == "5.0 min"


def test_multiple_edges_between_a_pair_are_merged():
    steps, edges = CASES["multi_edge"]
    svg = render.to_svg(steps, edges)
    assert len(edge_groups(parse(svg))) == 1 and ">x, y<" in svg
    assert '-->|"x, y"|' in render.to_mermaid(steps, edges)
    assert '"a" -> "b" [label="x, y"]' in render.to_dot(steps, edges)


def test_escaping():
    steps = [step("a<b&c"), step('q"t'), step("z")]
    edges = [("a<b&c", "z", "a<b&c"), ('q"t', "z", "x>y")]
    svg = render.to_svg(steps, edges)
    assert "a&lt;b&amp;c" in svg and "x&gt;y" in svg and "a<b&c" not in svg
    root = parse(svg)
    assert set(nodes(root)) == {"a<b&c", 'q"t', "z"}
    labels = [t.text for g in root.iter(NS + "g") if g.get("class") == "edge-labels" for t in g.iter(NS + "text")]
    assert sorted(labels) == ["a<b&c", "x>y"]
    mermaid = render.to_mermaid(steps, edges)
    assert "a#lt;b#amp;c" in mermaid and "q#quot;t" in mermaid and "a<b" not in mermaid
    dot = render.to_dot(steps, edges)
    assert '"a<b&c" -> "z" [label="a<b&c"]' in dot and '"q\\"t" -> "z" [label="x>y"]' in dot


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("case", list(CASES))
def test_mermaid_and_dot_have_every_edge(case, direction):
    steps, edges = CASES[case]
    mermaid = render.to_mermaid(steps, edges, direction=direction)
    dot = render.to_dot(steps, edges, direction=direction)
    assert mermaid.splitlines()[0] == f"flowchart {direction}"
    assert f"rankdir={direction};" in dot
    ids = {s["step"]: f"n{i}" for i, s in enumerate(steps)}
    labels = {}
    for s, t, d in edges:
        labels.setdefault((s, t), []).append(d)
    for (s, t), names in labels.items():
        assert f'{ids[s]} -->|"{", ".join(names)}"| {ids[t]}' in mermaid
        assert f'"{s}" -> "{t}" [label="{", ".join(names)}"];' in dot
    for s in steps:
        klass = s["state"].replace(" ", "_")
        assert f":::{klass}" in mermaid and f"classDef {klass} fill:" in mermaid
        color = STATE_COLORS[s["state"]]
        assert f'fillcolor="{render._tint(color)}", color="{color}"' in dot


def test_unknown_steps_and_self_loops_are_ignored():
    steps = [step("a"), step("b")]
    root = parse(render.to_svg(steps, [("a", "b", "x"), ("a", "ghost", "y"), ("b", "b", "z")]))
    assert len(edge_groups(root)) == 1


def test_bad_direction():
    with pytest.raises(Nb2pipeError, match="direction"):
        render.to_svg([step("a")], [], direction="sideways")


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_two_hundred_nodes_render(direction):
    # speed is measured in bench/, not asserted here (shared, noisy machines)
    steps, edges = random_dag(200, seed=7)
    svg = render.to_svg(steps, edges, direction=direction)
    assert len(nodes(parse(svg))) == 200


def test_dag_show_bundle_carries_the_graph_for_the_labextension_and_the_svg_for_others():
    import json
    steps, edges = CASES["diamond"]
    b = render.bundle(steps, edges, direction="td")
    assert sorted(b) == sorted([render.DAG_MIME, "image/svg+xml", "text/plain"])
    dag = json.loads(json.dumps(b[render.DAG_MIME]))       # JSON as sent on the wire
    assert dag["direction"] == "TB" and dag["steps"] == steps
    assert dag["edges"] == [{"source": a, "target": t, "data": d} for a, t, d in edges]
    assert b["image/svg+xml"] == render.to_svg(steps, edges, direction="TB")
    with pytest.raises(Nb2pipeError):
        render.bundle(steps, edges, direction="sideways")
