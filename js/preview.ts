/**
 * The steps of a notebook read from its cells alone, before (or without) a kernel:
 * each `%%step NAME` cell, the names it writes (`--out`, top-level assignments)
 * and reads (`--in`, or names a step above it writes), each read wired to the
 * nearest writer above, as the kernel's naming rule does.  A preview: the
 * kernel's graph replaces it for every step the kernel knows.
 * Pure (unit-tested under node).
 */
import { IPipelineState } from './model';
import { IEdge, IStepStatus, StepState } from './protocol';
import { stepHeader } from './stepline';

/** The state of a step cell the kernel has not defined yet (and no plan says more). */
export const NOT_RUN = 'not run yet';
/** A step the kernel has not run, whose result for the current code is in the store. */
export const FRESH_IN_STORE = 'fresh in store';

export interface ICellText {
  cell_id: string;
  source: string;
}

export interface IPreviewStep {
  step: string;
  cell_id: string;
  inputs: string[];
  outputs: string[];
  /** Its `--group`, if any. */
  group?: string;
}

export interface IPreview {
  steps: IPreviewStep[];
  edges: IEdge[];
}

const NAME = /[A-Za-z_][A-Za-z0-9_]*/g;
const ASSIGN = /^([A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*)\s*(?:\[[^\]]*\]\s*)?(?:[-+*/|&%@]|\/\/|\*\*)?=(?!=)/;

/** `--in a,b` / `--in=a b`: the names after a flag, up to the next flag. */
function flagNames(rest: string, flag: string): string[] {
  const out: string[] = [];
  const words = rest.trim().split(/\s+/);
  for (let i = 0; i < words.length; i++) {
    let w = words[i];
    if (w === `--${flag}`) {
      for (i++; i < words.length && !words[i].startsWith('--'); i++) {
        out.push(...words[i].split(',').filter(Boolean));
      }
      i--;
    } else if (w.startsWith(`--${flag}=`)) {
      w = w.slice(flag.length + 3);
      out.push(...w.split(',').filter(Boolean));
    }
  }
  return out;
}

/** The code without string literals and comments (names inside them are not reads). */
function codeOnly(body: string): string {
  return body
    .replace(/("""|''')[\s\S]*?\1/g, '')
    .replace(/(["'])(?:\\.|(?!\1)[^\\\n])*\1/g, '')
    .replace(/#.*$/gm, '');
}

function written(body: string): string[] {
  const out: string[] = [];
  for (const line of body.split('\n')) {
    const m = ASSIGN.exec(line);
    if (m) {
      out.push(...m[1].split(',').map(s => s.trim()));
    }
  }
  return out;
}

/** Parse the notebook's cells (code cells, in notebook order). */
export function parsePreview(cells: ICellText[]): IPreview {
  const steps: IPreviewStep[] = [];
  const edges: IEdge[] = [];
  const writer = new Map<string, string>();
  for (const c of cells) {
    const h = stepHeader(c.source);
    if (!h) {
      continue;
    }
    const code = codeOnly(h.body);
    const declared = flagNames(h.rest, 'in');
    const used = new Set(code.match(NAME) ?? []);
    const inputs = [...new Set([...declared, ...[...used].filter(n => writer.has(n))])];
    const outputs = [...new Set([...flagNames(h.rest, 'out'), ...written(code)])];
    for (const n of inputs) {
      const src = writer.get(n);
      if (src && src !== h.name) {
        edges.push({ source: src, target: h.name, data: n });
      }
    }
    for (const n of outputs) {
      writer.set(n, h.name);
    }
    const group = flagNames(h.rest, 'group')[0];
    steps.push({ step: h.name, cell_id: c.cell_id, inputs, outputs, ...(group ? { group } : {}) });
  }
  return { steps, edges };
}

function notRun(p: IPreviewStep): IStepStatus {
  return {
    step: p.step,
    state: NOT_RUN as StepState,
    reasons: ['not run yet: run its cell, or Run stale'],
    key: null,
    duration: null,
    finished: null,
    where: 'cell (not run yet)',
    cell_id: p.cell_id,
    inputs: p.inputs,
    outputs: p.outputs,
    summaries: {},
    error: null,
    ...(p.group ? { group: p.group } : {})
  };
}

/**
 * The kernel's state plus the notebook's step cells it does not know (state
 * "not run yet"), in notebook order.  Returns `state` itself when nothing is added.
 */
export function withPreview(state: IPipelineState, preview: IPreview | null): IPipelineState {
  if (!preview || !preview.steps.length) {
    return state;
  }
  const knownCells = new Set<string>();
  for (const s of state.steps.values()) {
    if (s.cell_id) {
      knownCells.add(s.cell_id);
    }
  }
  const missing = preview.steps.filter(p => !knownCells.has(p.cell_id) && !state.steps.has(p.step));
  if (!missing.length) {
    return state;
  }
  const added = new Set(missing.map(p => p.step));
  const steps = new Map(state.steps);
  const order: string[] = [];
  const byCell = new Map([...state.steps.values()].filter(s => s.cell_id).map(s => [s.cell_id as string, s.step]));
  for (const p of preview.steps) {
    const name = added.has(p.step) ? p.step : byCell.get(p.cell_id) ?? (state.steps.has(p.step) ? p.step : null);
    if (name && !order.includes(name)) {
      order.push(name);
    }
  }
  for (const n of state.order) {
    if (!order.includes(n)) {
      order.push(n);
    }
  }
  for (const p of missing) {
    steps.set(p.step, notRun(p));
  }
  const planned = new Map((state.plan?.steps ?? []).map(s => [s.step, s]));
  for (const p of missing) {
    const s = planned.get(p.step);
    if (s) {
      steps.set(p.step, { ...s, cell_id: p.cell_id, state: (s.state === 'fresh' ? FRESH_IN_STORE : s.state) as StepState });
    }
  }
  const extra = state.plan && missing.every(p => planned.has(p.step)) ? state.plan.edges : preview.edges;
  const edges = [...state.edges, ...extra.filter(e => added.has(e.target) && steps.has(e.source))];
  return { ...state, steps, order, edges };
}
