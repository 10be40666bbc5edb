/**
 * Runs from the panel execute the notebook's own cells, through the frontend, so
 * the notebook reflects them: each step cell shows its step's live or replayed
 * output and gets an execution count, as if the user had run it.  The kernel's
 * `%%step` magic decides run or replay; an edited, unexecuted cell runs as the
 * editor has it.  Cells go in notebook order, one at a time; the first failure
 * stops the rest.
 */
import { Notification } from '@jupyterlab/apputils';
import { NotebookActions, Notebook } from '@jupyterlab/notebook';

import { PipelineClient } from './client';
import { CONNECTION_LOST, NOT_CONNECTED, Request } from './connection';
import { IReplyMsg } from './protocol';
import { cellsToRun, IRunTargets, IStepCell } from './runplan';
import { stepOfSource } from './stepline';

const SETUP_OR_PARAMS = /^\s*%%(setup|params)(\s|$)/;

type CellWidget = Notebook['widgets'][number];

/** Replies of a request the comm dropped (it was closed, or not open yet). */
const LOST = new Set([CONNECTION_LOST, NOT_CONNECTED]);

export interface IPanelRun extends IRunTargets {
  /** Re-run the targets even when cached (through the engine; their cells then replay that run). */
  force?: boolean;
}

export class CellRunner {
  constructor(private _client: PipelineClient) {
    NotebookActions.executed.connect(this._onExecuted, this);
    const ctx = _client.sessionContext;
    ctx.kernelChanged.connect(() => this._ran.clear());
    ctx.statusChanged.connect((_, status) => {
      if (status === 'restarting' || status === 'autorestarting' || status === 'dead') {
        this._ran.clear();
      }
    });
  }

  get running(): boolean {
    return this._running;
  }

  dispose(): void {
    NotebookActions.executed.disconnect(this._onExecuted, this);
  }

  /** Run steps as the notebook's cells.  Resolves false when a cell failed or nothing could run. */
  async run(request: IPanelRun): Promise<boolean> {
    if (this._running) {
      Notification.info('A run from the Pipeline panel is already under way.', { autoClose: 3000 });
      return false;
    }
    this._running = true;
    try {
      return await this._run(request);
    } finally {
      this._running = false;
      this._progress = null;
      this._client.model.setRun(null);
    }
  }

  private async _run(request: IPanelRun): Promise<boolean> {
    const client = this._client;
    const nb = client.panel.content;
    // 1. %%setup / %%params (and `parameters`-tagged) cells this kernel has not run as they read now
    const setup = nb.widgets.filter(w => this._isSetup(w) && this._ran.get(w.model.id) !== source(w));
    if (setup.length && !(await this._execute(setup))) {
      return false;
    }
    // 2. the kernel's definitions follow the editors (typed edits not synced yet), so its states are current
    const synced = await this._request(() => ({ type: 'sync', cells: client.cells(true) }));
    if (!synced.ok) {
      return this._stopped(synced);
    }
    // 3. the step cells that need to run, in notebook order
    const plan = cellsToRun(client.model.view, client.model.state, this._stepCells(), request);
    if (!plan.length) {
      Notification.info('Nothing to run: every step is fresh.', { autoClose: 3000 });
      return true;
    }
    const widgets = plan.map(p => nb.widgets.find(w => w.model.id === p.cell_id) as CellWidget);
    this._progress = { steps: plan.map(p => p.step), cells: new Set(plan.map(p => p.cell_id)), done: 0 };
    this._showProgress();
    let rest = widgets;
    if (request.force) {
      // ancestors first, as cells; the engine then re-runs the targets regardless of the cache;
      // their cells (below) replay that run's outputs
      const first = plan.findIndex(p => request.targets.includes(p.step));
      if (first > 0 && !(await this._execute(widgets.slice(0, first)))) {
        return false;
      }
      const forced = await this._request(() => ({
        type: 'run',
        targets: request.targets,
        force: true,
        downstream: false,
        cells: client.cells()
      }));
      if (!forced.ok) {
        return this._stopped(forced);
      }
      rest = widgets.slice(Math.max(first, 0));
    }
    return this._execute(rest);
  }

