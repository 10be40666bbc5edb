/**
 * How `--group`s look on the canvas: an expanded group's box with its toggle (a
 * click collapses it), a collapsed group's node (a click expands it), and the
 * details of a collapsed group (its steps and their states).
 */
import { svg, stateClass } from './dom';
import { el } from './dom';
import { IClusterBox } from './layout';
import { IStepStatus } from './protocol';
import { reword } from './reasons';

/** The boxes of the expanded groups, drawn behind the edges and nodes. */
export function drawClusters(clusters: readonly IClusterBox[], toggle: (group: string) => void): SVGGElement {
  const out = svg('g', { class: 'jp-nb2pipe-groups' });
  for (const c of clusters) {
    const g = svg('g', { class: 'jp-nb2pipe-group', 'data-group': c.group });
    g.append(svg('rect', { x: c.x, y: c.y, width: c.width, height: c.height, rx: 8, ry: 8, class: 'jp-nb2pipe-group-box' }));
    const head = svg('g', {
      class: 'jp-nb2pipe-group-toggle',
      role: 'button',
      'aria-label': `Collapse group ${c.group}`,
      transform: `translate(${(c.x + 8).toFixed(1)},${(c.y + 13).toFixed(1)})`
    });
    const text = svg('text', { class: 'jp-nb2pipe-group-label' });
    text.textContent = `▾ ${c.group} · ${c.members.length}`;
    const title = svg('title');
    title.textContent = `group ${c.group} (${c.members.length} steps): click to collapse it into one node`;
    head.append(text, title);
    head.addEventListener('click', e => {
      e.stopPropagation();
      toggle(c.group);
    });
    head.addEventListener('pointerdown', e => e.stopPropagation()); // not the canvas's drag-to-pan
    g.append(head);
    out.append(g);
  }
  return out;
}

/** A collapsed group's node: a stack of cards, marked with its group (a click expands it). */
export function decorateGroupNode(g: SVGGElement, group: string, width: number, height: number): void {
  g.classList.add('jp-nb2pipe-group-node');
  g.setAttribute('data-group', group);
  g.setAttribute('aria-label', `group ${group}, collapsed: click to expand`);
  // the cards behind it: a group of steps, not one step
  const back = svg('rect', { x: 4, y: -4, width, height, rx: 6, ry: 6, class: 'jp-nb2pipe-node-box jp-nb2pipe-group-back' });
  g.insertBefore(back, g.firstChild);
}

/** Fill `d` with a collapsed group's details: its state, why, and its steps with theirs. */
export function renderGroupDetails(d: HTMLElement, group: IStepStatus, members: readonly IStepStatus[], pick: (step: string) => void): void {
  d.textContent = '';
  const head = el('div', 'jp-nb2pipe-details-head');
  head.append(el('span', 'jp-nb2pipe-details-name', `group ${group.group}`), el('span', 'jp-nb2pipe-chip ' + stateClass(group.state), group.state));
  d.append(head, el('div', 'jp-nb2pipe-hint', `${members.length} steps, collapsed: click the node to expand it.`));
  if (group.error) {
    d.append(el('pre', 'jp-nb2pipe-error', group.error));
  }
  const ul = el('ul', 'jp-nb2pipe-group-members');
  for (const m of members) {
    const li = el('li', stateClass(m.state));
    const name = el('button', 'jp-nb2pipe-link', m.step);
    name.title = `Go to the cell of ${m.step}`;
    name.addEventListener('click', () => pick(m.step));
    li.append(name, document.createTextNode(` · ${m.state}${m.state !== 'fresh' && m.reasons.length ? ': ' + reword(m.reasons[0]) : ''}`));
    ul.append(li);
  }
  d.append(ul);
}
