/**
 * The sidebar's view of one kernel's pipeline: a pure reducer over comm messages
 * plus a small observable wrapper.  No JupyterLab imports (unit-tested under node).
 */
import { IPreview, withPreview } from './preview';
import {
  ICheckMsg,
  IEdge,
  IGraphMsg,
  IHistoryMsg,
  IPatchMsg,
  IPlanMsg,
  IPreviewMsg,
  IReplyMsg,
  IStateMsg,
  IStepStatus,
  KernelMessage
} from './protocol';

/** Where the connection to the kernel's engine stands. */
export type Connection =
  | 'no-notebook' // no notebook is active
  | 'no-kernel' // the notebook has no kernel (or it is dead)
  | 'connecting' // comm opened, waiting for the first graph
  | 'not-loaded' // the kernel closed the comm: `%load_ext nb2pipe` not run
  | 'connected'
  | 'restarting'; // the kernel is restarting: the graph shown is the last one known

export interface IRunProgress {
  steps: string[];
  done: number;
  total: number;
  current: string | null;
}

export interface IPipelineState {
  connection: Connection;
  steps: ReadonlyMap<string, IStepStatus>;
  /** Step names in the kernel's (topological) order. */
  order: readonly string[];
  edges: readonly IEdge[];
  problems: readonly string[];
  store: string;
  run: IRunProgress | null;
  /** The last error the kernel reported (cleared by the next successful graph). */
  error: string | null;
  /** Problems of notebook cells the kernel could not (re)define, by cell id. */
  cellProblems: ReadonlyMap<string, string>;
  /** The kernel's plan of the notebook's cells (nothing run): states of steps it has not defined. */
  plan: IPlanMsg | null;
  /** The last sample check's answer (the *Check* button), and whether one is under way. */
  check: ICheckMsg | null;
  checking: boolean;
  /** The last `history` answer (a step's last runs from the run records), shown in its details. */
  history: IHistoryMsg | null;
  /** The last `preview` answer (an output's first rows, read from the store). */
  preview: IPreviewMsg | null;
  /** How each step's last run in this session ended: it ran, or the store answered. */
  lastRun: ReadonlyMap<string, 'ran' | 'cache hit'>;
  /** Bumped when nodes or edges change (the layout must be recomputed). */
  structure: number;
  /** Bumped on every change. */
  revision: number;
}

export const EMPTY: IPipelineState = {
  connection: 'no-notebook',
  steps: new Map(),
  order: [],
  edges: [],
  problems: [],
  store: '',
  run: null,
  error: null,
  cellProblems: new Map(),
  plan: null,
  check: null,
  checking: false,
  history: null,
  preview: null,
  lastRun: new Map(),
  structure: 0,
  revision: 0
};

function sameStructure(a: IPipelineState, steps: string[], edges: IEdge[]): boolean {
  if (a.order.length !== steps.length || a.edges.length !== edges.length) {
    return false;
  }
  for (let i = 0; i < steps.length; i++) {
    if (a.order[i] !== steps[i]) {
      return false;
    }
  }
  for (let i = 0; i < edges.length; i++) {
    const x = a.edges[i];
    const y = edges[i];
    if (x.source !== y.source || x.target !== y.target || x.data !== y.data) {
      return false;
    }
  }
  return true;
}

/** A new state: `state` with `patch` applied, one revision on. */
function bump(state: IPipelineState, patch: Partial<IPipelineState>): IPipelineState {
  return { ...state, ...patch, revision: state.revision + 1 };
}

type Handler<K extends KernelMessage['type']> = (
  state: IPipelineState,
  msg: Extract<KernelMessage, { type: K }>
) => IPipelineState;

/** A whole graph: the steps and edges replace the old ones. */
function onGraph(state: IPipelineState, msg: IGraphMsg): IPipelineState {
  const steps = new Map<string, IStepStatus>();
  for (const s of msg.steps) {
    steps.set(s.step, s);
  }
  const order = msg.steps.map(s => s.step);
  const same = sameStructure(state, order, msg.edges);
  return bump(state, {
    connection: 'connected',
    steps,
    order,
    edges: msg.edges,
    problems: msg.problems ?? [],
    store: msg.store ?? '',
    error: null,
    structure: same ? state.structure : state.structure + 1
  });
}

