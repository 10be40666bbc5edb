/**
 * One notebook's connection to its kernel's engine: the `nb2pipe` comm, kept open
 * across kernel restarts and kernel changes, and the notebook's current cells.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage as KM } from '@jupyterlab/services';

import { CellRunner } from './cellrun';
import { PipelineModel } from './model';
import { ICellText, parsePreview } from './preview';
import {
  COMM_TARGET,
  FrontendMessage,
  ICellInfo,
  ICellSource,
  IReplyMsg,
  KernelMessage,
  PROTOCOL_VERSION
} from './protocol';

/** A request before the client gives it its id. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type Request = DistributiveOmit<FrontendMessage, 'id' | 'v'>;

const TRACKED = /^\s*%%(step|setup|params)(\s|$)/;
const STEP = /^\s*%%step(\s|$)/;

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
    const ctx = panel.sessionContext;
    this.runner = new CellRunner(this);
    ctx.kernelChanged.connect(this._onKernelChanged, this);
    ctx.statusChanged.connect(this._onStatus, this);
    ctx.connectionStatusChanged.connect((_, status) => {
      const c = this.model.state.connection;
      if (status === 'connected' && (c === 'restarting' || c === 'connecting' || c === 'no-kernel')) {
        this.connect();
      }
    });
    ctx.ready.then(() => this.connect()).catch(() => this.model.setConnection('no-kernel'));
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
    this._gen++;
    this.runner.dispose();
    window.clearTimeout(this._watchdog);
    this._closeComm();
    window.clearTimeout(this._syncTimer);
    window.clearTimeout(this._previewTimer);
    window.clearTimeout(this._planTimer);
  }

  /** (Re)open the comm to the current kernel. */
  connect(): void {
    void this._connect(0);
  }

  private async _connect(attempt: number): Promise<void> {
    if (this._disposed) {
      return;
    }
    const gen = ++this._gen;
    this._closeComm();
    window.clearTimeout(this._watchdog);
    const kernel = this.sessionContext.session?.kernel;
    if (!kernel || kernel.status === 'dead') {
      this.model.setConnection('no-kernel');
      return;
    }
    this._watchKernel(kernel);
    if (this.model.state.connection !== 'restarting') {
      this.model.setConnection('connecting');
    }
    try {
      // kernel_info answered: the channels are up (a comm_open sent during a
      // restart's reconnect is dropped by the kernel connection)
      await kernel.info;
    } catch {
      // the status handlers retry when the kernel comes back
    }
    if (gen !== this._gen || this._disposed || kernel !== this.sessionContext.session?.kernel) {
      return;
    }
    let comm: Kernel.IComm;
    try {
      comm = kernel.createComm(COMM_TARGET);
    } catch (e) {
      console.warn('nb2pipe: cannot open the comm', e);
      this.model.setConnection('no-kernel');
      return;
    }
    this._comm = comm;
    this._lastSynced.clear();
    this._plannedKey = '';
    this.model.setConnection('connecting');
    comm.onMsg = (msg: KM.ICommMsgMsg) => {
      const data = msg.content.data as unknown as KernelMessage;
      if (comm !== this._comm) {
        return;
      }
      if (data.type === 'reply' && data.id !== null) {
        const waiting = this._waiters.get(data.id);
        this._waiters.delete(data.id);
        waiting?.(data);
      }
      this.model.apply(data);
      if (data.type === 'graph') {
        this._askPlan();
      }
    };
    comm.onClose = () => {
      if (comm !== this._comm) {
        return; // we closed it ourselves, or an older kernel's comm
      }
      this._comm = null;
      this._dropWaiters();
      const status = this.sessionContext.session?.kernel?.status;
      // closed at once: the kernel has no `nb2pipe` target (extension not loaded)
      this.model.setConnection(status === 'restarting' || status === 'autorestarting' ? 'restarting' : 'not-loaded');
    };
    comm.open({ v: PROTOCOL_VERSION, features: ['patch'] });
    this._sendOrder();
    this._openedAt = Date.now();
    // An idle kernel answers a comm_open at once (graph or close).  No answer while
    // idle means the open was lost (e.g. in a reconnect): open again, a few times.
    this._watchdog = window.setTimeout(() => {
      if (gen !== this._gen || this.model.state.connection !== 'connecting') {
        return;
      }
      // a busy kernel answers when it is done; `_onStatus` retries at the next idle
      if (kernel.status !== 'busy' && attempt < 10) {
        void this._connect(attempt + 1);
      }
    }, 3000);
  }

  /** Load the extension in the kernel (`%load_ext nb2pipe`), then connect. */
  async loadExtension(): Promise<void> {
    const kernel = this.sessionContext.session?.kernel;
    if (!kernel) {
      return;
    }
    const future = kernel.requestExecute({
      code: '%load_ext nb2pipe',
      silent: false,
      store_history: false
    });
    const reply = await future.done;
    if (reply.content.status !== 'ok') {
      throw new Error('`%load_ext nb2pipe` failed in the kernel: is nb2pipe installed where the kernel runs?');
    }
    this.connect();
  }

  /** Send a request; returns its id (the kernel's reply echoes it), or null when not connected. */
  send(msg: Request): string | null {
    if (!this._comm || this._comm.isDisposed) {
      return null;
    }
    const id = `${this._idPrefix}-${++this._lastId}`;
    const full = { v: PROTOCOL_VERSION, ...msg, id } as FrontendMessage;
    this._comm.send(full as unknown as Parameters<Kernel.IComm['send']>[0]);
    return id;
  }

  /** Send a request and wait for the kernel's reply to it. */
  request(msg: Request): Promise<IReplyMsg> {
    const id = this.send(msg);
    if (id === null) {
      return Promise.resolve({
        type: 'reply',
        id: null,
        request: msg.type,
        ok: false,
        message: 'not connected to the kernel',
        problems: []
      });
    }
    return new Promise<IReplyMsg>(resolve => this._waiters.set(id, resolve));
  }

  /** The notebook's code cells in order, with their tags. */
  order(): ICellInfo[] {
    const out: ICellInfo[] = [];
    const cells = this.panel.content.model?.cells;
    if (!cells) {
      return out;
    }
    for (let i = 0; i < cells.length; i++) {
      const c = cells.get(i);
      if (c.type === 'code') {
        const tags = c.getMetadata('tags');
        out.push({ cell_id: c.id, tags: Array.isArray(tags) ? tags.map(String) : [] });
      }
    }
    return out;
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
    const out: ICellSource[] = [];
    const cells = this.panel.content.model?.cells;
    if (!cells) {
      return out;
    }
    for (let i = 0; i < cells.length; i++) {
      const c = cells.get(i);
      if (c.type !== 'code') {
        continue;
      }
      const source = c.sharedModel.getSource();
      if ((onlySteps ? STEP : TRACKED).test(source)) {
        out.push({ cell_id: c.id, source });
      }
    }
    return out;
  }

  // -- internals
  private _onKernelChanged(): void {
    this.model.reset();
    this.connect();
  }

  private _onStatus(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting') {
      this._gen++;
      window.clearTimeout(this._watchdog);
      this._closeComm();
      this.model.setConnection('restarting');
    } else if (status === 'dead') {
      this._closeComm();
      this.model.setConnection('no-kernel');
    } else if (
      status === 'idle' &&
      (this.model.state.connection === 'restarting' ||
        this._reconnectOnIdle ||
        (this.model.state.connection === 'connecting' && Date.now() - this._openedAt > 3000))
    ) {
      // a restarted kernel starts without the extension: try, the kernel says if not
      this._reconnectOnIdle = false;
      this.connect();
    }
  }

  private _watchKernel(kernel: Kernel.IKernelConnection): void {
    if (this._watched === kernel) {
      return;
    }
    this._watched?.iopubMessage.disconnect(this._onIopub, this);
    this._watched = kernel;
    kernel.iopubMessage.connect(this._onIopub, this);
  }

  /** Reconnect after the user runs `%load_ext nb2pipe` in a cell. */
  private _onIopub(_: Kernel.IKernelConnection, msg: KM.IIOPubMessage): void {
    if (msg.header.msg_type !== 'execute_input') {
      return;
    }
    const code = (msg as KM.IExecuteInputMsg).content.code;
    if (this.model.state.connection !== 'connected' && /nb2pipe/.test(code)) {
      this._reconnectOnIdle = true;
    }
  }

  /** Requests still waiting when the comm goes away get a failed reply. */
  private _dropWaiters(): void {
    const waiters = [...this._waiters.entries()];
    this._waiters.clear();
    for (const [id, resolve] of waiters) {
      resolve({ type: 'reply', id, request: '', ok: false, message: 'the connection to the kernel was lost', problems: [] });
    }
  }

  private _sendOrder(): void {
    if (!this._comm) {
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
    const cells = this.panel.content.model?.cells;
    if (this._disposed || !cells) {
      return;
    }
    const out: ICellText[] = [];
    for (let i = 0; i < cells.length; i++) {
      const c = cells.get(i);
      if (c.type === 'code') {
        out.push({ cell_id: c.id, source: c.sharedModel.getSource() });
      }
    }
    this.model.setPreview(parsePreview(out));
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

  private _closeComm(): void {
    const comm = this._comm;
    this._comm = null;
    this._dropWaiters();
    if (comm && !comm.isDisposed) {
      try {
        comm.close();
      } catch {
        // the kernel is gone
      }
    }
  }

  private _comm: Kernel.IComm | null = null;
  private _gen = 0;
  private _openedAt = 0;
  private _watchdog = 0;
  private _disposed = false;
  private _syncTimer = 0;
  private _previewTimer = 0;
  private _planTimer = 0;
  private _plannedKey = '';
  private _reconnectOnIdle = false;
  private _watched: Kernel.IKernelConnection | null = null;
  private _lastSynced = new Map<string, string>();
  private _waiters = new Map<string, (r: IReplyMsg) => void>();
  private _lastId = 0;
  private readonly _idPrefix = Math.random().toString(36).slice(2, 8);
}
