import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { EMPTY, IPipelineState, lineage, reduce } from '../model';
import { cellsToRun, IStepCell } from '../runplan';
import { IStepStatus, StepState } from '../protocol';

function step(name: string, state: StepState): IStepStatus {
  return {
    step: name, state, reasons: [], key: null, duration: null, finished: null, where: '',
    cell_id: `cell-${name}`, inputs: [], outputs: [], summaries: {}, error: null
  };
}

// load -> clean -> (by_region, by_product) -> report
const EDGES: Array<[string, string]> = [
  ['load', 'clean'], ['clean', 'by_region'], ['clean', 'by_product'], ['by_region', 'report'], ['by_product', 'report']
];

function kernel(states: Record<string, StepState>): IPipelineState {
  return reduce(EMPTY, {
    type: 'graph',
    steps: Object.entries(states).map(([n, s]) => step(n, s)),
    edges: EDGES.filter(([a, b]) => a in states && b in states).map(([source, target]) => ({ source, target, data: source })),
    problems: [],
    store: '',
    env: null
  });
}

const ALL = ['load', 'clean', 'by_region', 'by_product', 'report'];
const CELLS: IStepCell[] = ALL.map(s => ({ cell_id: `cell-${s}`, step: s }));
const names = (cells: IStepCell[]) => cells.map(c => c.step);

test('run stale: only the steps the kernel does not call fresh, in notebook order', () => {
  const k = kernel({ load: 'fresh', clean: 'stale', by_region: 'stale', by_product: 'fresh', report: 'stale' });
  assert.deepEqual(names(cellsToRun(k, k, CELLS, { targets: [] })), ['clean', 'by_region', 'report']);
});

test('a step the kernel has not defined (restarted kernel, new cell) runs: its cell restores it', () => {
  const k = kernel({ load: 'fresh', clean: 'fresh' });
  // the view (preview) has every step; the kernel knows two
  const view = kernel({ load: 'fresh', clean: 'fresh', by_region: 'fresh', by_product: 'fresh', report: 'fresh' });
  assert.deepEqual(names(cellsToRun(view, k, CELLS, { targets: [] })), ['by_region', 'by_product', 'report']);
  assert.deepEqual(names(cellsToRun(view, EMPTY, CELLS, { targets: [] })), ALL);
});

test('a target runs with the ancestors that need it; cached ancestors are not executed again', () => {
  const k = kernel({ load: 'fresh', clean: 'stale', by_region: 'fresh', by_product: 'stale', report: 'fresh' });
  assert.deepEqual(names(cellsToRun(k, k, CELLS, { targets: ['report'] })), ['clean', 'by_product', 'report']);
  assert.deepEqual(names(cellsToRun(k, k, CELLS, { targets: ['by_region'] })), ['clean', 'by_region']);
  // a fresh target alone still runs (its cell replays it)
  assert.deepEqual(names(cellsToRun(k, k, CELLS, { targets: ['load'] })), ['load']);
});

test('downstream adds the descendants that need it, and what they need above', () => {
  const k = kernel({ load: 'fresh', clean: 'fresh', by_region: 'stale', by_product: 'stale', report: 'stale' });
  assert.deepEqual(names(cellsToRun(k, k, CELLS, { targets: ['by_region'], downstream: true })), [
    'by_region', 'by_product', 'report'
  ]);
  const fresh = kernel({ load: 'fresh', clean: 'fresh', by_region: 'stale', by_product: 'fresh', report: 'fresh' });
  assert.deepEqual(names(cellsToRun(fresh, fresh, CELLS, { targets: ['by_region'], downstream: true })), ['by_region']);
});

test('focus mode keeps a step with its ancestors and descendants', () => {
  const k = kernel({ load: 'fresh', clean: 'fresh', by_region: 'fresh', by_product: 'fresh', report: 'fresh' });
  assert.deepEqual([...lineage(k, 'by_region')].sort(), ['by_region', 'clean', 'load', 'report']);
  assert.deepEqual([...lineage(k, 'load')].sort(), [...ALL].sort());
});