/** New statuses of known steps (unknown ones wait for the next graph). */
function onPatch(state: IPipelineState, msg: IPatchMsg): IPipelineState {
  const known = msg.steps.filter(s => state.steps.has(s.step));
  if (!known.length) {
    return state;
  }
  const steps = new Map(state.steps);
  for (const s of known) {
    steps.set(s.step, s);
  }
  return bump(state, { steps, connection: 'connected' });
}

/** One step changed state during a run. */
function onState(state: IPipelineState, msg: IStateMsg): IPipelineState {
  const old = state.steps.get(msg.step);
  if (!old) {
    return state;
  }
  const updated: IStepStatus = { ...old, state: msg.state };
  if (msg.state === 'failed') {
    updated.error = msg.error ?? old.error;
  } else if (msg.state === 'fresh') {
    updated.error = null;
    updated.reasons = [];
    if (typeof msg.duration === 'number') {
      updated.duration = msg.duration;
      updated.finished = Date.now() / 1000;
    }
  }
  const steps = new Map(state.steps);
  steps.set(msg.step, updated);
  const run = state.run && msg.state === 'running' ? { ...state.run, current: msg.step } : state.run;
  if (msg.state !== 'fresh') {
    return bump(state, { steps, run });
  }
  const lastRun = new Map(state.lastRun);
  lastRun.set(msg.step, msg.cached ? 'cache hit' : 'ran');
  return bump(state, { steps, run, lastRun });
}

/** The problems of a run's or sync's cells, by cell id (unset when there were none before or now). */
function cellProblemsPatch(state: IPipelineState, msg: IReplyMsg): Partial<IPipelineState> {
  const cellProblems = new Map<string, string>();
  for (const p of msg.problems) {
    if (p.cell_id) {
      cellProblems.set(p.cell_id, p.message);
    }
  }
  return cellProblems.size || state.cellProblems.size ? { cellProblems } : {};
}

/** The answer to a request: cell problems, an error, the end of a check. */
function onReply(state: IPipelineState, msg: IReplyMsg): IPipelineState {
  // export answers go to whoever asked (a notification), not to the panel
  if (msg.request === 'export') {
    return state;
  }
  const patch: Partial<IPipelineState> =
    msg.request === 'run' || msg.request === 'sync' ? cellProblemsPatch(state, msg) : {};
  if (!msg.ok) {
    patch.error = msg.message;
    patch.run = null;
  }
  if (msg.request === 'check') {
    patch.checking = false;
  }
  return Object.keys(patch).length ? bump(state, patch) : state;
}

/** One handler per kind of kernel message. */
const HANDLERS: { [K in KernelMessage['type']]: Handler<K> } = {
  graph: onGraph,
  patch: onPatch,
  state: onState,
  reply: onReply,
  plan: (state, msg) => bump(state, { plan: msg }),
  check: (state, msg) => bump(state, { check: msg, checking: false }),
  history: (state, msg) => bump(state, { history: msg }),
  preview: (state, msg) => bump(state, { preview: msg }),
  run_start: (state, msg) => bump(state, { run: { steps: msg.steps, done: 0, total: msg.steps.length, current: null } }),
  progress: (state, msg) =>
    bump(state, {
      run: { steps: state.run?.steps ?? [], done: msg.done, total: msg.total, current: state.run?.current ?? null }
    }),
  run_end: state => bump(state, { run: null })
};

/** Apply one kernel message.  Returns the same object when nothing changed (or the kind is unknown). */
export function reduce(state: IPipelineState, msg: KernelMessage): IPipelineState {
  if (!Object.prototype.hasOwnProperty.call(HANDLERS, msg.type)) {
    return state;
  }
  const handler = HANDLERS[msg.type] as (state: IPipelineState, msg: KernelMessage) => IPipelineState;
  return handler(state, msg);
}

/** Set the connection state; keeps the last graph so a restart does not blank the panel. */
export function withConnection(state: IPipelineState, connection: Connection): IPipelineState {
  if (state.connection === connection) {
    return state;
  }
  const cleared = connection === 'no-notebook' || connection === 'not-loaded';
  return {
    ...(cleared ? { ...EMPTY, structure: state.structure + 1 } : state),
    connection,
    run: null,
    checking: false,
    revision: state.revision + 1
  };
}

