import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { compactCount, layout, Places } from '../layout';
import { EMPTY, reduce } from '../model';
import { IStepStatus } from '../protocol';

function step(name: string, summaries: IStepStatus['summaries'] = {}): IStepStatus {
  return {
    step: name, state: 'fresh', reasons: [], key: null, duration: null, finished: null, where: '',
    cell_id: null, inputs: [], outputs: Object.keys(summaries), summaries, error: null
  };
}

test('edges carry the rows × columns of the tables on them, when the source measured them', () => {
  const s = reduce(EMPTY, {
    type: 'graph',
    steps: [step('load', { raw: { rows: 1234567, columns: 6 }, meta: { type: 'builtins.dict' } }), step('clean'), step('info')],
    edges: [
      { source: 'load', target: 'clean', data: 'raw' },
      { source: 'load', target: 'info', data: 'meta' }
    ],
    problems: [],
    store: '',
    env: null
  });
  const edges = Object.fromEntries(layout(s, { direction: 'TB', nodeLabel: 'name' }).edges.map(e => [e.target, e]));
  assert.equal(edges.clean.count, '1.2M × 6');
  assert.equal(edges.info.count, '');          // not a table: no count
  assert.equal(edges.clean.label, 'raw');
  assert.equal(compactCount(1990), '1,990');
});

/** Pairs of nodes in one layer of both layouts, as "a<b" / "a>b" in `of`'s order. */
function sameLayerOrder(of: Places, other: Places, ids: string[]): string[] {
  const out: string[] = [];
  for (const a of ids) {
    for (const b of ids) {
      const [pa, pb, qa, qb] = [of.get(a)!, of.get(b)!, other.get(a)!, other.get(b)!];
      if (a < b && pa.rank === pb.rank && qa.rank === qb.rank) {
        out.push(`${a}${pa.order < pb.order ? '<' : '>'}${b}`);
      }
    }
  }
  return out.sort();
}

function dag(names: string[], edges: Array<[string, string]>) {
  return reduce(EMPTY, {
    type: 'graph',
    steps: names.map(n => step(n)),
    edges: edges.map(([source, target]) => ({ source, target, data: source })),
    problems: [],
    store: '',
    env: null
  });
}

test('a node added keeps the others in their order (200 random DAGs of 6-10 steps)', () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const opts = { direction: 'TB' as const, nodeLabel: 'name' as const };
  for (let t = 0; t < 200; t++) {
    const n = 6 + Math.floor(rnd() * 5);
    const names = [...Array(n).keys()].map(i => `n${i}`);
    const edges: Array<[string, string]> = [];
    for (let i = 1; i < n; i++) {
      for (let k = 0; k < 1 + Math.floor(rnd() * 2); k++) {
        const p = `n${Math.floor(rnd() * i)}`;
        if (!edges.some(([a, b]) => a === p && b === `n${i}`)) {
          edges.push([p, `n${i}`]);
        }
      }
    }
    const before = layout(dag(names, edges), opts);
    const [p, q] = [Math.floor(rnd() * n), Math.floor(rnd() * n)];
    const added: Array<[string, string]> = [...edges, [`n${Math.min(p, q)}`, 'new']];
    if (p !== q) {
      added.push(['new', `n${Math.max(p, q)}`]);
    }
    const after = layout(dag([...names, 'new'], added), opts, before.places);
    assert.deepEqual(sameLayerOrder(after.places, before.places, names), sameLayerOrder(before.places, after.places, names), `case ${t}`);
  }
});
