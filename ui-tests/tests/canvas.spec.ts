/**
 * Issue 12: the Pipeline sidebar as a canvas that never lies and exports safely.
 * The example notebook against a real kernel, in Debian's Chromium.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import { cellOf, expectStates, node, openExample, PANEL, runAll, setSource, states, STEPS } from './helpers';

test.use({ autoGoto: true });
// runs of the example on a machine shared by several agents: room for slow kernels, never a time assertion
test.describe.configure({ timeout: 300000 });

const toast = (page: IJupyterLabPageFixture, text: string | RegExp) => page.locator('.Toastify__toast', { hasText: text });

async function exportVia(page: IJupyterLabPageFixture) {
  await page.locator(`${PANEL} button`, { hasText: 'Export…' }).click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toContainText('Export the pipeline');
  await dialog.locator('.jp-mod-accept').click();
}

test('export, re-export with a clear Replace dialog, toasts that link to the folder; a failed step is listed before export', async ({ page, tmpPath }) => {
  await openExample(page, tmpPath);
  await runAll(page);
  await exportVia(page);
  const first = toast(page, /exported/i);
  await expect(first).toBeVisible({ timeout: 60000 });
  // it stays until dismissed: a success worth reading is not a 6 s flash
  await page.waitForTimeout(7000);
  await expect(first).toBeVisible();
  await first.getByRole('button', { name: 'Open folder' }).click();
  await expect(page.locator('.jp-FileBrowser .jp-BreadCrumbs')).toContainText('analysis', { timeout: 20000 });
  await expect(page.locator('.jp-DirListing-item', { hasText: 'README.md' })).toBeVisible();
  await page.sidebar.openTab('nb2pipe-pipeline');

  // second export to the same folder: a plain question with a Replace button, no checkbox
  await exportVia(page);
  const replace = page.locator('.jp-Dialog', { hasText: 'already' });
  await expect(replace).toBeVisible({ timeout: 60000 });
  await expect(replace.locator('input[type="checkbox"]')).toHaveCount(0);
  await replace.getByRole('button', { name: 'Replace' }).click();
  await expect(toast(page, /exported/i)).toBeVisible({ timeout: 60000 });
  await failedStepThenExport(page);
});

/** A failed step: details lead with the error, old outputs marked; export lists it and asks. */
async function failedStepThenExport(page: IJupyterLabPageFixture) {
  // a step that has just run is not a "cache hit"
  await node(page, 'clean').click();
  const details = page.locator(`${PANEL} .jp-nb2pipe-details`);
  await expect(details.locator('tr', { hasText: 'cache' })).toContainText('key');
  await expect(details).not.toContainText('hit');
  await setSource(page, cellOf('by_region'), '%%step by_region\nrevenue_by_region = orders.groupby("regionn").sum()');
  await node(page, 'by_region').click();
  await page.locator(`${PANEL} .jp-nb2pipe-actions button`, { hasText: 'Run' }).first().click();
  await expect.poll(async () => (await states(page)).by_region, { timeout: 60000 }).toBe('failed');
  await node(page, 'by_region').click();
  // the error comes first; the outputs shown are marked as the previous run's
  const blocks = await details.locator(':scope > *').evaluateAll(es => es.map(e => e.className));
  expect(blocks.indexOf('jp-nb2pipe-error')).toBeGreaterThan(0);
  expect(blocks.indexOf('jp-nb2pipe-error')).toBeLessThan(blocks.indexOf('jp-nb2pipe-details-table'));
  await expect(details.locator('.jp-nb2pipe-error')).toContainText("KeyError: 'regionn'");
  await expect(details.locator('.jp-nb2pipe-outputs.jp-mod-outdated')).toContainText('before this failure');
  await expect(details).not.toContainText('hit');
  const toastsBefore = await toast(page, /exported/i).count();
  await exportVia(page);
  const ask = page.locator('.jp-Dialog', { hasText: 'not fresh' });
  await expect(ask).toBeVisible({ timeout: 20000 });
  await expect(ask).toContainText('by_region (failed)');
  await expect(ask).toContainText('report');
  await ask.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);
  // cancelled: nothing was exported
  await expect(toast(page, 'Exporting to')).toHaveCount(0);
  await expect(toast(page, /exported/i)).toHaveCount(toastsBefore);
}

