/**
 * The DAG as a canvas: an SVG that fills its box, fitted to it on first draw and
 * on resize (until the user zooms or pans), with wheel/pinch zoom, drag and
 * keyboard pan, arrow keys that walk the graph, and a filter by step or output name.
 */
import { svg, stateClass } from './dom';
import { decorateGroupNode, drawClusters } from './groupview';
import { groupOfNode } from './groups';
import { ILayout, INodeBox } from './layout';
import { IPipelineState } from './model';
import { IStepStatus } from './protocol';
import { Minimap, MINIMAP_AT } from './minimap';
import { ARROWS, nearest } from './nearest';
import { isConsequence, reword } from './reasons';

const MAX_FIT_SCALE = 1.25;
const PAD = 8;

export interface ICanvasHandlers {
  /** Click or Enter on a node: select it and go to its cell (a collapsed group's node: expand it). */
  activate(step: string): void;
  /** The toggle of an expanded group's box: collapse it. */
  collapse(group: string): void;
  /** Arrow keys reached a node: select it (no jump). */
  walk(step: string): void;
  hover(step: string | null): void;
}

export class DagCanvas {
  readonly node: HTMLDivElement;

  constructor(private _handlers: ICanvasHandlers) {
    this.node = document.createElement('div');
    this.node.className = 'jp-nb2pipe-canvas';
    this.node.tabIndex = 0;
    this.node.setAttribute('aria-label', 'pipeline DAG: arrows walk, Enter jumps, +/- zoom, 0 fits');
    this.node.addEventListener('wheel', e => this._onWheel(e), { passive: false });
    this.node.addEventListener('keydown', e => this._onKey(e));
    this.node.addEventListener('pointerdown', e => this._onPointerDown(e));
    this._resize = new ResizeObserver(() => this.resized());
    this._resize.observe(this.node);
  }

  dispose(): void {
    this._resize.disconnect();
  }

  get nodes(): ReadonlyMap<string, SVGGElement> {
    return this._nodes;
  }

  /** Zoom factor (1 = layout size). */
  get scale(): number {
    return this._k;
  }

  clear(): void {
    this.node.textContent = '';
    this._nodes.clear();
    this._minimap = null;
    this._boxes = [];
    this._layout = null;
  }

