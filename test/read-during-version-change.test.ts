/**
 * Reads while another client moves the chunk to a new version (issue 9, defect 6): a
 * write grant or a truncation bumps the version in the metadata before the chunkservers
 * have the copies at it, and a read in that window must wait for them (or read the copy
 * that already has it), never fail. A size-reducing truncation is covered by a lease, so
 * the chunk loop does not take the window for a lost chunk (docs/master.md, "Reads during
 * a version change"; docs/client.md, "Reads").
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cluster, Mount, REPO_ROOT } from './fixture/cluster.js';
import { sh, shOk } from './fixture/mount-shell.js';
import { until } from './fixture/poll.js';

const DRIVER = join(REPO_ROOT, 'test/fixture/read-write-race.py');
const FAST_LOOP = { REPLICATIONS_DELAY_INIT: 0, CHUNKS_LOOP_MIN_TIME: 1 };
/** Every offset and size the driver uses stays below this: one chunk, always contended. */
const LIMIT = 4 * 1024 * 1024;
const RUN_SECONDS = Number(process.env.TSMFS_RACE_SECONDS ?? 25);

interface WriterResult {
  ops: Record<string, number>;
  errors: Record<string, number>;
  initial: number;
  /** [start, end, sizes the file went through]: one entry per operation, monotonic seconds. */
  history: [number, number, number[]][];
}

interface ReaderResult {
  reads: number;
  errors: Record<string, number>;
  mixed: { offset: number; bytes: number[] }[];
  /** Short reads: [start, end, offset, bytes]. */
  ends: [number, number, number, number][];
}

/**
 * How old a size a reader may go by: the client's chunk location cache keeps a grant,
 * and the file length in it, for 3 s (docs/client.md); the kernel's attributes 1 s.
 */
const STALE_SECONDS = 3.5;

/**
 * The range a short read's end may fall in: the sizes the file had from STALE_SECONDS
 * before the read to its end. A range, not a set: one read(2) is several requests to
 * the mount answered at different moments, and the one answered while the file ended
 * before it says end of file at its own offset.
 */
function sizeRange(w: WriterResult, from: number, to: number): [number, number] {
  let seen = [w.initial];
  for (const [start, end, sizes] of w.history) {
    if (end < from) seen = [sizes[sizes.length - 1]!];
    else if (start <= to) seen.push(...sizes);
  }
  return [Math.min(...seen), Math.max(...seen)];
}

async function driver<T>(args: (string | number)[], seconds: number): Promise<T> {
  const out = await shOk(`python3 ${DRIVER} ${args.join(' ')}`, { timeoutMs: (seconds + 60) * 1000 });
  return JSON.parse(out) as T;
}

async function twoMountsOnOneFile(): Promise<{ c: Cluster; a: Mount; b: Mount; name: string }> {
  const c = await Cluster.create({ master: { config: FAST_LOOP } });
  await c.addChunkservers(2);
  const [a, b] = await Promise.all([c.mount(), c.mount()]);
  const s = await c.session();
  await shOk(`head -c ${LIMIT} /dev/zero | tr '\\0' '\\1' > ${a.path}/f`);
  const f = await s.resolve('/f');
  await s.setgoal(f.inode, 2);
  await until('two valid copies of the chunk', async () => {
    const info = await s.fileinfo(f.inode);
    return info.chunks[0]!.copies.filter((x) => x.state === 'valid').length === 2 ? true : undefined;
  });
  return { c, a, b, name: 'f' };
}

/** Error-level "chunk lost" lines of the master: a version change must never look like a loss. */
function falseLosses(c: Cluster): string[] {
  return c.master.logs().filter((l) => l.level >= 50 && String(l.msg).startsWith('chunk lost')).map((l) => JSON.stringify(l));
}

describe('reads during a version change of the same chunk', () => {
  it('readers on two mounts (O_DIRECT and buffered) against a writer and truncates: no read fails', { timeout: 240_000 }, async () => {
    const { c, a, b, name } = await twoMountsOnOneFile();
    const seconds = RUN_SECONDS;
    const [w, ...readers] = await Promise.all([
      driver<WriterResult>(['write', join(a.path, name), seconds, 1, LIMIT], seconds),
      driver<ReaderResult>(['read', join(b.path, name), seconds, 2, LIMIT, 'direct'], seconds),
      driver<ReaderResult>(['read', join(b.path, name), seconds, 3, LIMIT, 'buffered'], seconds),
      driver<ReaderResult>(['read', join(a.path, name), seconds, 4, LIMIT, 'direct'], seconds),
    ]);
    const summary = JSON.stringify({ writer: w, readers: readers.map((r) => ({ reads: r.reads, errors: r.errors, mixed: r.mixed })) });
    // The race happened: many version changes, many reads.
    const changes = Object.values(w.ops).reduce((n, k) => n + k, 0);
    expect(changes, summary).toBeGreaterThan(30);
    for (const r of readers) {
      expect(r.reads, summary).toBeGreaterThan(30);
      expect(r.errors, summary).toEqual({});
      expect(r.mixed, summary).toEqual([]);
      for (const [start, end, offset, n] of r.ends) {
        const [low, high] = sizeRange(w, start - STALE_SECONDS, end);
        expect({ offset, n, aligned: (offset + n) % 4096 === 0, within: offset + n >= low && offset + n <= high }, `${low}..${high}; ${summary}`).toEqual({ offset, n, aligned: true, within: true });
      }
    }
    expect(falseLosses(c)).toEqual([]);
  });

  it('a truncate while one copy is slow to move: readers read the copy that moved, no chunk is called lost', { timeout: 120_000 }, async () => {
    const { c, a, b, name } = await twoMountsOnOneFile();
    const slow = c.chunkservers[1]!.process!;
    // Stopped, the chunkserver answers the master's chunkTruncate only once continued: the
    // cut is in flight on it while the other copy has the new version.
    process.kill(slow.pid, 'SIGSTOP');
    try {
      const cut = sh(`truncate -s 1000000 ${a.path}/${name}`);
      await new Promise((r) => setTimeout(r, 500));
      const r = await driver<ReaderResult>(['read', join(b.path, name), 3, 5, LIMIT, 'direct'], 3);
      expect(r.errors, JSON.stringify(r)).toEqual({});
      expect(r.reads).toBeGreaterThan(0);
      for (const [, , offset, n] of r.ends) expect(offset + n).toBe(1_000_000);
      process.kill(slow.pid, 'SIGCONT');
      expect((await cut).code).toBe(0);
    } finally {
      process.kill(slow.pid, 'SIGCONT');
    }
    expect(await shOk(`stat -c %s ${b.path}/${name}`)).toBe('1000000\n');
    expect(falseLosses(c)).toEqual([]);
  });
});