  /**
   * One cell at a time, stopping at the first failure: the cells below keep their
   * outputs and counts (queued all at once, the kernel would abort them and
   * JupyterLab would have cleared them).
   */
  private async _execute(cells: CellWidget[]): Promise<boolean> {
    const { panel, sessionContext } = this._client;
    for (const cell of cells) {
      if (cell.isDisposed || !(await NotebookActions.runCells(panel.content, [cell], sessionContext))) {
        return false;
      }
    }
    return true;
  }

  /**
   * A request of the run.  The comm can be re-opened under it (the run's own `%load_ext`
   * cell, or a kernel slow to send its first graph): then, once connected again, it is sent
   * once more instead of the run stopping without a word.
   */
  private async _request(make: () => Request): Promise<IReplyMsg> {
    let reply = await this._client.request(make());
    if (!reply.ok && LOST.has(reply.message ?? '') && (await this._connected())) {
      reply = await this._client.request(make());
    }
    return reply;
  }

  /** Resolves true once the comm is connected, false when the kernel is gone or it takes over a minute. */
  private _connected(): Promise<boolean> {
    const model = this._client.model;
    return new Promise<boolean>(resolve => {
      let timer = 0;
      const check = (): boolean => {
        const c = model.state.connection;
        if (c === 'connected' || c === 'no-kernel' || c === 'not-loaded' || c === 'no-notebook') {
          window.clearTimeout(timer);
          unsubscribe();
          resolve(c === 'connected');
          return true;
        }
        return false;
      };
      const unsubscribe = model.subscribe(() => void check());
      if (!check()) {
        timer = window.setTimeout(() => {
          unsubscribe();
          resolve(false);
        }, 60000);
      }
    });
  }

  /** A run that cannot go on says why. */
  private _stopped(reply: IReplyMsg): false {
    Notification.error(`The run from the Pipeline panel stopped: ${reply.message || 'the kernel did not answer'}`, {
      autoClose: false
    });
    return false;
  }

  /** Every step cell of the notebook, in order, with its step's name. */
  private _stepCells(): IStepCell[] {
    const out: IStepCell[] = [];
    for (const w of this._client.panel.content.widgets) {
      const step = w.model.type === 'code' ? stepOfSource(source(w)) : null;
      if (step) {
        out.push({ cell_id: w.model.id, step });
      }
    }
    return out;
  }

  private _isSetup(w: CellWidget): boolean {
    if (w.model.type !== 'code') {
      return false;
    }
    const tags = w.model.getMetadata('tags');
    return SETUP_OR_PARAMS.test(source(w)) || (Array.isArray(tags) && tags.includes('parameters'));
  }

  /** Remember what each cell last ran as in this kernel; count the panel run's progress. */
  private _onExecuted(_: unknown, args: { notebook: Notebook; cell: CellWidget; success: boolean }): void {
    if (args.notebook !== this._client.panel.content) {
      return;
    }
    const id = args.cell.model.id;
    if (args.success) {
      this._ran.set(id, source(args.cell));
    } else {
      this._ran.delete(id);
    }
    const p = this._progress;
    if (p && p.cells.has(id)) {
      p.done++;
      this._showProgress();
    }
  }

  /** The panel's progress bar; the running step comes from the kernel's `running` states. */
  private _showProgress(): void {
    const p = this._progress;
    if (p) {
      const current = this._client.model.state.run?.current ?? null;
      this._client.model.setRun({ steps: p.steps, done: p.done, total: p.steps.length, current });
    }
  }

  private _ran = new Map<string, string>();
  private _running = false;
  private _progress: { steps: string[]; cells: Set<string>; done: number } | null = null;
}

function source(w: CellWidget): string {
  return w.model.sharedModel.getSource();
}
