import { type Attr, EATTR } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { entryTimeout, namesUncachedIn } from './eattr-caching.js';
import { MetadataCache } from './metadata-cache.js';

const T = { sec: 0, nsec: 0 };
function attr(inode: number, type: Attr['type'], eattr?: number): Attr {
  const a: Attr = { inode, type, mode: 0o755, uid: 0, gid: 0, atime: T, mtime: T, ctime: T, nlink: 1, size: 0, rdev: 0, goal: 1, trashtime: 0 };
  return eattr === undefined ? a : { ...a, eattr };
}

const D = 10;
const flaggedDir = attr(D, 'dir', EATTR.noentrycache);
const plainDir = attr(D, 'dir', EATTR.noattrcache);
const file = attr(11, 'file', EATTR.noentrycache | EATTR.noattrcache);

describe("noentrycache: the kernel's timeout for a name is its directory's decision (MooseFS's meaning)", () => {
  it('a name in a flagged directory gets 0, whatever its own flags; elsewhere the time asked', () => {
    expect(entryTimeout(true, 7)).toBe(0);
    expect(entryTimeout(false, 7)).toBe(7);
    expect(namesUncachedIn(flaggedDir)).toBe(true);
    expect(namesUncachedIn(plainDir)).toBe(false);
    expect(namesUncachedIn(attr(D, 'dir'))).toBe(false);
    expect(namesUncachedIn(undefined)).toBe(false);
  });

  it("under leases, the lease on the directory's names knows it from the lookup or listing that granted it, until a recall", () => {
    const c = new MetadataCache({ attrSec: 1, entrySec: 1 }, () => 10_000);
    c.putEntry(D, 'f', file, c.ticket(), { withAttr: true, renews: true, uncached: true });
    expect(c.entry(D, 'f')).toEqual(file);
    expect(c.namesUncached(D)).toBe(true);
    // Renewed by a lookup answered after the flag was cleared (a recall came between).
    c.leases.recall([D], [D]);
    expect(c.entry(D, 'f')).toBeUndefined();
    c.putEntry(D, 'f', file, c.ticket(), { withAttr: true, renews: true, uncached: false });
    expect(c.namesUncached(D)).toBe(false);
    // A listing says it for the whole directory.
    c.leases.recall([D], [D]);
    c.leases.putComplete(D, c.ticket(), { uncached: true });
    expect(c.entry(D, 'other')).toBeNull();
    expect(c.namesUncached(D)).toBe(true);
  });

  it('a lease begun by a negative lookup (whose error says nothing) goes by the directory\'s leased attributes, and by neither: not kept', () => {
    const c = new MetadataCache({ attrSec: 1, entrySec: 1 }, () => 10_000);
    c.putMissing(D, 'nope', c.ticket());
    expect(c.entry(D, 'nope')).toBeNull();
    expect(c.namesUncached(D)).toBe(true);
    c.putAttr(plainDir, c.ticket());
    expect(c.namesUncached(D)).toBe(false);
    c.putAttr(flaggedDir, c.ticket());
    expect(c.namesUncached(D)).toBe(true);
    // A create joining the lease does not change what it knows.
    c.putEntry(D, 'new', file, c.ticket(), { withAttr: true, renews: false, uncached: false });
    expect(c.leases.namesUncached(D)).toBeUndefined();
  });

  it('without leases a flagged directory\'s names are not kept by the mount either (another client\'s change is seen at the next lookup); others are, for the TTL', () => {
    const c = new MetadataCache({ attrSec: 1, entrySec: 1 });
    c.putEntry(D, 'f', file, c.ticket(), { withAttr: true, renews: true, uncached: true });
    expect(c.entry(D, 'f')).toBeUndefined();
    expect(c.attr(file.inode)).toEqual(file);
    c.putEntry(12, 'f', file, c.ticket(), { withAttr: true, renews: true, uncached: false });
    expect(c.entry(12, 'f')).toEqual(file);
    expect(c.namesUncached(12)).toBe(false);
  });
});

describe('what a leased answer says of xattrs, without its attributes (a write end while the file is still written)', () => {
  it('renews "no xattrs" without caching the attributes; a recall, a ticket older than a recall, or xattrs present drop it; nothing without leases', () => {
    const c = new MetadataCache({ attrSec: 1, entrySec: 1 }, () => 10_000);
    const f = { ...attr(20, 'file'), noXattrs: true };
    c.putNoXattrs(f, c.ticket());
    expect(c.leases.hasNoXattrs(20)).toBe(true);
    expect(c.attr(20)).toBeUndefined();
    // An answer asked for before a recall may predate the setxattr the recall was for.
    const old = c.ticket();
    c.leases.recall([], [20]);
    expect(c.leases.hasNoXattrs(20)).toBe(false);
    c.putNoXattrs(f, old);
    expect(c.leases.hasNoXattrs(20)).toBe(false);
    c.putNoXattrs(f, c.ticket());
    expect(c.leases.hasNoXattrs(20)).toBe(true);
    // An answer that says the file has xattrs now.
    c.putNoXattrs({ ...f, noXattrs: undefined }, c.ticket());
    expect(c.leases.hasNoXattrs(20)).toBe(false);

    const ttl = new MetadataCache({ attrSec: 1, entrySec: 1 }, () => 0);
    ttl.putNoXattrs(f, ttl.ticket());
    expect(ttl.leases.hasNoXattrs(20)).toBe(false);
  });
});
