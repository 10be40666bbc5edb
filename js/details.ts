/**
 * The details pane of the selected (or hovered) step: what it is, when it last
 * ran, why it is not fresh, its outputs -- marked when they are from an earlier
 * run -- and the actions on it.  A failed step leads with its error.
 */
import { stateClass } from './dom';
import { CommandIDs } from './commands';
import { el } from './dom';
import { formatSeconds } from './layout';
import { IPipelineState } from './model';
import { NOT_RUN } from './preview';
import { IHistoryMsg, IOutputSummary, IPreviewMsg, IStepStatus } from './protocol';
import { isConsequence, reword } from './reasons';

export type MakeButton = (label: string, command: string, title: string, args: any) => HTMLButtonElement;
/** The line of its cell (1 = the %%step line) where a failed step raised, when known. */
export type ErrorLine = (s: IStepStatus) => number | null;

const ANSI = /\u001b\[[0-9;]*m/g;
const WHERE_LINE = /where: step `[^`]+`[^\n]*?, line (\d+)/;

/** The line in an error's text as nb2pipe prints it ("where: step `x`, cell [4], line 3"). */
export function lineInError(text: string): number | null {
  const m = WHERE_LINE.exec(text.replace(ANSI, ''));
  return m ? Number(m[1]) : null;
}

export function ago(ts: number | null): string {
  if (!ts) {
    return 'never';
  }
  const d = Date.now() / 1000 - ts;
  if (d < 60) {
    return `${Math.max(0, Math.round(d))} s ago`;
  }
  if (d < 3600) {
    return `${Math.round(d / 60)} min ago`;
  }
  if (d < 86400) {
    return `${Math.round(d / 3600)} h ago`;
  }
  return new Date(ts * 1000).toLocaleString();
}

export function describeOutput(name: string, m: IOutputSummary | undefined): string {
  if (!m) {
    return name;
  }
  const type = (m.type ?? '').split('.').pop();
  if (m.rows !== undefined && m.rows !== null) {
    return `${name}: ${type} ${m.rows} rows × ${m.columns} columns`;
  }
  if (m.shape) {
    return `${name}: ${type} ${JSON.stringify(m.shape)}${m.dtype ? ' ' + m.dtype : ''}`;
  }
  return `${name}: ${type}`;
}

function outputBox(name: string, m: IOutputSummary | undefined): HTMLElement {
  const box = el('div', 'jp-nb2pipe-output');
  box.append(el('div', 'jp-nb2pipe-output-name', describeOutput(name, m)));
  const pairs = (m?.schema ?? []).map(([col, typ]) => [col, typ]);
  if (pairs.length) {
    const st = el('table', 'jp-nb2pipe-schema');
    for (const [col, typ] of pairs.slice(0, 20)) {
      const tr = el('tr');
      tr.append(el('td', '', col), el('td', '', typ));
      st.append(tr);
    }
    if (pairs.length > 20) {
      const tr = el('tr');
      tr.append(el('td', '', `… ${pairs.length - 20} more`));
      st.append(tr);
    }
    box.append(st);
  }
  return box;
}

/** An output's first rows as the store has them (or its short repr when not a table). */
function previewTable(p: IPreviewMsg): HTMLElement {
  if (!p.head.length && p.repr) {
    return el('pre', 'jp-nb2pipe-preview', p.repr);
  }
  const t = el('table', 'jp-nb2pipe-preview');
  const head = el('tr');
  for (const [col] of p.schema) {
    head.append(el('th', '', col));
  }
  t.append(head);
  for (const row of p.head) {
    const tr = el('tr');
    for (const v of row) {
      tr.append(el('td', '', v));
    }
    t.append(tr);
  }
  const wrap = el('div', 'jp-nb2pipe-preview-wrap');
  wrap.append(t);
  return wrap;
}

/** The step's last runs (newest first) and the diff of its code since its cached run. */
function historyBox(h: IHistoryMsg): HTMLElement {
  const box = el('div', 'jp-nb2pipe-history');
  box.append(el('div', 'jp-nb2pipe-subhead', `Last runs (${h.runs.length})`));
  const t = el('table', 'jp-nb2pipe-history-table');
  const head = el('tr');
  for (const c of ['when', 'took', 'key', 'how', 'where', 'rows']) {
    head.append(el('th', '', c));
  }
  t.append(head);
  for (const r of h.runs) {
    const tr = el('tr', 'jp-nb2pipe-history-run');
    const rows = Object.values(r.rows).filter((n): n is number => typeof n === 'number');
    tr.append(
      el('td', '', ago(r.finished)),
      el('td', '', formatSeconds(r.duration)),
      el('td', 'jp-nb2pipe-key', (r.key ?? '-').slice(0, 8)),
      el('td', '', r.status),
      el('td', '', r.user ? `${r.where} · ${r.user}` : r.where),
      el('td', '', rows.length ? rows.join(', ') : '-')
    );
    if (r.error) {
      tr.title = r.error;
    }
    t.append(tr);
  }
  box.append(t);
  if (h.diff) {
    box.append(el('div', 'jp-nb2pipe-subhead', 'Code since its cached run'), el('pre', 'jp-nb2pipe-diff', h.diff));
  } else if (h.diff_note) {
    box.append(el('div', 'jp-nb2pipe-hint', h.diff_note));
  }
  return box;
}

/** How the step's outputs relate to its state: current, from an earlier run, or none yet. */
function outputsHeading(s: IStepStatus): string {
  if (s.state === 'failed') {
    return 'Outputs of its last successful run (before this failure)';
  }
  if (s.state === 'stale' || s.state === 'blocked') {
    return 'Outputs of its last run (out of date)';
  }
  return 'Outputs';
}

function table(s: IStepStatus, lastRun: string | undefined): HTMLElement {
  const t = el('table', 'jp-nb2pipe-details-table');
  const row = (k: string, v: string) => {
    const tr = el('tr');
    tr.append(el('th', '', k), el('td', '', v));
    t.append(tr);
  };
  row('cell', s.where || '-');
  if ((s.state as string) === NOT_RUN) {
    row('last run', 'not run yet');
  } else {
    row(s.state === 'failed' ? 'last success' : 'last run', ago(s.finished));
    row('took', formatSeconds(s.duration));
  }
  if (s.state === 'fresh' && s.key) {
    // "cache hit" only when the last run of it was answered from the store
    const how = lastRun === 'cache hit' ? 'cache hit' : lastRun === 'ran' ? 'ran, stored' : 'in the store';
    row('cache', `${how} · key ${s.key.slice(0, 12)}`);
  }
  row('inputs', s.inputs.join(', ') || '-');
  return t;
}

/** The step's name and its state chip. */
function headSection(s: IStepStatus): HTMLElement {
  const head = el('div', 'jp-nb2pipe-details-head');
  head.append(el('span', 'jp-nb2pipe-details-name', s.step), el('span', 'jp-nb2pipe-chip ' + stateClass(s.state), s.state));
  return head;
}

/** A failed step's error, with a button to the line that raised when it is known. */
function errorSection(s: IStepStatus, button: MakeButton, errorLine: ErrorLine): HTMLElement[] {
  if (s.state !== 'failed' || !s.error) {
    return [];
  }
  const out: HTMLElement[] = [el('div', 'jp-nb2pipe-subhead', 'Error'), el('pre', 'jp-nb2pipe-error', s.error)];
  const line = errorLine(s);
  if (line !== null) {
    const go = button(`Go to line ${line} of its cell`, CommandIDs.goToCell, 'Put the cursor on the line that raised', {
      step: s.step,
      line
    });
    go.classList.add('jp-nb2pipe-error-line');
    out.push(go);
  }
  return out;
}

/** Why a step that is neither fresh nor failed is not fresh. */
function reasonsSection(s: IStepStatus): HTMLElement[] {
  if (s.state === 'fresh' || s.state === 'failed' || !s.reasons.length) {
    return [];
  }
  const why = isConsequence(s) ? 'Why stale (only because of a step above it)' : s.state === 'stale' ? 'Why stale' : 'Why';
  const ul = el('ul', 'jp-nb2pipe-reasons');
  for (const r of s.reasons) {
    ul.append(el('li', '', reword(r)));
  }
  return [el('div', 'jp-nb2pipe-subhead', why), ul];
}

/** The step's outputs (marked when from an earlier run), each with its preview or a Preview button. */
function outputsSection(s: IStepStatus, preview: IPreviewMsg | null, button: MakeButton): HTMLElement[] {
  if (!s.outputs.length || (s.state as string) === NOT_RUN) {
    return [];
  }
  const old = s.state === 'failed' || s.state === 'stale' || s.state === 'blocked';
  const box = el('div', old ? 'jp-nb2pipe-outputs jp-mod-outdated' : 'jp-nb2pipe-outputs');
  box.append(el('div', 'jp-nb2pipe-subhead', outputsHeading(s)));
  for (const o of s.outputs) {
    const ob = outputBox(o, s.summaries[o]);
    if (preview && preview.step === s.step && preview.output === o) {
      ob.append(previewTable(preview));
    } else {
      const b = button('Preview', CommandIDs.preview, 'Its first rows, read from the store (nothing runs)', { step: s.step, output: o });
      b.classList.add('jp-nb2pipe-preview-button');
      ob.append(b);
    }
    box.append(ob);
  }
  return [box];
}

/** The buttons acting on the step. */
function actionsSection(s: IStepStatus, button: MakeButton): HTMLElement {
  const actions = el('div', 'jp-nb2pipe-actions');
  actions.append(
    button('Run', CommandIDs.runStep, 'Run this step (and its stale upstream)', { step: s.step }),
    button('Run + downstream', CommandIDs.runDownstream, 'Run this step and everything downstream', { step: s.step }),
    button('Force', CommandIDs.forceRun, 'Re-run this step even if cached', { step: s.step }),
    button('Go to cell', CommandIDs.goToCell, 'Scroll to the cell of this step', { step: s.step }),
    button('History', CommandIDs.history, 'Its last runs (run records) and the diff of its code since its cached run', { step: s.step })
  );
  return actions;
}

/** Fill `d` with the details of step `name` (or a hint when none is selected). */
export function renderDetails(
  d: HTMLElement,
  state: IPipelineState | null,
  name: string | null,
  button: MakeButton,
  errorLine: ErrorLine = () => null
): void {
  d.textContent = '';
  const s = name ? state?.steps.get(name) : undefined;
  if (!state || !s) {
    if (state?.steps.size) {
      d.append(el('div', 'jp-nb2pipe-hint', 'Click a step to go to its cell; hover for details.'));
    }
    return;
  }
  d.append(
    headSection(s),
    ...errorSection(s, button, errorLine),
    table(s, state.lastRun.get(s.step)),
    ...reasonsSection(s),
    ...outputsSection(s, state.preview, button)
  );
  if (state.history?.step === s.step) {
    d.append(historyBox(state.history));
  }
  d.append(actionsSection(s, button));
}
