/**
 * One notebook's connection to its kernel's engine: the `nb2pipe` comm (connection.ts),
 * kept open across kernel restarts and kernel changes, and the notebook's current cells
 * (notebookcells.ts): previewed as the user types, sent when edited, ordered, planned.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';

import { CellRunner } from './cellrun';
import { KernelConnection, Request } from './connection';
import { PipelineModel } from './model';
import { cellOrder, cellTexts, pipelineCells } from './notebookcells';
import { parsePreview } from './preview';
import { ICellInfo, ICellSource, IReplyMsg, KernelMessage } from './protocol';

export type { Request } from './connection';

export interface IClientOptions {
  /** Send edited %%step cells to the kernel as the user types (debounced). */
  liveSync: () => boolean;
}

export class PipelineClient {
  readonly model = new PipelineModel();
  /** Runs from the panel, as notebook cells. */
  readonly runner: CellRunner;

  constructor(
    readonly panel: NotebookPanel,
    private _options: IClientOptions
  ) {
    this.runner = new CellRunner(this);
    this._connection = new KernelConnection(panel.sessionContext, this.model, {
      opened: () => this._onOpened(),
      received: msg => this._onMessage(msg)
    });
    panel.content.model?.contentChanged.connect(this._onContentChanged, this);
    // the steps as the notebook has them, shown before (and beside) the kernel's
    panel.context.ready.then(() => this._readPreview()).catch(() => undefined);
    this._readPreview();
    // added, moved or deleted cells: the kernel orders steps as the notebook does
    panel.content.model?.cells.changed.connect(this._sendOrder, this);
    panel.disposed.connect(() => this.dispose());
  }

  get sessionContext(): ISessionContext {
    return this.panel.sessionContext;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.runner.dispose();
    this._connection.dispose();
    window.clearTimeout(this._syncTimer);
    window.clearTimeout(this._previewTimer);
    window.clearTimeout(this._planTimer);
  }

  /** (Re)open the comm to the current kernel. */
  connect(): void {
    this._connection.connect();
  }

  /** Load the extension in the kernel (`%load_ext nb2pipe`), then connect. */
  loadExtension(): Promise<void> {
    return this._connection.loadExtension();
  }

  /** Send a request; returns its id (the kernel's reply echoes it), or null when not connected. */
  send(msg: Request): string | null {
    return this._connection.send(msg);
  }

  /** Send a request and wait for the kernel's reply to it. */
  request(msg: Request): Promise<IReplyMsg> {
    return this._connection.request(msg);
  }

  /** The notebook's code cells in order, with their tags. */
  order(): ICellInfo[] {
    return cellOrder(this.panel);
  }

  /**
   * Run steps as the notebook's cells, with their current contents (even unexecuted
   * edits): each cell shows its step's output, as if the user had run it.
   * Resolves false when a cell failed.
   */
  run(targets: string[], opts: { force?: boolean; downstream?: boolean } = {}): Promise<boolean> {
    return this.runner.run({ targets, force: !!opts.force, downstream: !!opts.downstream });
  }

  /** The sample check of the notebook as saved (saved first): answered by a `check` message. */
  async check(rows = 1000): Promise<IReplyMsg> {
    const ctx = this.panel.context;
    if (ctx.model.dirty) {
      await ctx.save();
    }
    this.model.setChecking();
    return this.request({ type: 'check', rows });
  }

  async exportPipeline(output: string, overwrite: boolean): Promise<IReplyMsg> {
    const ctx = this.panel.context;
    if (ctx.model.dirty) {
      await ctx.save();
    }
    const name = ctx.path.split('/').pop() as string;
    return this.request({ type: 'export', name, output, notebook: ctx.model.toJSON(), overwrite });
  }

  /** The notebook's %%step / %%setup / %%params cells, in order. */
  cells(onlySteps = false): ICellSource[] {
    return pipelineCells(this.panel, onlySteps);
  }

  // -- internals
  /** A new comm: nothing is synced or planned on it yet; the kernel learns the cell order first. */
  private _onOpened(): void {
    this._lastSynced.clear();
    this._plannedKey = '';
    this._sendOrder();
  }

  private _onMessage(msg: KernelMessage): void {
    if (msg.type === 'graph') {
      this._askPlan();
    }
  }

  private _sendOrder(): void {
    if (!this._connection.isOpen) {
      return;
    }
    this.send({ type: 'order', cells: this.order() });
  }

  private _onContentChanged(): void {
    window.clearTimeout(this._previewTimer);
    this._previewTimer = window.setTimeout(() => this._readPreview(), 250);
    if (!this._options.liveSync() || this.model.state.connection !== 'connected') {
      return;
    }
    window.clearTimeout(this._syncTimer);
    this._syncTimer = window.setTimeout(() => this._sync(), 600);
  }

  private _readPreview(): void {
    if (this._disposed || !this.panel.content.model?.cells) {
      return;
    }
    this.model.setPreview(parsePreview(cellTexts(this.panel)));
    this._askPlan();
  }

  /** Step cells the kernel has not defined: ask its planner (nothing runs) what they are. */
  private _askPlan(): void {
    window.clearTimeout(this._planTimer);
    this._planTimer = window.setTimeout(() => {
      const view = this.model.view;
      const unknown = [...view.steps.values()].filter(s => !this.model.state.steps.has(s.step)).map(s => s.step);
      const key = unknown.join(',') + '|' + JSON.stringify(this.cells(false));
      if (!unknown.length || this.model.state.connection !== 'connected' || key === this._plannedKey) {
        return;
      }
      this._plannedKey = key;
      const ctx = this.panel.context;
      this.send({ type: 'plan', name: ctx.path.split('/').pop() as string, notebook: ctx.model.toJSON() });
    }, 800);
  }

  /** Send only the step cells whose text changed since they were last sent. */
  private _sync(): void {
    const changed: ICellSource[] = [];
    const known = new Set<string>();
    for (const s of this.model.state.steps.values()) {
      if (s.cell_id) {
        known.add(s.cell_id);
      }
    }
    for (const c of this.cells(true)) {
      if (!known.has(c.cell_id)) {
        continue; // never run: defined when run, not while typed
      }
      if (this._lastSynced.get(c.cell_id) !== c.source) {
        changed.push(c);
      }
    }
    if (changed.length && this.send({ type: 'sync', cells: changed }) !== null) {
      for (const c of changed) {
        this._lastSynced.set(c.cell_id, c.source);
      }
    }
  }

  private readonly _connection: KernelConnection;
  private _disposed = false;
  private _syncTimer = 0;
  private _previewTimer = 0;
  private _planTimer = 0;
  private _plannedKey = '';
  private _lastSynced = new Map<string, string>();
}
