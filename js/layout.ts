/**
 * Layered layout of the DAG with dagre (@dagrejs/dagre, the maintained fork).
 * Pure: state + options in, boxes and edge polylines out (unit-tested under node).
 */
import * as dagre from '@dagrejs/dagre';

import { IPipelineState } from './model';
import { IStepStatus } from './protocol';

export type Direction = 'TB' | 'LR';
export type NodeLabel = 'name' | 'name+outputs' | 'name+timing';

export interface ILayoutOptions {
  direction: Direction;
  nodeLabel: NodeLabel;
}

export interface INodeBox {
  id: string;
  x: number; // centre
  y: number;
  width: number;
  height: number;
  lines: string[];
}

export interface IEdgePath {
  source: string;
  target: string;
  label: string;
  /** Rows × columns of the data on the edge (from the source's output summaries), '' when unknown. */
  count: string;
  points: Array<{ x: number; y: number }>;
  labelX: number;
  labelY: number;
}

/** Each node's layer and place in it: the next layout keeps the places of the nodes it still has. */
export type Places = ReadonlyMap<string, { rank: number; order: number }>;

/** An expanded `--group`: the box around its steps (top-left corner, size). */
export interface IClusterBox {
  group: string;
  members: readonly string[];
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Groups on the canvas: the expanded ones are boxes around their steps; collapsed ones are nodes. */
export interface IGrouping {
  /** Expanded group -> its steps. */
  clusters: ReadonlyMap<string, readonly string[]>;
  /** Lines that replace a node's own (a collapsed group's name and size). */
  lines: ReadonlyMap<string, string[]>;
}

export interface ILayout {
  nodes: INodeBox[];
  edges: IEdgePath[];
  clusters: IClusterBox[];
  width: number;
  height: number;
  places: Places;
}

/**
 * dagre ordering constraints that keep the left-to-right order the previous layout gave
 * the nodes still there (a node added or removed does not shuffle the others).
 */
export function keepOrder(previous: Places | undefined, has: (id: string) => boolean): Array<{ left: string; right: string }> {
  if (!previous) {
    return [];
  }
  const byRank = new Map<number, Array<[number, string]>>();
  for (const [id, p] of previous) {
    if (has(id)) {
      const row = byRank.get(p.rank) ?? [];
      row.push([p.order, id]);
      byRank.set(p.rank, row);
    }
  }
  const out: Array<{ left: string; right: string }> = [];
  for (const row of byRank.values()) {
    row.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < row.length; i++) {
      out.push({ left: row[i - 1][1], right: row[i][1] });
    }
  }
  return out;
}

const CHAR = 7; // px per character at the panel's 12px font, a safe over-estimate
const LINE = 16;

export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined) {
    return '-';
  }
  if (s < 1) {
    return `${Math.round(s * 1000)} ms`;
  }
  if (s < 120) {
    return `${s.toFixed(2)} s`;
  }
  return `${(s / 60).toFixed(1)} min`;
}

export function nodeLines(s: IStepStatus, mode: NodeLabel): string[] {
  const lines = [s.step];
  if (mode === 'name+outputs' && s.outputs.length) {
    lines.push(s.outputs.join(', '));
  } else if (mode === 'name+timing') {
    lines.push(s.state === 'fresh' ? formatSeconds(s.duration) : s.state);
  }
  return lines;
}

/** 1234 -> "1,234"; 1234567 -> "1.2M". */
export function compactCount(n: number): string {
  if (n >= 1e9) {
    return `${(n / 1e9).toFixed(1)}G`;
  }
  if (n >= 1e6) {
    return `${(n / 1e6).toFixed(1)}M`;
  }
  return n.toLocaleString('en-US');
}

/** "rows × columns" of the tables an edge carries (those the source's last run measured). */
export function edgeCount(state: IPipelineState, source: string, names: string[]): string {
  const sums = state.steps.get(source)?.summaries ?? {};
  const parts: string[] = [];
  for (const n of names) {
    const m = sums[n];
    if (m && typeof m.rows === 'number') {
      parts.push(`${compactCount(m.rows)} × ${m.columns ?? '?'}`);
    }
  }
  return parts.join(', ');
}

/** Edges carrying several names between the same two steps are drawn once. */
function mergedEdges(state: IPipelineState): Map<string, { source: string; target: string; labels: string[] }> {
  const out = new Map<string, { source: string; target: string; labels: string[] }>();
  for (const e of state.edges) {
    const k = `${e.source}\u0000${e.target}`;
    const cur = out.get(k) ?? { source: e.source, target: e.target, labels: [] };
    cur.labels.push(e.data);
    out.set(k, cur);
  }
  return out;
}

/**
 * Where dagre's ordering still moved nodes of the previous layout past one another in a
 * layer, those nodes swap back: they keep the slots dagre gave them, in their old order.
 */
function restoreOrder(lg: dagre.graphlib.Graph, previous: Places): void {
  const layers = new Map<number, Array<{ v: string; order: number }>>();
  for (const v of lg.nodes()) {
    const n = lg.node(v) as unknown as { rank?: number; order?: number };
    if (previous.has(v) && typeof n.rank === 'number' && typeof n.order === 'number') {
      const row = layers.get(n.rank) ?? [];
      row.push({ v, order: n.order });
      layers.set(n.rank, row);
    }
  }
  for (const row of layers.values()) {
    const slots = row.map(r => r.order).sort((a, b) => a - b);
    const old = (v: string) => previous.get(v) as { rank: number; order: number };
    row.sort((a, b) => old(a.v).rank - old(b.v).rank || old(a.v).order - old(b.v).order);
    row.forEach((r, i) => ((lg.node(r.v) as unknown as { order: number }).order = slots[i]));
  }
}

