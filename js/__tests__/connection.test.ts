/**
 * The comm connection (connection.ts) against a fake session, kernel and comm: when it
 * opens, how replies find their requests, and how it comes back after a restart, a
 * kernel change or a `%load_ext nb2pipe` typed in a cell.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { KernelConnection } from '../connection';
import { PipelineModel } from '../model';

(globalThis as unknown as { window: typeof globalThis }).window = globalThis; // its timers

type Handler = (sender: unknown, args: any) => void;

class FakeSignal {
  handlers: Array<[Handler, unknown]> = [];
  connect(fn: Handler, thisArg?: unknown): void {
    this.handlers.push([fn, thisArg]);
  }
  disconnect(fn: Handler, thisArg?: unknown): void {
    this.handlers = this.handlers.filter(([f, t]) => f !== fn || t !== thisArg);
  }
  emit(args: unknown): void {
    for (const [fn, t] of [...this.handlers]) {
      fn.call(t, null, args);
    }
  }
}

class FakeComm {
  opened: any = null;
  sent: any[] = [];
  closed = false;
  isDisposed = false;
  onMsg: (msg: any) => void = () => undefined;
  onClose: (msg: any) => void = () => undefined;
  /** Resolves the open's future: the kernel is idle with the comm_open as parent. */
  handled: () => void = () => undefined;
  open(data: unknown): { done: Promise<void> } {
    this.opened = data;
    return { done: new Promise<void>(resolve => (this.handled = resolve)) };
  }
  send(data: unknown): void {
    this.sent.push(data);
  }
  close(): void {
    this.closed = true;
  }
  /** The kernel sends `data` on this comm. */
  receive(data: unknown): void {
    this.onMsg({ content: { data } });
  }
}

class FakeKernel {
  status = 'idle';
  comms: FakeComm[] = [];
  iopubMessage = new FakeSignal();
  info = Promise.resolve({});
  createComm(target: string): FakeComm {
    assert.equal(target, 'nb2pipe');
    const c = new FakeComm();
    this.comms.push(c);
    return c;
  }
  get comm(): FakeComm {
    return this.comms[this.comms.length - 1];
  }
  /** Resolves the last execute request's future (its reply and idle both in). */
  executed: (status: string) => void = () => undefined;
  requestExecute(_content: unknown): { done: Promise<{ content: { status: string } }> } {
    return { done: new Promise(resolve => (this.executed = status => resolve({ content: { status } }))) };
  }
}

class FakeSession {
  kernelChanged = new FakeSignal();
  statusChanged = new FakeSignal();
  connectionStatusChanged = new FakeSignal();
  session: { kernel: FakeKernel | null };
  ready = Promise.resolve();
  constructor(public kernel: FakeKernel) {
    this.session = { kernel };
  }
  status(s: string): void {
    this.kernel.status = s;
    this.statusChanged.emit(s);
  }
}

const settle = () => new Promise(resolve => setTimeout(resolve, 0));

const GRAPH = { type: 'graph', steps: [], edges: [], problems: [], store: '', env: null };

async function connected() {
  const kernel = new FakeKernel();
  const ctx = new FakeSession(kernel);
  const model = new PipelineModel();
  const events: string[] = [];
  const conn = new KernelConnection(ctx as any, model, {
    opened: () => events.push('opened'),
    received: msg => events.push(msg.type)
  });
  await settle();
  return { kernel, ctx, model, events, conn };
}

test('opens the comm once the session is ready; the graph makes it connected', async () => {
  const { kernel, model, events, conn } = await connected();
  assert.equal(kernel.comms.length, 1);
  assert.deepEqual(kernel.comm.opened, { v: 1, features: ['patch'] });
  assert.equal(model.state.connection, 'connecting');
  assert.deepEqual(events, ['opened']);
  kernel.comm.receive(GRAPH);
  assert.equal(model.state.connection, 'connected');
  assert.deepEqual(events, ['opened', 'graph']);
  conn.dispose();
});

test('each reply resolves the request whose id it echoes, in any order', async () => {
  const { kernel, conn } = await connected();
  const first = conn.request({ type: 'check', rows: 10 });
  const second = conn.request({ type: 'status' } as any);
  const [a, b] = kernel.comm.sent;
  assert.notEqual(a.id, b.id);
  assert.equal(a.v, 1);
  kernel.comm.receive({ type: 'reply', id: b.id, request: 'status', ok: true, message: 'second', problems: [] });
  kernel.comm.receive({ type: 'reply', id: 'unknown', request: 'x', ok: true, message: 'nobody', problems: [] });
  kernel.comm.receive({ type: 'reply', id: a.id, request: 'check', ok: false, message: 'first', problems: [] });
  assert.equal((await first).message, 'first');
  assert.equal((await second).message, 'second');
  conn.dispose();
});

test('a comm the kernel closes at once means the extension is not loaded; waiting requests fail', async () => {
  const { kernel, model, conn } = await connected();
  const waiting = conn.request({ type: 'check', rows: 10 });
  kernel.comm.onClose({});
  assert.equal(model.state.connection, 'not-loaded');
  const reply = await waiting;
  assert.equal(reply.ok, false);
  assert.equal(reply.message, 'the connection to the kernel was lost');
  assert.equal(conn.send({ type: 'check', rows: 1 }), null);
  const offline = await conn.request({ type: 'check', rows: 1 });
  assert.deepEqual([offline.ok, offline.message], [false, 'not connected to the kernel']);
  conn.dispose();
});

