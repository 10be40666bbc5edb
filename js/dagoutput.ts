/**
 * `%dag show` in JupyterLab: the kernel sends the graph as data
 * (application/vnd.nb2pipe.dag+json, with an SVG beside it for other frontends);
 * this draws it with the Pipeline sidebar's own layout (dagre, js/layout.ts),
 * canvas and theme colours, so the inline picture and the panel agree and
 * follow the light or dark theme.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { DagCanvas, stateClass } from './canvas';
import { el } from './dom';
import { Direction, layout } from './layout';
import { EMPTY, reduce } from './model';
import { IEdge, IStepStatus } from './protocol';

export const DAG_MIME = 'application/vnd.nb2pipe.dag+json';

export interface IDagData {
  v: number;
  direction: Direction;
  steps: IStepStatus[];
  edges: IEdge[];
}

const MIN_HEIGHT = 120;
const MAX_HEIGHT = 520;

export class DagOutput extends Widget implements IRenderMime.IRenderer {
  constructor() {
    super();
    this.addClass('jp-nb2pipe-dag-output');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[DAG_MIME] as unknown as IDagData;
    this._canvas?.dispose();
    this.node.textContent = '';
    const state = reduce(EMPTY, { type: 'graph', steps: data.steps, edges: data.edges, problems: [], store: '', env: null });
    if (!data.steps.length) {
      this.node.append(el('div', 'jp-nb2pipe-empty', 'No steps yet.'));
      return;
    }
    const l = layout(state, { direction: data.direction === 'LR' ? 'LR' : 'TB', nodeLabel: 'name+timing' });
    const canvas = new DagCanvas({ activate: () => undefined, walk: () => undefined, hover: () => undefined });
    canvas.node.style.height = `${Math.round(Math.min(MAX_HEIGHT, Math.max(MIN_HEIGHT, l.height + 16)))}px`;
    canvas.draw(state, l);
    const legend = el('div', 'jp-nb2pipe-legend');
    for (const s of [...new Set(data.steps.map(x => x.state))]) {
      const item = el('span', 'jp-nb2pipe-legend-item ' + stateClass(s));
      item.append(el('span', 'jp-nb2pipe-swatch'), document.createTextNode(s));
      legend.append(item);
    }
    this.node.append(canvas.node, legend);
    this._canvas = canvas;
  }

  dispose(): void {
    this._canvas?.dispose();
    this._canvas = null;
    super.dispose();
  }

  private _canvas: DagCanvas | null = null;
}

export const dagRendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [DAG_MIME],
  createRenderer: () => new DagOutput()
};
