import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { collapse, groupId, groupOfNode, worstState } from '../groups';
import { layout } from '../layout';
import { EMPTY, IPipelineState, reduce } from '../model';
import { IEdge, IStepStatus, StepState } from '../protocol';

type Row = [name: string, state: string, group?: string, reasons?: string[]];

function step([name, state, group, reasons]: Row, outputs: string[]): IStepStatus {
  return {
    step: name, state: state as StepState, reasons: reasons ?? [], key: null, duration: 1, finished: null, where: '',
    cell_id: `c-${name}`, inputs: [], outputs, summaries: {}, error: state === 'failed' ? 'boom' : null,
    ...(group ? { group } : {})
  };
}

/** A graph message's state: `rows` in order, each writing `<name>_out`; edges as "a>b". */
function pipeline(rows: Row[], edges: string[]): IPipelineState {
  const es: IEdge[] = edges.map(e => {
    const [source, target] = e.split('>');
    return { source, target, data: `${source}_out` };
  });
  return reduce(EMPTY, {
    type: 'graph', steps: rows.map(r => step(r, [`${r[0]}_out`])), edges: es, problems: [], store: '', env: null
  });
}

const edgesOf = (s: IPipelineState) => s.edges.map(e => `${e.source}>${e.target}`);

// load -> a -> b -> out, a -> c -> out, load -> c, load -> side -> out; a, b, c in group `prep`
const ROWS: Row[] = [['load', 'fresh'], ['a', 'fresh', 'prep'], ['b', 'stale', 'prep'], ['c', 'fresh', 'prep'], ['side', 'fresh'], ['out', 'fresh']];
const EDGES = ['load>a', 'a>b', 'a>c', 'b>out', 'c>out', 'load>c', 'load>side', 'side>out'];

const CASES: Array<{ what: string; rows: Row[]; edges: string[]; collapsed: string[]; order: string[]; edgesShown: string[]; state?: [string, string] }> = [
  {
    what: 'nothing collapsed: the state itself',
    rows: ROWS, edges: EDGES, collapsed: [],
    order: ['load', 'a', 'b', 'c', 'side', 'out'], edgesShown: EDGES
  },
  {
    what: 'a group collapsed: one node where its first step was, inner edges gone, outer ones re-routed (once per name)',
    rows: ROWS, edges: EDGES, collapsed: ['prep'],
    order: ['load', 'group:prep', 'side', 'out'],
    // b_out and c_out both go to `out`; load_out to `a` and `c` is one edge to the group
    edgesShown: ['load>group:prep', 'group:prep>out', 'group:prep>out', 'load>side', 'side>out'],
    state: ['group:prep', 'stale']
  },
  {
    what: 'a name that is no group: nothing changes',
    rows: ROWS, edges: EDGES, collapsed: ['nope'],
    order: ['load', 'a', 'b', 'c', 'side', 'out'], edgesShown: EDGES
  },
  {
    what: 'two groups collapsed: the edge between them stays',
    rows: [['x', 'fresh', 'g1'], ['y', 'failed', 'g1'], ['z', 'running', 'g2'], ['w', 'never run']],
    edges: ['x>y', 'y>z', 'z>w'], collapsed: ['g1', 'g2'],
    order: ['group:g1', 'group:g2', 'w'], edgesShown: ['group:g1>group:g2', 'group:g2>w'],
    state: ['group:g1', 'failed']
  }
];

for (const c of CASES) {
  test(`collapse: ${c.what}`, () => {
    const s = pipeline(c.rows, c.edges);
    const out = collapse(s, new Set(c.collapsed));
    assert.deepEqual(out.state.order, c.order);
    assert.deepEqual(edgesOf(out.state), c.edgesShown);
    assert.deepEqual([...out.state.steps.keys()].sort(), [...c.order].sort());
    if (!c.collapsed.some(g => out.groups.has(g))) {
      assert.equal(out.state, s);
    }
    if (c.state) {
      assert.equal(out.state.steps.get(c.state[0])?.state, c.state[1]);
    }
  });
}

