/**
 * The `nb2pipe` comm to a notebook's kernel: opened when the kernel is ready, opened again
 * after a restart, a kernel change or a `%load_ext nb2pipe` in a cell, and closed with the
 * notebook.  Requests get ids and their replies are matched to them.  The connection's
 * state goes to the model, as does every kernel message.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage as KM } from '@jupyterlab/services';

import { PipelineModel } from './model';
import { COMM_TARGET, FrontendMessage, IReplyMsg, KernelMessage, PROTOCOL_VERSION } from './protocol';

/** A request before the connection gives it its id. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** The failed replies of a request the comm never sent, or dropped when it closed. */
export const NOT_CONNECTED = 'not connected to the kernel';
export const CONNECTION_LOST = 'the connection to the kernel was lost';

export type Request = DistributiveOmit<FrontendMessage, 'id' | 'v'>;

export interface IConnectionHooks {
  /** The comm has just been opened: what was sent on an earlier one counts no more. */
  opened(): void;
  /** A kernel message, after the model applied it. */
  received(msg: KernelMessage): void;
}

export class KernelConnection {
  constructor(
    private _ctx: ISessionContext,
    private _model: PipelineModel,
    private _hooks: IConnectionHooks
  ) {
    _ctx.kernelChanged.connect(this._onKernelChanged, this);
    _ctx.statusChanged.connect(this._onStatus, this);
    _ctx.connectionStatusChanged.connect((_, status) => {
      const c = this._model.state.connection;
      if (status === 'connected' && (c === 'restarting' || c === 'connecting' || c === 'no-kernel')) {
        this.connect();
      }
    });
    _ctx.ready.then(() => this.connect()).catch(() => this._model.setConnection('no-kernel'));
  }

  /** Whether a comm is open (sends go through). */
  get isOpen(): boolean {
    return this._comm !== null;
  }

  dispose(): void {
    this._disposed = true;
    this._gen++;
    this._closeComm();
  }

  /** (Re)open the comm to the current kernel. */
  connect(): void {
    void this._connect(0);
  }

  /** Load the extension in the kernel (`%load_ext nb2pipe`), then connect. */
  async loadExtension(): Promise<void> {
    const kernel = this._ctx.session?.kernel;
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
    // the kernel's idle after it has usually opened the comm already (`_onStatus`): a second
    // open would close that one, and whatever was sent on it, under the user's first click
    const c = this._model.state.connection;
    if (c !== 'connected' && c !== 'connecting') {
      this.connect();
    }
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
        message: NOT_CONNECTED,
        problems: []
      });
    }
    return new Promise<IReplyMsg>(resolve => this._waiters.set(id, resolve));
  }

  private async _connect(attempt: number): Promise<void> {
    if (this._disposed) {
      return;
    }
    const gen = ++this._gen;
    this._closeComm();
    const kernel = this._ctx.session?.kernel;
    if (!kernel || kernel.status === 'dead') {
      this._model.setConnection('no-kernel');
      return;
    }
    this._watchKernel(kernel);
    if (this._model.state.connection !== 'restarting') {
      this._model.setConnection('connecting');
    }
    try {
      // kernel_info answered: the channels are up (a comm_open sent during a
      // restart's reconnect is dropped by the kernel connection)
      await kernel.info;
    } catch {
      // the status handlers retry when the kernel comes back
    }
    if (gen !== this._gen || this._disposed || kernel !== this._ctx.session?.kernel) {
      return;
    }
    this._open(kernel, gen, attempt);
  }

  /** Open the comm on `kernel` and route its messages; false when it cannot be opened. */
  private _open(kernel: Kernel.IKernelConnection, gen: number, attempt: number): boolean {
    let comm: Kernel.IComm;
    try {
      comm = kernel.createComm(COMM_TARGET);
    } catch (e) {
      console.warn('nb2pipe: cannot open the comm', e);
      this._model.setConnection('no-kernel');
      return false;
    }
    this._comm = comm;
    this._model.setConnection('connecting');
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
      this._model.apply(data);
      this._hooks.received(data);
    };
    comm.onClose = () => {
      if (comm !== this._comm) {
        return; // we closed it ourselves, or an older kernel's comm
      }
      this._comm = null;
      this._dropWaiters();
      const status = this._ctx.session?.kernel?.status;
      // closed at once: the kernel has no `nb2pipe` target (extension not loaded)
      this._model.setConnection(status === 'restarting' || status === 'autorestarting' ? 'restarting' : 'not-loaded');
    };
    const future = comm.open({ v: PROTOCOL_VERSION, features: ['patch'] });
    this._hooks.opened();
    // the kernel has handled the open once it is idle with the open as parent; by then its
    // answer (a graph, or a close when nb2pipe is not loaded) has arrived, iopub being ordered
    future.done.then(
      () => this._handled(comm, gen, attempt),
      () => undefined // the kernel restarted or went away: the status handlers take over
    );
    return true;
  }

  /**
   * The kernel handled the comm_open without answering it: the open was lost (e.g. sent
   * during a reconnect).  Open again, a few times.  No timer: a busy or slow kernel is
   * waited for, however long it takes, and a live comm is never re-opened under its requests.
   */
  private _handled(comm: Kernel.IComm, gen: number, attempt: number): void {
    if (gen !== this._gen || comm !== this._comm || this._model.state.connection !== 'connecting') {
      return;
    }
    if (attempt < 3) {
      void this._connect(attempt + 1);
    }
  }

  private _onKernelChanged(): void {
    this._model.reset();
    this.connect();
  }

  private _onStatus(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting') {
      this._gen++;
      this._closeComm();
      this._model.setConnection('restarting');
    } else if (status === 'dead') {
      this._closeComm();
      this._model.setConnection('no-kernel');
    } else if (status === 'idle') {
      const c = this._model.state.connection;
      const loaded = this._reconnectOnIdle;
      this._reconnectOnIdle = false;
      // a restarted kernel starts without the extension: try, the kernel says if not.
      // After a `%load_ext nb2pipe` cell, open again unless a comm got through meanwhile
      if (c === 'restarting' || (loaded && c !== 'connected' && c !== 'connecting')) {
        this.connect();
      }
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
    if (this._model.state.connection !== 'connected' && /nb2pipe/.test(code)) {
      this._reconnectOnIdle = true;
    }
  }

  /** Requests still waiting when the comm goes away get a failed reply. */
  private _dropWaiters(): void {
    const waiters = [...this._waiters.entries()];
    this._waiters.clear();
    for (const [id, resolve] of waiters) {
      resolve({ type: 'reply', id, request: '', ok: false, message: CONNECTION_LOST, problems: [] });
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
  private _disposed = false;
  private _reconnectOnIdle = false;
  private _watched: Kernel.IKernelConnection | null = null;
  private _waiters = new Map<string, (r: IReplyMsg) => void>();
  private _lastId = 0;
  private readonly _idPrefix = Math.random().toString(36).slice(2, 8);
}
