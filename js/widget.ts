/**
 * The Pipeline sidebar: the live DAG of the active notebook, its states, details
 * of the selected (or hovered) step, and the actions on it.
 */
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { PipelineClient } from './client';
import { ILayout, ILayoutOptions, formatSeconds, layout } from './layout';
import { counts, IPipelineState } from './model';
import { IOutputSummary, IStepStatus, STEP_STATES } from './protocol';

const SVG_NS = 'http://www.w3.org/2000/svg';

export const CommandIDs = {
  runStale: 'nb2pipe:run-stale',
  runStep: 'nb2pipe:run-step',
  runDownstream: 'nb2pipe:run-downstream',
  forceRun: 'nb2pipe:force-run',
  exportPipeline: 'nb2pipe:export',
  loadExtension: 'nb2pipe:load-extension',
  showPanel: 'nb2pipe:show-panel',
  goToCell: 'nb2pipe:go-to-cell'
};

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) {
    e.className = cls;
  }
  if (text !== undefined) {
    e.textContent = text;
  }
  return e;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    e.setAttribute(k, String(v));
  }
  return e;
}

export function stateClass(state: string): string {
  return 'jp-nb2pipe-state-' + state.replace(/\s+/g, '-');
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

function schemaPairs(schema: IOutputSummary['schema']): Array<[string, string]> {
  if (!schema) {
    return [];
  }
  return schema.map(([name, type]) => [name, type]);
}

export class PipelineSidebar extends Widget {
  constructor(private _commands: CommandRegistry) {
    super();
    this.id = 'nb2pipe-pipeline';
    this.addClass('jp-nb2pipe-panel');
    this.title.caption = 'Pipeline (nb2pipe)';

    const header = el('div', 'jp-nb2pipe-header');
    this._titleNode = el('div', 'jp-nb2pipe-title', 'Pipeline');
    const tools = el('div', 'jp-nb2pipe-tools');
    tools.append(
      this._button('Run stale', CommandIDs.runStale, 'Run every stale step (uses the current cell contents)'),
      this._button('Export…', CommandIDs.exportPipeline, 'Export the pipeline to a folder (nb2pipe export)')
    );
    header.append(this._titleNode, tools);

    this._statusNode = el('div', 'jp-nb2pipe-status');
    this._messageNode = el('div', 'jp-nb2pipe-message');
    this._graphNode = el('div', 'jp-nb2pipe-graph');
    this._detailsNode = el('div', 'jp-nb2pipe-details');
    const legend = el('div', 'jp-nb2pipe-legend');
    for (const s of STEP_STATES) {
      const item = el('span', 'jp-nb2pipe-legend-item ' + stateClass(s));
      item.append(el('span', 'jp-nb2pipe-swatch'), document.createTextNode(s));
      legend.append(item);
    }
    this.node.append(header, this._statusNode, this._messageNode, this._graphNode, this._detailsNode, legend);
  }

  get client(): PipelineClient | null {
    return this._client;
  }

  get selected(): string | null {
    return this._selected;
  }

  get layoutOptions(): ILayoutOptions {
    return this._options;
  }

  set layoutOptions(o: ILayoutOptions) {
    this._options = o;
    this._layoutKey = '';
    this._render();
  }

  /** The last layout's time in ms (for the 200-step budget). */
  get lastRenderMs(): number {
    return this._lastRenderMs;
  }

  setClient(client: PipelineClient | null): void {
    if (client === this._client) {
      return;
    }
    this._unsubscribe?.();
    this._unsubscribe = null;
    this._client = client;
    this._selected = null;
    this._layoutKey = '';
    if (client) {
      this._unsubscribe = client.model.subscribe(() => this._render());
    }
    this._render();
  }

  select(step: string | null): void {
    this._selected = step;
    this._renderSelection();
    this._renderDetails();
  }

  // -- rendering
  private _button(label: string, command: string, title: string, args: any = {}): HTMLButtonElement {
    const b = el('button', 'jp-nb2pipe-button jp-mod-styled', label);
    b.title = title;
    b.dataset.command = command;
    b.addEventListener('click', () => void this._commands.execute(command, args));
    return b;
  }

  private _render(): void {
    const client = this._client;
    const state = client?.model.state;
    this._titleNode.textContent = client ? `Pipeline · ${client.panel.context.path.split('/').pop()}` : 'Pipeline';
    this._renderMessage(state ?? null);
    this._renderStatus(state ?? null);
    if (!state || !state.steps.size) {
      this._graphNode.textContent = '';
      this._layoutKey = '';
      this._nodes.clear();
      if (state && state.connection === 'connected') {
        this._graphNode.append(
          el('div', 'jp-nb2pipe-empty', 'No steps yet. Tag a cell with `%%step NAME` and run it.')
        );
      }
      this._renderDetails();
      return;
    }
    const key = `${state.structure}|${this._options.direction}|${this._options.nodeLabel}`;
    if (key !== this._layoutKey || this._options.nodeLabel === 'name+timing') {
      const t0 = performance.now();
      this._draw(state, layout(state, this._options));
      this._lastRenderMs = performance.now() - t0;
      this._layoutKey = key;
    } else {
      this._restyle(state);
    }
    if (this._selected && !state.steps.has(this._selected)) {
      this._selected = null;
    }
    this._renderSelection();
    this._renderDetails();
  }

  private _renderMessage(state: IPipelineState | null): void {
    const m = this._messageNode;
    m.textContent = '';
    m.className = 'jp-nb2pipe-message';
    const say = (text: string, kind: string) => {
      m.classList.add('jp-nb2pipe-message-' + kind);
      m.append(el('div', '', text));
    };
    if (!state || state.connection === 'no-notebook') {
      say('Open a notebook to see its pipeline.', 'info');
    } else if (state.connection === 'no-kernel') {
      say('The notebook has no running kernel. Start one to see its pipeline.', 'info');
    } else if (state.connection === 'connecting') {
      say('Connecting to the kernel…', 'info');
    } else if (state.connection === 'restarting') {
      say('The kernel is restarting; showing the last known pipeline.', 'warn');
    } else if (state.connection === 'not-loaded') {
      say('nb2pipe is not loaded in this kernel. Run `%load_ext nb2pipe`, or:', 'warn');
      m.append(this._button('Load nb2pipe', CommandIDs.loadExtension, 'Run %load_ext nb2pipe in the kernel'));
    }
    if (state?.problems.length) {
      const box = el('div', 'jp-nb2pipe-problems');
      box.append(el('div', '', `The pipeline has ${state.problems.length} problem(s):`));
      const ul = el('ul');
      for (const p of state.problems) {
        ul.append(el('li', '', p));
      }
      box.append(ul);
      m.append(box);
    }
    if (state?.error) {
      const pre = el('pre', 'jp-nb2pipe-error', state.error);
      m.append(pre);
    }
  }

  private _renderStatus(state: IPipelineState | null): void {
    const s = this._statusNode;
    s.textContent = '';
    if (!state || !state.steps.size) {
      return;
    }
    const c = counts(state);
    for (const name of STEP_STATES) {
      if (c[name]) {
        const chip = el('span', 'jp-nb2pipe-chip ' + stateClass(name), `${c[name]} ${name}`);
        s.append(chip);
      }
    }
    if (state.run) {
      const bar = el('div', 'jp-nb2pipe-progress');
      const fill = el('div', 'jp-nb2pipe-progress-fill');
      fill.style.width = `${(100 * state.run.done) / Math.max(1, state.run.total)}%`;
      bar.append(fill);
      s.append(
        bar,
        el('span', 'jp-nb2pipe-progress-text', `${state.run.done}/${state.run.total}${state.run.current ? ' · ' + state.run.current : ''}`)
      );
    }
  }

  private _draw(state: IPipelineState, l: ILayout): void {
    this._graphNode.textContent = '';
    this._nodes.clear();
    const root = svg('svg', {
      class: 'jp-nb2pipe-svg',
      width: Math.ceil(l.width),
      height: Math.ceil(l.height),
      viewBox: `0 0 ${Math.ceil(l.width)} ${Math.ceil(l.height)}`,
      role: 'img',
      'aria-label': 'pipeline DAG'
    });
    const defs = svg('defs');
    const marker = svg('marker', {
      id: 'jp-nb2pipe-arrow',
      viewBox: '0 0 10 10',
      refX: 9,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: 'auto-start-reverse'
    });
    marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'jp-nb2pipe-arrowhead' }));
    defs.append(marker);
    root.append(defs);
    const edges = svg('g', { class: 'jp-nb2pipe-edges' });
    for (const e of l.edges) {
      const g = svg('g', { class: 'jp-nb2pipe-edge', 'data-source': e.source, 'data-target': e.target });
      const d = e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
      g.append(svg('path', { d, 'marker-end': 'url(#jp-nb2pipe-arrow)' }));
      const label = e.label.length > 24 ? e.label.slice(0, 23) + '…' : e.label;
      const t = svg('text', { x: e.labelX, y: e.labelY + 4, 'text-anchor': 'middle', class: 'jp-nb2pipe-edge-label' });
      t.textContent = label;
      const title = svg('title');
      title.textContent = `${e.source} → ${e.target}: ${e.label}`;
      g.append(t, title);
      edges.append(g);
    }
    root.append(edges);
    const nodes = svg('g', { class: 'jp-nb2pipe-nodes' });
    for (const n of l.nodes) {
      const s = state.steps.get(n.id) as IStepStatus;
      const g = svg('g', {
        class: 'jp-nb2pipe-node ' + stateClass(s.state),
        'data-step': n.id,
        'data-state': s.state,
        transform: `translate(${(n.x - n.width / 2).toFixed(1)},${(n.y - n.height / 2).toFixed(1)})`,
        tabindex: 0,
        role: 'button'
      });
      g.append(svg('rect', { width: n.width, height: n.height, rx: 6, ry: 6, class: 'jp-nb2pipe-node-box' }));
      g.append(svg('rect', { width: 6, height: n.height, rx: 3, ry: 3, class: 'jp-nb2pipe-node-stripe' }));
      n.lines.forEach((line, i) => {
        const t = svg('text', { x: 14, y: 20 + i * 16, class: i ? 'jp-nb2pipe-node-sub' : 'jp-nb2pipe-node-name' });
        t.textContent = line;
        g.append(t);
      });
      const title = svg('title');
      g.append(title);
      g.addEventListener('click', () => {
        this.select(n.id);
        void this._commands.execute(CommandIDs.goToCell, { step: n.id });
      });
      g.addEventListener('keydown', (ev: KeyboardEvent) => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          this.select(n.id);
          void this._commands.execute(CommandIDs.goToCell, { step: n.id });
        }
      });
      g.addEventListener('mouseenter', () => {
        this._hovered = n.id;
        this._renderDetails();
      });
      g.addEventListener('mouseleave', () => {
        this._hovered = null;
        this._renderDetails();
      });
      nodes.append(g);
      this._nodes.set(n.id, g);
    }
    root.append(nodes);
    this._graphNode.append(root);
    this._restyle(state);
  }

  /** Only states changed: recolour nodes in place (no layout). */
  private _restyle(state: IPipelineState): void {
    for (const [name, g] of this._nodes) {
      const s = state.steps.get(name);
      if (!s) {
        continue;
      }
      if (g.getAttribute('data-state') !== s.state) {
        g.setAttribute('data-state', s.state);
        for (const c of Array.from(g.classList)) {
          if (c.startsWith('jp-nb2pipe-state-')) {
            g.classList.remove(c);
          }
        }
        g.classList.add(stateClass(s.state));
      }
      const title = g.querySelector('title');
      if (title) {
        const why = s.state === 'fresh' ? '' : s.error ? `\n${s.error.split('\n')[0]}` : s.reasons.length ? `\n${s.reasons.join('\n')}` : '';
        title.textContent = `${name}: ${s.state}${why}`;
      }
    }
  }

  private _renderSelection(): void {
    for (const [name, g] of this._nodes) {
      g.classList.toggle('jp-mod-selected', name === this._selected);
    }
  }

  private _renderDetails(): void {
    const d = this._detailsNode;
    d.textContent = '';
    const state = this._client?.model.state;
    const name = this._hovered ?? this._selected;
    const s = name ? state?.steps.get(name) : undefined;
    if (!s) {
      if (state?.steps.size) {
        d.append(el('div', 'jp-nb2pipe-hint', 'Click a step to go to its cell; hover for details.'));
      }
      return;
    }
    const head = el('div', 'jp-nb2pipe-details-head');
    head.append(el('span', 'jp-nb2pipe-details-name', s.step), el('span', 'jp-nb2pipe-chip ' + stateClass(s.state), s.state));
    d.append(head);
    const table = el('table', 'jp-nb2pipe-details-table');
    const row = (k: string, v: string) => {
      const tr = el('tr');
      tr.append(el('th', '', k), el('td', '', v));
      table.append(tr);
    };
    row('cell', s.where || '-');
    row('last run', ago(s.finished));
    row('took', formatSeconds(s.duration));
    row('cache', s.state === 'fresh' ? `hit · key ${(s.key ?? '').slice(0, 12)}` : s.state);
    row('inputs', s.inputs.join(', ') || '-');
    d.append(table);
    if (s.state !== 'fresh' && s.reasons.length) {
      d.append(el('div', 'jp-nb2pipe-subhead', s.state === 'stale' ? 'Why stale' : 'Why'));
      const ul = el('ul', 'jp-nb2pipe-reasons');
      for (const r of s.reasons) {
        ul.append(el('li', '', r));
      }
      d.append(ul);
    }
    if (s.outputs.length) {
      d.append(el('div', 'jp-nb2pipe-subhead', 'Outputs'));
      for (const o of s.outputs) {
        const m = s.summaries[o];
        const box = el('div', 'jp-nb2pipe-output');
        box.append(el('div', 'jp-nb2pipe-output-name', describeOutput(o, m)));
        const pairs = schemaPairs(m?.schema);
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
        d.append(box);
      }
    }
    if (s.error) {
      d.append(el('div', 'jp-nb2pipe-subhead', 'Last error'), el('pre', 'jp-nb2pipe-error', s.error));
    }
    const actions = el('div', 'jp-nb2pipe-actions');
    actions.append(
      this._button('Run', CommandIDs.runStep, 'Run this step (and its stale upstream)', { step: s.step }),
      this._button('Run + downstream', CommandIDs.runDownstream, 'Run this step and everything downstream', { step: s.step }),
      this._button('Force', CommandIDs.forceRun, 'Re-run this step even if cached', { step: s.step }),
      this._button('Go to cell', CommandIDs.goToCell, 'Scroll to the cell of this step', { step: s.step })
    );
    d.append(actions);
  }

  private _client: PipelineClient | null = null;
  private _unsubscribe: (() => void) | null = null;
  private _selected: string | null = null;
  private _hovered: string | null = null;
  private _options: ILayoutOptions = { direction: 'TB', nodeLabel: 'name' };
  private _layoutKey = '';
  private _lastRenderMs = 0;
  private _nodes = new Map<string, SVGGElement>();
  private _titleNode: HTMLElement;
  private _statusNode: HTMLElement;
  private _messageNode: HTMLElement;
  private _graphNode: HTMLElement;
  private _detailsNode: HTMLElement;
}