const WORST: Array<[string[], string]> = [
  [['fresh', 'fresh'], 'fresh'],
  [['fresh', 'stale', 'fresh'], 'stale'],
  [['stale', 'failed', 'running'], 'failed'],
  [['fresh', 'running', 'stale'], 'running'],
  [['fresh in store', 'not run yet'], 'not run yet'],
  [['never run', 'stale'], 'stale'],
  [['skipped', 'fresh'], 'skipped'],
  [['blocked', 'stale'], 'blocked']
];

for (const [states, worst] of WORST) {
  test(`worst of ${states.join(', ')} is ${worst}`, () => {
    assert.equal(worstState(states), worst);
  });
}

test("a collapsed group's node: its name and size, members' outputs and summaries, error, and a step maps to it", () => {
  const out = collapse(pipeline(ROWS, EDGES), new Set(['prep']));
  const g = out.state.steps.get('group:prep') as IStepStatus;
  assert.equal(groupOfNode(g.step), 'prep');
  assert.equal(groupOfNode('prep'), null);
  assert.equal(g.step, groupId('prep'));
  assert.deepEqual(out.lines.get('group:prep'), ['prep', '3 steps']);
  assert.deepEqual(g.outputs, ['a_out', 'b_out', 'c_out']);
  assert.deepEqual(g.inputs, []);
  assert.equal(g.cell_id, 'c-a');
  assert.equal(g.duration, 3);
  assert.deepEqual([...out.shownAs], [['a', 'group:prep'], ['b', 'group:prep'], ['c', 'group:prep']]);
  assert.deepEqual(out.groups.get('prep'), ['a', 'b', 'c']);
  const failed = collapse(pipeline([['x', 'fresh', 'g'], ['y', 'failed', 'g']], ['x>y']), new Set(['g']));
  assert.equal(failed.state.steps.get('group:g')?.error, 'y: boom');
});

test('a group stale only because of a step above it is a consequence; one of its own steps changed is a root cause', () => {
  const up: Row[] = [['load', 'stale', undefined, ['code changed']], ['a', 'stale', 'g', ['upstream `load` is stale']], ['b', 'stale', 'g', ['upstream `a` is stale']]];
  const g = collapse(pipeline(up, ['load>a', 'a>b']), new Set(['g'])).state.steps.get('group:g') as IStepStatus;
  assert.deepEqual(g.reasons, ['upstream `load` is stale']);   // the inner `a` -> `b` is not a reason
  const own: Row[] = [['load', 'fresh'], ['a', 'stale', 'g', ['code changed']], ['b', 'stale', 'g', ['upstream `a` is stale']]];
  const h = collapse(pipeline(own, ['load>a', 'a>b']), new Set(['g'])).state.steps.get('group:g') as IStepStatus;
  assert.deepEqual(h.reasons, ['code changed']);
});

test('the layout boxes an expanded group around its steps and labels a collapsed one by name and size', () => {
  const s = pipeline(ROWS, EDGES);
  const open = collapse(s, new Set());
  const l = layout(open.state, { direction: 'TB', nodeLabel: 'name' }, undefined, { clusters: open.groups, lines: open.lines });
  assert.equal(l.clusters.length, 1);
  const box = l.clusters[0];
  assert.equal(box.group, 'prep');
  for (const n of l.nodes) {
    const inside = n.x - n.width / 2 >= box.x && n.x + n.width / 2 <= box.x + box.width && n.y - n.height / 2 >= box.y && n.y + n.height / 2 <= box.y + box.height;
    assert.equal(inside, ['a', 'b', 'c'].includes(n.id), n.id);
  }
  const shut = collapse(s, new Set(['prep']));
  const k = layout(shut.state, { direction: 'TB', nodeLabel: 'name' }, l.places, { clusters: new Map(), lines: shut.lines });
  assert.deepEqual(k.clusters, []);
  assert.deepEqual(k.nodes.find(n => n.id === 'group:prep')?.lines, ['prep', '3 steps']);
  assert.equal(k.edges.length, 4);          // drawn once per pair of nodes
});
