import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { counts, descendants, EMPTY, IPipelineState, PipelineModel, reduce, staleSteps, withConnection } from '../model';
import { layout } from '../layout';
import { IGraphMsg, IStepStatus, StepState } from '../protocol';

function step(name: string, state: StepState, extra: Partial<IStepStatus> = {}): IStepStatus {
  return {
    step: name,
    state,
    reasons: [],
    key: null,
    duration: null,
    finished: null,
    where: '',
    cell_id: `cell-${name}`,
    inputs: [],
    outputs: [],
    summaries: {},
    error: null,
    ...extra
  };
}

function graph(states: Record<string, StepState>, edges: Array<[string, string, string]>): IGraphMsg {
  return {
    type: 'graph',
    steps: Object.entries(states).map(([n, s]) => step(n, s)),
    edges: edges.map(([source, target, data]) => ({ source, target, data })),
    problems: [],
    store: '/tmp/.nb2pipe',
    env: null
  };
}

const CHAIN = graph({ load: 'fresh', clean: 'fresh', summary: 'stale' }, [
  ['load', 'clean', 'raw'],
  ['clean', 'summary', 'df']
]);

test('graph message replaces steps and marks the connection', () => {
  const s = reduce(EMPTY, CHAIN);
  assert.equal(s.connection, 'connected');
  assert.deepEqual(s.order, ['load', 'clean', 'summary']);
  assert.equal(s.steps.get('summary')?.state, 'stale');
  assert.equal(s.structure, EMPTY.structure + 1);
});

test('same nodes and edges keep the structure counter (no re-layout)', () => {
  const a = reduce(EMPTY, CHAIN);
  const b = reduce(a, graph({ load: 'fresh', clean: 'stale', summary: 'stale' }, [
    ['load', 'clean', 'raw'],
    ['clean', 'summary', 'df']
  ]));
  assert.equal(b.structure, a.structure);
  assert.ok(b.revision > a.revision);
  const c = reduce(b, graph({ load: 'fresh', clean: 'stale' }, [['load', 'clean', 'raw']]));
  assert.equal(c.structure, b.structure + 1);
});

test('state messages: running, fresh clears error and reasons, failed keeps the message', () => {
  let s = reduce(EMPTY, CHAIN);
  s = reduce(s, { type: 'state', step: 'summary', state: 'running' });
  assert.equal(s.steps.get('summary')?.state, 'running');
  s = reduce(s, { type: 'state', step: 'summary', state: 'failed', error: 'boom' });
  assert.equal(s.steps.get('summary')?.error, 'boom');
  s = reduce(s, { type: 'state', step: 'summary', state: 'fresh', duration: 0.5 });
  const sum = s.steps.get('summary') as IStepStatus;
  assert.equal(sum.state, 'fresh');
  assert.equal(sum.error, null);
  assert.equal(sum.duration, 0.5);
  assert.ok(sum.finished && sum.finished > 0);
});

test('unknown steps in state and patch messages are ignored (no change)', () => {
  const s = reduce(EMPTY, CHAIN);
  assert.equal(reduce(s, { type: 'state', step: 'nope', state: 'fresh' }), s);
  assert.equal(reduce(s, { type: 'patch', steps: [step('nope', 'fresh')] }), s);
});

test('patch updates only the steps it carries, keeps structure', () => {
  const s = reduce(EMPTY, CHAIN);
  const p = reduce(s, { type: 'patch', steps: [step('clean', 'stale', { reasons: ['code changed'] })] });
  assert.equal(p.steps.get('clean')?.state, 'stale');
  assert.deepEqual(p.steps.get('clean')?.reasons, ['code changed']);
  assert.equal(p.steps.get('load'), s.steps.get('load'));
  assert.equal(p.structure, s.structure);
  assert.equal(s.steps.get('clean')?.state, 'fresh', 'the previous state object is not mutated');
});

test('run progress follows run_start, state, progress, run_end', () => {
  let s = reduce(EMPTY, CHAIN);
  s = reduce(s, { type: 'run_start', steps: ['clean', 'summary'] });
  assert.deepEqual(s.run, { steps: ['clean', 'summary'], done: 0, total: 2, current: null });
  s = reduce(s, { type: 'state', step: 'clean', state: 'running' });
  assert.equal(s.run?.current, 'clean');
  s = reduce(s, {
    type: 'progress',
    done: 1,
    total: 2,
    step: 'clean',
    status: 'ran',
    key: 'ab12',
    duration: 0.5,
    saved: 0,
    error: null,
    traceback: ''
  });
  assert.equal(s.run?.done, 1);
  s = reduce(s, { type: 'run_end', outcomes: [] });
  assert.equal(s.run, null);
});