/** A step badge never covers the cell toolbar: clicking it opens nothing. */
async function badgeClearOfToolbar(page: IJupyterLabPageFixture) {
  const i = cellOf('clean');
  await page.notebook.selectCells(i);
  const cell = page.locator('.jp-Notebook .jp-Cell').nth(i);
  await cell.hover();
  const toolbar = cell.locator('.jp-cell-toolbar');
  await expect(toolbar).toBeVisible();
  const badge = cell.locator('.jp-nb2pipe-badge');
  await expect(badge).toHaveAttribute('data-state', 'fresh');
  const a = (await badge.boundingBox())!;
  const b = (await toolbar.boundingBox())!;
  const overlap = a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  expect(overlap).toBe(false);
  await badge.click();
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);
  await expect(page.locator('.jp-Notebook .jp-Cell')).toHaveCount(await page.notebook.getCellCount());
}

test('steps show before any cell runs, and new unexecuted step cells appear', async ({ page, tmpPath }) => {
  await openExample(page, tmpPath);
  // nothing executed yet (nb2pipe is not even loaded): the steps come from the notebook itself
  await expectStates(page, Object.fromEntries(STEPS.map(s => [s, 'not run yet'])));
  const edge = page.locator(`${PANEL} .jp-nb2pipe-edge[data-source="clean"][data-target="by_region"]`);
  await expect(edge).toHaveCount(1);

  await runAll(page);
  const before = await readingOrder(page);
  // a new %%step cell, typed but not run, is in the panel at once
  await page.evaluate(() => {
    const nb = (window as any).jupyterapp.shell.currentWidget.content;
    nb.model.sharedModel.insertCell(nb.model.cells.length, {
      cell_type: 'code',
      source: '%%step extra\nn_products = len(product_margin)'
    });
  });
  // the kernel's planner (nothing runs) says what it is: never run
  await expect.poll(async () => (await states(page)).extra, { timeout: 20000 }).toBe('never run');
  await expect(page.locator(`${PANEL} .jp-nb2pipe-edge[data-source="by_product"][data-target="extra"]`)).toHaveCount(1);
  // the steps already drawn keep their order (dagre alone would move by_product and by_region
  // ahead of top_products here)
  expect((await readingOrder(page)).filter(s => s !== 'extra')).toEqual(before);
  await page.locator(`${PANEL} button`, { hasText: 'Run stale' }).click();
  await expect.poll(async () => (await states(page)).extra, { timeout: 60000 }).toBe('fresh');
});

/** The panel's steps by layer (top to bottom), then left to right, in layout coordinates. */
async function readingOrder(page: IJupyterLabPageFixture): Promise<string[]> {
  return page.locator(`${PANEL} .jp-nb2pipe-node`).evaluateAll(ns =>
    ns
      .map(n => {
        const m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(n.getAttribute('transform') ?? '') as RegExpExecArray;
        const w = Number((n.querySelector('.jp-nb2pipe-node-box') as Element).getAttribute('width'));
        return { step: n.getAttribute('data-step') as string, x: Number(m[1]) + w / 2, y: Number(m[2]) };
      })
      .sort((a, b) => Math.round(a.y) - Math.round(b.y) || a.x - b.x)
      .map(n => n.step)
  );
}

