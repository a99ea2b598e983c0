import { CHUNK_SIZE, EATTR, O_APPEND, O_RDONLY, O_TRUNC, O_WRONLY, eattrText } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { applyMutation } from './apply.js';
import { decodeDump, encodeDump } from './metadata-dump.js';
import { createEmptyMetadata } from './metadata.js';
import { ALICE, BOB, ROOT, errnoOf, freshLive } from './namespace-ops.test-helpers.js';
import { canonicalState } from './state-digest.js';

const { noowner, noattrcache, noentrycache, snapshot, undeletable, appendonly, immutable } = EATTR;

function setup() {
  const live = freshLive(false);
  const { ns, md } = live;
  ns.setattr({ cred: ROOT, inode: 1, mode: 0o777 });
  const mkfile = (parent: number, name: string, cred = ROOT, mode = 0o666) => ns.mknod({ cred, parent, name, type: 'file', mode, umask: 0, rdev: 0 }).attr.inode;
  const mkdir = (parent: number, name: string, cred = ROOT, mode = 0o777) => ns.mkdir({ cred, parent, name, mode, umask: 0 }).attr.inode;
  const set = (inode: number, bits: number, cred = ROOT, recursive = false, admin = true) => ns.eattrs.seteattr({ cred, inode, set: bits, clear: 0, recursive }, admin);
  const clear = (inode: number, bits: number) => ns.eattrs.seteattr({ cred: ROOT, inode, set: 0, clear: bits, recursive: false }, true);
  const replayEqualsLive = () => {
    const fresh = createEmptyMetadata({ sec: 1_700_000_000, nsec: 0 });
    for (const m of live.log) applyMutation(fresh, structuredClone(m));
    expect(canonicalState(fresh)).toEqual(canonicalState(md));
    expect(canonicalState(decodeDump(encodeDump(md)))).toEqual(canonicalState(md));
  };
  return { ns, md, mkfile, mkdir, set, clear, replayEqualsLive };
}

describe('seteattr: who may set what (MooseFS: owner or root; undeletable, appendonly, immutable root on an admin session)', () => {
  it('the owner sets the plain flags, another user may not (EPERM), nor the owner the admin-only ones', () => {
    const { ns, md, mkfile, set, replayEqualsLive } = setup();
    const f = mkfile(1, 'f', ALICE);
    expect(set(f, noowner | noattrcache, ALICE)).toEqual({ changed: 1, notChanged: 0, denied: 0 });
    expect(md.attr(f).eattr).toBe(noowner | noattrcache);
    expect(errnoOf(() => set(f, snapshot, BOB))).toBe('EPERM');
    expect(errnoOf(() => set(f, undeletable, ALICE))).toBe('EPERM');
    expect(errnoOf(() => set(f, immutable, ROOT, false, false))).toBe('EPERM');
    expect(set(f, immutable)).toEqual({ changed: 1, notChanged: 0, denied: 0 });
    expect(set(f, immutable)).toEqual({ changed: 0, notChanged: 1, denied: 0 });
    expect(eattrText(md.eattr[f]!)).toBe('noowner,noattrcache,immutable');
    expect(eattrText(0)).toBe('-');
    // deleattr of a flag it does not have changes nothing
    expect(ns.eattrs.seteattr({ cred: ALICE, inode: f, set: 0, clear: snapshot, recursive: false }, false)).toEqual({ changed: 0, notChanged: 1, denied: 0 });
    replayEqualsLive();
  });

  it('-r counts changed / not changed / denied as mfsseteattr -r does', () => {
    const { md, mkfile, mkdir, set, replayEqualsLive } = setup();
    const d = mkdir(1, 'd', ALICE);
    mkfile(d, 'mine', ALICE);
    mkfile(d, 'his', BOB);
    expect(set(d, noowner, ALICE, true)).toEqual({ changed: 2, notChanged: 0, denied: 1 });
    expect(md.eattr[md.lookup(d, 'his')!]).toBe(0);
    expect(set(d, noowner, ROOT, true)).toEqual({ changed: 1, notChanged: 2, denied: 0 });
    replayEqualsLive();
  });

  it('a new node inherits its directory\'s noowner and cache flags, never the admin-only ones nor snapshot', () => {
    const { md, mkfile, mkdir, set } = setup();
    const d = mkdir(1, 'd');
    set(d, noowner | noattrcache | snapshot | undeletable | appendonly);
    const f = mkfile(d, 'f');
    expect(md.eattr[f]).toBe(noowner | noattrcache);
  });
});