test('a restart closes the comm and opens a new one when the kernel is idle again', async () => {
  const { kernel, ctx, model, events, conn } = await connected();
  const old = kernel.comm;
  old.receive(GRAPH);
  ctx.status('restarting');
  assert.equal(old.closed, true);
  assert.equal(model.state.connection, 'restarting');
  ctx.status('idle');
  await settle();
  assert.equal(kernel.comms.length, 2);
  old.receive({ ...GRAPH, store: 'old' });           // the old comm's messages are not read
  assert.deepEqual(events, ['opened', 'graph', 'opened']);
  kernel.comm.receive(GRAPH);
  assert.equal(model.state.connection, 'connected');
  conn.dispose();
});

test('`%load_ext nb2pipe` run in a cell reconnects at the next idle', async () => {
  const { kernel, ctx, model, conn } = await connected();
  kernel.comm.onClose({});                            // not loaded
  assert.equal(model.state.connection, 'not-loaded');
  ctx.status('idle');
  await settle();
  assert.equal(kernel.comms.length, 1);               // idle alone does not retry
  kernel.iopubMessage.emit({ header: { msg_type: 'execute_input' }, content: { code: '%load_ext nb2pipe' } });
  ctx.status('idle');
  await settle();
  assert.equal(kernel.comms.length, 2);
  conn.dispose();
});

test('a new kernel resets the model and gets its own comm; dispose closes it for good', async () => {
  const { kernel, ctx, model, conn } = await connected();
  kernel.comm.receive(GRAPH);
  const other = new FakeKernel();
  ctx.session.kernel = other;
  ctx.kernelChanged.emit({});
  await settle();
  assert.equal(kernel.comm.closed, true);
  assert.equal(other.comms.length, 1);
  assert.equal(model.state.connection, 'connecting');
  conn.dispose();
  assert.equal(other.comm.closed, true);
  ctx.status('idle');
  await settle();
  assert.equal(other.comms.length, 1);
});

test('a slow kernel keeps its comm: idles and time passing never re-open it under a waiting request', async () => {
  const { kernel, ctx, model, conn } = await connected();
  const waiting = conn.request({ type: 'plan', name: 'a.ipynb', notebook: {} } as any);
  const realNow = Date.now;
  try {
    Date.now = () => realNow() + 60_000;              // a minute later, under load
    for (let i = 0; i < 5; i++) {
      ctx.status('busy');
      ctx.status('idle');                             // idles between the queued cells
      await settle();
    }
  } finally {
    Date.now = realNow;
  }
  assert.equal(kernel.comms.length, 1);
  assert.equal(kernel.comm.closed, false);
  assert.equal(model.state.connection, 'connecting');
  kernel.comm.receive(GRAPH);                         // the kernel gets to the open at last
  const id = kernel.comm.sent[0].id;
  kernel.comm.receive({ type: 'reply', id, request: 'plan', ok: true, message: '', problems: [] });
  assert.equal((await waiting).ok, true);
  assert.equal(model.state.connection, 'connected');
  conn.dispose();
});

test('an open the kernel handled without answering was lost: opened again, at most three times', async () => {
  const { kernel, model, conn } = await connected();
  kernel.comm.handled();                              // idle with the open as parent, no graph, no close
  await settle();
  assert.equal(kernel.comms.length, 2);
  assert.equal(kernel.comms[0].closed, true);
  for (let i = 0; i < 5; i++) {
    kernel.comm.handled();
    await settle();
  }
  assert.equal(kernel.comms.length, 4);
  assert.equal(model.state.connection, 'connecting');
  conn.dispose();
});

test('an answered open is not opened again when the kernel reports it handled', async () => {
  const { kernel, model, conn } = await connected();
  kernel.comm.receive(GRAPH);
  kernel.comm.handled();
  await settle();
  assert.equal(kernel.comms.length, 1);
  assert.equal(model.state.connection, 'connected');
  conn.dispose();
});

test('Load nb2pipe opens one comm: the one the kernel idle after `%load_ext` opened is kept', async () => {
  const { kernel, ctx, model, conn } = await connected();
  kernel.comm.onClose({});                            // not loaded
  const loading = conn.loadExtension();
  kernel.iopubMessage.emit({ header: { msg_type: 'execute_input' }, content: { code: '%load_ext nb2pipe' } });
  ctx.status('idle');                                 // the idle comes in before the execute reply
  await settle();
  assert.equal(kernel.comms.length, 2);
  const opened = kernel.comm;
  opened.receive(GRAPH);
  const waiting = conn.request({ type: 'plan', name: 'a.ipynb', notebook: {} } as any);
  kernel.executed('ok');
  await loading;
  await settle();
  assert.equal(kernel.comms.length, 2);               // no second open closing the first under its request
  assert.equal(opened.closed, false);
  assert.equal(model.state.connection, 'connected');
  opened.receive({ type: 'reply', id: opened.sent[0].id, request: 'plan', ok: true, message: '', problems: [] });
  assert.equal((await waiting).ok, true);
  conn.dispose();
});

test('Load nb2pipe opens the comm itself when no idle did', async () => {
  const { kernel, model, conn } = await connected();
  kernel.comm.onClose({});
  const loading = conn.loadExtension();
  kernel.executed('ok');
  await loading;
  await settle();
  assert.equal(kernel.comms.length, 2);
  assert.equal(model.state.connection, 'connecting');
  conn.dispose();
});
