/**
 * `%%step NAME --group G` on the canvas (issue 12): a group is a box around its steps
 * with a toggle; collapsed, it is one node (its name and size, the worst state of its
 * steps, the edges to and from them re-routed to it); a click on it expands it back.
 * Search and focus mode find a collapsed group's steps; `%dag show` boxes it the same way.
 * A real kernel, in Debian's Chromium.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import * as path from 'path';

import { PANEL, setSource } from './helpers';

test.use({ autoGoto: true });
test.describe.configure({ timeout: 300000 });

const NB = 'groups.ipynb';
const CELLS = [
  '%load_ext nb2pipe',
  '%%step load\nnums = list(range(10))',
  '%%step evens --group prep\nevens = [n for n in nums if n % 2 == 0]',
  '%%step squares --group prep\nsquares = [n * n for n in evens]',
  '%%step total --group prep\ntotal = sum(squares)',
  '%%step side\nodds = [n for n in nums if n % 2]',
  '%%step report\nline = f"{total} from {len(nums)} numbers"',
  '%dag show'
];
const STEPS = ['load', 'evens', 'squares', 'total', 'side', 'report'];

function notebook(): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
    cells: CELLS.map((source, i) => ({ cell_type: 'code', id: `g${i}`, metadata: {}, source, outputs: [], execution_count: null }))
  });
}

const nodes = (page: IJupyterLabPageFixture) =>
  page.locator(`${PANEL} .jp-nb2pipe-node`).evaluateAll(ns => Object.fromEntries(ns.map(n => [n.getAttribute('data-step'), n.getAttribute('data-state')])));
const edges = (page: IJupyterLabPageFixture) =>
  page.locator(`${PANEL} .jp-nb2pipe-edge`).evaluateAll(es => es.map(e => `${e.getAttribute('data-source')}>${e.getAttribute('data-target')}`).sort());
const groupNode = (page: IJupyterLabPageFixture) => page.locator(`${PANEL} .jp-nb2pipe-node.jp-nb2pipe-group-node[data-group="prep"]`);

test('a --group collapses into one node with its name and size, edges kept, and expands back', async ({ page, tmpPath }) => {
  await page.contents.uploadContent(notebook(), 'text', `${tmpPath}/${NB}`);
  await page.notebook.openByPath(`${tmpPath}/${NB}`);
  await page.notebook.activate(NB);
  await page.sidebar.openTab('nb2pipe-pipeline');
  await page.notebook.run();
  const allFresh = Object.fromEntries(STEPS.map(s => [s, 'fresh']));
  await expect.poll(() => nodes(page), { timeout: 120000 }).toEqual(allFresh);
  const expanded = await edges(page);
  expect(expanded).toEqual(['evens>squares', 'load>evens', 'load>report', 'load>side', 'squares>total', 'total>report']);

  // expanded: a box around its three steps, labelled with its name and a toggle
  const box = page.locator(`${PANEL} .jp-nb2pipe-group[data-group="prep"]`);
  await expect(box).toHaveCount(1);
  const inside = await page.evaluate(() => {
    const r = document.querySelector('#nb2pipe-pipeline .jp-nb2pipe-group-box')!.getBoundingClientRect();
    return Array.from(document.querySelectorAll('#nb2pipe-pipeline .jp-nb2pipe-node'))
      .filter(n => {
        const b = n.getBoundingClientRect();
        return b.left >= r.left && b.right <= r.right && b.top >= r.top && b.bottom <= r.bottom;
      })
      .map(n => n.getAttribute('data-step'))
      .sort();
  });
  expect(inside).toEqual(['evens', 'squares', 'total']);
  // %dag show draws the same box, and its toggle collapses the group there too
  const shown = page.locator('.jp-Notebook .jp-nb2pipe-dag-output');
  await expect(shown.locator('.jp-nb2pipe-group[data-group="prep"]')).toHaveCount(1);
  await shown.locator('.jp-nb2pipe-group-toggle').click();
  await expect(shown.locator('.jp-nb2pipe-node')).toHaveCount(4);
  await expect(shown.locator('.jp-nb2pipe-group-node[data-group="prep"]')).toContainText('3 steps');
  await page.sidebar.setWidth(420, 'left');
  await page.locator(PANEL).screenshot({ path: path.resolve(__dirname, '..', '..', 'docs', 'sidebar-groups.png') });

  // collapse: one node with the group's name and member count; the edges in and out kept
  await box.locator('.jp-nb2pipe-group-toggle').click();
  await expect.poll(() => nodes(page)).toEqual({ load: 'fresh', 'group:prep': 'fresh', side: 'fresh', report: 'fresh' });
  await expect(groupNode(page)).toContainText('prep');
  await expect(groupNode(page)).toContainText('3 steps');
  await expect(box).toHaveCount(0);
  expect(await edges(page)).toEqual(['group:prep>report', 'load>group:prep', 'load>report', 'load>side']);

  // its state is the worst of its steps': an edit of one (not run) makes it stale
  await setSource(page, 3, '%%step squares --group prep\nsquares = [n * n * n for n in evens]');
  await expect.poll(async () => (await nodes(page))['group:prep'], { timeout: 60000 }).toBe('stale');
  await expect.poll(async () => (await nodes(page)).report).toBe('stale');
  await groupNode(page).hover();
  await expect(page.locator(`${PANEL} .jp-nb2pipe-group-members`)).toContainText('squares · stale');

  // search finds a step inside it; focus mode keeps it whole or fades it whole
  await page.locator(`${PANEL} .jp-nb2pipe-search`).fill('squares');
  const matched = () => page.locator(`${PANEL} .jp-nb2pipe-node.jp-mod-match`).evaluateAll(ns => ns.map(n => n.getAttribute('data-step')));
  expect(await matched()).toEqual(['group:prep']);
  await page.locator(`${PANEL} .jp-nb2pipe-search`).fill('');
  await page.locator(`${PANEL} .jp-nb2pipe-node[data-step="side"]`).click();
  await page.mouse.move(0, 0);
  await page.locator(`${PANEL} .jp-nb2pipe-tool`, { hasText: 'Focus' }).click();
  const faded = () => page.locator(`${PANEL} .jp-nb2pipe-node.jp-mod-unfocused`).evaluateAll(ns => ns.map(n => n.getAttribute('data-step')).sort());
  await expect.poll(faded).toEqual(['group:prep', 'report']);
  await page.locator(`${PANEL} .jp-nb2pipe-tool`, { hasText: 'Focus' }).click();
  await expect.poll(faded).toEqual([]);

  // a click on the collapsed group expands it: its steps are back, with their own states
  await groupNode(page).click();
  await expect.poll(() => nodes(page)).toEqual({ ...allFresh, squares: 'stale', total: 'stale', report: 'stale' });
  expect(await edges(page)).toEqual(expanded);
  await expect(box).toHaveCount(1);
});