describe('noentrycache (MooseFS: a directory\'s, for the names in it)', () => {
  it('is kept on directories only: set on a file it is not changed (-r counts files as not changed), and only subdirectories inherit it', () => {
    const { md, mkfile, mkdir, set, replayEqualsLive } = setup();
    const d = mkdir(1, 'd');
    const old = mkfile(d, 'old');
    expect(set(old, noentrycache)).toEqual({ changed: 0, notChanged: 1, denied: 0 });
    expect(set(old, noentrycache | noattrcache)).toEqual({ changed: 1, notChanged: 0, denied: 0 });
    expect(md.eattr[old]).toBe(noattrcache);
    expect(set(d, noentrycache, ROOT, true)).toEqual({ changed: 1, notChanged: 1, denied: 0 });
    expect(md.eattr[d]).toBe(noentrycache);
    expect(md.eattr[mkfile(d, 'f')]).toBe(0);
    expect(md.eattr[mkdir(d, 'sub')]).toBe(noentrycache);
    replayEqualsLive();
  });

  it('a lookup in, and a listing of, a flagged directory say so; not the lookup of its own name', () => {
    const { ns, mkfile, mkdir, set } = setup();
    const d = mkdir(1, 'd');
    mkfile(d, 'f');
    set(d, noentrycache);
    const read = (dir: number) => ns.readdir({ cred: ROOT, inode: dir, cookie: 0, max: 100, withAttrs: true }).noEntryCache;
    expect(ns.lookup({ cred: ROOT, parent: d, name: 'f' }).noEntryCache).toBe(true);
    expect(ns.lookup({ cred: ROOT, parent: 1, name: 'd' }).noEntryCache).toBeUndefined();
    expect([read(d), read(1)]).toEqual([true, undefined]);
  });
});

describe('undeletable', () => {
  it('refuses unlink, rmdir, rename away and rename over (EPERM); writing stays allowed', () => {
    const { ns, mkfile, mkdir, set, clear, replayEqualsLive } = setup();
    const f = mkfile(1, 'f');
    const d = mkdir(1, 'd');
    mkfile(1, 'other');
    set(f, undeletable);
    set(d, undeletable);
    expect(errnoOf(() => ns.unlink({ cred: ROOT, parent: 1, name: 'f' }))).toBe('EPERM');
    expect(errnoOf(() => ns.rmdir({ cred: ROOT, parent: 1, name: 'd' }))).toBe('EPERM');
    expect(errnoOf(() => ns.rename({ cred: ROOT, parent: 1, name: 'f', newParent: 1, newName: 'g', flags: 0 }))).toBe('EPERM');
    expect(errnoOf(() => ns.rename({ cred: ROOT, parent: 1, name: 'other', newParent: 1, newName: 'f', flags: 0 }))).toBe('EPERM');
    expect(errnoOf(() => ns.open({ cred: ROOT, inode: f, flags: O_WRONLY | O_TRUNC }))).toBe('ok');
    expect(errnoOf(() => ns.setattr({ cred: ROOT, inode: f, mode: 0o600 }))).toBe('ok');
    clear(f, undeletable);
    expect(errnoOf(() => ns.unlink({ cred: ROOT, parent: 1, name: 'f' }))).toBe('ok');
    replayEqualsLive();
  });
});

