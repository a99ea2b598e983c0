import { constants, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountForTest, sh, type TestMount } from './fuse-test-mount.test-helpers.js';
import type { Attr, LowLevelOps } from './index.js';
import { MemFs } from './memfs.test-helpers.js';

/**
 * Load through the binding: thousands of requests from child processes against the
 * in-memory file system with entry/attr timeouts of 0, so that every stat and create
 * reaches JS. The tests check that every request is served and how writes arrive; the
 * rates they record are figures for `npm run bench -- fuse` (docs/fuse-binding.md),
 * never asserted here.
 */
const COUNT = 2000;
const STREAM_MIB = 512;

/** FUSE_BENCH_OUT=file appends the figures as JSON lines. */
function record(name: string, figures: object): void {
  console.log(name, JSON.stringify(figures));
  if (process.env.FUSE_BENCH_OUT) writeFileSync(process.env.FUSE_BENCH_OUT, `${JSON.stringify({ name, ...figures })}\n`, { flag: 'a' });
}

/** One file whose writes are counted and dropped and whose reads are zeros: the binding's cost alone. */
function sinkFs(): LowLevelOps & { writes: number[]; reads: number[] } {
  let size = 0;
  const t = { sec: 0, nsec: 0 };
  const attr = (ino: number): Attr =>
    ino === 1
      ? { ino, mode: constants.S_IFDIR | 0o755, nlink: 2, uid: 0, gid: 0, size: 0, atime: t, mtime: t, ctime: t }
      : { ino, mode: constants.S_IFREG | 0o644, nlink: 1, uid: 0, gid: 0, size, atime: t, mtime: t, ctime: t };
  const zeros = Buffer.alloc(1 << 20);
  const writes: number[] = [];
  const reads: number[] = [];
  return {
    writes,
    reads,
    lookup: () => ({ attr: attr(2), entryTimeout: 1, attrTimeout: 1 }),
    getattr: (_ctx, { ino }) => ({ attr: attr(ino), timeout: 1 }),
    setattr: (_ctx, { ino, changes }) => {
      if (changes.size !== undefined) size = changes.size;
      return { attr: attr(ino), timeout: 1 };
    },
    open: () => ({ fh: 1 }),
    write: (_ctx, { data, offset }) => {
      writes.push(data.length);
      size = Math.max(size, offset + data.length);
      return data.length;
    },
    read: (_ctx, { size: length, offset }) => {
      reads.push(length);
      return zeros.subarray(0, Math.max(0, Math.min(length, size - offset)));
    },
  };
}

const CHILD = `
const fs = require('fs');
const dir = process.argv[1];
const n = Number(process.argv[2]);
fs.writeFileSync(dir + '/target', 'x');
if (process.argv[3]) process.chdir(process.argv[3]);
let t = process.hrtime.bigint();
for (let i = 0; i < n; i++) fs.statSync(dir + '/target');
const stat = Number(process.hrtime.bigint() - t) / 1e9;
t = process.hrtime.bigint();
for (let i = 0; i < n; i++) fs.closeSync(fs.openSync('f' + i, 'w'));
const create = Number(process.hrtime.bigint() - t) / 1e9;
console.log(JSON.stringify({ stat, create }));
`;

describe('load through the binding', () => {
  const fs = new MemFs(0);
  let m: TestMount;
  beforeAll(async () => {
    m = await mountForTest(fs, ['fsname=tsmfs', 'subtype=tsmfs', 'max_write=1048576']);
  });
  afterAll(async () => {
    await m?.teardown();
  });

  it(`serves ${COUNT} stats and ${COUNT} creates from a child process`, async () => {
    fs.calls.clear();
    // CPU time of this (serving) process, loop thread included: the binding's cost per
    // operation, which the machine's load inflates far less than the wall-clock rates.
    const cpu = process.cpuUsage();
    const r = await sh(`node -e "$CHILD" '${m.dir}' ${COUNT} '${m.dir}'`, { CHILD });
    const used = process.cpuUsage(cpu);
    expect(r.stderr).toBe('');
    const { stat, create } = JSON.parse(r.stdout) as { stat: number; create: number };
    const figures = {
      statsPerSecond: Math.round(COUNT / stat),
      createsPerSecond: Math.round(COUNT / create),
      serverCpuMicrosPerOp: Math.round((used.user + used.system) / (2 * COUNT)),
      requests: Object.fromEntries(fs.calls),
    };
    record('metadata', figures);
    expect(fs.calls.get('create')).toBe(COUNT + 1);
  });

  it(`serves 4 child processes at once (${COUNT} stats and creates each)`, async () => {
    const started = process.hrtime.bigint();
    const runs = await Promise.all(
      [0, 1, 2, 3].map((w) =>
        sh(`mkdir -p '${m.dir}/p${w}' && node -e "$CHILD" '${m.dir}' ${COUNT} '${m.dir}/p${w}'`, { CHILD }),
      ),
    );
    const wall = Number(process.hrtime.bigint() - started) / 1e9;
    for (const r of runs) expect(r.stderr).toBe('');
    const results = runs.map((r) => JSON.parse(r.stdout) as { stat: number; create: number });
    record('metadata-4-clients', {
      statsPerSecond: Math.round((4 * COUNT) / Math.max(...results.map((r) => r.stat))),
      createsPerSecond: Math.round((4 * COUNT) / Math.max(...results.map((r) => r.create))),
      wallSeconds: Number(wall.toFixed(2)),
    });
  });
});

describe('data through the binding', () => {
  it(`streams ${STREAM_MIB} MiB in and out with dd bs=1M`, async () => {
    const fs = sinkFs();
    // 1 MiB writes since libfuse 3 (its buffer holds them; the kernel's max_pages follows).
    const m = await mountForTest(fs, ['max_write=1048576', 'max_read=131072', 'max_readahead=131072']);
    try {
      const file = `${m.dir}/stream`;
      const write = await sh(`dd if=/dev/zero of=${file} bs=1M count=${STREAM_MIB} 2>&1 | tail -1`);
      const read = await sh(`dd if=${file} of=/dev/null bs=1M 2>&1 | tail -1`);
      const rate = (line: string) => line.trim().split(', ').at(-1);
      record('data', {
        write: rate(write.stdout),
        read: rate(read.stdout),
        writeRequests: fs.writes.length,
        largestWrite: Math.max(...fs.writes),
        largestRead: Math.max(...fs.reads),
      });
      expect(fs.writes.reduce((a, b) => a + b, 0)).toBe(STREAM_MIB << 20);
      expect(Math.max(...fs.writes)).toBe(1 << 20);
    } finally {
      await m.teardown();
    }
  });
});
