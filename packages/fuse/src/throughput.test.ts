import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountForTest, sh, type TestMount } from './fuse-test-mount.test-helpers.js';
import { MemFs } from './memfs.test-helpers.js';

/**
 * Requests per second through the binding, from one child process against the in-memory
 * file system with entry/attr timeouts of 0, so that every stat and create reaches JS.
 * The figures go to docs/fuse-binding.md; set FUSE_BENCH_OUT=file to write them as JSON.
 */
const COUNT = 2000;

const CHILD = `
const fs = require('fs');
const dir = process.argv[1];
const n = Number(process.argv[2]);
fs.writeFileSync(dir + '/target', 'x');
let t = process.hrtime.bigint();
for (let i = 0; i < n; i++) fs.statSync(dir + '/target');
const stat = Number(process.hrtime.bigint() - t) / 1e9;
t = process.hrtime.bigint();
for (let i = 0; i < n; i++) fs.closeSync(fs.openSync(dir + '/f' + i, 'w'));
const create = Number(process.hrtime.bigint() - t) / 1e9;
console.log(JSON.stringify({ stat, create }));
`;

describe('throughput of the binding', () => {
  const fs = new MemFs(0);
  let m: TestMount;
  beforeAll(async () => {
    m = await mountForTest(fs, ['fsname=tsmfs', 'subtype=tsmfs', 'big_writes', 'max_write=131072']);
  });
  afterAll(async () => {
    await m?.teardown();
  });

  it(`serves ${COUNT} stats and ${COUNT} creates from a child process`, async () => {
    fs.calls.clear();
    const r = await sh(`node -e "$CHILD" '${m.dir}' ${COUNT}`, { CHILD });
    expect(r.stderr).toBe('');
    const { stat, create } = JSON.parse(r.stdout) as { stat: number; create: number };
    const figures = {
      statsPerSecond: Math.round(COUNT / stat),
      createsPerSecond: Math.round(COUNT / create),
      requests: Object.fromEntries(fs.calls),
    };
    console.log(JSON.stringify(figures));
    if (process.env.FUSE_BENCH_OUT) writeFileSync(process.env.FUSE_BENCH_OUT, JSON.stringify(figures, null, 2));
    expect(fs.calls.get('create')).toBe(COUNT + 1);
    expect(figures.statsPerSecond).toBeGreaterThan(300);
    expect(figures.createsPerSecond).toBeGreaterThan(300);
  });
});