describe('immutable', () => {
  it('refuses every change of the node: open for writing, write grants, setattr, link, unlink, rename, xattrs', () => {
    const { ns, md, mkfile, set } = setup();
    const f = mkfile(1, 'f');
    ns.writeChunk({ cred: ROOT, inode: f, index: 0 });
    set(f, immutable);
    expect(errnoOf(() => ns.open({ cred: ROOT, inode: f, flags: O_RDONLY }))).toBe('ok');
    for (const flags of [O_WRONLY, O_WRONLY | O_APPEND, O_RDONLY | O_TRUNC]) expect(errnoOf(() => ns.open({ cred: ROOT, inode: f, flags }))).toBe('EPERM');
    expect(errnoOf(() => ns.writeChunk({ cred: ROOT, inode: f, index: 0 }))).toBe('EPERM');
    expect(errnoOf(() => ns.setattr({ cred: ROOT, inode: f, size: 0 }))).toBe('EPERM');
    expect(errnoOf(() => ns.setattr({ cred: ROOT, inode: f, mode: 0o600 }))).toBe('EPERM');
    expect(errnoOf(() => ns.setattr({ cred: ROOT, inode: f, mtimeNow: true, atimeNow: true }))).toBe('EPERM');
    expect(errnoOf(() => ns.link({ cred: ROOT, inode: f, parent: 1, name: 'g' }))).toBe('EPERM');
    expect(errnoOf(() => ns.unlink({ cred: ROOT, parent: 1, name: 'f' }))).toBe('EPERM');
    expect(errnoOf(() => ns.rename({ cred: ROOT, parent: 1, name: 'f', newParent: 1, newName: 'g', flags: 0 }))).toBe('EPERM');
    expect(errnoOf(() => ns.setxattr({ cred: ROOT, inode: f, name: 'user.x', value: new Uint8Array(1), flags: 0 }))).toBe('EPERM');
    expect(errnoOf(() => ns.appendChunks({ cred: ROOT, inode: f, src: mkfile(1, 'src') }))).toBe('EPERM');
    expect(md.attr(f).mode).toBe(0o666);
  });

  it('an immutable directory takes no new name and loses none (EPERM before EACCES)', () => {
    const { ns, mkfile, mkdir, set } = setup();
    const d = mkdir(1, 'd', ROOT, 0o755);
    mkfile(d, 'in');
    set(d, immutable);
    expect(errnoOf(() => ns.mknod({ cred: ALICE, parent: d, name: 'x', type: 'file', mode: 0o644, umask: 0, rdev: 0 }))).toBe('EPERM');
    expect(errnoOf(() => ns.mkdir({ cred: ROOT, parent: d, name: 'x', mode: 0o755, umask: 0 }))).toBe('EPERM');
    expect(errnoOf(() => ns.unlink({ cred: ROOT, parent: d, name: 'in' }))).toBe('EPERM');
    mkfile(1, 'out');
    expect(errnoOf(() => ns.rename({ cred: ROOT, parent: 1, name: 'out', newParent: d, newName: 'out', flags: 0 }))).toBe('EPERM');
  });
});

describe('appendonly', () => {
  it('opens for writing only with O_APPEND, never truncates, grants no chunk wholly before the last', () => {
    const { ns, mkfile, set, replayEqualsLive } = setup();
    const f = mkfile(1, 'f');
    const g = ns.writeChunk({ cred: ROOT, inode: f, index: 1 });
    ns.writeChunkEnd({ inode: f, index: 1, chunkId: g.chunkId, length: CHUNK_SIZE + 10, ok: true });
    set(f, appendonly);
    expect(errnoOf(() => ns.open({ cred: ROOT, inode: f, flags: O_WRONLY }))).toBe('EPERM');
    expect(errnoOf(() => ns.open({ cred: ROOT, inode: f, flags: O_WRONLY | O_APPEND | O_TRUNC }))).toBe('EPERM');
    expect(errnoOf(() => ns.open({ cred: ROOT, inode: f, flags: O_WRONLY | O_APPEND }))).toBe('ok');
    expect(errnoOf(() => ns.setattr({ cred: ROOT, inode: f, size: 5 }))).toBe('EPERM');
    expect(errnoOf(() => ns.setattr({ cred: ROOT, inode: f, size: 3 * CHUNK_SIZE }))).toBe('EPERM');
    expect(errnoOf(() => ns.setattr({ cred: ROOT, inode: f, mode: 0o600 }))).toBe('EPERM');
    expect(errnoOf(() => ns.writeChunk({ cred: ROOT, inode: f, index: 0 }))).toBe('EPERM');
    expect(errnoOf(() => ns.writeChunk({ cred: ROOT, inode: f, index: 1 }))).toBe('ok');
    expect(errnoOf(() => ns.writeChunk({ cred: ROOT, inode: f, index: 2 }))).toBe('ok');
    expect(errnoOf(() => ns.appendChunks({ cred: ROOT, inode: f, src: mkfile(1, 'src') }))).toBe('ok');
    // A touch (times set to now) is allowed, as on ext4.
    expect(errnoOf(() => ns.setattr({ cred: ROOT, inode: f, atimeNow: true, mtimeNow: true }))).toBe('ok');
    expect(errnoOf(() => ns.unlink({ cred: ROOT, parent: 1, name: 'f' }))).toBe('EPERM');
    replayEqualsLive();
  });

  it('an append-only directory takes new names but loses none', () => {
    const { ns, mkfile, mkdir, set } = setup();
    const d = mkdir(1, 'd');
    mkfile(d, 'old');
    set(d, appendonly);
    expect(errnoOf(() => mkfile(d, 'new'))).toBe('ok');
    expect(errnoOf(() => ns.unlink({ cred: ROOT, parent: d, name: 'old' }))).toBe('EPERM');
  });
});

