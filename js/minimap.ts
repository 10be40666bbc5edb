/**
 * The canvas's minimap (from MINIMAP_AT steps on): the whole graph small in a
 * corner, each step in its state's colour, and the view's rectangle; a click or
 * drag there centres the view on that point.
 */
import { svg, stateClass } from './dom';
import { ILayout } from './layout';
import { IPipelineState } from './model';

export const MINIMAP_AT = 30;

export class Minimap {
  readonly node: HTMLDivElement;

  /** `centre(x, y)`: centre the view on that point of the layout. */
  constructor(state: IPipelineState, l: ILayout, centre: (x: number, y: number) => void) {
    this.node = document.createElement('div');
    this.node.className = 'jp-nb2pipe-minimap';
    const mini = svg('svg', { viewBox: `0 0 ${Math.max(1, l.width)} ${Math.max(1, l.height)}`, preserveAspectRatio: 'xMidYMid meet' });
    for (const n of l.nodes) {
      const r = svg('rect', {
        x: n.x - n.width / 2,
        y: n.y - n.height / 2,
        width: n.width,
        height: n.height,
        class: 'jp-nb2pipe-minimap-node ' + stateClass(state.steps.get(n.id)?.state ?? ''),
        'data-step': n.id
      });
      this._nodes.set(n.id, r);
      mini.append(r);
    }
    this._view = svg('rect', { class: 'jp-nb2pipe-minimap-view' });
    mini.append(this._view);
    this.node.append(mini);
    const follow = (e: PointerEvent) => {
      const m = mini.getScreenCTM();
      if (m) {
        const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
        centre(p.x, p.y);
      }
    };
    this.node.addEventListener('pointerdown', e => {
      e.stopPropagation(); // not the canvas's drag-to-pan
      e.preventDefault();
      follow(e);
      const up = () => {
        window.removeEventListener('pointermove', follow);
        window.removeEventListener('pointerup', up);
      };
      window.addEventListener('pointermove', follow);
      window.addEventListener('pointerup', up);
    });
  }

  restyle(step: string, state: string): void {
    this._nodes.get(step)?.setAttribute('class', 'jp-nb2pipe-minimap-node ' + stateClass(state));
  }

  /** The view's rectangle, in layout coordinates. */
  show(x: number, y: number, width: number, height: number): void {
    this._view.setAttribute('x', x.toFixed(1));
    this._view.setAttribute('y', y.toFixed(1));
    this._view.setAttribute('width', width.toFixed(1));
    this._view.setAttribute('height', height.toFixed(1));
  }

  private _nodes = new Map<string, SVGRectElement>();
  private _view: SVGRectElement;
}