/** Steps downstream of `name` (not including it), in the kernel's order. */
export function descendants(state: IPipelineState, name: string): string[] {
  const children = new Map<string, string[]>();
  for (const e of state.edges) {
    const list = children.get(e.source) ?? [];
    list.push(e.target);
    children.set(e.source, list);
  }
  const seen = new Set<string>();
  const todo = [...(children.get(name) ?? [])];
  while (todo.length) {
    const n = todo.pop() as string;
    if (!seen.has(n)) {
      seen.add(n);
      todo.push(...(children.get(n) ?? []));
    }
  }
  return state.order.filter(n => seen.has(n));
}

/** A step with everything above and below it: what focus mode keeps in view. */
export function lineage(state: IPipelineState, name: string): Set<string> {
  const out = new Set<string>([name]);
  for (const way of ['up', 'down'] as const) {
    const todo = [name];
    const seen = new Set<string>();
    while (todo.length) {
      const n = todo.pop() as string;
      for (const e of state.edges) {
        const [from, to] = way === 'down' ? [e.source, e.target] : [e.target, e.source];
        if (from === n && !seen.has(to)) {
          seen.add(to);
          out.add(to);
          todo.push(to);
        }
      }
    }
  }
  return out;
}

/** Counts per state, for the panel's header. */
export function counts(state: IPipelineState): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of state.steps.values()) {
    out[s.state] = (out[s.state] ?? 0) + 1;
  }
  return out;
}

/** Steps a "run stale" would execute (anything not fresh). */
export function staleSteps(state: IPipelineState): string[] {
  return state.order.filter(n => state.steps.get(n)?.state !== 'fresh');
}

export type Listener = (state: IPipelineState) => void;

/** Observable holder of an IPipelineState, and of the notebook's own step cells. */
export class PipelineModel {
  private _state: IPipelineState = EMPTY;
  private _preview: IPreview | null = null;
  private _previewKey = '';
  private _view: { from: IPipelineState; preview: IPreview | null; view: IPipelineState } | null = null;
  private _listeners = new Set<Listener>();

  /** What the kernel says. */
  get state(): IPipelineState {
    return this._state;
  }

  /** What the panel shows: the kernel's state plus the step cells it does not know yet. */
  get view(): IPipelineState {
    const v = this._view;
    if (v && v.from === this._state && v.preview === this._preview) {
      return v.view;
    }
    const view = withPreview(this._state, this._preview);
    this._view = { from: this._state, preview: this._preview, view };
    return view;
  }

  /** The step cells read from the notebook (notifies only when they changed). */
  setPreview(p: IPreview): void {
    const key = JSON.stringify(p);
    if (key === this._previewKey) {
      return;
    }
    this._previewKey = key;
    this._preview = p;
    this._notify();
  }

  subscribe(fn: Listener): () => void {
    this._listeners.add(fn);
    return () => this._listeners.delete(fn);
  }

  apply(msg: KernelMessage): void {
    this._set(reduce(this._state, msg));
  }

  /** Progress of a run the frontend drives (the panel runs step cells), or null when it ended. */
  setRun(run: IRunProgress | null): void {
    this._set({ ...this._state, run, revision: this._state.revision + 1 });
  }

  /** A sample check was asked for (the kernel's `check` message or reply ends it). */
  setChecking(): void {
    this._set({ ...this._state, checking: true, error: null, revision: this._state.revision + 1 });
  }

  clearCheck(): void {
    this._set({ ...this._state, check: null, revision: this._state.revision + 1 });
  }

  setConnection(c: Connection): void {
    this._set(withConnection(this._state, c));
  }

  reset(): void {
    this._set({ ...EMPTY, structure: this._state.structure + 1, revision: this._state.revision + 1 });
  }

  private _set(s: IPipelineState): void {
    if (s === this._state) {
      return;
    }
    this._state = s;
    this._notify();
  }

  private _notify(): void {
    const s = this._state;
    for (const fn of [...this._listeners]) {
      try {
        fn(s);
      } catch (e) {
        console.error('nb2pipe: a pipeline listener failed', e);
      }
    }
  }
}