test('errors and cell problems', () => {
  let s = reduce(EMPTY, CHAIN);
  s = reduce(s, { type: 'reply', id: 'a-1', request: 'run', ok: false, message: 'no step `x`', problems: [] });
  assert.equal(s.error, 'no step `x`');
  s = reduce(s, { type: 'reply', id: 'a-2', request: 'sync', ok: true, message: '', problems: [{ cell_id: 'c4', message: 'bad' }] });
  assert.equal(s.cellProblems.get('c4'), 'bad');
  s = reduce(s, CHAIN);
  assert.equal(s.error, null, 'a new graph clears the error');
  s = reduce(s, { type: 'reply', id: 'a-3', request: 'sync', ok: true, message: '', problems: [] });
  assert.equal(s.cellProblems.size, 0);
  const before = s;
  s = reduce(s, { type: 'reply', id: 'a-4', request: 'export', ok: false, message: 'exists', problems: [] });
  assert.equal(s, before, 'an export answer is for the dialog, not the panel');
  s = reduce(s, { type: 'reply', id: 'a-5', request: 'order', ok: true, message: '', problems: [] });
  assert.equal(s, before);
});

test('connection changes: restarting keeps the graph, not-loaded clears it', () => {
  const s = reduce(EMPTY, CHAIN);
  const r = withConnection(s, 'restarting');
  assert.equal(r.steps.size, 3);
  const n = withConnection(r, 'not-loaded');
  assert.equal(n.steps.size, 0);
  assert.equal(n.connection, 'not-loaded');
  assert.equal(withConnection(n, 'not-loaded'), n);
});

test('descendants, counts and stale steps', () => {
  const s: IPipelineState = reduce(EMPTY, CHAIN);
  assert.deepEqual(descendants(s, 'load'), ['clean', 'summary']);
  assert.deepEqual(descendants(s, 'summary'), []);
  assert.deepEqual(counts(s), { fresh: 2, stale: 1 });
  assert.deepEqual(staleSteps(s), ['summary']);
});

test('model notifies listeners only on change', () => {
  const m = new PipelineModel();
  let calls = 0;
  const off = m.subscribe(() => calls++);
  m.apply(CHAIN);
  m.apply({ type: 'state', step: 'nope', state: 'fresh' });
  m.setConnection('connected');
  assert.equal(calls, 1);
  off();
  m.apply(CHAIN);
  assert.equal(calls, 1);
});

test('layout: layered, every node placed, edges labelled, ranks follow the direction', () => {
  const s = reduce(EMPTY, CHAIN);
  const tb = layout(s, { direction: 'TB', nodeLabel: 'name' });
  const y = Object.fromEntries(tb.nodes.map(n => [n.id, n.y]));
  assert.ok(y.load < y.clean && y.clean < y.summary);
  assert.deepEqual(tb.edges.map(e => e.label).sort(), ['df', 'raw']);
  const lr = layout(s, { direction: 'LR', nodeLabel: 'name+outputs' });
  const x = Object.fromEntries(lr.nodes.map(n => [n.id, n.x]));
  assert.ok(x.load < x.clean && x.clean < x.summary);
});

test('layout of a 200-step DAG places every node (time reported, not asserted)', () => {
  const states: Record<string, StepState> = {};
  const edges: Array<[string, string, string]> = [];
  for (let i = 0; i < 200; i++) {
    states[`s${i}`] = i % 3 ? 'fresh' : 'stale';
    if (i > 0) {
      edges.push([`s${Math.floor((i - 1) / 2)}`, `s${i}`, `v${Math.floor((i - 1) / 2)}`]);
    }
    if (i > 10 && i % 7 === 0) {
      edges.push([`s${i - 9}`, `s${i}`, `w${i}`]);
    }
  }
  const s = reduce(EMPTY, graph(states, edges));
  layout(s, { direction: 'TB', nodeLabel: 'name' }); // warm up the JIT
  const t0 = performance.now();
  const l = layout(s, { direction: 'TB', nodeLabel: 'name' });
  const ms = performance.now() - t0;
  assert.equal(l.nodes.length, 200);
  // reported, not asserted: wall time on a loaded CI machine says nothing about the code
  console.log(`# 200-step layout: ${ms.toFixed(0)} ms`);
});
