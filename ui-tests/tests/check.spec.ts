/**
 * The sidebar's *Check* button: the saved notebook runs on a sample of its sources
 * in the kernel (as `%dag check --sample`) and the panel lists the breaks, each a
 * click away from the line of the step that makes it.
 */
import { expect, test } from '@jupyterlab/galata';
import * as fs from 'fs';
import * as path from 'path';
import { EXAMPLE, openExample, PANEL, runAll } from './helpers';

test.use({ autoGoto: true });

/** The example's sales.csv with whole-number prices in its first `rows` rows: `unit_price` reads as int64 there. */
function wholePrices(rows: number): string {
  const lines = fs.readFileSync(path.join(EXAMPLE, 'data', 'sales.csv'), 'utf-8').split('\n');
  const col = lines[0].split(',').indexOf('unit_price');
  return lines
    .map((line, i) => {
      if (i === 0 || i > rows || !line) {
        return line;
      }
      const f = line.split(',');
      f[col] = String(Math.round(Number(f[col])));
      return f.join(',');
    })
    .join('\n');
}

test('Check lists the sample check\'s breaks; a click goes to the line that makes one', async ({ page, tmpPath }) => {
  await openExample(page, tmpPath);
  await runAll(page);            // the contracts: each output's last seen types
  const check = page.locator(`${PANEL} .jp-nb2pipe-check`);
  await page.locator(`${PANEL} .jp-nb2pipe-header button`, { hasText: 'Check' }).click();
  await expect(check).toContainText('Sample check (1000 rows): no breaks', { timeout: 120000 });
  await expect(check.locator('.jp-nb2pipe-break')).toHaveCount(0);

  await page.contents.uploadContent(wholePrices(1000), 'text', `${tmpPath}/data/sales.csv`);
  await page.locator(`${PANEL} .jp-nb2pipe-header button`, { hasText: 'Check' }).click();
  const brk = check.locator('.jp-nb2pipe-break', { hasText: 'column `unit_price`' }).first();
  await expect(brk).toContainText('int64, the contract says double', { timeout: 120000 });
  await expect(brk).toContainText('step `load` output `raw`');
  await expect(brk).toContainText('(line 2)');
  // a step below carries the break on: it names the step and line that make it
  const below = check.locator('.jp-nb2pipe-break', { hasText: 'step `clean` output `orders` column `unit_price`' });
  await expect(below).toContainText('(made by step `load`, line 2)');
  await expect(check).toContainText('problem(s)');

  await below.click();
  const active = page.locator('.jp-Notebook .jp-Cell.jp-mod-active');
  await expect(active).toContainText('%%step load');
  const where = await page.evaluate(() => {
    const nb = (window as any).jupyterapp.shell.currentWidget.content;
    return { mode: nb.mode, line: nb.activeCell.editor.getCursorPosition().line };
  });
  expect(where).toEqual({ mode: 'edit', line: 1 });   // line 2 of the cell, 0-based

  await check.locator('.jp-nb2pipe-check-close').click();
  await expect(check).toBeHidden();
});
