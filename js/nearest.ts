/** Arrow-key walking of the DAG: the nearest node in a direction, by screen geometry. */
import { INodeBox } from './layout';

export type Dir = 'up' | 'down' | 'left' | 'right';
export const ARROWS: Record<string, Dir> = { ArrowUp: 'up', ArrowDown: 'down', ArrowLeft: 'left', ArrowRight: 'right' };

/** The nearest node from `from` in a direction (screen geometry, any layout direction). */
export function nearest(boxes: readonly INodeBox[], from: INodeBox, dir: Dir): INodeBox | null {
  let best: INodeBox | null = null;
  let bestScore = Infinity;
  for (const b of boxes) {
    const dx = b.x - from.x;
    const dy = b.y - from.y;
    const along = dir === 'up' ? -dy : dir === 'down' ? dy : dir === 'left' ? -dx : dx;
    const across = dir === 'up' || dir === 'down' ? Math.abs(dx) : Math.abs(dy);
    if (b === from || along <= 1) {
      continue;
    }
    const score = along + 2 * across;
    if (score < bestScore) {
      bestScore = score;
      best = b;
    }
  }
  return best;
}
