/**
 * The mount against a local folder (issue 4): the same random sequence of file-system
 * calls through `fs` on both must give the same results and the same errno values, and
 * leave the same tree.
 */
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Cluster, Mount, makeTempDir } from './fixture/cluster.js';

const PATHS = ['a', 'b', 'c', 'd', 'd/a', 'd/b', 'd/e', 'd/e/a'];
const path = fc.constantFrom(...PATHS);

type Op =
  | { op: 'write'; p: string; offset: number; length: number; seed: number }
  | { op: 'read' | 'unlink' | 'mkdir' | 'rmdir' | 'stat' | 'readdir' | 'readlink'; p: string }
  | { op: 'truncate'; p: string; length: number }
  | { op: 'rename' | 'link'; p: string; q: string }
  | { op: 'chmod'; p: string; mode: number }
  | { op: 'symlink'; p: string; target: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('write' as const), p: path, offset: fc.integer({ min: 0, max: 200_000 }), length: fc.integer({ min: 0, max: 70_000 }), seed: fc.nat() }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constantFrom('read' as const, 'unlink' as const, 'mkdir' as const, 'rmdir' as const, 'stat' as const, 'readdir' as const, 'readlink' as const), p: path }), weight: 6 },
  { arbitrary: fc.record({ op: fc.constant('truncate' as const), p: path, length: fc.integer({ min: 0, max: 150_000 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constantFrom('rename' as const, 'link' as const), p: path, q: path }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('chmod' as const), p: path, mode: fc.constantFrom(0o600, 0o755, 0o444, 0o1777) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('symlink' as const), p: path, target: fc.constantFrom('a', 'd/b', 'nowhere') }), weight: 1 },
);

function bytes(seed: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

async function apply(root: string, o: Op): Promise<unknown> {
  const p = join(root, o.p);
  try {
    switch (o.op) {
      case 'write': {
        const f = await fsp.open(p, constants.O_WRONLY | constants.O_CREAT, 0o644);
        try {
          return (await f.write(bytes(o.seed, o.length), 0, o.length, o.offset)).bytesWritten;
        } finally {
          await f.close();
        }
      }
      case 'read':
        return createHash('sha256').update(await fsp.readFile(p)).digest('hex');
      case 'truncate':
        return await fsp.truncate(p, o.length);
      case 'unlink':
        return await fsp.unlink(p);
      case 'mkdir':
        return await fsp.mkdir(p, 0o755);
      case 'rmdir':
        return await fsp.rmdir(p);
      case 'stat': {
        const s = await fsp.lstat(p);
        return { type: s.mode & 0o170000, mode: s.mode & 0o7777, size: s.isDirectory() ? 'dir' : s.size, nlink: s.isDirectory() ? 'dir' : s.nlink };
      }
      case 'readdir':
        return (await fsp.readdir(p)).sort();
      case 'readlink':
        return await fsp.readlink(p);
      case 'rename':
        return await fsp.rename(p, join(root, o.q));
      case 'link':
        return await fsp.link(p, join(root, o.q));
      case 'chmod':
        return await fsp.chmod(p, o.mode);
      case 'symlink':
        return await fsp.symlink(o.target, p);
    }
  } catch (err) {
    return { errno: (err as NodeJS.ErrnoException).code };
  }
}

async function tree(root: string, rel = ''): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const name of (await fsp.readdir(join(root, rel))).sort()) {
    const p = join(root, rel, name);
    const s = await fsp.lstat(p);
    const entry = { p: join(rel, name), type: s.mode & 0o170000, mode: s.mode & 0o7777, nlink: s.isDirectory() ? 0 : s.nlink };
    if (s.isDirectory()) out.push(entry, ...(await tree(root, join(rel, name))));
    else if (s.isSymbolicLink()) out.push({ ...entry, target: await fsp.readlink(p) });
    else out.push({ ...entry, size: s.size, sha: createHash('sha256').update(await fsp.readFile(p)).digest('hex') });
  }
  return out;
}

describe('the mount behaves like a local folder', () => {
  it('random fs call sequences: same results, same errno, same tree', { timeout: 120_000 }, async () => {
    const c = await Cluster.create();
    await c.addChunkservers(1);
    const m = await c.mount();
    const local = makeTempDir();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 40 }), async (ops) => {
        run++;
        const [a, b] = [join(local, `r${run}`), join(m.path, `r${run}`)];
        await Promise.all([fsp.mkdir(a), fsp.mkdir(b)]);
        for (const [i, o] of ops.entries()) {
          const [ra, rb] = [await apply(a, o), await apply(b, o)];
          expect({ step: i, op: o, result: rb }).toEqual({ step: i, op: o, result: ra });
        }
        expect(await tree(b)).toEqual(await tree(a));
      }),
      { numRuns: 25, seed: Number(process.env.FC_SEED ?? Date.now() % 1e9), endOnFailure: true },
    );
  });
});
