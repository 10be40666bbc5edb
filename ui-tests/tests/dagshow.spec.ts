/**
 * `%dag show` in JupyterLab: drawn by the labextension with the sidebar's own
 * layout and theme colours (the kernel sends the graph as data, an SVG beside it
 * for other frontends).
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { CELLS, openExample, PANEL, runAll, STEPS } from './helpers';

test.use({ autoGoto: true });

const SHOW = CELLS.findIndex(s => s.startsWith('%dag show'));
const OUTPUT = `.jp-Notebook .jp-Cell >> nth=${SHOW} >> .jp-nb2pipe-dag-output`;

/** The steps of a drawn DAG in reading order: by layer (top to bottom), then left to right. */
async function readingOrder(page: IJupyterLabPageFixture, root: string): Promise<string[]> {
  return page.locator(root).first().evaluate(r => {
    const nodes = Array.from(r.querySelectorAll('.jp-nb2pipe-node')).map(n => {
      const m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(n.getAttribute('transform') ?? '') as RegExpExecArray;
      const box = n.querySelector('.jp-nb2pipe-node-box') as SVGRectElement;
      return {
        step: n.getAttribute('data-step') as string,
        x: Number(m[1]) + Number(box.getAttribute('width')) / 2,
        y: Number(m[2]) + Number(box.getAttribute('height')) / 2
      };
    });
    nodes.sort((a, b) => Math.round(a.y) - Math.round(b.y) || a.x - b.x);
    return nodes.map(n => n.step);
  });
}

/** Luminance (0 black .. 1 white) of a computed colour: `rgb(0-255 ...)` or `color(srgb 0-1 ...)`. */
function luminance(css: string): number {
  const [r, g, b] = (css.match(/[\d.]+/g) as string[]).slice(0, 3).map(Number);
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / (css.startsWith('color(srgb') ? 1 : 255);
}

test('%dag show: the panel\'s layout and order, theme colours, labels apart, SVG fallback kept', async ({ page, tmpPath }) => {
  await openExample(page, tmpPath);
  await runAll(page);
  const out = page.locator(OUTPUT);
  await expect(out.locator('.jp-nb2pipe-node')).toHaveCount(STEPS.length);
  // one layout: the same reading order as the panel's canvas
  const panelOrder = await readingOrder(page, `${PANEL} .jp-nb2pipe-canvas`);
  expect(panelOrder).toHaveLength(STEPS.length);
  expect(await readingOrder(page, OUTPUT)).toEqual(panelOrder);
  // edge labels do not overlap one another
  const labels = await out.locator('.jp-nb2pipe-edge-label').evaluateAll(ls =>
    ls.map(l => {
      const b = l.getBoundingClientRect();
      return { x: b.x, y: b.y, w: b.width, h: b.height };
    })
  );
  expect(labels.length).toBeGreaterThan(3);
  for (let i = 0; i < labels.length; i++) {
    for (let j = i + 1; j < labels.length; j++) {
      const [a, b] = [labels[i], labels[j]];
      expect(a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h).toBe(false);
    }
  }
  // the other frontends' picture travels with it
  const kinds = await page.evaluate(i => {
    const nb = (window as any).jupyterapp.shell.currentWidget.content;
    return Object.keys(nb.model.cells.get(i).outputs.get(0).data).sort();
  }, SHOW);
  expect(kinds).toEqual(['application/vnd.nb2pipe.dag+json', 'image/svg+xml', 'text/plain']);

  const boxFill = () => out.locator('.jp-nb2pipe-node-box').first().evaluate(e => getComputedStyle(e).fill);
  const nameFill = () => out.locator('.jp-nb2pipe-node-name').first().evaluate(e => getComputedStyle(e).fill);
  expect(luminance(await boxFill())).toBeGreaterThan(0.6);
  await page.theme.setDarkTheme();
  // dark theme: dark boxes, light names (no white rectangle)
  await expect.poll(async () => luminance(await boxFill())).toBeLessThan(0.35);
  expect(luminance(await nameFill())).toBeGreaterThan(0.6);
  await out.scrollIntoViewIfNeeded();
  await out.screenshot({ path: require('path').resolve(__dirname, '..', '..', 'docs', 'dag-show-dark.png') });
  await page.theme.setLightTheme();
});