describe('noowner', () => {
  it('everyone has the owner\'s rights on the node (MooseFS), root sees the real owner in the attributes', () => {
    const { ns, md, mkfile, set } = setup();
    const f = mkfile(1, 'f', ALICE, 0o600);
    expect(errnoOf(() => ns.open({ cred: BOB, inode: f, flags: O_WRONLY }))).toBe('EACCES');
    set(f, noowner, ALICE);
    expect(errnoOf(() => ns.open({ cred: BOB, inode: f, flags: O_WRONLY }))).toBe('ok');
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: f, mode: 0o640 }))).toBe('ok');
    expect(md.attr(f)).toMatchObject({ uid: ALICE.uid, eattr: noowner });
  });
});

describe('snapshot flag and rmsnapshot', () => {
  function tree() {
    const s = setup();
    const src = s.mkdir(1, 'src');
    s.mkfile(src, 'a');
    s.mkdir(src, 'sub', ROOT, 0o755);
    s.mkfile(s.md.lookup(src, 'sub')!, 'b');
    s.ns.snapshot({ cred: ROOT, inode: src, parent: 1, name: 'snap', overwrite: false });
    return { ...s, snap: s.md.lookup(1, 'snap')! };
  }

  it('makesnapshot marks every copy; the source is not marked, nor what is made in the snapshot later (as MooseFS 3.0)', () => {
    const { md, mkfile, snap } = tree();
    expect(md.eattr[snap]).toBe(snapshot);
    expect(md.eattr[md.lookup(snap, 'a')!]).toBe(snapshot);
    expect(md.eattr[md.lookup(1, 'src')!]).toBe(0);
    expect(md.eattr[mkfile(snap, 'later')]).toBe(0);
  });

  it('rmsnapshot removes a whole snapshot tree; refuses (EPERM, nothing removed) one with an unmarked node, which -f leaves', () => {
    const { ns, md, snap, clear, replayEqualsLive } = tree();
    const a = md.lookup(snap, 'a')!;
    clear(a, snapshot);
    expect(errnoOf(() => ns.eattrs.rmsnapshot({ cred: ROOT, parent: 1, name: 'snap', force: false }))).toBe('EPERM');
    expect(md.lookup(md.lookup(snap, 'sub')!, 'b')).toBeDefined();
    expect(ns.eattrs.rmsnapshot({ cred: ROOT, parent: 1, name: 'snap', force: true })).toEqual({ removed: 2, kept: 2 });
    expect([...md.children.get(snap)!.keys()]).toEqual(['a']);
    // Its names changed: snap is no longer the snapshot's (as in MooseFS 3.0), refused, and -f keeps it.
    expect(md.eattr[snap]! & snapshot).toBe(0);
    ns.unlink({ cred: ROOT, parent: snap, name: 'a' });
    expect(errnoOf(() => ns.eattrs.rmsnapshot({ cred: ROOT, parent: 1, name: 'snap', force: false }))).toBe('EPERM');
    expect(ns.eattrs.rmsnapshot({ cred: ROOT, parent: 1, name: 'snap', force: true })).toEqual({ removed: 0, kept: 1 });
    expect(md.lookup(1, 'snap')).toBe(snap);
    expect(errnoOf(() => ns.eattrs.rmsnapshot({ cred: ROOT, parent: 1, name: 'src', force: false }))).toBe('EPERM');
    replayEqualsLive();
  });

  it('rmsnapshot checks each removal as rm -r would: another user removes nothing from a tree it may not write', () => {
    const { ns, md, snap } = tree();
    ns.setattr({ cred: ROOT, inode: snap, mode: 0o755 });
    expect(errnoOf(() => ns.eattrs.rmsnapshot({ cred: BOB, parent: 1, name: 'snap', force: false }))).toBe('EACCES');
    expect(md.lookup(snap, 'a')).toBeDefined();
  });
});
