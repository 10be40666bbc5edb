/**
 * Shared by the browser tests: the example notebook, the panel, and how to read
 * the states the panel shows.
 */
import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import * as fs from 'fs';
import * as path from 'path';

export const EXAMPLE = path.resolve(__dirname, '..', '..', 'examples', 'sales');
export const NB = 'analysis.ipynb';
// the example evolves: read its steps and cell positions instead of hard-coding them
export const CELLS: string[] = JSON.parse(fs.readFileSync(path.join(EXAMPLE, NB), 'utf-8')).cells.map((c: any) =>
  Array.isArray(c.source) ? c.source.join('') : c.source
);
export const STEPS = CELLS.map(s => /^%%step\s+(\S+)/.exec(s)?.[1]).filter((s): s is string => !!s);
export const cellOf = (step: string) => CELLS.findIndex(s => new RegExp(`^%%step\\s+${step}(\\s|$)`).test(s));
export const ALL_FRESH = () => Object.fromEntries(STEPS.map(s => [s, 'fresh']));
export const GREEN = 'rgb(46, 125, 50)'; // fresh, as nb2pipe.report.STATE_COLORS
export const ORANGE = 'rgb(239, 108, 0)'; // stale
export const PANEL = '#nb2pipe-pipeline';

export const node = (page: IJupyterLabPageFixture, step: string) => page.locator(`${PANEL} .jp-nb2pipe-node[data-step="${step}"]`);

export async function states(page: IJupyterLabPageFixture): Promise<Record<string, string>> {
  return page.evaluate(() => {
    const out: Record<string, string> = {};
    document.querySelectorAll('#nb2pipe-pipeline .jp-nb2pipe-node').forEach(n => {
      out[n.getAttribute('data-step') as string] = n.getAttribute('data-state') as string;
    });
    return out;
  });
}

export async function expectStates(page: IJupyterLabPageFixture, expected: Record<string, string>) {
  await expect.poll(() => states(page), { timeout: 60000 }).toEqual(expected);
}

export async function openExample(page: IJupyterLabPageFixture, tmpPath: string) {
  await page.contents.uploadDirectory(EXAMPLE, tmpPath);
  await page.notebook.openByPath(`${tmpPath}/${NB}`);
  await page.notebook.activate(NB);
  await page.sidebar.openTab('nb2pipe-pipeline');
  await expect(page.locator(PANEL)).toBeVisible();
}

export async function runAll(page: IJupyterLabPageFixture) {
  await page.notebook.run();
  await expectStates(page, ALL_FRESH());
}


/** Edit a cell without executing it (as a user typing). */
export async function setSource(page: IJupyterLabPageFixture, index: number, source: string) {
  await page.evaluate(
    ([i, s]) => {
      const nb = (window as any).jupyterapp.shell.currentWidget.content;
      nb.model.cells.get(i).sharedModel.setSource(s);
    },
    [index, source] as [number, string]
  );
}
