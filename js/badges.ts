/**
 * A small state badge on every %%step cell, so stale cells are visible in the
 * notebook itself without opening the panel.
 */
import { NotebookPanel } from '@jupyterlab/notebook';

import { PipelineClient } from './client';
import { isConsequence, reword } from './reasons';
import { stateClass } from './widget';

const BADGE = 'jp-nb2pipe-badge';

export class CellBadges {
  constructor(private _client: PipelineClient) {
    this._off = _client.model.subscribe(() => this.schedule());
    const nb = _client.panel.content;
    nb.model?.cells.changed.connect(this.schedule, this);
    _client.panel.disposed.connect(() => this.dispose());
    this.schedule();
  }

  dispose(): void {
    this._off();
    cancelAnimationFrame(this._frame);
  }

  schedule(): void {
    cancelAnimationFrame(this._frame);
    this._frame = requestAnimationFrame(() => this.update());
  }

  update(): void {
    const panel: NotebookPanel = this._client.panel;
    if (panel.isDisposed) {
      return;
    }
    const state = this._client.model.view;
    const byCell = new Map<string, { step: string; state: string; why: string; upstream: boolean }>();
    for (const s of state.steps.values()) {
      if (s.cell_id) {
        const why = s.state === 'fresh' ? '' : s.error?.split('\n')[0] ?? s.reasons.map(reword).join('; ');
        byCell.set(s.cell_id, { step: s.step, state: s.state, why, upstream: isConsequence(s) });
      }
    }
    for (const cell of panel.content.widgets) {
      const id = cell.model.id;
      // the input wrapper, never the cell's top right where the cell toolbar is
      const host = (cell.node.querySelector(':scope > .jp-Cell-inputWrapper') as HTMLElement | null) ?? cell.node;
      // one badge per cell: drop any left elsewhere (e.g. before the input was rendered)
      cell.node.querySelectorAll('.' + BADGE).forEach(b => b.parentElement !== host && b.remove());
      let badge = host.querySelector(':scope > .' + BADGE) as HTMLElement | null;
      const info = byCell.get(id);
      const problem = state.cellProblems.get(id);
      if (!info && !problem) {
        badge?.remove();
        continue;
      }
      if (!badge) {
        badge = document.createElement('div');
        host.appendChild(badge);
      }
      const s = problem ? 'failed' : (info as { state: string }).state;
      badge.className = `${BADGE} ${stateClass(s)}` + (info?.upstream && !problem ? ' jp-mod-consequence' : '');
      badge.dataset.state = problem ? 'problem' : s;
      badge.dataset.step = info?.step ?? '';
      badge.textContent = problem ? 'problem' : s;
      badge.title = problem ? problem : `step ${info?.step}: ${s}${info?.why ? ' — ' + info.why : ''}`;
    }
  }

  private _off: () => void;
  private _frame = 0;
}
