/**
 * A chunk write's end answers with the file's attributes right after it (messages.ts,
 * writeChunkEnd), leased as a getattr's answer; the writer's mount keeps them when nothing
 * more of the file is buffered, and no longer forgets what it has cached of a file at each
 * write (the size it shows covers its writes). So the fstat before a close and the stat
 * after it (git's checkout does both for every file, tar the second) are answered by the
 * writing mount — and must still equal the master's attributes, on the writer and on a
 * second mount, both ways, with leases and with TTL caches only.
 */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { MasterSession } from '@tsmfs/client';
import { describe, expect, it } from 'vitest';
import { Cluster, type Mount } from './fixture/cluster.js';
import { masterRequests } from './fixture/prometheus-text.js';

/** What an application sees of a file: size, times, mode. */
function shown(st: { size: bigint; mtimeNs: bigint; ctimeNs: bigint; mode: bigint }): string {
  return `size ${st.size} mtime ${st.mtimeNs} ctime ${st.ctimeNs} mode ${st.mode.toString(8)}`;
}

/** The same, as the master has it. */
async function truth(s: MasterSession, path: string): Promise<string> {
  const a = await s.getattr((await s.resolve(path)).inode);
  const ns = (t: { sec: number; nsec: number }) => BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
  return `size ${a.size} mtime ${ns(a.mtime)} ctime ${ns(a.ctime)} mode ${(0o100000 | a.mode).toString(8)}`;
}

const statOf = async (m: Mount, name: string) => shown(await stat(join(m.path, name), { bigint: true }));

/** Writes through the file system as applications do; returns what fstat said before the close. */
const WRITES: [string, string, (path: string) => Promise<bigint>][] = [
  ['a new file (open wx, write, fstat, close)', 'f', (p) => writeAndClose(p, 'wx', 0, 5000)],
  ['an append', 'f', (p) => writeAndClose(p, 'a', 0, 3000)],
  ['an overwrite inside the file', 'f', (p) => writeAndClose(p, 'r+', 100, 200)],
  ['a write past the end, leaving a hole', 'f', (p) => writeAndClose(p, 'r+', 100_000, 10)],
  ['a second file, written in two writes', 'g', async (p) => {
    const fh = await open(p, 'wx');
    await fh.write(Buffer.alloc(70_000, 1), 0, 70_000, 0);
    await fh.write(Buffer.alloc(10, 2), 0, 10, 70_000);
    const size = (await fh.stat({ bigint: true })).size;
    await fh.close();
    return size;
  }],
  // The kernel is handed the attributes between two writes: the second write, not the
  // end, is what makes it forget them (the mount sends no notification for them then).
  ['a third file, an fstat between two writes', 'h', async (p) => {
    const fh = await open(p, 'wx');
    await fh.write(Buffer.alloc(100, 1), 0, 100, 0);
    const between = (await fh.stat({ bigint: true })).size;
    await new Promise((r) => setTimeout(r, 20));
    await fh.write(Buffer.alloc(50, 2), 0, 50, 100);
    await fh.close();
    return between + 50n;
  }],
];

async function writeAndClose(path: string, flags: string, position: number, length: number): Promise<bigint> {
  const fh = await open(path, flags);
  await fh.write(Buffer.alloc(length, 7), 0, length, flags === 'a' ? null : position);
  const size = (await fh.stat({ bigint: true })).size;
  await fh.close();
  return size;
}

async function cluster(config: Record<string, number>) {
  const c = await Cluster.create({ master: { config: { REPLICATIONS_DELAY_INIT: 0, ...config } } });
  await c.addChunkservers(1);
  const [a, b] = await Promise.all([c.mount(), c.mount()]);
  return { c, a, b, s: await c.session() };
}

describe("a write's end brings the file's attributes", () => {
  for (const [how, config] of [
    // Leases far longer than the test (at load 16 a step took over the default 10 s).
    ['with leases', { LEASE_TIME: 600 }],
    ['without leases (TTL caches)', { LEASE_TIME: 0 }],
  ] as const) {
    it(`the writer's fstat and stat are its mount's answers, equal to the master's; the other mount sees the same (${how})`, { timeout: 120_000 }, async () => {
      const { c, a, b, s } = await cluster(config);
      // The kernels' first look at the root (a getattr of it) is not the writer's to count.
      await Promise.all([stat(a.path), stat(b.path)]);
      let expectedSize = 0n;
      for (const [what, name, write] of WRITES) {
        if (name !== 'f') expectedSize = 0n;
        // b holds the file's attributes (leased) before a writes, when the file exists.
        const before = await stat(join(b.path, name), { bigint: true }).catch(() => undefined);
        const asked = await masterRequests(c.master, 'getattr');
        const fstatSize = await write(join(a.path, name));
        const afterClose = await statOf(a, name);
        const askedByA = (await masterRequests(c.master, 'getattr')) - asked;
        expectedSize = what.includes('hole') ? 100_010n : name === 'g' ? 70_010n : name === 'h' ? 150n : what.includes('append') ? expectedSize + 3000n : what.includes('new') ? 5000n : expectedSize;
        expect(fstatSize, `fstat's size, ${what}`).toBe(expectedSize);
        expect(afterClose, `the writer's stat after ${what}`).toBe(await truth(s, `/${name}`));
        if (config.LEASE_TIME > 0) expect(askedByA, `getattrs the writer sent for ${what}`).toBe(0);
        // Without leases b's kernel and cache may keep what it had for their 1 s timeouts.
        if (config.LEASE_TIME === 0 && before) await new Promise((r) => setTimeout(r, 1100));
        expect(await statOf(b, name), `the other mount's stat after ${what}`).toBe(await truth(s, `/${name}`));
      }
      // The other way: b appends to what a holds; a's next stat shows it.
      await writeAndClose(join(b.path, 'f'), 'a', 0, 1234);
      if (config.LEASE_TIME === 0) await new Promise((r) => setTimeout(r, 1100));
      const seen = await statOf(a, 'f');
      expect(seen).toBe(await truth(s, '/f'));
      expect(seen).toMatch(/^size 101244 /);
    });
  }
});
