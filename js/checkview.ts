/**
 * The sidebar's *Check* result: the sample check's breaks, each naming the step
 * (and line of its cell) the break comes from, a click away from that line.
 */
import { el } from './dom';
import { IPipelineState } from './model';

/** Go to a step's cell, at a line of it (1 = the %%step line) when known. */
export type GoTo = (step: string, line: number | null) => void;

export function renderCheck(node: HTMLElement, state: IPipelineState | null, goTo: GoTo, dismiss: () => void): void {
  node.textContent = '';
  const check = state?.check ?? null;
  node.hidden = !state || (!state.checking && !check);
  if (!state || node.hidden) {
    return;
  }
  if (state.checking) {
    node.append(el('div', 'jp-nb2pipe-check-title', 'Checking the saved notebook on a sample…'));
    return;
  }
  const c = check!;
  const failed = Object.entries(c.failed);
  const bad = c.breaks.length + failed.length;
  const head = el('div', 'jp-nb2pipe-check-title');
  head.append(
    el('span', c.ok ? 'jp-nb2pipe-check-ok' : 'jp-nb2pipe-check-bad',
      c.ok ? `Sample check (${c.rows} rows): no breaks` : `Sample check (${c.rows} rows): ${bad} problem(s)`)
  );
  const close = el('button', 'jp-nb2pipe-check-close jp-mod-styled', '×');
  close.title = 'Dismiss';
  close.addEventListener('click', dismiss);
  head.append(close);
  node.append(head);
  const ul = el('ul', 'jp-nb2pipe-breaks');
  for (const b of c.breaks) {
    const li = el('li', 'jp-nb2pipe-break', b.message);
    li.dataset.step = b.made_by;
    li.title = `Go to step \`${b.made_by}\`${b.line ? `, line ${b.line}` : ''}`;
    li.tabIndex = 0;
    li.addEventListener('click', () => goTo(b.made_by, b.line));
    li.addEventListener('keydown', e => e.key === 'Enter' && goTo(b.made_by, b.line));
    ul.append(li);
  }
  for (const [step, why] of failed) {
    const li = el('li', 'jp-nb2pipe-break', `step \`${step}\` failed on the sample: ${why.split('\n')[0]}`);
    li.dataset.step = step;
    li.addEventListener('click', () => goTo(step, null));
    ul.append(li);
  }
  node.append(ul);
}
