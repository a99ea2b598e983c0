/**
 * Metadata leases (issue 11, item 3; docs/mount.md, "Leases"), with a real master and two
 * real mounts: what one mount changes, the other shows as soon as the change returned,
 * although it answers lookups, negative lookups and getattrs itself while it holds leases.
 */
import * as fsp from 'node:fs/promises';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Cluster, Mount } from './fixture/cluster.js';
import { errno } from './fixture/errno.js';
import { until } from './fixture/poll.js';
import { masterRequests } from './fixture/prometheus-text.js';
import { sh, shOk } from './fixture/mount-shell.js';

async function counters(m: Mount): Promise<Map<string, number>> {
  const text = await readFile(join(m.path, '.stats'), 'utf8');
  return new Map(text.split('\n').filter((l) => l.includes(': ')).map((l) => [l.split(': ')[0]!, Number(l.split(': ')[1])]));
}

async function twoMounts(config: Record<string, number> = {}) {
  const c = await Cluster.create({ master: { config: { REPLICATIONS_DELAY_INIT: 0, ...config } } });
  await c.addChunkservers(1);
  const [a, b] = await Promise.all([c.mount(), c.mount()]);
  return { c, a, b };
}

describe('leases between two mounts', () => {
  it('a change through one mount shows on the other as soon as it returned; leased answers are local', async () => {
    const { a, b } = await twoMounts();
    await shOk(`mkdir ${a.path}/d && echo x > ${a.path}/d/f && chmod 644 ${a.path}/d/f`);
    // b reads: leased from here on.
    expect((await stat(join(b.path, 'd/f'))).mode & 0o777).toBe(0o644);
    expect(await errno(stat(join(b.path, 'd/none')))).toBe('ENOENT');
    const before = await counters(b);
    for (let i = 0; i < 20; i++) {
      expect((await stat(join(b.path, 'd/f'))).mode & 0o777).toBe(0o644);
      expect(await errno(stat(join(b.path, `d/none`)))).toBe('ENOENT');
    }
    const after = await counters(b);
    // The kernel keeps the leased entry and attributes; the negative lookups come to the
    // mount and are answered there (never by the master: lookups and getattrs at the
    // master would show in its counters, see the benchmark).
    expect((after.get('op_lookup_leased_missing') ?? 0) - (before.get('op_lookup_leased_missing') ?? 0)).toBe(20);

    // Files a made (open O_CREAT, close), one of them chmod-ed, and one it wrote: after the
    // kernel forgot them (drop_caches), a answers the lookups of those it only made itself,
    // with the attributes the master has — what b, which asks the master, shows (the
    // written one's new size and mtime too).
    // "t" is written as tar writes a file: data, then futimens, fchown and fchmod on the
    // open descriptor (the futimens ends the write first).
    const tarLike = `fd = os.open("t", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600); os.write(fd, b"x" * 6000); os.utime(fd, (1700000000, 1700000000)); os.fchown(fd, 0, 0); os.fchmod(fd, 0o640); os.close(fd)`;
    await shOk(`mkdir ${a.path}/made && cd ${a.path}/made && python3 -c 'import os; [os.close(os.open(n, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)) for n in ("e1", "e2", "e3")]; ${tarLike}' && echo data > w && chmod 600 e2`);
    await shOk('sync && echo 3 > /proc/sys/vm/drop_caches');
    const shown = async (m: Mount, name: string) => {
      const st = await stat(join(m.path, 'made', name));
      return { mode: st.mode, size: st.size, mtime: st.mtimeMs, ctime: st.ctimeMs, nlink: st.nlink, uid: st.uid };
    };
    const fromCache: string[] = [];
    for (const name of ['e1', 'e2', 'e3', 't', 'w']) {
      const c0 = (await counters(a)).get('op_lookup_cached') ?? 0;
      expect(await shown(a, name)).toEqual(await shown(b, name));
      if (((await counters(a)).get('op_lookup_cached') ?? 0) > c0) fromCache.push(name);
    }
    // From the cache, all of them: the files made and not written, those whose last change
    // here was a setattr (its answer is leased: e2's chmod, t's futimens, fchown and fchmod
    // after its data), and w, written last (its write's end answered with its attributes,
    // leased). Old main asked the master for e2 and t, and later for w.
    expect(fromCache).toEqual(['e1', 'e2', 'e3', 't', 'w']);
    // A setattr's leased answer is recalled like any other: b's chmod shows on a at once.
    await shOk(`chmod 604 ${b.path}/made/t`);
    expect(await shown(a, 't')).toEqual(await shown(b, 't'));
    expect((await stat(join(a.path, 'made/t'))).mode & 0o777).toBe(0o604);

    // attributes: chmod through a, at once on b
    await shOk(`chmod 600 ${a.path}/d/f`);
    expect((await stat(join(b.path, 'd/f'))).mode & 0o777).toBe(0o600);
    // a negative entry: created through a, at once on b
    await shOk(`echo y > ${a.path}/d/none`);
    expect((await stat(join(b.path, 'd/none'))).size).toBe(2);
    // a size change through a
    await shOk(`echo longer > ${a.path}/d/none`);
    expect((await stat(join(b.path, 'd/none'))).size).toBe(7);
    expect(await readFile(join(b.path, 'd/none'), 'utf8')).toBe('longer\n');
    // b writes a file (its location cache then holds the read grant its write's end
    // brought, with that length), a appends to it (the chunk keeps its version: the copies
    // b's grant lists still serve it): b reads what a appended, at once
    await shOk(`echo 0123456789abcdef > ${b.path}/d/w`);
    await shOk(`echo appended >> ${a.path}/d/w`);
    expect(await readFile(join(b.path, 'd/w'), 'utf8')).toBe('0123456789abcdef\nappended\n');
    // an xattr through a, on a file b holds leased as having none (answered locally till then)
    const xattr = (m: Mount, set?: string) =>
      sh(`python3 -c 'import os,sys; p=sys.argv[1]; ${set ? `os.setxattr(p, "user.k", b"${set}")` : 'print(os.getxattr(p, "user.k").decode())'}' ${m.path}/d/none`);
    expect((await xattr(b)).stderr).toContain('No data available');
    expect((await xattr(a, 'v1')).code).toBe(0);
    expect((await xattr(b)).stdout).toBe('v1\n');
    // unlink and rename through a
    await shOk(`rm ${a.path}/d/f`);
    expect(await errno(stat(join(b.path, 'd/f')))).toBe('ENOENT');
    await shOk(`mv ${a.path}/d/none ${a.path}/d/moved`);
    expect(await errno(stat(join(b.path, 'd/none')))).toBe('ENOENT');
    expect((await stat(join(b.path, 'd/moved'))).size).toBe(7);
    // and the other way round: b's changes at once on a
    await shOk(`mkdir ${b.path}/d/sub && touch ${b.path}/d/sub/x`);
    expect((await shOk(`ls ${a.path}/d/sub`))).toBe('x\n');
    expect((await counters(b)).get('op_lease_recall') ?? 0).toBeGreaterThan(0);
  });

  it("a mount's own writes and truncations recall none of its own leases, also where the master changes after an await", async () => {
    const { a } = await twoMounts();
    await shOk(`mkdir ${a.path}/own && echo 0123456789 > ${a.path}/own/f`);
    const before = (await counters(a)).get('op_lease_recall') ?? 0;
    // A new chunk's grant (writeChunk waits for the slot's lease, then allocates the chunk),
    // a rewrite, a cut within the chunk (setattr waits for the slot too), an extension.
    await shOk(`echo more >> ${a.path}/own/f && dd if=/dev/zero of=${a.path}/own/f bs=1 count=3 conv=notrunc status=none && truncate -s 5 ${a.path}/own/f && truncate -s 100000 ${a.path}/own/f`);
    expect((await stat(join(a.path, 'own/f'))).size).toBe(100000);
    expect(((await counters(a)).get('op_lease_recall') ?? 0) - before).toBe(0);
  });

  it('a file read again is read from the page cache while unchanged; a change through the other mount is read at the next open, also one that keeps its size and mtime, with and without leases', async () => {
    // Without leases no recall tells b: the version at the open (page-cache.ts) alone does.
    for (const config of [{}, { LEASE_TIME: 0 }] as Record<string, number>[]) {
      const { a, b } = await twoMounts(config);
      const f = (m: Mount) => join(m.path, 'pc');
      // READs b's kernel sent for the file: each look at .stats is a READ too, counted after its text is made.
      let looks = 0;
      const reads = async () => ((await counters(b)).get('op_read') ?? 0) - looks++;
      await fsp.writeFile(f(a), Buffer.alloc(10_000, 1));
      await fsp.utimes(f(a), 1_700_000_000, 1_700_000_000);
      expect((await readFile(f(b))).equals(Buffer.alloc(10_000, 1))).toBe(true);
      const first = await reads();
      for (let i = 0; i < 5; i++) expect((await readFile(f(b))).equals(Buffer.alloc(10_000, 1))).toBe(true);
      expect(await reads(), JSON.stringify(config)).toBe(first);
      // Rewritten through a with the same size, its mtime then set back as tar and cp -p do:
      // only the ctime tells (a version of mtime and size would keep b's pages).
      await fsp.writeFile(f(a), Buffer.alloc(10_000, 2));
      await fsp.utimes(f(a), 1_700_000_000, 1_700_000_000);
      expect((await stat(f(b))).mtimeMs).toBe(1_700_000_000_000);
      expect((await readFile(f(b))).equals(Buffer.alloc(10_000, 2)), JSON.stringify(config)).toBe(true);
      expect(await reads()).toBeGreaterThan(first);
      // b's own rewrite is read back from its pages under a lease (written through, and no
      // other client's change came in between), from the chunkservers without one; a sees it.
      const beforeOwn = await reads();
      await fsp.writeFile(f(b), Buffer.alloc(8192, 3));
      expect((await readFile(f(b))).equals(Buffer.alloc(8192, 3))).toBe(true);
      if ('LEASE_TIME' in config) expect(await reads()).toBeGreaterThan(beforeOwn);
      else expect(await reads()).toBe(beforeOwn);
      expect((await readFile(f(a))).equals(Buffer.alloc(8192, 3))).toBe(true);
      // ... and what a changed after b's write is read again by b, the size and mtime kept.
      await fsp.writeFile(f(a), Buffer.alloc(8192, 4));
      await fsp.utimes(f(a), 1_700_000_000, 1_700_000_000);
      await fsp.utimes(f(b), 1_700_000_000, 1_700_000_000);
      expect((await readFile(f(b))).equals(Buffer.alloc(8192, 4)), JSON.stringify(config)).toBe(true);
      // a rewrites the file while b holds it open for writing; b then writes one byte and
      // closes: b's pages are not the file (a's bytes are not in them), whatever b's write's
      // end answers. Without leases nothing tells b, and b must not take its pages as current.
      const held = await fsp.open(f(b), 'r+');
      try {
        await fsp.writeFile(f(a), Buffer.alloc(8192, 5));
        await held.write(Buffer.from([6]), 0, 1, 0);
      } finally {
        await held.close();
      }
      const seen = await readFile(f(b));
      expect([seen[0], seen[1], seen[8191], seen.length], JSON.stringify(config)).toEqual([6, 5, 5, 8192]);
    }
  });

  it('negative lookup on one mount, then a create on the other: the name is there at once', async () => {
    const { a, b } = await twoMounts();
    for (let i = 0; i < 30; i++) {
      expect((await sh(`test -e ${a.path}/n${i}`)).code).toBe(1);
      await shOk(`touch ${b.path}/n${i}`);
      expect((await sh(`test -e ${a.path}/n${i}`)).code).toBe(0);
      await shOk(`rm ${a.path}/n${i}`);
      expect((await sh(`test -e ${b.path}/n${i}`)).code).toBe(1);
    }
  });

  it('a directory listed again under its lease is listed by the mount; another mount\'s changes show in the next listing at once', async () => {
    // A long lease: the repeated listings below stay in its first half however slow the machine.
    const { a, b } = await twoMounts({ LEASE_TIME: 120 });
    await shOk(`mkdir -p ${a.path}/t/x ${a.path}/t/y && echo 1 > ${a.path}/t/x/f && echo 22 > ${a.path}/t/x/h && echo 333 > ${a.path}/t/y/g && ln -s f ${a.path}/t/x/l`);
    // Everything an application sees in a listing: names, types, modes, links, owners, sizes, times.
    const listing = (m: Mount) => shOk(`cd ${m.path} && ls -lnRa --time-style=+%s.%N t && ls -lnRa --time-style=+%s.%N -u t && ls -lnRa --time-style=+%s.%N -c t`);
    const leased = async (m: Mount) => (await counters(m)).get('op_opendir_leased') ?? 0;
    expect(await listing(b)).toBe(await listing(a));
    const before = await leased(b);
    for (let i = 0; i < 3; i++) expect(await listing(b)).toBe(await listing(a));
    // 3 directories, each listed by 3 ls per round: none of those 27 opendirs asked the master.
    expect((await leased(b)) - before).toBe(27);
    const changes = [
      `touch ${a.path}/t/x/new`,
      `chmod 600 ${a.path}/t/x/f`,
      `echo more >> ${a.path}/t/x/h`,
      `rm ${a.path}/t/y/g`,
      `mv ${a.path}/t/x/f ${a.path}/t/y/f2`,
      `mkdir ${a.path}/t/x/sub`,
      `ln ${a.path}/t/x/h ${a.path}/t/y/h2`,
      `touch -d @1000000000 ${a.path}/t/x/sub`,
      `rmdir ${a.path}/t/x/sub`,
    ];
    for (const change of changes) {
      await shOk(change);
      expect(await listing(b), `after ${change}`).toBe(await listing(a));
    }
    // b's own changes: its leased listings show them too.
    await shOk(`echo four > ${b.path}/t/y/b && chmod 751 ${b.path}/t/y`);
    expect(await listing(b)).toBe(await listing(a));
    const again = await leased(b);
    expect(await listing(b)).toBe(await listing(a));
    expect((await leased(b)) - again).toBeGreaterThan(0);
  });

  it('leases live as long as the session renews them: answered by the mount long past LEASE_TIME, and another mount\'s change still shows at once', { timeout: 120_000 }, async () => {
    const LEASE_S = 2;
    const { c, a, b } = await twoMounts({ LEASE_TIME: LEASE_S });
    await shOk(`mkdir ${a.path}/d && echo x > ${a.path}/d/f && chmod 644 ${a.path}/d/f`);
    expect((await stat(join(b.path, 'd/f'))).mode & 0o777).toBe(0o644);
    expect(await errno(stat(join(b.path, 'd/none')))).toBe('ENOENT');
    // Three lease times with nothing asked; then the kernels forget everything.
    const renewals = (await counters(b)).get('op_lease_renewals') ?? 0;
    await new Promise((r) => setTimeout(r, 3 * LEASE_S * 1000));
    await shOk('sync && echo 3 > /proc/sys/vm/drop_caches');
    const lookups = await masterRequests(c.master, 'lookup');
    const getattrs = await masterRequests(c.master, 'getattr');
    const before = await counters(b);
    expect((await stat(join(b.path, 'd/f'))).mode & 0o777).toBe(0o644);
    expect(await errno(stat(join(b.path, 'd/none')))).toBe('ENOENT');
    const after = await counters(b);
    // d, d/f and d/none answered by b from its leases; the master was asked nothing but renewals.
    expect(await masterRequests(c.master, 'lookup')).toBe(lookups);
    expect(await masterRequests(c.master, 'getattr')).toBe(getattrs);
    expect((after.get('op_lookup_cached') ?? 0) - (before.get('op_lookup_cached') ?? 0)).toBe(2);
    expect((after.get('op_lookup_leased_missing') ?? 0) - (before.get('op_lookup_leased_missing') ?? 0)).toBe(1);
    expect((before.get('op_lease_renewals') ?? 0) - renewals).toBeGreaterThanOrEqual(3);
    // Leases kept alive are recalled as any: a's changes show on b at once.
    await shOk(`chmod 600 ${a.path}/d/f && echo y > ${a.path}/d/none`);
    expect((await stat(join(b.path, 'd/f'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(b.path, 'd/none'), 'utf8')).toBe('y\n');
  });

  it('a file read again is opened by the mount from the open its close left held; a change or removal elsewhere lets it go', { timeout: 120_000 }, async () => {
    const { c, a, b } = await twoMounts();
    const meta = await c.session({ meta: true });
    const sustained = async () => (await meta.sustainedList()).map((e) => e.inode);
    // No trash: a removed file still open somewhere is sustained.
    const s = await c.session();
    await s.settrashtime(s.root, 0);
    s.close();
    await shOk(`echo one > ${a.path}/f && echo two > ${a.path}/g`);
    expect(await readFile(join(b.path, 'f'), 'utf8')).toBe('one\n');
    expect(await readFile(join(b.path, 'g'), 'utf8')).toBe('two\n');
    const opens = await masterRequests(c.master, 'open');
    const held = (await counters(b)).get('op_open_held') ?? 0;
    for (let i = 0; i < 3; i++) expect(await readFile(join(b.path, 'f'), 'utf8')).toBe('one\n');
    // Three opens answered by b, none asked of the master.
    expect((await counters(b)).get('op_open_held')! - held).toBe(3);
    expect(await masterRequests(c.master, 'open')).toBe(opens);
    // A change through a: b's next open is the master's, and reads what a wrote.
    await shOk(`echo changed > ${a.path}/f`);
    expect(await readFile(join(b.path, 'f'), 'utf8')).toBe('changed\n');
    expect(await masterRequests(c.master, 'open')).toBeGreaterThan(opens);
    // a removes g, which b holds open: b lets go and the file is not kept (sustained) for b.
    const gInode = (await stat(join(a.path, 'g'))).ino;
    await shOk(`rm ${a.path}/g`);
    await until('g purged', async () => ((await sustained()).includes(gInode) ? undefined : true));
    expect(await errno(readFile(join(b.path, 'g'), 'utf8'))).toBe('ENOENT');
    // b removes f itself: its held open goes first, nothing is kept either.
    const fInode = (await stat(join(b.path, 'f'))).ino;
    expect(await readFile(join(b.path, 'f'), 'utf8')).toBe('changed\n');
    await shOk(`rm ${b.path}/f`);
    expect(await sustained()).not.toContain(fInode);
    meta.close();
  });

  it('a holder that never answers (SIGSTOP) delays another mount\'s change until its lease ended, no longer', { timeout: 120_000 }, async () => {
    const LEASE_S = 3;
    const { a, b } = await twoMounts({ LEASE_TIME: LEASE_S });
    /**
     * b takes a lease on `name` (a stat, which shows `size`), is stopped, a runs `change`: it may not return
     * before b's lease ended (b's kernel could still answer the old state until then),
     * and is not held past it by much (a bound for a loaded machine, not a timing figure).
     */
    const changeWhileStopped = async (name: string, size: number, change: string): Promise<void> => {
      const leaseAsked = performance.now();
      expect((await stat(join(b.path, name))).size).toBe(size);
      process.kill(b.pid, 'SIGSTOP');
      let took: number;
      let started: number;
      try {
        started = performance.now();
        await shOk(change);
        took = performance.now() - started;
      } finally {
        process.kill(b.pid, 'SIGCONT');
      }
      expect(started + took).toBeGreaterThanOrEqual(leaseAsked + LEASE_S * 1000);
      expect(took).toBeLessThan(LEASE_S * 1000 + 20_000);
    };
    await shOk(`echo x > ${a.path}/f`);
    await changeWhileStopped('f', 2, `chmod 600 ${a.path}/f`);
    // b, running again, shows the change.
    expect((await stat(join(b.path, 'f'))).mode & 0o777).toBe(0o600);
    // The same for a change the master makes after an await: a truncation within a chunk
    // waits for the slot's write lease first (the request's context must reach it there).
    await shOk(`echo 0123456789 > ${a.path}/g`);
    await changeWhileStopped('g', 11, `truncate -s 4 ${a.path}/g`);
    expect((await stat(join(b.path, 'g'))).size).toBe(4);
    expect(await readFile(join(b.path, 'g'), 'utf8')).toBe('0123');
  });

  it('two mounts observe the same after every step of a random sequence (sizes, errno, modes, times)', { timeout: 600_000 }, async () => {
    const { a, b } = await twoMounts();
    const NAMES = ['p', 'q', 'd', 'd/p', 'd/q'];
    const name = fc.constantFrom(...NAMES);
    type Step =
      | { op: 'write'; p: string; length: number; fill: number }
      | { op: 'retouch'; p: string; fill: number }
      | { op: 'unlink' | 'mkdir' | 'rmdir' | 'stat'; p: string }
      | { op: 'rename' | 'link'; p: string; q: string }
      | { op: 'chmod'; p: string; mode: number }
      | { op: 'utimes'; p: string; sec: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ op: fc.constant('write' as const), p: name, length: fc.integer({ min: 0, max: 5000 }), fill: fc.integer({ min: 0, max: 255 }) }),
      // New bytes, same size, the mtime set back (tar, cp -p): only the ctime shows the change.
      fc.record({ op: fc.constant('retouch' as const), p: name, fill: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constantFrom('unlink' as const, 'mkdir' as const, 'rmdir' as const, 'stat' as const), p: name }),
      fc.record({ op: fc.constantFrom('rename' as const, 'link' as const), p: name, q: name }),
      fc.record({ op: fc.constant('chmod' as const), p: name, mode: fc.constantFrom(0o600, 0o755, 0o444) }),
      fc.record({ op: fc.constant('utimes' as const), p: name, sec: fc.integer({ min: 1, max: 2_000_000_000 }) }),
    );
    const run = async (root: string, s: Step): Promise<string> => {
      const p = join(root, s.p);
      try {
        switch (s.op) {
          case 'write':
            await fsp.writeFile(p, Buffer.alloc(s.length, s.fill));
            break;
          case 'retouch': {
            const st = await fsp.stat(p);
            if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
            await fsp.writeFile(p, Buffer.alloc(st.size, s.fill));
            await fsp.utimes(p, st.atime, st.mtime);
            break;
          }
          case 'unlink':
            await fsp.unlink(p);
            break;
          case 'mkdir':
            await fsp.mkdir(p);
            break;
          case 'rmdir':
            await fsp.rmdir(p);
            break;
          case 'stat':
            await fsp.stat(p);
            break;
          case 'rename':
            await fsp.rename(p, join(root, s.q));
            break;
          case 'link':
            await fsp.link(p, join(root, s.q));
            break;
          case 'chmod':
            await fsp.chmod(p, s.mode);
            break;
          case 'utimes':
            await fsp.utimes(p, s.sec, s.sec);
            break;
        }
        return 'ok';
      } catch (err) {
        return (err as NodeJS.ErrnoException).code ?? String(err);
      }
    };
    const observe = async (root: string): Promise<string[]> => {
      const out: string[] = [];
      for (const n of NAMES) {
        try {
          const st = await fsp.lstat(join(root, n));
          out.push(`${n}: ${st.mode.toString(8)} n${st.nlink} ${st.isDirectory() ? '-' : st.size} m${st.mtimeMs} c${st.ctimeMs} a${st.atimeMs}`);
        } catch (err) {
          out.push(`${n}: ${(err as NodeJS.ErrnoException).code}`);
        }
      }
      for (const d of ['', 'd']) {
        try {
          out.push(`ls ${d}: ${(await fsp.readdir(join(root, d))).filter((x) => !x.startsWith('.')).sort().join(',')}`);
        } catch (err) {
          out.push(`ls ${d}: ${(err as NodeJS.ErrnoException).code}`);
        }
      }
      return out;
    };
    const contents = async (root: string): Promise<string[]> => {
      const out: string[] = [];
      for (const n of NAMES) {
        try {
          const data = await fsp.readFile(join(root, n));
          out.push(`${n}: ${data.length} ${[...new Set(data)].join(',')}`);
        } catch (err) {
          out.push(`${n}: ${(err as NodeJS.ErrnoException).code}`);
        }
      }
      return out;
    };
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.boolean(), step), { minLength: 5, maxLength: 25 }), async (steps) => {
        // Each run starts from an empty root, cleared through one mount and seen so by both.
        await shOk(`rm -rf ${a.path}/p ${a.path}/q ${a.path}/d`);
        for (const [onA, s] of steps) {
          await run((onA ? a : b).path, s);
          const [seenA, seenB] = await Promise.all([observe(a.path), observe(b.path)]);
          expect(seenB, `after ${JSON.stringify(s)} on ${onA ? 'a' : 'b'}`).toEqual(seenA);
          // The bytes, read after the attributes (a read may move atime): each mount reads
          // what the other wrote, whatever pages its kernel kept (page-cache.ts).
          const bytesA = await contents(a.path);
          expect(await contents(b.path), `bytes after ${JSON.stringify(s)} on ${onA ? 'a' : 'b'}`).toEqual(bytesA);
        }
        round++;
      }),
      { numRuns: 25, seed: 11_3 },
    );
    expect(round).toBe(25);
  });
});
