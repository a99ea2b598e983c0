import type { Attr } from '@tsmfs/protocol';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type KernelForget, LeaseCache } from './lease-cache.js';

const T = { sec: 0, nsec: 0 };
const attr = (inode: number): Attr => ({ inode, type: 'file', mode: 0o644, uid: 0, gid: 0, atime: T, mtime: T, ctime: T, nlink: 1, size: 0, rdev: 0, goal: 1, trashtime: 0, noXattrs: true });
const LEASE_MS = 1000;

describe("the mount's leases share one term (docs/mount.md, \"Leases\")", () => {
  it('every lease lasts while answers renew the term; a term that ended voids them all, and a later answer brings none back', async () => {
    const c = new LeaseCache();
    c.putEntry(1, 'f', 11, c.ticket(LEASE_MS), {});
    c.putAttr(attr(11), c.ticket(LEASE_MS));
    for (let i = 0; i < 4; i++) {
      await sleep(LEASE_MS / 4);
      expect(c.renewed(c.ticket(LEASE_MS))).toBe(true);
    }
    // Past the lease time of every grant, still answered.
    expect(c.entry(1, 'f')).toEqual(attr(11));
    expect(c.hasNoXattrs(11)).toBe(true);
    expect(c.attrSec(11)).toBeGreaterThan(0);
    await sleep(LEASE_MS + 20);
    expect(c.renewed(c.ticket(LEASE_MS))).toBe(true);
    expect(c.entry(1, 'f')).toBeUndefined();
    expect(c.attr(11)).toBeUndefined();
    expect(c.hasNoXattrs(11)).toBe(false);
    expect(c.empty).toBe(true);
  });

  it('what the mount drops or was granted without keeping is released, unless granted again; a release makes answers on their way unleased', () => {
    const c = new LeaseCache();
    const t = c.ticket(LEASE_MS);
    c.putAttr(attr(11), t);
    c.putAttr(attr(12), t);
    c.putEntry(2, 'x', null, t, {});
    c.dropAttr(11);
    c.dropAttr(12);
    c.putAttr(attr(12), c.ticket(LEASE_MS));
    // 11 and its "no xattrs" are let go when both are; 12 was granted again.
    expect(c.takeReleases(100)).toBeUndefined();
    c.dropNoXattrs(11);
    const onTheWay = c.ticket(LEASE_MS);
    expect(c.takeReleases(100)).toEqual({ dirs: [], inodes: [11] });
    c.putAttr(attr(13), onTheWay);
    expect(c.attr(13)).toBeUndefined();
    // …and that unleased answer's grant is given back in turn.
    expect(c.takeReleases(100)).toEqual({ dirs: [], inodes: [13] });
    expect(c.takeReleases(100)).toBeUndefined();
    // A recalled lease is the master's no more: nothing to release.
    c.dropAttr(12);
    c.recall([], [12]);
    expect(c.takeReleases(100)).toBeUndefined();
  });

  it('past its bound the oldest leases are evicted: forgotten (onEvict) before their release', async () => {
    const c = new LeaseCache();
    const forgotten: KernelForget[] = [];
    let forgetDone = false;
    c.onEvict = async (f) => {
      forgotten.push(f);
      await sleep(10);
      forgetDone = true;
    };
    const t = c.ticket(10_000);
    for (let i = 1; i <= 100_000; i++) c.putAttr({ ...attr(i), noXattrs: false }, t);
    // 1 answered again: now the most recent.
    c.putAttr({ ...attr(1), noXattrs: false }, t);
    c.putAttr({ ...attr(100_001), noXattrs: false }, t);
    expect(forgotten).toHaveLength(1);
    expect(forgotten[0]!.inodes).toHaveLength(6250);
    expect(forgotten[0]!.inodes[0]).toBe(2);
    expect(c.attr(2)).toBeUndefined();
    expect(c.attr(1)).toBeDefined();
    expect(c.attr(100_001)).toBeDefined();
    // Not released while their forgetting is under way.
    expect(c.takeReleases(100_000)).toBeUndefined();
    await c.evicted();
    expect(forgetDone).toBe(true);
    expect(c.takeReleases(100_000)?.inodes).toEqual(forgotten[0]!.inodes);
  });

  it('past a million names in leased directories, the oldest directories are let go', async () => {
    const c = new LeaseCache();
    const evicted: KernelForget[] = [];
    c.onEvict = async (f) => void evicted.push(f);
    const t = c.ticket(10_000);
    // 11 directories of 100,000 names each: the 11th passes the bound, the first goes.
    for (let dir = 1; dir <= 11; dir++) for (let i = 0; i < 100_000; i++) c.putEntry(dir, `n${i}`, null, t, {});
    expect(evicted).toHaveLength(1);
    expect(c.entry(1, 'n5')).toBeUndefined();
    expect(c.entry(2, 'n5')).toBeNull();
    expect(c.entry(11, 'n99999')).toBeNull();
    await c.evicted();
    expect(c.takeReleases(100)).toEqual({ dirs: [1], inodes: [] });
  });
});