  /** `members`: a collapsed group's node id -> its steps (the filter finds them too). */
  draw(state: IPipelineState, l: ILayout, members: ReadonlyMap<string, readonly string[]> = new Map()): void {
    const first = this._layout === null;
    this.clear();
    this._members = members;
    this._layout = l;
    this._boxes = l.nodes;
    const root = svg('svg', { class: 'jp-nb2pipe-svg', width: '100%', height: '100%', role: 'img', 'aria-label': 'pipeline DAG' });
    const defs = svg('defs');
    const marker = svg('marker', {
      id: 'jp-nb2pipe-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'
    });
    marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'jp-nb2pipe-arrowhead' }));
    defs.append(marker);
    this._viewport = svg('g', { class: 'jp-nb2pipe-viewport' });
    root.append(defs, this._viewport);
    this._viewport.append(drawClusters(l.clusters, g => this._handlers.collapse(g)), this._drawEdges(l), this._drawNodes(state, l));
    this.node.append(root);
    if (l.nodes.length >= MINIMAP_AT) {
      this._minimap = new Minimap(state, l, (x, y) => this.centreOn(x, y));
      this.node.append(this._minimap.node);
    }
    if (first || this._fitted) {
      this.fit();
    } else {
      this._apply();
    }
    this.restyle(state);
  }

  private _drawEdges(l: ILayout): SVGGElement {
    const edges = svg('g', { class: 'jp-nb2pipe-edges' });
    for (const e of l.edges) {
      const g = svg('g', { class: 'jp-nb2pipe-edge', 'data-source': e.source, 'data-target': e.target });
      const d = e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
      g.append(svg('path', { d, 'marker-end': 'url(#jp-nb2pipe-arrow)' }));
      const label = e.label.length > 24 ? e.label.slice(0, 23) + '…' : e.label;
      const up = e.count ? 6 : 0;   // with a count below it, the name moves up half a line
      const t = svg('text', { x: e.labelX, y: e.labelY + 4 - up, 'text-anchor': 'middle', class: 'jp-nb2pipe-edge-label' });
      t.textContent = label;
      const title = svg('title');
      title.textContent = `${e.source} → ${e.target}: ${e.label}${e.count ? ` (${e.count})` : ''}`;
      g.append(t, title);
      if (e.count) {
        const c = svg('text', { x: e.labelX, y: e.labelY + 4 + up, 'text-anchor': 'middle', class: 'jp-nb2pipe-edge-count' });
        c.textContent = e.count;
        g.append(c);
      }
      edges.append(g);
    }
    return edges;
  }

  private _drawNodes(state: IPipelineState, l: ILayout): SVGGElement {
    const nodes = svg('g', { class: 'jp-nb2pipe-nodes' });
    for (const n of l.nodes) {
      const s = state.steps.get(n.id) as IStepStatus;
      const g = svg('g', {
        class: 'jp-nb2pipe-node ' + stateClass(s.state),
        'data-step': n.id,
        'data-state': s.state,
        transform: `translate(${(n.x - n.width / 2).toFixed(1)},${(n.y - n.height / 2).toFixed(1)})`,
        tabindex: -1,
        role: 'button'
      });
      g.append(svg('rect', { width: n.width, height: n.height, rx: 6, ry: 6, class: 'jp-nb2pipe-node-box' }));
      g.append(svg('rect', { width: 6, height: n.height, rx: 3, ry: 3, class: 'jp-nb2pipe-node-stripe' }));
      n.lines.forEach((line, i) => {
        const t = svg('text', { x: 14, y: 20 + i * 16, class: i ? 'jp-nb2pipe-node-sub' : 'jp-nb2pipe-node-name' });
        t.textContent = line;
        g.append(t);
      });
      g.append(svg('title'));
      const group = groupOfNode(n.id);
      if (group !== null) {
        decorateGroupNode(g, group, n.width, n.height);
      }
      g.addEventListener('click', () => this._handlers.activate(n.id));
      g.addEventListener('mouseenter', () => this._handlers.hover(n.id));
      g.addEventListener('mouseleave', () => this._handlers.hover(null));
      nodes.append(g);
      this._nodes.set(n.id, g);
    }
    return nodes;
  }

  /** Only states changed: recolour nodes in place (no layout). */
  restyle(state: IPipelineState): void {
    for (const [name, g] of this._nodes) {
      const s = state.steps.get(name);
      if (!s) {
        continue;
      }
      if (g.getAttribute('data-state') !== s.state) {
        g.setAttribute('data-state', s.state);
        this._minimap?.restyle(name, s.state);
        for (const c of Array.from(g.classList)) {
          if (c.startsWith('jp-nb2pipe-state-')) {
            g.classList.remove(c);
          }
        }
        g.classList.add(stateClass(s.state));
      }
      // root cause (own change) vs consequence (only an upstream changed): two colours
      g.classList.toggle('jp-mod-consequence', isConsequence(s));
      const title = g.querySelector('title');
      if (title) {
        const why = s.state === 'fresh' ? '' : s.error ? `\n${s.error.split('\n')[0]}` : s.reasons.length ? `\n${s.reasons.map(reword).join('\n')}` : '';
        title.textContent = `${name}: ${s.state}${why}`;
      }
    }
  }

  /** Mark the selected node; `reveal` pans it into view when it is outside. */
  select(name: string | null, reveal: boolean): void {
    for (const [n, g] of this._nodes) {
      g.classList.toggle('jp-mod-selected', n === name);
    }
    if (name && reveal) {
      this.reveal(name);
    }
  }

  /** Pan a node into the middle of the box when it is outside it (the zoom stays). */
  reveal(name: string): void {
    const b = this._boxes.find(x => x.id === name);
    if (!b) {
      return;
    }
    const { width: W, height: H } = this._size();
    const sx = b.x * this._k + this._x;
    const sy = b.y * this._k + this._y;
    if (sx < PAD || sx > W - PAD || sy < PAD || sy > H - PAD) {
      this._x = W / 2 - b.x * this._k;
      this._y = H / 2 - b.y * this._k;
      this._fitted = false;
      this._apply();
    }
  }

  /** Dim the nodes whose step and output names do not contain `query`; returns the matches. */
  filter(query: string, state: IPipelineState): string[] {
    const q = query.trim().toLowerCase();
    const matches: string[] = [];
    for (const [name, g] of this._nodes) {
      const s = state.steps.get(name);
      const names = [name, ...(s?.outputs ?? []), ...(this._members.get(name) ?? [])];
      const hit = !!q && names.some(x => x.toLowerCase().includes(q));
      g.classList.toggle('jp-mod-match', hit);
      g.classList.toggle('jp-mod-dimmed', !!q && !hit);
      if (hit) {
        matches.push(name);
      }
    }
    this.node.querySelectorAll('.jp-nb2pipe-edge').forEach(e => e.classList.toggle('jp-mod-dimmed', !!q));
    return matches;
  }

  /** Focus mode: only `keep` (a step's lineage) at full strength; null shows all. */
  focus(keep: ReadonlySet<string> | null): void {
    for (const [name, g] of this._nodes) {
      g.classList.toggle('jp-mod-unfocused', !!keep && !keep.has(name));
    }
    this.node.querySelectorAll('.jp-nb2pipe-edge').forEach(e => {
      const inside = !keep || (keep.has(e.getAttribute('data-source') ?? '') && keep.has(e.getAttribute('data-target') ?? ''));
      e.classList.toggle('jp-mod-unfocused', !inside);
    });
  }

  /** The whole graph in the box (never magnified past MAX_FIT_SCALE). */
  fit(): void {
    const l = this._layout;
    const { width: W, height: H } = this._size();
    this._fitted = true;
    if (!l || !W || !H) {
      return;
    }
    const k = Math.min((W - 2 * PAD) / Math.max(1, l.width), (H - 2 * PAD) / Math.max(1, l.height), MAX_FIT_SCALE);
    this._k = k;
    this._x = (W - l.width * k) / 2;
    this._y = (H - l.height * k) / 2;
    this._apply();
  }

  /** Zoom by `factor` around a point of the box (its centre by default). */
  zoom(factor: number, cx?: number, cy?: number): void {
    const { width: W, height: H } = this._size();
    const px = cx ?? W / 2;
    const py = cy ?? H / 2;
    const k = Math.min(8, Math.max(0.05, this._k * factor));
    this._x = px - ((px - this._x) * k) / this._k;
    this._y = py - ((py - this._y) * k) / this._k;
    this._k = k;
    this._fitted = false;
    this._apply();
  }

  /** Centre the view on a point of the layout (the zoom stays). */
  centreOn(x: number, y: number): void {
    const { width: W, height: H } = this._size();
    this._x = W / 2 - x * this._k;
    this._y = H / 2 - y * this._k;
    this._fitted = false;
    this._apply();
  }

  pan(dx: number, dy: number): void {
    this._x += dx;
    this._y += dy;
    this._fitted = false;
    this._apply();
  }

  /** The box changed size: refit unless the user has zoomed or panned since the last fit. */
  resized(): void {
    if (this._fitted) {
      this.fit();
    }
  }

  private _size(): { width: number; height: number } {
    return { width: this.node.clientWidth, height: this.node.clientHeight };
  }

  private _apply(): void {
    this._viewport?.setAttribute('transform', `translate(${this._x.toFixed(1)},${this._y.toFixed(1)}) scale(${this._k.toFixed(4)})`);
    if (this._minimap) {
      const { width: W, height: H } = this._size();
      this._minimap.show(-this._x / this._k, -this._y / this._k, W / this._k, H / this._k);
    }
  }

  private _onWheel(e: WheelEvent): void {
    if (!this._layout) {
      return;
    }
    e.preventDefault();
    const r = this.node.getBoundingClientRect();
    if (e.shiftKey) {
      this.pan(-e.deltaY, 0);
    } else {
      // pinch on a trackpad arrives as a wheel event with ctrlKey: same gesture, finer steps
      this.zoom(Math.exp(-e.deltaY * (e.ctrlKey ? 0.01 : 0.0015)), e.clientX - r.left, e.clientY - r.top);
    }
  }

  private _onKey(e: KeyboardEvent): void {
    const dir = ARROWS[e.key];
    if (dir && e.shiftKey) {
      const d = 40;
      this.pan(dir === 'left' ? d : dir === 'right' ? -d : 0, dir === 'up' ? d : dir === 'down' ? -d : 0);
    } else if (dir) {
      const cur = this._boxes.find(b => b.id === this._current()) ?? null;
      const next = cur ? nearest(this._boxes, cur, dir) : this._boxes[0] ?? null;
      if (next) {
        this._handlers.walk(next.id);
      }
    } else if (e.key === 'Enter' && this._current()) {
      this._handlers.activate(this._current() as string);
    } else if (e.key === '+' || e.key === '=') {
      this.zoom(1.25);
    } else if (e.key === '-' || e.key === '_') {
      this.zoom(0.8);
    } else if (e.key === '0') {
      this.fit();
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
  }

  private _current(): string | null {
    for (const [n, g] of this._nodes) {
      if (g.classList.contains('jp-mod-selected')) {
        return n;
      }
    }
    return null;
  }

  private _onPointerDown(e: PointerEvent): void {
    if (e.button !== 0 || (e.target as Element).closest('.jp-nb2pipe-node')) {
      return;
    }
    this.node.focus();
    let lx = e.clientX;
    let ly = e.clientY;
    const move = (m: PointerEvent) => {
      this.pan(m.clientX - lx, m.clientY - ly);
      lx = m.clientX;
      ly = m.clientY;
    };
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  }

  private _nodes = new Map<string, SVGGElement>();
  private _members: ReadonlyMap<string, readonly string[]> = new Map();
  private _minimap: Minimap | null = null;
  private _boxes: INodeBox[] = [];
  private _layout: ILayout | null = null;
  private _viewport: SVGGElement | null = null;
  private _resize: ResizeObserver;
  private _fitted = true;
  private _k = 1;
  private _x = 0;
  private _y = 0;
}
