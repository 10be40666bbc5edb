import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { compactCount, layout } from '../layout';
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