/** Every node's box lies inside the canvas box. */
async function allInside(page: IJupyterLabPageFixture): Promise<boolean> {
  return page.evaluate(() => {
    const c = document.querySelector('#nb2pipe-pipeline .jp-nb2pipe-canvas') as Element;
    const r = c.getBoundingClientRect();
    return Array.from(c.querySelectorAll('.jp-nb2pipe-node')).every(n => {
      const b = n.getBoundingClientRect();
      return b.left >= r.left - 0.5 && b.right <= r.right + 0.5 && b.top >= r.top - 0.5 && b.bottom <= r.bottom + 0.5;
    });
  });
}

const nodeWidth = async (page: IJupyterLabPageFixture, step: string) => (await node(page, step).boundingBox())!.width;

/** The graph fits on open and on resize; wheel and keys zoom; Fit; filter by name. */
async function fitsZoomsFilters(page: IJupyterLabPageFixture) {
  await expect.poll(() => allInside(page)).toBe(true);
  await page.sidebar.setWidth(240, 'left');
  await expect.poll(() => allInside(page)).toBe(true);
  await page.sidebar.setWidth(520, 'left');
  await expect.poll(() => allInside(page)).toBe(true);

  const before = await nodeWidth(page, 'clean');
  const canvas = page.locator(`${PANEL} .jp-nb2pipe-canvas`);
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let i = 0; i < 5; i++) {
    await page.mouse.wheel(0, -200);
  }
  await expect.poll(() => nodeWidth(page, 'clean')).toBeGreaterThan(before * 1.5);
  await page.locator(`${PANEL} button`, { hasText: 'Fit' }).click();
  await expect.poll(() => allInside(page)).toBe(true);
  await canvas.focus();
  await page.keyboard.press('+');
  await page.keyboard.press('+');
  await expect.poll(() => nodeWidth(page, 'clean')).toBeGreaterThan(before * 1.4);
  await page.keyboard.press('0');
  await expect.poll(() => allInside(page)).toBe(true);

  await page.locator(`${PANEL} .jp-nb2pipe-search`).fill('orders');
  const matched = await page.locator(`${PANEL} .jp-nb2pipe-node.jp-mod-match`).evaluateAll(ns => ns.map(n => n.getAttribute('data-step')));
  expect(matched).toEqual(['clean']);
  await expect(page.locator(`${PANEL} .jp-nb2pipe-node.jp-mod-dimmed`)).toHaveCount(STEPS.length - 1);
}

/** Both directions: the active cell selects its node, commands act on it, a node click focuses its cell. */
async function bothDirections(page: IJupyterLabPageFixture) {
  await node(page, 'by_region').click();
  await expect(page.locator('.jp-Notebook .jp-Cell.jp-mod-active')).toContainText('%%step by_region');
  // the cursor moves to another step's cell: its node is selected, and commands act on it
  await page.notebook.selectCells(cellOf('by_product'));
  await expect(node(page, 'by_product')).toHaveClass(/jp-mod-selected/);
  // which steps the kernel executes (state `running`; a cache hit never is): only by_product
  await page.evaluate(() => {
    const { model } = (window as any).nb2pipe.sidebar.client;
    const w = window as any;
    w.__executed = new Set<string>();
    model.subscribe((s: any) => s.steps.forEach((v: any, k: string) => v.state === 'running' && w.__executed.add(k)));
  });
  const executed = () => page.evaluate(() => [...(window as any).__executed].sort());
  await page.evaluate(() => (window as any).jupyterapp.commands.execute('nb2pipe:force-run'));
  await expect.poll(executed, { timeout: 60000 }).toEqual(['by_product']);
  await expect(page.locator('.jp-Notebook .jp-Cell').nth(cellOf('by_product')).locator('.jp-OutputArea-output')).toContainText('✓ by_product');

  // a node click moves keyboard focus to its cell: Shift+Enter runs that cell
  await node(page, 'report').click();
  const active = page.locator('.jp-Notebook .jp-Cell.jp-mod-active');
  await expect(active).toContainText('%%step report');
  const count = await active.locator('.jp-InputPrompt').textContent();
  await page.keyboard.press('Shift+Enter');
  await expect(page.locator('.jp-Notebook .jp-Cell').nth(cellOf('report')).locator('.jp-InputPrompt')).not.toHaveText(count ?? '');
}

