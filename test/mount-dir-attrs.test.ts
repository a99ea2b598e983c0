/**
 * A change of names (create, mknod, mkdir, symlink, link, unlink, rmdir, rename) moves its
 * directories' mtime, ctime and nlink; the kernel asks for them right after. The master's
 * reply to the change carries them (messages.ts, `parents`) and the mount answers that
 * getattr itself, under the lease or TTL rules of a getattr answer (docs/mount.md, "Leases").
 * Checked against the master's own attributes, from the changing mount and from a second
 * one, right after each change; and that no getattr reaches the master for it.
 */
import { link, lstat, mkdir, open, readFile, readdir, rename, rmdir, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { MasterSession } from '@tsmfs/client';
import { EATTR } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { Cluster, type Mount } from './fixture/cluster.js';
import { masterRequests } from './fixture/prometheus-text.js';
import { errno } from './fixture/errno.js';
import { shOk } from './fixture/mount-shell.js';

/** The changes, each made in mount root `r`, in its directories d and e (system calls only: no utimes of a file). */
const CHANGES: [string, (r: string) => Promise<unknown>][] = [
  ['create', async (r) => (await open(join(r, 'd/f'), 'wx')).close()],
  ['mknod', (r) => shOk(`mkfifo ${r}/d/p`)],
  ['mkdir', (r) => mkdir(join(r, 'd/s'))],
  ['symlink', (r) => symlink('f', join(r, 'd/l'))],
  ['link', (r) => link(join(r, 'd/f'), join(r, 'd/h'))],
  ['rename in one directory', (r) => rename(join(r, 'd/f'), join(r, 'd/g'))],
  ['rename of a directory to another', (r) => rename(join(r, 'd/s'), join(r, 'e/s'))],
  ['rename of a file to another directory, replacing', (r) => rename(join(r, 'd/h'), join(r, 'e/x')).then(() => rename(join(r, 'd/g'), join(r, 'e/x')))],
  ['unlink', (r) => unlink(join(r, 'e/x'))],
  ['rmdir', (r) => rmdir(join(r, 'e/s'))],
  [
    'rename exchange',
    (r) => shOk(`cd ${r}/d && python3 -c "import ctypes; l=ctypes.CDLL(None,use_errno=True); assert l.renameat2(-100,b'p',-100,b'l',2)==0"`),
  ],
];

/** What a stat shows of a directory that a change of names moves. */
async function seen(m: Mount, dir: string): Promise<string> {
  const st = await lstat(join(m.path, dir), { bigint: true });
  return `nlink ${st.nlink} mtime ${st.mtimeNs} ctime ${st.ctimeNs} mode ${st.mode.toString(8)}`;
}

/** The same, as the master has it. */
async function truth(s: MasterSession, dir: string): Promise<string> {
  const a = await s.getattr((await s.resolve(`/${dir}`)).inode);
  const ns = (t: { sec: number; nsec: number }) => BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
  return `nlink ${a.nlink} mtime ${ns(a.mtime)} ctime ${ns(a.ctime)} mode ${(0o40000 | a.mode).toString(8)}`;
}

const masterGetattrs = (c: Cluster) => masterRequests(c.master, 'getattr');

async function cluster(config: Record<string, number>) {
  const c = await Cluster.create({ master: { config: { REPLICATIONS_DELAY_INIT: 0, ...config } } });
  await c.addChunkservers(1);
  const [a, b] = await Promise.all([c.mount(), c.mount()]);
  const s = await c.session();
  await shOk(`mkdir ${a.path}/d ${a.path}/e`);
  return { c, a, b, s };
}

/**
 * Without leases nothing recalls what a mount holds: its kernel and its TTL cache keep a
 * name for up to 1 s after another mount changed it. A directory with noentrycache
 * (MooseFS's meaning: docs/mount.md) keeps none of its names in either, so b's rename and
 * unlink there are seen by a at its very next stat.
 */
async function noentrycacheWithoutLeases(a: Mount, b: Mount, s: MasterSession): Promise<void> {
  // Made before the flag (so without one of their own), by b: a knows none of them yet.
  await shOk(`mkdir ${b.path}/n && echo 1 > ${b.path}/n/f && echo 2 > ${b.path}/n/x`);
  const n = (await s.resolve('/n')).inode;
  await s.call('seteattr', { cred: { uid: 0, gid: 0, groups: [0] }, inode: n, set: EATTR.noentrycache, clear: 0, recursive: false });
  for (const f of ['f', 'x']) await lstat(join(a.path, 'n', f));
  await shOk(`mv ${b.path}/n/f ${b.path}/n/g && rm ${b.path}/n/x`);
  expect(await errno(lstat(join(a.path, 'n/f')))).toBe('ENOENT');
  expect(await errno(lstat(join(a.path, 'n/x')))).toBe('ENOENT');
  expect(await readFile(join(a.path, 'n/g'), 'utf8')).toBe('1\n');
}

describe("a change's directories' attributes come with its reply", () => {
  it('the changing mount answers the getattr that follows each change itself, with what the master has', async () => {
    // Leases far longer than the test: at load 16 one change's shell took over LEASE_TIME's
    // default 10 s, the lease ran out, and the getattr then went to the master (rightly).
    const { c, a, s } = await cluster({ LEASE_TIME: 600 });
    let asked = 0;
    for (const [what, change] of CHANGES) {
      const before = await masterGetattrs(c);
      await change(a.path);
      const attrs = [await seen(a, 'd'), await seen(a, 'e')];
      asked += (await masterGetattrs(c)) - before;
      expect(attrs, `after ${what}`).toEqual([await truth(s, 'd'), await truth(s, 'e')]);
    }
    // Not one getattr from the mount for its own changes (its kernel asks for the directory after each).
    expect(asked).toBe(0);
    const stats = await readFile(join(a.path, '.stats'), 'utf8');
    expect(Number(/^op_dir_attr_with_change: (\d+)/m.exec(stats)?.[1])).toBeGreaterThanOrEqual(CHANGES.length);
  });

  it('a second mount holding leases on the directories sees the new attributes right after each change, both ways', async () => {
    const { a, b, s } = await cluster({});
    for (const [i, [what, change]] of CHANGES.entries()) {
      // b (and a) hold leases on both directories and their attributes before the change.
      for (const m of [a, b]) for (const dir of ['d', 'e']) await seen(m, dir);
      await change((i % 2 ? b : a).path);
      const want = [await truth(s, 'd'), await truth(s, 'e')];
      for (const m of [a, b]) expect([await seen(m, 'd'), await seen(m, 'e')], `${m === a ? 'a' : 'b'} after ${what} on ${i % 2 ? 'b' : 'a'}`).toEqual(want);
    }
  });

  it('with leases ending between the changes (LEASE_TIME 1) and without leases (TTL caches), the same; without leases, names in a noentrycache directory are seen at once', { timeout: 120_000 }, async () => {
    for (const LEASE_TIME of [1, 0]) {
      const { a, b, s } = await cluster({ LEASE_TIME });
      for (const [i, [what, change]] of CHANGES.entries()) {
        await seen(a, 'd');
        // Half the changes after the lease (or the 1 s TTL) taken by that stat has ended.
        if (i % 2) await new Promise((r) => setTimeout(r, 1200));
        await change(a.path);
        for (const dir of ['d', 'e']) expect(await seen(a, dir), `${dir} after ${what}, LEASE_TIME ${LEASE_TIME}`).toBe(await truth(s, dir));
        // b, leasing, is recalled; without leases it may show the old ones for the TTL only.
        if (LEASE_TIME > 0) for (const dir of ['d', 'e']) expect(await seen(b, dir), `b: ${dir} after ${what}`).toBe(await truth(s, dir));
      }
      if (LEASE_TIME === 0) await noentrycacheWithoutLeases(a, b, s);
    }
  });

  it('a rename in a directory the mount holds whole keeps it whole: the new and old names are answered here, and right', async () => {
    const { c, a, b } = await cluster({});
    for (let i = 0; i < 10; i++) await (await open(join(a.path, `d/f${i}`), 'wx')).close();
    await readdir(join(a.path, 'd'));
    const before = await masterRequests(c.master, 'lookup');
    for (let i = 0; i < 10; i++) {
      await rename(join(a.path, `d/f${i}`), join(a.path, `d/g${i}`));
      expect((await lstat(join(a.path, `d/g${i}`))).isFile()).toBe(true);
      expect(await errno(lstat(join(a.path, `d/f${i}`)))).toBe('ENOENT');
      expect(await errno(lstat(join(a.path, `d/none${i}`)))).toBe('ENOENT');
    }
    // The negative lookups before each rename and after it, and the new names: all here.
    expect((await masterRequests(c.master, 'lookup')) - before).toBe(0);
    // b sees the same at once.
    expect((await readdir(join(b.path, 'd'))).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `g${i}`).sort());
    expect(await errno(lstat(join(b.path, 'd/f0')))).toBe('ENOENT');
    // Two names of one node: rename(2) leaves both (POSIX), here and on b.
    await link(join(a.path, 'd/g0'), join(a.path, 'd/h0'));
    await rename(join(a.path, 'd/g0'), join(a.path, 'd/h0'));
    for (const m of [a, b]) for (const n of ['g0', 'h0']) expect((await lstat(join(m.path, 'd', n))).nlink, `${n} on ${m === a ? 'a' : 'b'}`).toBe(2);
    // Over an existing name: the old node is gone, the new one there.
    const moved = (await lstat(join(a.path, 'd/g1'))).ino;
    await rename(join(a.path, 'd/g1'), join(a.path, 'd/g2'));
    for (const m of [a, b]) {
      expect((await lstat(join(m.path, 'd/g2'))).ino).toBe(moved);
      expect(await errno(lstat(join(m.path, 'd/g1')))).toBe('ENOENT');
    }
    // A directory moved to another: its '..' and its new name.
    await mkdir(join(a.path, 'd/s'));
    await rename(join(a.path, 'd/s'), join(a.path, 'e/s'));
    for (const m of [a, b]) {
      expect((await lstat(join(m.path, 'e/s/..'))).ino).toBe((await lstat(join(m.path, 'e'))).ino);
      expect(await errno(lstat(join(m.path, 'd/s')))).toBe('ENOENT');
    }
  });
});
