/**
 * `%%step NAME --group G` groups on the canvas: an expanded group is a box around
 * its steps; a collapsed one is a single node standing for them (its state the
 * worst of theirs, the edges to and from its steps re-routed to it).  Pure: the
 * panel's state in, the state the canvas draws out (unit-tested under node).
 */
import { IPipelineState } from './model';
import { FRESH_IN_STORE, NOT_RUN } from './preview';
import { IEdge, IOutputSummary, IStepStatus, StepState } from './protocol';

/** A collapsed group's node id: a step name never holds ':'. */
export const GROUP_PREFIX = 'group:';

export function groupId(name: string): string {
  return GROUP_PREFIX + name;
}

/** The group a node id stands for, or null for a step's node. */
export function groupOfNode(id: string): string | null {
  return id.startsWith(GROUP_PREFIX) ? id.slice(GROUP_PREFIX.length) : null;
}

/** States from the one that most needs the user's attention to the least. */
export const WORST_FIRST: readonly string[] = [
  'failed',
  'blocked',
  'running',
  'stale',
  'never run',
  NOT_RUN,
  'skipped',
  FRESH_IN_STORE,
  'fresh'
];

export function worstState(states: readonly string[]): string {
  let best = Infinity;
  let out = states[0] ?? 'fresh';
  for (const s of states) {
    const i = WORST_FIRST.indexOf(s);
    const rank = i < 0 ? WORST_FIRST.length : i;
    if (rank < best) {
      best = rank;
      out = s;
    }
  }
  return out;
}

export interface IGrouped {
  /** What the canvas draws: each collapsed group as one node, in the place of its first step. */
  state: IPipelineState;
  /** Every group with its steps, in the kernel's order. */
  groups: ReadonlyMap<string, readonly string[]>;
  /** The node each step is drawn as: itself, or its collapsed group's node. */
  shownAs: ReadonlyMap<string, string>;
  /** A collapsed group's node lines: its name and how many steps it holds. */
  lines: ReadonlyMap<string, string[]>;
}

/** Group name -> its steps, in order (steps without a group are in none). */
export function groupsOf(state: IPipelineState): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const name of state.order) {
    const g = state.steps.get(name)?.group;
    if (g) {
      const list = out.get(g) ?? [];
      list.push(name);
      out.set(g, list);
    }
  }
  return out;
}

/** Why the group is in its state: its worst members' reasons, less those naming a member. */
function groupReasons(members: IStepStatus[], state: string, inside: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  for (const m of members.filter(x => x.state === state)) {
    for (const r of m.reasons) {
      const up = /^upstream `([^`]+)` is /.exec(r);
      if (!up || !inside.has(up[1])) {
        out.add(r);
      }
    }
  }
  return [...out];
}

/** The status a collapsed group's node shows, from its steps' statuses. */
export function groupStatus(name: string, members: IStepStatus[]): IStepStatus {
  const inside = new Set(members.map(m => m.step));
  const state = worstState(members.map(m => m.state));
  const made = new Set(members.flatMap(m => m.outputs));
  const summaries: Record<string, IOutputSummary> = {};
  for (const m of members) {
    Object.assign(summaries, m.summaries);
  }
  const durations = members.map(m => m.duration);
  const failed = members.find(m => m.state === 'failed' && m.error);
  const finished = members.map(m => m.finished ?? 0);
  return {
    step: groupId(name),
    state: state as StepState,
    reasons: groupReasons(members, state, inside),
    key: null,
    duration: durations.every(d => typeof d === 'number') ? durations.reduce((a, b) => (a as number) + (b as number), 0) : null,
    finished: Math.max(...finished) || null,
    where: `group of ${members.length} steps`,
    cell_id: members[0]?.cell_id ?? null,
    inputs: [...new Set(members.flatMap(m => m.inputs))].filter(i => !made.has(i)),
    outputs: [...made],
    summaries,
    error: failed ? `${failed.step}: ${failed.error}` : null,
    group: name
  };
}

/** Edges between the nodes drawn: a group's inner edges go, the others re-routed, each once. */
function rerouted(edges: readonly IEdge[], shownAs: ReadonlyMap<string, string>): IEdge[] {
  const out: IEdge[] = [];
  const seen = new Set<string>();
  for (const e of edges) {
    const source = shownAs.get(e.source) ?? e.source;
    const target = shownAs.get(e.target) ?? e.target;
    const k = `${source}\u0000${target}\u0000${e.data}`;
    if (source === target || seen.has(k)) {
      continue;
    }
    seen.add(k);
    out.push(source === e.source && target === e.target ? e : { ...e, source, target });
  }
  return out;
}

/** The state the canvas draws with the groups in `collapsed` folded; `state` itself when none is. */
export function collapse(state: IPipelineState, collapsed: ReadonlySet<string>): IGrouped {
  const groups = groupsOf(state);
  const shownAs = new Map<string, string>();
  const lines = new Map<string, string[]>();
  const folded = [...groups].filter(([g]) => collapsed.has(g));
  if (!folded.length) {
    return { state, groups, shownAs, lines };
  }
  const steps = new Map(state.steps);
  for (const [g, members] of folded) {
    const id = groupId(g);
    for (const m of members) {
      shownAs.set(m, id);
      steps.delete(m);
    }
    steps.set(id, groupStatus(g, members.map(m => state.steps.get(m) as IStepStatus)));
    lines.set(id, [g, `${members.length} steps`]);
  }
  const order = [...new Set(state.order.map(n => shownAs.get(n) ?? n))];
  return { state: { ...state, steps, order, edges: rerouted(state.edges, shownAs) }, groups, shownAs, lines };
}
