/**
 * `%dag show` in JupyterLab: the kernel sends the graph as data
 * (application/vnd.nb2pipe.dag+json, with an SVG beside it for other frontends);
 * this draws it with the Pipeline sidebar's own layout (dagre, js/layout.ts),
 * canvas and theme colours, so the inline picture and the panel agree and
 * follow the light or dark theme.
 */
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { DagCanvas } from './canvas';
import { stateClass } from './dom';
import { el } from './dom';
import { collapse, groupOfNode } from './groups';
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
    this._data = model.data[DAG_MIME] as unknown as IDagData;
    this._collapsed.clear();
    this._draw();
  }

  /** The DAG with its `--group`s as boxes; a group's toggle collapses it, a click on its node expands it. */
  private _draw(): void {
    const data = this._data as IDagData;
    this._canvas?.dispose();
    this.node.textContent = '';
    const state = reduce(EMPTY, { type: 'graph', steps: data.steps, edges: data.edges, problems: [], store: '', env: null });
    if (!data.steps.length) {
      this.node.append(el('div', 'jp-nb2pipe-empty', 'No steps yet.'));
      return;
    }
    const grouped = collapse(state, this._collapsed);
    const clusters = new Map([...grouped.groups].filter(([g]) => !this._collapsed.has(g)));
    const opts = { direction: data.direction === 'LR' ? 'LR' : 'TB', nodeLabel: 'name+timing' } as const;
    const l = layout(grouped.state, opts, undefined, { clusters, lines: grouped.lines });
    const toggle = (group: string | null, collapsed: boolean) => {
      if (group !== null) {
        if (collapsed) {
          this._collapsed.add(group);
        } else {
          this._collapsed.delete(group);
        }
        this._draw();
      }
    };
    const canvas = new DagCanvas({
      activate: id => toggle(groupOfNode(id), false),
      collapse: group => toggle(group, true),
      walk: () => undefined,
      hover: () => undefined
    });
    canvas.node.style.height = `${Math.round(Math.min(MAX_HEIGHT, Math.max(MIN_HEIGHT, l.height + 16)))}px`;
    canvas.draw(grouped.state, l);
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
  private _data: IDagData | null = null;
  private _collapsed = new Set<string>();
}

export const dagRendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [DAG_MIME],
  createRenderer: () => new DagOutput()
};