/** Whether a node's centre is inside the canvas box. */
async function inView(page: IJupyterLabPageFixture, step: string): Promise<boolean> {
  return page.evaluate(s => {
    const c = (document.querySelector('#nb2pipe-pipeline .jp-nb2pipe-canvas') as Element).getBoundingClientRect();
    const b = (document.querySelector(`#nb2pipe-pipeline .jp-nb2pipe-node[data-step="${s}"]`) as Element).getBoundingClientRect();
    const x = b.left + b.width / 2;
    const y = b.top + b.height / 2;
    return x > c.left && x < c.right && y > c.top && y < c.bottom;
  }, step);
}

/** A run brings its running step into view (zoomed in, the step was outside). */
async function followsTheRunningStep(page: IJupyterLabPageFixture) {
  await page.locator(`${PANEL} button`, { hasText: 'Fit' }).click();
  await page.locator(`${PANEL} .jp-nb2pipe-canvas`).focus();
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('+');
  }
  await expect.poll(() => inView(page, 'load')).toBe(false);
  // the messages a run sends, as the kernel sends them
  await page.evaluate(() => {
    const { model } = (window as any).nb2pipe.sidebar.client;
    model.apply({ type: 'run_start', steps: ['load'] });
    model.apply({ type: 'state', step: 'load', state: 'running' });
  });
  await expect.poll(() => inView(page, 'load')).toBe(true);
}

/** Focus mode: the selected step, its ancestors and descendants stay; the rest fades; off restores all. */
async function focusMode(page: IJupyterLabPageFixture) {
  const edges = await page.locator(`${PANEL} .jp-nb2pipe-edge`).evaluateAll(es =>
    es.map(e => [e.getAttribute('data-source') as string, e.getAttribute('data-target') as string])
  );
  const reach = (from: string, up: boolean) => {
    const seen = new Set<string>();
    const todo = [from];
    while (todo.length) {
      const n = todo.pop() as string;
      for (const [a, b] of edges) {
        const [x, y] = up ? [b, a] : [a, b];
        if (x === n && !seen.has(y)) {
          seen.add(y);
          todo.push(y);
        }
      }
    }
    return seen;
  };
  const keep = new Set(['by_region', ...reach('by_region', true), ...reach('by_region', false)]);
  expect(keep.size).toBeLessThan(STEPS.length);
  await node(page, 'by_region').click();
  await page.locator(`${PANEL} .jp-nb2pipe-tool`, { hasText: 'Focus' }).click();
  const faded = () => page.locator(`${PANEL} .jp-nb2pipe-node.jp-mod-unfocused`).evaluateAll(ns => ns.map(n => n.getAttribute('data-step')).sort());
  await expect.poll(faded).toEqual(STEPS.filter(s => !keep.has(s)).sort());
  // another selection refocuses
  await node(page, 'load').click();
  await expect.poll(faded).toEqual([]);
  await node(page, 'by_region').click();
  await expect.poll(faded).toEqual(STEPS.filter(s => !keep.has(s)).sort());
  await page.locator(`${PANEL} .jp-nb2pipe-tool`, { hasText: 'Focus' }).click();
  await expect.poll(faded).toEqual([]);
}

// one run of the example for the canvas checks (each open + run costs ~25 s on the CI machine)
test('canvas: badges clear of the toolbar, fit, zoom, filter, cell <-> node both ways', async ({ page, tmpPath }) => {
  await openExample(page, tmpPath);
  await runAll(page);
  await badgeClearOfToolbar(page);
  await fitsZoomsFilters(page);
  await page.locator(`${PANEL} .jp-nb2pipe-search`).fill('');
  await bothDirections(page);
  await focusMode(page);
  await followsTheRunningStep(page);
});
