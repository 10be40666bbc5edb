/**
 * Which step cells a run from the panel executes, and in what order.  The panel
 * runs steps as notebook cells (so each cell shows its step's live or replayed
 * output and gets an execution count, as if the user had run it); this decides
 * which.  Pure (unit-tested under node).
 */
import { IPipelineState } from './model';

export interface IRunTargets {
  /** Steps asked for; empty: every step that is not fresh in this kernel. */
  targets: string[];
  /** Also the steps below the targets. */
  downstream?: boolean;
}

/** A step cell of the notebook, in notebook order, with the step it defines. */
export interface IStepCell {
  cell_id: string;
  step: string;
}

/**
 * The step cells to execute, in notebook order.  A step needs its cell run when
 * this kernel has not defined it (a new cell, or a restarted kernel: its cell then
 * restores it from the store) or the kernel does not call it fresh.  Targets always
 * run; their ancestors and (with `downstream`) descendants only when they need to,
 * so a cached ancestor is never executed again.
 */
export function cellsToRun(
  view: IPipelineState,
  kernel: IPipelineState,
  cells: readonly IStepCell[],
  request: IRunTargets
): IStepCell[] {
  const needs = (s: string) => kernel.steps.get(s)?.state !== 'fresh';
  const chosen = new Set<string>();
  if (!request.targets.length) {
    for (const c of cells) {
      if (needs(c.step)) {
        chosen.add(c.step);
      }
    }
  } else {
    const parents = neighbours(view, 'up');
    const children = neighbours(view, 'down');
    const base = new Set(request.targets);
    if (request.downstream) {
      for (const d of reach(children, request.targets)) {
        if (needs(d)) {
          base.add(d);
        }
      }
    }
    for (const b of base) {
      chosen.add(b);
    }
    for (const a of reach(parents, [...base])) {
      if (needs(a)) {
        chosen.add(a);
      }
    }
  }
  const out: IStepCell[] = [];
  const seen = new Set<string>();
  for (const c of cells) {
    if (chosen.has(c.step) && !seen.has(c.step)) {
      seen.add(c.step);
      out.push(c);
    }
  }
  return out;
}

function neighbours(state: IPipelineState, way: 'up' | 'down'): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of state.edges) {
    const [from, to] = way === 'up' ? [e.target, e.source] : [e.source, e.target];
    const list = out.get(from) ?? [];
    list.push(to);
    out.set(from, list);
  }
  return out;
}

/** Every node reachable from `start` (not including the start nodes themselves unless reached). */
function reach(next: Map<string, string[]>, start: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = start.flatMap(s => next.get(s) ?? []);
  while (todo.length) {
    const n = todo.pop() as string;
    if (!seen.has(n)) {
      seen.add(n);
      todo.push(...(next.get(n) ?? []));
    }
  }
  return seen;
}
