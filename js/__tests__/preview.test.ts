import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { EMPTY, reduce } from '../model';
import { NOT_RUN, parsePreview, withPreview } from '../preview';
import { IStepStatus, StepState } from '../protocol';
import { isConsequence, reword } from '../reasons';

const CELLS = [
  { cell_id: 'a', source: '%load_ext nb2pipe' },
  { cell_id: 'b', source: '%%setup\nimport pandas as pd' },
  { cell_id: 'c', source: '%%step load --src data/x.csv --out raw\nraw = pd.read_csv("data/x.csv")' },
  { cell_id: 'd', source: '%%step clean --in raw\norders = raw.dropna()\norders["n"] += 1  # raw again' },
  { cell_id: 'e', source: '%%step report\nreport = {"orders": len(orders), "raw": "raw"}' },
  { cell_id: 'f', source: 'orders.describe()' },
  { cell_id: 'g', source: '%%step top --sql --out top\nSELECT * FROM orders' }
];

test('preview: step cells, their outputs, and reads wired to the nearest writer above', () => {
  const p = parsePreview(CELLS);
  assert.deepEqual(
    p.steps.map(s => [s.step, s.cell_id, s.outputs]),
    [
      ['load', 'c', ['raw']],
      ['clean', 'd', ['orders']],
      ['report', 'e', ['report']],
      ['top', 'g', ['top']]
    ]
  );
  assert.deepEqual(p.edges, [
    { source: 'load', target: 'clean', data: 'raw' },
    { source: 'clean', target: 'report', data: 'orders' },
    { source: 'clean', target: 'top', data: 'orders' }
  ]);
});

test('withPreview: no kernel steps means every step cell is "not run yet"; known ones keep the kernel state', () => {
  const p = parsePreview(CELLS);
  const all = withPreview(EMPTY, p);
  assert.deepEqual(all.order, ['load', 'clean', 'report', 'top']);
  assert.ok([...all.steps.values()].every(s => (s.state as string) === NOT_RUN));
  assert.equal(all.edges.length, 3);

  const kernel = reduce(EMPTY, {
    type: 'graph',
    steps: [
      { step: 'load', state: 'fresh', reasons: [], key: 'k', duration: 1, finished: 1, where: '', cell_id: 'c', inputs: [], outputs: ['raw'], summaries: {}, error: null }
    ],
    edges: [],
    problems: [],
    store: '',
    env: null
  });
  const merged = withPreview(kernel, p);
  assert.equal(merged.steps.get('load')?.state, 'fresh');
  assert.equal(merged.steps.get('clean')?.state as string, NOT_RUN);
  assert.deepEqual(merged.order, ['load', 'clean', 'report', 'top']);
  // nothing to add: the kernel's state itself
  assert.equal(withPreview(kernel, parsePreview(CELLS.slice(0, 3))), kernel);
});

test('reasons: root cause vs consequence, and wording a user reads', () => {
  const s = (state: StepState, reasons: string[]): IStepStatus => ({
    step: 'x', state, reasons, key: null, duration: null, finished: null, where: '', cell_id: null,
    inputs: [], outputs: [], summaries: {}, error: null
  });
  assert.equal(isConsequence(s('stale', ['upstream `clean` is stale'])), true);
  assert.equal(isConsequence(s('stale', ['code changed'])), false);
  assert.equal(isConsequence(s('stale', ['upstream `clean` is stale', 'code changed'])), false);
  assert.equal(reword('upstream `by_region` is failed'), 'upstream `by_region` failed');
  assert.equal(reword('upstream `a` is never run'), 'upstream `a` has not run yet');
  assert.equal(reword('parameter `min_units` removed'), 'no longer reads parameter `min_units`');
  assert.equal(reword('code changed'), 'code changed');
});
