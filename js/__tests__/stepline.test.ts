import { test } from 'node:test';
import * as assert from 'node:assert/strict';

import { stepHeader, stepOfSource } from '../stepline';

type Case = [source: string, name: string | null, rest: string, body: string];

const cases: Case[] = [
  ['%%step load --out raw\nraw = 1', 'load', ' --out raw', 'raw = 1'],
  ['\n\n  %%step clean\nx = 2\ny = 3', 'clean', '', 'x = 2\ny = 3'],
  ['%%step a-b', 'a-b', '', ''],
  ['%%step\nfoo = 1', null, '', ''],
  ['%%setup\nimport os', null, '', ''],
  ['x = 1\n%%step late', null, '', ''],
  ['# %%step commented', null, '', '']
];

for (const [source, name, rest, body] of cases) {
  test(`the header of ${JSON.stringify(source)}`, () => {
    const h = stepHeader(source);
    assert.deepEqual(h, name === null ? null : { name, rest, body });
    assert.equal(stepOfSource(source), name);
  });
}
