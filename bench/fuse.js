#!/usr/bin/env node
// The FUSE binding's own cost (issue 4 groundwork): stats, creates and dd through
// packages/fuse against an in-memory file system, measured by the load tests in
// packages/fuse/src/throughput.test.ts, which record their figures when FUSE_BENCH_OUT
// is set. Needs root and /dev/fuse. Prints the figures as JSON.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

if (process.argv.includes('--help')) {
  console.log('usage: node bench/fuse.js — FUSE binding stats/creates/s and dd MB/s against an in-memory fs');
  process.exit(0);
}
const root = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'tsmfs-bench-fuse-'));
const out = join(dir, 'figures.jsonl');
try {
  process.stderr.write('[bench fuse] running the binding load tests with FUSE_BENCH_OUT\n');
  const r = spawnSync('npx', ['vitest', 'run', 'packages/fuse/src/throughput.test.ts'], {
    cwd: root,
    env: { ...process.env, FUSE_BENCH_OUT: out },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
  const figures = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  process.stdout.write(JSON.stringify(figures, null, 2) + '\n');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
