/**
 * The open notebooks' kernel clients, which one the Pipeline sidebar follows, and
 * which step a command acts on (its argument, the active %%step cell, else the
 * panel's selection).  The active cell's step and the panel's selection follow
 * each other.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { CellBadges } from './badges';
import { PipelineClient } from './client';
import { stepOfSource } from './stepline';
import { PipelineSidebar } from './widget';


export class NotebookClients {
  /** One client per open notebook (with its cell badges), made when the notebook opens. */
  readonly clients = new Map<NotebookPanel, PipelineClient>();

  constructor(
    private _tracker: INotebookTracker,
    private _sidebar: PipelineSidebar,
    private _liveSync: () => boolean
  ) {
    _tracker.widgetAdded.connect((_, panel) => this.clientFor(panel));
    _tracker.currentChanged.connect(() => this._follow());
    this._follow();
    // both directions: the active cell's step is the panel's selection
    _tracker.activeCellChanged.connect(() => {
      const step = this.activeStep();
      if (step && step !== _sidebar.selected) {
        _sidebar.select(step);
      }
    });
  }

  clientFor(panel: NotebookPanel | null): PipelineClient | null {
    if (!panel || panel.isDisposed) {
      return null;
    }
    let c = this.clients.get(panel);
    if (!c) {
      c = new PipelineClient(panel, { liveSync: this._liveSync });
      this.clients.set(panel, c);
      new CellBadges(c);
      panel.disposed.connect(() => this.clients.delete(panel));
    }
    return c;
  }

  /** The client commands act on: the sidebar's, else the current notebook's. */
  current(): PipelineClient | null {
    return this._sidebar.client ?? this.clientFor(this._tracker.currentWidget);
  }

  /** The step of the active cell of the sidebar's notebook, if it is a %%step cell. */
  activeStep(): string | null {
    const cell = this._tracker.currentWidget === this._sidebar.client?.panel ? this._tracker.activeCell : null;
    return cell ? stepOfSource(cell.model.sharedModel.getSource()) : null;
  }

  /** The step a command acts on: its argument, the active cell's step, else the panel's selection. */
  targetStep(args: any): string | null {
    if (typeof args?.step === 'string') {
      return args.step;
    }
    return this.activeStep() ?? this._sidebar.selected;
  }

  private _follow(): void {
    this._sidebar.setClient(this.clientFor(this._tracker.currentWidget));
  }
}