const CLUSTER = 'cluster:'; // a step name never holds ':'

type Graph = dagre.graphlib.Graph;

/** The steps as dagre nodes sized to their (clipped) lines; returns the lines of each node added. */
function addNodes(g: Graph, state: IPipelineState, opts: ILayoutOptions, grouping?: IGrouping): Map<string, string[]> {
  const lines = new Map<string, string[]>();
  for (const name of state.order) {
    const s = state.steps.get(name);
    if (!s) {
      continue;
    }
    const own = grouping?.lines.get(name) ?? nodeLines(s, opts.nodeLabel);
    const ls = own.map(l => (l.length > 32 ? l.slice(0, 31) + '…' : l));
    lines.set(name, ls);
    const width = Math.max(64, 22 + CHAR * Math.max(...ls.map(l => l.length)));
    g.setNode(name, { width, height: 12 + LINE * ls.length });
  }
  return lines;
}

/** An expanded group is a dagre compound node, the parent of its steps on the canvas. */
function addClusters(g: Graph, clustered: Array<[string, readonly string[]]>, has: (id: string) => boolean): void {
  for (const [group, members] of clustered) {
    g.setNode(CLUSTER + group, {});
    for (const m of members.filter(has)) {
      g.setParent(m, CLUSTER + group);
    }
  }
}

/** One edge per pair of steps on the canvas, labelled with its names and their sizes. */
function addEdges(g: Graph, state: IPipelineState, has: (id: string) => boolean): void {
  for (const e of mergedEdges(state).values()) {
    if (!has(e.source) || !has(e.target)) {
      continue;
    }
    const label = e.labels.join(', ');
    const count = edgeCount(state, e.source, e.labels);
    g.setEdge(e.source, e.target, {
      label,
      count,
      width: Math.min(Math.max(label.length, count.length), 24) * 6 + 6,
      height: count ? 26 : 14,
      labelpos: 'c'
    });
  }
}

/** dagre's own ordering heuristic, steered by (and then held to) the previous layout's order. */
function runDagre(g: Graph, previous: Places | undefined, has: (id: string) => boolean): void {
  const constraints = keepOrder(previous, has);
  dagre.layout(g, {
    customOrder: (lg, order) => {
      order(lg, { constraints } as any);
      if (previous) {
        restoreOrder(lg, previous);
      }
    }
  });
}

/** The nodes' boxes and their places (layer, order) for the next layout. */
function readNodes(g: Graph, lines: Map<string, string[]>): { nodes: INodeBox[]; places: Places } {
  const nodes: INodeBox[] = [];
  const places = new Map<string, { rank: number; order: number }>();
  for (const [id, ls] of lines) {
    const n = g.node(id) as { x: number; y: number; width: number; height: number; rank: number; order: number };
    nodes.push({ id, x: n.x, y: n.y, width: n.width, height: n.height, lines: ls });
    places.set(id, { rank: n.rank, order: n.order });
  }
  return { nodes, places };
}

/** The edges' polylines, with their label at dagre's label point (else the middle point). */
function readEdges(g: Graph): IEdgePath[] {
  return g.edges().map(e => {
    const d = g.edge(e) as { points: Array<{ x: number; y: number }>; x?: number; y?: number; label: string; count: string };
    const pts = d.points ?? [];
    const mid = pts[Math.floor(pts.length / 2)] ?? { x: 0, y: 0 };
    return { source: e.v, target: e.w, label: d.label, count: d.count, points: pts, labelX: d.x ?? mid.x, labelY: d.y ?? mid.y };
  });
}

/** The boxes of the expanded groups (top-left corner, size). */
function readClusters(g: Graph, clustered: Array<[string, readonly string[]]>): IClusterBox[] {
  return clustered.map(([group, members]) => {
    const c = g.node(CLUSTER + group) as { x: number; y: number; width: number; height: number };
    return { group, members, x: c.x - c.width / 2, y: c.y - c.height / 2, width: c.width, height: c.height };
  });
}

export function layout(state: IPipelineState, opts: ILayoutOptions, previous?: Places, grouping?: IGrouping): ILayout {
  const clustered = [...(grouping?.clusters ?? [])].filter(([, ms]) => ms.some(m => state.steps.has(m)));
  const g = new dagre.graphlib.Graph({ multigraph: false, compound: clustered.length > 0 });
  g.setGraph({ rankdir: opts.direction, nodesep: 24, ranksep: 44, edgesep: 12, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  const lines = addNodes(g, state, opts, grouping);
  const has = (id: string) => lines.has(id);
  addClusters(g, clustered, has);
  addEdges(g, state, has);
  runDagre(g, previous, has);
  const { nodes, places } = readNodes(g, lines);
  const gg = g.graph() as { width?: number; height?: number };
  return { nodes, edges: readEdges(g), clusters: readClusters(g, clustered), width: gg.width ?? 0, height: gg.height ?? 0, places };
}
