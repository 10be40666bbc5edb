/**
 * The Pipeline sidebar in a real browser against a real kernel: the example
 * notebook examples/sales/analysis.ipynb, nb2pipe loaded, cells run.
 */
import { expect, galata, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import * as path from 'path';
import {
  ALL_FRESH, CELLS, cellOf, EXAMPLE, expectStates, GREEN, node, ORANGE, openExample, PANEL, runAll, setSource, states, STEPS
} from './helpers';

test.use({ autoGoto: true });

/** Steps downstream of `step`, from the edges the panel drew. */
async function downstreamOf(page: IJupyterLabPageFixture, step: string): Promise<string[]> {
  const edges = await page.evaluate(() =>
    Array.from(document.querySelectorAll('#nb2pipe-pipeline .jp-nb2pipe-edge')).map(e => [
      e.getAttribute('data-source') as string,
      e.getAttribute('data-target') as string
    ])
  );
  const seen = new Set<string>();
  const todo = [step];
  while (todo.length) {
    const n = todo.pop() as string;
    for (const [a, b] of edges) {
      if (a === n && !seen.has(b)) {
        seen.add(b);
        todo.push(b);
      }
    }
  }
  return [...seen];
}

function expectedAfterEdit(step: string, down: string[], state = 'stale'): Record<string, string> {
  const out = ALL_FRESH();
  out[step] = state;
  for (const d of down) {
    out[d] = 'stale';
  }
  return out;
}

const LIGHT_ORANGE = 'rgb(255, 183, 77)'; // stale only because of an upstream step

/** A cell's input prompt ("[7]:") and its output text, as the notebook shows them. */
const prompt = (page: IJupyterLabPageFixture, i: number) =>
  page.locator('.jp-Notebook .jp-Cell').nth(i).locator('.jp-InputPrompt').textContent();
const output = (page: IJupyterLabPageFixture, i: number) =>
  page.locator('.jp-Notebook .jp-Cell').nth(i).locator('.jp-OutputArea-output');
const prompts = async (page: IJupyterLabPageFixture) =>
  Object.fromEntries(await Promise.all(STEPS.map(async s => [s, await prompt(page, cellOf(s))] as const)));
const KEY = /key ([0-9a-f]{8})/;

const fill = (page: IJupyterLabPageFixture, step: string) =>
  node(page, step).locator('.jp-nb2pipe-node-stripe').evaluate(e => getComputedStyle(e).fill);

test('without %load_ext the panel says so and offers one click to load it', async ({ page, tmpPath }) => {
  await page.contents.uploadDirectory(EXAMPLE, tmpPath);
  await page.notebook.createNew('scratch.ipynb');
  await page.sidebar.openTab('nb2pipe-pipeline');
  await expect(page.locator(`${PANEL} .jp-nb2pipe-message`)).toContainText('not loaded', { timeout: 60000 });
  await page.locator(`${PANEL} button`, { hasText: 'Load nb2pipe' }).click();
  await expect(page.locator(`${PANEL} .jp-nb2pipe-empty`)).toContainText('No steps yet', { timeout: 60000 });
});

test('runs show live states and colours; click selects the cell; screenshot', async ({ page, tmpPath }) => {
  await openExample(page, tmpPath);
  await runAll(page);
  expect(await fill(page, 'clean')).toBe(GREEN);
  const labels = await page.locator(`${PANEL} .jp-nb2pipe-edge-label`).allTextContents();
  expect(labels).toEqual(expect.arrayContaining(['orders', 'product_margin', 'raw', 'revenue_by_region']));
  // data at a glance: each table edge says rows × columns, as the source's last run measured them
  const orders = await page.evaluate(() => (window as any).nb2pipe.sidebar.client.model.state.steps.get('clean').summaries.orders);
  expect(orders.rows).toBeGreaterThan(1000);
  await expect(page.locator(`${PANEL} .jp-nb2pipe-edge[data-source="clean"][data-target="by_region"] .jp-nb2pipe-edge-count`))
    .toHaveText(`${orders.rows.toLocaleString('en-US')} × ${orders.columns}`);
  // badges on the %%step cells
  await expect(page.locator('.jp-Cell .jp-nb2pipe-badge[data-state="fresh"]')).toHaveCount(STEPS.length);

  // click a node: the notebook selects and scrolls to its cell
  await node(page, 'by_product').click();
  const active = page.locator('.jp-Notebook .jp-Cell.jp-mod-active');
  await expect(active).toContainText('%%step by_product');
  await expect(active).toBeInViewport();
  // details of the selected step: outputs with rows x columns, timing
  const details = page.locator(`${PANEL} .jp-nb2pipe-details`);
  await expect(details).toContainText('product_margin: DataFrame');
  await expect(details).toContainText('rows');
  await expect(details).toContainText('took');
  // an output's first rows on demand, read from the store (nothing runs)
  await page.mouse.move(0, 0);
  await details.locator('.jp-nb2pipe-preview-button').first().click();
  const preview = details.locator('table.jp-nb2pipe-preview');
  await expect(preview.locator('th')).toHaveText(['product', 'revenue', 'margin'], { timeout: 30000 });
  const margin = await page.evaluate(() => (window as any).nb2pipe.sidebar.client.model.state.steps.get('by_product').summaries.product_margin);
  await expect(preview.locator('tr')).toHaveCount(1 + Math.min(10, margin.rows));

  await page.sidebar.setWidth(420, 'left');
  await node(page, 'clean').click();
  await page.mouse.move(0, 0);
  await page.screenshot({ path: path.resolve(__dirname, '..', '..', 'docs', 'sidebar.png') });
  await page.theme.setDarkTheme();
  await page.mouse.move(0, 0);
  await page.screenshot({ path: path.resolve(__dirname, '..', '..', 'docs', 'sidebar-dark.png') });
  await page.theme.setLightTheme();
});

test('editing a step marks it and its descendants stale; Run stale refreshes them', async ({ page, tmpPath }) => {
  await openExample(page, tmpPath);
  await runAll(page);
  const down = await downstreamOf(page, 'clean');
  expect(down).toEqual(expect.arrayContaining(['by_region', 'by_product', 'report']));
  // edit the `%%step clean` cell without executing it
  await setSource(
    page,
    cellOf('clean'),
    '%%step clean --in raw --out orders\n' +
      'orders = raw.dropna(subset=["units"])\n' +
      'orders = orders[orders.units >= min_units].astype({"units": "int64"})\n' +
      'orders["revenue"] = orders.units * orders.unit_price * 2'
  );
  await expectStates(page, expectedAfterEdit('clean', down));
  const before = await prompts(page);
  const cleanKey = KEY.exec(await output(page, cellOf('clean')).first().innerText())?.[1];
  expect(cleanKey).toMatch(/^[0-9a-f]{8}$/);
  expect(await fill(page, 'clean')).toBe(ORANGE);
  // root cause vs consequence: the descendants are stale only because of `clean`, a lighter orange
  for (const d of down) {
    expect(await fill(page, d)).toBe(LIGHT_ORANGE);
  }
  await expect(page.locator('.jp-Cell .jp-nb2pipe-badge.jp-mod-consequence')).toHaveCount(down.length);
  await expect(page.locator('.jp-Cell .jp-nb2pipe-badge[data-state="stale"]')).toHaveCount(down.length + 1);
  await node(page, 'clean').hover();
  await expect(page.locator(`${PANEL} .jp-nb2pipe-reasons`)).toContainText('code');
  // history: its last run (the cell run by Run All), and the diff of its code since that run
  await node(page, 'clean').click();
  await page.mouse.move(0, 0);
  await page.locator(`${PANEL} .jp-nb2pipe-actions button`, { hasText: 'History' }).click();
  const history = page.locator(`${PANEL} .jp-nb2pipe-history`);
  await expect(history.locator('.jp-nb2pipe-history-run')).toHaveCount(1, { timeout: 30000 });
  await expect(history.locator('.jp-nb2pipe-history-run td').nth(3)).toHaveText('ran');
  await expect(history.locator('.jp-nb2pipe-history-run td').nth(4)).toHaveText(/^notebook · /);
  await expect(history.locator('.jp-nb2pipe-history-run .jp-nb2pipe-key')).toHaveText(cleanKey as string);
  await expect(history.locator('.jp-nb2pipe-diff')).toContainText('+orders["revenue"] = orders.units * orders.unit_price * 2');

  await page.locator(`${PANEL} button`, { hasText: 'Run stale' }).click();
  await expectStates(page, ALL_FRESH());
  // the notebook reflects the run: the step cells ran as cells (new counts, their step's live
  // output with the new key); the cached ancestor `load` was not executed again
  await expect.poll(async () => (await prompts(page)).report, { timeout: 60000 }).not.toEqual(before.report);
  const after = await prompts(page);
  expect(after.load).toEqual(before.load);
  for (const s of ['clean', ...down]) {
    expect(after[s]).not.toEqual(before[s]);
  }
  const cleanOut = await output(page, cellOf('clean')).first().innerText();
  expect(cleanOut).toContain('✓ clean  ran in');
  expect(KEY.exec(cleanOut)?.[1]).not.toEqual(cleanKey);
  // the panel's run is a run of its own in History, newest first, beside Run All's
  await node(page, 'clean').click();
  await page.mouse.move(0, 0);
  await page.locator(`${PANEL} .jp-nb2pipe-actions button`, { hasText: 'History' }).click();
  await expect(history.locator('.jp-nb2pipe-history-run')).toHaveCount(2, { timeout: 30000 });
  await expect(history.locator('.jp-nb2pipe-history-run .jp-nb2pipe-key')).toHaveText([KEY.exec(cleanOut)?.[1] as string, cleanKey as string]);
  for (const where of await history.locator('.jp-nb2pipe-history-run td:nth-child(5)').allInnerTexts()) {
    expect(where).toMatch(/^notebook · /);
  }
  // the run used the edited (never executed) cell: its revenue doubled
  const probe = CELLS.findIndex(s => s.startsWith('orders.describe()'));
  expect(probe).toBeGreaterThan(0);
  await setSource(page, probe, 'print(int(orders.revenue.sum() / (orders.units * orders.unit_price).sum()))');
  await page.notebook.runCell(probe);
  await expect(page.locator('.jp-Cell').nth(probe).locator('.jp-OutputArea-output')).toHaveText(/^\s*2\s*$/);
});

test('run a step and downstream from the panel; failures show the error', async ({ page, tmpPath }) => {
  await openExample(page, tmpPath);
  await runAll(page);
  const down = await downstreamOf(page, 'by_region');
  expect(down).toContain('report');
  await setSource(page, cellOf('by_region'), '%%step by_region\nrevenue_by_region = orders.groupby("regionn").sum()');
  await expectStates(page, expectedAfterEdit('by_region', down));
  const before = await prompts(page);
  await node(page, 'by_region').click();
  // the details pane shows the clicked step before its button is pressed
  await expect(page.locator(`${PANEL} .jp-nb2pipe-details-name`)).toHaveText('by_region');
  await page.locator(`${PANEL} .jp-nb2pipe-actions button`, { hasText: 'Run + downstream' }).click();
  await expect.poll(async () => (await states(page)).by_region, { timeout: 60000 }).toBe('failed');
  await expect(page.locator(`${PANEL} .jp-nb2pipe-details .jp-nb2pipe-error`)).toContainText('regionn');
  // the failed step's cell shows its error, as if the user had run it; the run stopped there
  await expect(output(page, cellOf('by_region')).last()).toContainText('regionn', { timeout: 60000 });
  expect(await prompt(page, cellOf('by_region'))).not.toEqual(before.by_region);
  expect((await prompts(page)).report).toEqual(before.report);
  // the details name the line of the cell that raised; one click puts the cursor there
  const go = page.locator(`${PANEL} .jp-nb2pipe-details .jp-nb2pipe-error-line`);
  await expect(go).toHaveText('Go to line 2 of its cell');
  await go.click();
  await expect(page.locator('.jp-Notebook .jp-Cell.jp-mod-active')).toContainText('%%step by_region');
  expect(await page.evaluate(() => {
    const nb = (window as any).jupyterapp.shell.currentWidget.content;
    return [nb.mode, nb.activeCell.editor.getCursorPosition().line];
  })).toEqual(['edit', 1]);
});

async function recoversAfter(page: IJupyterLabPageFixture, tmpPath: string, newKernel: (page: IJupyterLabPageFixture) => Promise<void>) {
  await openExample(page, tmpPath);
  await runAll(page);
  await newKernel(page);
  await expect(page.locator(`${PANEL} .jp-nb2pipe-message`)).toContainText('not loaded', { timeout: 60000 });
  await page.locator(`${PANEL} button`, { hasText: 'Load nb2pipe' }).click();
  // the new kernel has run nothing: the panel still shows every step, planned by the kernel
  // from the notebook's cells, each result already in the store
  await expectStates(page, Object.fromEntries(STEPS.map(s => [s, 'fresh in store'])));
  await expect(page.locator(`${PANEL} .jp-nb2pipe-message`)).toBeHidden();
  // one click: the notebook's current cells are defined in the new kernel, restored from the cache
  const before = await prompts(page);
  await page.locator(`${PANEL} button`, { hasText: 'Run stale' }).click();
  await expectStates(page, ALL_FRESH());
  // each step cell ran in the new kernel and shows its replayed result
  for (const s of STEPS) {
    await expect(output(page, cellOf(s)).first()).toContainText(`✓ ${s}  cached`, { timeout: 60000 });
    expect(await prompt(page, cellOf(s))).not.toEqual(before[s]);
  }
}

test('after a kernel change the panel recovers: load, run stale from the cache', async ({ page, tmpPath }) => {
  await recoversAfter(page, tmpPath, async p => {
    await p.evaluate(() => (window as any).jupyterapp.shell.currentWidget.sessionContext.changeKernel({ name: 'python3' }));
  });
});

// galata's kernel tracking answers every POST under /api/kernels as a creation (201), so the
// restart request (which expects 200) fails and the kernel never reconnects: this test runs
// against the real API, without that mock.
test.describe('kernel restart', () => {
  test.use({ kernels: null, sessions: null });
  test('after a kernel restart the panel recovers', async ({ page, tmpPath }) => {
    await recoversAfter(page, tmpPath, async p => {
      await p.evaluate(() => {
        void (window as any).jupyterapp.commands.execute('notebook:restart-kernel');
      });
      await p.locator('.jp-Dialog .jp-mod-accept').click();
    });
  });
});

test('a 200-step DAG lays out and renders in the browser (time reported, not asserted)', async ({ page, tmpPath }) => {
  await openExample(page, tmpPath);
  await runAll(page);
  await expect(page.locator(`${PANEL} .jp-nb2pipe-minimap`)).toHaveCount(0);   // 6 steps: no minimap
  const ms = await page.evaluate(() => {
    const { sidebar } = (window as any).nb2pipe;
    const steps = [];
    const edges = [];
    for (let i = 0; i < 200; i++) {
      steps.push({
        step: `s${i}`, state: i % 5 ? 'fresh' : 'stale', reasons: [], key: null, duration: 0.1, finished: null,
        where: '', cell_id: null, inputs: [], outputs: [`v${i}`], summaries: {}, error: null
      });
      if (i > 0) {
        edges.push({ source: `s${Math.floor((i - 1) / 2)}`, target: `s${i}`, data: `v${Math.floor((i - 1) / 2)}` });
      }
    }
    sidebar.client.model.apply({ type: 'graph', steps, edges, problems: [], store: '' });
    return sidebar.lastRenderMs;
  });
  // a state update of every node (no layout): the per-frame cost the issue budgets at 50 ms
  const updateMs = await page.evaluate(() => {
    const { sidebar } = (window as any).nb2pipe;
    const steps = [...sidebar.client.model.state.steps.values()].map((s: any) => ({ ...s, state: 'running' }));
    const t0 = performance.now();
    sidebar.client.model.apply({ type: 'patch', steps });
    return performance.now() - t0;
  });
  // the 200 the "kernel" sent, and beside them the notebook's own step cells it does not know
  await expect(page.locator(`${PANEL} .jp-nb2pipe-node`)).toHaveCount(200 + STEPS.length);
  await expect(page.locator(`${PANEL} .jp-nb2pipe-node[data-state="not run yet"]`)).toHaveCount(STEPS.length);
  // speed is reported for bench/README.md, never asserted: the machines are shared and noisy
  console.log(`200-step layout + render: ${ms.toFixed(0)} ms; state update of all 200: ${updateMs.toFixed(1)} ms`);
  await expect(page.locator(`${PANEL} .jp-nb2pipe-node[data-state="running"]`)).toHaveCount(200);

  // past 30 steps a minimap shows them all; zoomed in, a click on a step there brings it into view
  const mini = page.locator(`${PANEL} .jp-nb2pipe-minimap`);
  await expect(mini.locator('.jp-nb2pipe-minimap-node')).toHaveCount(200 + STEPS.length);
  await page.evaluate(() => (window as any).nb2pipe.sidebar._canvas.zoom(6));
  const far = 's199';
  const inView = () => page.evaluate(s => {
    const c = (document.querySelector('#nb2pipe-pipeline .jp-nb2pipe-canvas') as Element).getBoundingClientRect();
    const b = (document.querySelector(`#nb2pipe-pipeline .jp-nb2pipe-node[data-step="${s}"]`) as Element).getBoundingClientRect();
    const [x, y] = [b.left + b.width / 2, b.top + b.height / 2];
    return x > c.left && x < c.right && y > c.top && y < c.bottom;
  }, far);
  expect(await inView()).toBe(false);
  const dot = (await mini.locator(`.jp-nb2pipe-minimap-node[data-step="${far}"]`).boundingBox())!;
  await page.mouse.click(dot.x + dot.width / 2, dot.y + dot.height / 2);
  await expect.poll(inView).toBe(true);
});
