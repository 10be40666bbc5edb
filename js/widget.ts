/**
 * The Pipeline sidebar: the live DAG of the active notebook, its states, details
 * of the selected (or hovered) step, and the actions on it.
 */
import { CommandRegistry } from '@lumino/commands';
import { NotebookActions } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { DagCanvas } from './canvas';
import { stateClass } from './dom';
import { renderCheck } from './checkview';
import { CommandIDs } from './commands';
import { lineInError, renderDetails } from './details';
import { el } from './dom';
import { PipelineClient } from './client';
import { collapse, groupId, groupOfNode, IGrouped } from './groups';
import { renderGroupDetails } from './groupview';
import { ILayoutOptions, layout, Places } from './layout';
import { counts, IPipelineState, lineage } from './model';
import { FRESH_IN_STORE, NOT_RUN } from './preview';
import { IEdge, IStepStatus, STEP_STATES } from './protocol';

export { stateClass } from './dom';

export { CommandIDs } from './commands';


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
      this._button('Check', CommandIDs.check, 'Run the saved notebook on a sample (first 1,000 rows of each source) and list where outputs break their contracts'),
      this._button('Export…', CommandIDs.exportPipeline, 'Export the pipeline to a folder (nb2pipe export)')
    );
    header.append(this._titleNode, tools);

    this._statusNode = el('div', 'jp-nb2pipe-status');
    this._messageNode = el('div', 'jp-nb2pipe-message');
    this._checkNode = el('div', 'jp-nb2pipe-check');
    this._canvas = new DagCanvas({
      activate: step => {
        const group = groupOfNode(step);
        if (group !== null) {
          this.setCollapsed(group, false);
          return;
        }
        this.select(step, false);
        void this._commands.execute(CommandIDs.goToCell, { step });
      },
      collapse: group => this.setCollapsed(group, true),
      // a collapsed group's node stands for its steps: walking onto it selects its first
      walk: step => this.select(this._grouped?.groups.get(groupOfNode(step) ?? '')?.[0] ?? step),
      hover: step => {
        this._hovered = step;
        this._renderDetails();
      }
    });
    this._graphNode = el('div', 'jp-nb2pipe-graph');
    this._graphNode.append(this._canvasTools(), this._canvas.node);
    this._detailsNode = el('div', 'jp-nb2pipe-details');
    const legend = el('div', 'jp-nb2pipe-legend');
    for (const s of [...STEP_STATES, FRESH_IN_STORE, NOT_RUN]) {
      const item = el('span', 'jp-nb2pipe-legend-item ' + stateClass(s));
      item.append(el('span', 'jp-nb2pipe-swatch'), document.createTextNode(s));
      legend.append(item);
      if (s === 'stale') {
        const up = el('span', 'jp-nb2pipe-legend-item jp-mod-consequence ' + stateClass(s));
        up.title = 'stale only because a step above it changed';
        up.append(el('span', 'jp-nb2pipe-swatch'), document.createTextNode('stale (upstream)'));
        legend.append(up);
      }
    }
    // a cell ran: its outputs (e.g. where a failed step raised) may change the details
    NotebookActions.executed.connect((_, args) => {
      if (args.notebook === this._client?.panel.content) {
        this._renderDetails();
      }
    });
    this.node.append(header, this._statusNode, this._messageNode, this._checkNode, this._graphNode, this._detailsNode, legend);
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
    this._places = undefined;
    this._collapsed.clear();
    if (client) {
      this._unsubscribe = client.model.subscribe(() => this._render());
    }
    this._render();
  }

  /** Collapse a `--group` into one node, or expand it back into its steps. */
  setCollapsed(group: string, collapsed: boolean): void {
    if (collapsed) {
      this._collapsed.add(group);
    } else {
      this._collapsed.delete(group);
    }
    if (this._hovered === groupId(group)) {
      this._hovered = null;
    }
    this._render();
  }

  /** Select a step's node (and scroll the canvas to it unless `reveal` is false). */
  select(step: string | null, reveal = true): void {
    this._selected = step;
    this._renderSelection(reveal);
    this._renderDetails();
  }

  // -- rendering
  /** Search by step or output name, Fit, zoom in and out. */
  private _canvasTools(): HTMLElement {
    const bar = el('div', 'jp-nb2pipe-canvas-tools');
    this._search = el('input', 'jp-nb2pipe-search jp-mod-styled');
    this._search.type = 'search';
    this._search.placeholder = 'Filter steps or outputs';
    this._search.addEventListener('input', () => {
      if (this._grouped) {
        this._canvas.filter(this._search.value, this._grouped.state);
      }
    });
    const tool = (label: string, title: string, fn: () => void) => {
      const b = el('button', 'jp-nb2pipe-button jp-nb2pipe-tool jp-mod-styled', label);
      b.title = title;
      b.addEventListener('click', fn);
      return b;
    };
    bar.append(
      this._search,
      tool('Fit', 'Fit the whole graph in the panel (key 0)', () => this._canvas.fit()),
      (this._focusButton = tool('Focus', 'Show only the selected step with its ancestors and descendants', () => {
        this._focused = !this._focused;
        this._renderSelection();
      })),
      tool('+', 'Zoom in (key +, or the wheel)', () => this._canvas.zoom(1.25)),
      tool('−', 'Zoom out (key -, or the wheel)', () => this._canvas.zoom(0.8))
    );
    return bar;
  }

  private _button(label: string, command: string, title: string, args: any = {}): HTMLButtonElement {
    const b = el('button', 'jp-nb2pipe-button jp-mod-styled', label);
    b.title = title;
    b.dataset.command = command;
    b.addEventListener('click', () => void this._commands.execute(command, args));
    return b;
  }

  private _render(): void {
    const client = this._client;
    const state = client?.model.view;
    this._titleNode.textContent = client ? `Pipeline · ${client.panel.context.path.split('/').pop()}` : 'Pipeline';
    this._renderMessage(state ?? null);
    this._renderStatus(state ?? null);
    renderCheck(
      this._checkNode,
      state ?? null,
      (step, line) => {
        this.select(step, false);
        void this._commands.execute(CommandIDs.goToCell, { step, ...(line ? { line } : {}) });
      },
      () => client?.model.clearCheck()
    );
    if (!state || !state.steps.size) {
      this._canvas.clear();
      this._layoutKey = '';
      this._grouped = null;
      if (state && state.connection === 'connected') {
        this._canvas.node.append(
          el('div', 'jp-nb2pipe-empty', 'No steps yet. Tag a cell with `%%step NAME` and run it.')
        );
      }
      this._renderDetails();
      return;
    }
    // collapsed groups are one node each; the canvas draws that
    const grouped = collapse(state, this._collapsed);
    this._grouped = grouped;
    this._draw(grouped);
    // follow a run: the running step is brought into view
    const running = state.run?.current ?? null;
    if (running && running !== this._revealed) {
      this._canvas.reveal(grouped.shownAs.get(running) ?? running);
    }
    this._revealed = running;
    if (this._selected && !state.steps.has(this._selected)) {
      this._selected = null;
    }
    this._renderSelection();
    this._renderDetails();
  }

  /** Lay out and draw (only states changed: recolour); the expanded groups are boxes. */
  private _draw(grouped: IGrouped): void {
    const shown = grouped.state;
    // the counts on edges are part of the picture: a new row count lays it out again
    const count = (e: IEdge) => {
      const m = shown.steps.get(e.source)?.summaries[e.data];
      return m && typeof m.rows === 'number' ? `${m.rows}x${m.columns}` : '';
    };
    const clusters = new Map([...grouped.groups].filter(([g]) => !this._collapsed.has(g)));
    const shape =
      shown.order.join(',') +
      '|' +
      shown.edges.map(e => `${e.source}>${e.target}:${e.data}:${count(e)}`).join(',') +
      '|' +
      [...clusters].map(([g, ms]) => `${g}=${ms.join(' ')}`).join(',');
    const key = `${shape}|${this._options.direction}|${this._options.nodeLabel}`;
    if (key !== this._layoutKey || this._options.nodeLabel === 'name+timing') {
      const t0 = performance.now();
      // the nodes already drawn keep their order: a new step does not shuffle the others
      const l = layout(shown, this._options, this._places, { clusters, lines: grouped.lines });
      this._places = l.places;
      const members = new Map([...grouped.groups].filter(([g]) => this._collapsed.has(g)).map(([g, ms]) => [groupId(g), ms]));
      this._canvas.draw(shown, l, members);
      this._canvas.filter(this._search.value, shown);
      this._lastRenderMs = performance.now() - t0;
      this._layoutKey = key;
    } else {
      this._canvas.restyle(shown);
    }
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
    for (const name of [...STEP_STATES, FRESH_IN_STORE, NOT_RUN]) {
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

  private _renderSelection(reveal = false): void {
    // a step in a collapsed group is shown by its group's node
    const as = (step: string) => this._grouped?.shownAs.get(step) ?? step;
    this._canvas.select(this._selected && as(this._selected), reveal);
    const state = this._client?.model.view;
    const on = this._focused && !!this._selected && !!state?.steps.has(this._selected);
    this._focusButton.classList.toggle('jp-mod-active', this._focused);
    this._focusButton.setAttribute('aria-pressed', String(this._focused));
    this._canvas.focus(on ? new Set([...lineage(state!, this._selected!)].map(as)) : null);
  }

  private _renderDetails(): void {
    const state = this._client?.model.view;
    const name = this._hovered ?? this._selected;
    const group = name ? groupOfNode(name) : null;
    const node = group !== null ? this._grouped?.state.steps.get(name as string) : undefined;
    if (state && node) {
      const members = (this._grouped?.groups.get(group as string) ?? []).map(m => state.steps.get(m) as IStepStatus);
      renderGroupDetails(this._detailsNode, node, members, step => {
        this.select(step, false);
        void this._commands.execute(CommandIDs.goToCell, { step });
      });
      return;
    }
    renderDetails(
      this._detailsNode,
      state ?? null,
      name,
      (label, command, title, args) => this._button(label, command, title, args),
      s => this._errorLine(s)
    );
  }

  /** Where a failed step raised: read from its cell's error output (the run as a cell printed it). */
  private _errorLine(s: IStepStatus): number | null {
    const cells = this._client?.panel.content.model?.cells;
    if (!cells || !s.cell_id) {
      return null;
    }
    for (let i = 0; i < cells.length; i++) {
      const c = cells.get(i);
      if (c.id !== s.cell_id || c.type !== 'code') {
        continue;
      }
      for (const o of (c.toJSON() as any).outputs ?? []) {
        const text = o.output_type === 'error' ? (o.traceback ?? []).join('\n') : o.name === 'stderr' ? String(o.text) : '';
        const line = lineInError(text);
        if (line !== null) {
          return line;
        }
      }
    }
    return null;
  }

  private _client: PipelineClient | null = null;
  private _unsubscribe: (() => void) | null = null;
  private _selected: string | null = null;
  private _hovered: string | null = null;
  private _options: ILayoutOptions = { direction: 'TB', nodeLabel: 'name' };
  private _layoutKey = '';
  private _places: Places | undefined;
  private _collapsed = new Set<string>();
  private _grouped: IGrouped | null = null;
  private _lastRenderMs = 0;
  private _canvas: DagCanvas;
  private _revealed: string | null = null;
  private _search!: HTMLInputElement;
  private _focusButton!: HTMLButtonElement;
  private _focused = false;
  private _titleNode: HTMLElement;
  private _statusNode: HTMLElement;
  private _messageNode: HTMLElement;
  private _checkNode: HTMLElement;
  private _graphNode: HTMLElement;
  private _detailsNode: HTMLElement;
}
