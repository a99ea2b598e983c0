import { CHUNK_SIZE } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { applyMutation } from './apply.js';
import { INODE_REUSE_DELAY, createEmptyMetadata } from './metadata.js';
import { ALICE, BOB, ROOT, freshLive, resolve, errnoOf } from './namespace-ops.test-helpers.js';
import { O_TRUNC, O_WRONLY } from '@tsmfs/protocol';
import { MetadataBrokenError } from './metadata-broken-error.js';
import { Namespace } from './namespace.js';
import { canonicalState } from './state-digest.js';

function setup() {
  const live = freshLive(false);
  const { ns } = live;
  // A world-writable root so that every user can create there.
  ns.setattr({ cred: ROOT, inode: 1, mode: 0o777 });
  const mkfile = (parent: number, name: string, cred = ROOT, mode = 0o644) =>
    ns.mknod({ cred, parent, name, type: 'file', mode, umask: 0, rdev: 0 }).attr.inode;
  const mkdir = (parent: number, name: string, cred = ROOT, mode = 0o755) =>
    ns.mkdir({ cred, parent, name, mode, umask: 0 }).attr.inode;
  const write = (inode: number, index: number, length: number, cred = ROOT) => {
    const g = ns.writeChunk({ cred, inode, index });
    ns.writeChunkEnd({ inode, index, chunkId: g.chunkId, length, ok: true });
    return g;
  };
  /** Replay of everything the sink got must give the live state. */
  const replayEqualsLive = () => {
    const md = createEmptyMetadata({ sec: 1_700_000_000, nsec: 0 });
    for (const m of live.log) applyMutation(md, structuredClone(m));
    expect(canonicalState(md)).toEqual(canonicalState(live.md));
  };
  return { live, ns, md: live.md, mkfile, mkdir, write, replayEqualsLive };
}

describe('empty file system', () => {
  it('has root 1, mode 0755, owned by root, goal 1, trashtime 86400', () => {
    const md = createEmptyMetadata({ sec: 10, nsec: 20 });
    expect(md.attr(1)).toMatchObject({ inode: 1, type: 'dir', mode: 0o755, uid: 0, gid: 0, nlink: 2, goal: 1, trashtime: 86_400 });
    expect(md.version).toBe(0);
  });
});

describe('names', () => {
  it('ENAMETOOLONG counts UTF-8 bytes, not characters', () => {
    const { ns } = setup();
    const ok = 'é'.repeat(127); // 254 bytes
    const tooLong = 'é'.repeat(128); // 256 bytes
    expect(errnoOf(() => ns.mkdir({ cred: ROOT, parent: 1, name: ok, mode: 0o755, umask: 0 }))).toBe('ok');
    expect(errnoOf(() => ns.mkdir({ cred: ROOT, parent: 1, name: tooLong, mode: 0o755, umask: 0 }))).toBe('ENAMETOOLONG');
    expect(errnoOf(() => ns.lookup({ cred: ROOT, parent: 1, name: tooLong }))).toBe('ENAMETOOLONG');
  });

  it('refuses names no kernel sends: empty (ENOENT), with / or NUL (EINVAL)', () => {
    const { ns, mkfile } = setup();
    mkfile(1, 'f');
    expect(errnoOf(() => ns.mkdir({ cred: ROOT, parent: 1, name: '', mode: 0o755, umask: 0 }))).toBe('ENOENT');
    expect(errnoOf(() => ns.mkdir({ cred: ROOT, parent: 1, name: 'a/b', mode: 0o755, umask: 0 }))).toBe('EINVAL');
    expect(errnoOf(() => ns.rename({ cred: ROOT, parent: 1, name: 'f', newParent: 1, newName: 'x\0', flags: 0 }))).toBe('EINVAL');
    expect(errnoOf(() => ns.snapshot({ cred: ROOT, inode: 1, parent: 1, name: '', overwrite: false }))).toBe('ENOENT');
  });

  it('lookup of . and .. works; mkdir of them is EEXIST', () => {
    const { ns, mkdir } = setup();
    const d = mkdir(1, 'd');
    expect(ns.lookup({ cred: ROOT, parent: d, name: '..' }).attr.inode).toBe(1);
    expect(ns.lookup({ cred: ROOT, parent: d, name: '.' }).attr.inode).toBe(d);
    expect(errnoOf(() => ns.mkdir({ cred: ROOT, parent: d, name: '..', mode: 0o755, umask: 0 }))).toBe('EEXIST');
  });

  it('ENOTDIR for a file used as a parent; EISDIR unlinking a dir; ENOTDIR rmdir of a file', () => {
    const { ns, mkfile, mkdir } = setup();
    const f = mkfile(1, 'f');
    mkdir(1, 'd');
    expect(errnoOf(() => ns.lookup({ cred: ROOT, parent: f, name: 'x' }))).toBe('ENOTDIR');
    expect(errnoOf(() => ns.unlink({ cred: ROOT, parent: 1, name: 'd' }))).toBe('EISDIR');
    expect(errnoOf(() => ns.rmdir({ cred: ROOT, parent: 1, name: 'f' }))).toBe('ENOTDIR');
  });

  it('symlink keeps its target, size is its byte length', () => {
    const { ns } = setup();
    const attr = ns.symlink({ cred: ROOT, parent: 1, name: 'l', target: 'ü/x' }).attr;
    expect(attr.size).toBe(4);
    expect(attr.mode).toBe(0o777);
    expect(ns.readlink({ inode: attr.inode }).target).toBe('ü/x');
    expect(errnoOf(() => ns.symlink({ cred: ROOT, parent: 1, name: 'm', target: '' }))).toBe('ENOENT');
  });

  it('mknod of devices needs root; fifo and socket do not', () => {
    const { ns, mkdir } = setup();
    const d = mkdir(1, 'd', ROOT, 0o777);
    const mk = (type: 'fifo' | 'socket' | 'chardev' | 'blockdev', cred = ALICE) =>
      errnoOf(() => ns.mknod({ cred, parent: d, name: type, type, mode: 0o644, umask: 0o022, rdev: 0x0103 }));
    expect(mk('fifo')).toBe('ok');
    expect(mk('socket')).toBe('ok');
    expect(mk('chardev')).toBe('EPERM');
    expect(mk('blockdev', ROOT)).toBe('ok');
    expect(ns.lookup({ cred: ROOT, parent: d, name: 'blockdev' }).attr.rdev).toBe(0x0103);
  });
});

describe('readdir', () => {
  it('pages by position cookie, without . and .., optionally with attrs', () => {
    const { ns, mkfile } = setup();
    for (let i = 0; i < 25; i++) mkfile(1, `f${i}`);
    const seen: string[] = [];
    let cookie = 0;
    for (;;) {
      const page = ns.readdir({ cred: ROOT, inode: 1, cookie, max: 10, withAttrs: true });
      seen.push(...page.entries.map((e) => e.name));
      expect(page.entries.every((e) => e.attr?.inode === e.inode)).toBe(true);
      cookie = page.cookie;
      if (page.eof) break;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `f${i}`));
    expect(ns.readdir({ cred: ROOT, inode: 1, cookie: 100, max: 10, withAttrs: false })).toEqual({ entries: [], cookie: 100, eof: true });
  });

  it('a reader paging through while entries are removed sees every remaining entry once', () => {
    const { ns, mkfile } = setup();
    for (let i = 0; i < 30; i++) mkfile(1, `f${i}`);
    const seen: string[] = [];
    let page = ns.readdir({ cred: ROOT, inode: 1, cookie: 0, max: 10, withAttrs: false });
    for (;;) {
      seen.push(...page.entries.map((e) => e.name));
      // rm -r style: remove what was read before asking for more.
      for (const e of page.entries) ns.unlink({ cred: ROOT, parent: 1, name: e.name });
      if (page.eof) break;
      page = ns.readdir({ cred: ROOT, inode: 1, cookie: page.cookie, max: 10, withAttrs: false });
    }
    expect(seen).toHaveLength(30);
    expect(ns.readdir({ cred: ROOT, inode: 1, cookie: 0, max: 10, withAttrs: false }).entries).toEqual([]);
  });

  it('needs read permission on the directory', () => {
    const { ns, mkdir } = setup();
    const d = mkdir(1, 'd', ROOT, 0o711);
    expect(errnoOf(() => ns.readdir({ cred: ALICE, inode: d, cookie: 0, max: 10, withAttrs: false }))).toBe('EACCES');
  });
});

describe('access and open', () => {
  it('access masks; root gets x only when some x bit is set', () => {
    const { ns, mkfile } = setup();
    const f = mkfile(1, 'f', ROOT, 0o640);
    expect(errnoOf(() => ns.access({ cred: ROOT, inode: f, mask: 1 }))).toBe('EACCES');
    expect(errnoOf(() => ns.access({ cred: ROOT, inode: f, mask: 6 }))).toBe('ok');
    expect(errnoOf(() => ns.access({ cred: ALICE, inode: f, mask: 0 }))).toBe('ok');
    expect(errnoOf(() => ns.access({ cred: ALICE, inode: f, mask: 4 }))).toBe('EACCES');
    ns.setattr({ cred: ROOT, inode: f, mode: 0o641 });
    expect(errnoOf(() => ns.access({ cred: ROOT, inode: f, mask: 1 }))).toBe('ok');
  });

  it('open checks O_ACCMODE, O_TRUNC truncates and needs write, a dir cannot be opened for writing', () => {
    const { ns, mkfile, write, md } = setup();
    const f = mkfile(1, 'f', ALICE, 0o644);
    write(f, 0, 1000, ALICE);
    expect(errnoOf(() => ns.open({ cred: BOB, inode: f, flags: O_WRONLY }))).toBe('EACCES');
    expect(errnoOf(() => ns.open({ cred: BOB, inode: f, flags: O_TRUNC }))).toBe('EACCES');
    expect(errnoOf(() => ns.open({ cred: BOB, inode: f, flags: 0 }))).toBe('ok');
    expect(errnoOf(() => ns.open({ cred: ROOT, inode: 1, flags: O_WRONLY }))).toBe('EISDIR');
    const chunk = md.chunkAt(f, 0);
    expect(ns.open({ cred: ALICE, inode: f, flags: O_WRONLY | O_TRUNC }).attr.size).toBe(0);
    expect(md.chunkAt(f, 0)).toBe(0);
    expect(md.chunks.toDelete).toEqual([chunk]);
  });
});

describe('setattr', () => {
  it('utimens: explicit times need owner or root (EPERM), "now" is enough with write permission', () => {
    const { ns, mkfile, md } = setup();
    const f = mkfile(1, 'f', ALICE, 0o666);
    const t = { sec: 12345, nsec: 678 };
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: f, mtime: t }))).toBe('EPERM');
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: f, atimeNow: true, mtimeNow: true }))).toBe('ok');
    ns.setattr({ cred: ROOT, inode: f, mode: 0o644 });
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: f, mtimeNow: true }))).toBe('EACCES');
    ns.setattr({ cred: ALICE, inode: f, atime: t, mtime: t });
    expect(md.attr(f).mtime).toEqual(t);
    expect(md.attr(f).atime).toEqual(t);
  });

  it('truncate moves mtime only when the length changes (ext4); ctime always', () => {
    const { ns, mkfile, md } = setup();
    const f = mkfile(1, 'f');
    const before = md.attr(f);
    ns.setattr({ cred: ROOT, inode: f, size: 0 });
    expect(md.attr(f).mtime).toEqual(before.mtime);
    expect(md.attr(f).ctime).not.toEqual(before.ctime);
    ns.setattr({ cred: ROOT, inode: f, size: 5 });
    expect(md.attr(f).mtime).not.toEqual(before.mtime);
  });

  it('a write by non-root drops setuid (and setgid with group x)', () => {
    const { ns, mkfile, write, md } = setup();
    const f = mkfile(1, 'f', ALICE, 0o6775);
    write(f, 0, 10, ROOT);
    expect(md.mode[f]).toBe(0o6775);
    write(f, 0, 10, ALICE);
    expect(md.mode[f]).toBe(0o775);
    expect(ns.getattr({ inode: f }).attr.mode).toBe(0o775);
  });

  it("a non-owner's mode change that only clears setuid/setgid is the kernel's kill-priv notice: allowed to a writer", () => {
    const { ns, mkfile, md } = setup();
    const mode = (inode: number) => md.mode[inode]!.toString(8);
    // root's files, group 3000 (bob is in it) or 0 (he is not); bob may write them all.
    const file = (name: string, m: number, gid: number) => {
      const f = mkfile(1, name);
      ns.setattr({ cred: ROOT, inode: f, gid, mode: m });
      return f;
    };
    const suid = file('suid', 0o4777, 0);
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: suid, mode: 0o777, killPrivNotice: true }))).toBe('ok');
    expect(mode(suid)).toBe('777');
    // A notice follows the FUSE kernel's rule (setgid only when group-executable); the master
    // leaves what a write leaves on ext4: setgid goes for a writer outside the group too.
    const outside = file('outside', 0o6767, 0);
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: outside, mode: 0o2767, killPrivNotice: true }))).toBe('ok');
    expect(mode(outside)).toBe('767');
    const member = file('member', 0o6767, 3000);
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: member, mode: 0o2767, killPrivNotice: true }))).toBe('ok');
    expect(mode(member)).toBe('2767');
    // Not a notice: a bit a write keeps, a bit added, nothing cleared, another change.
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: member, mode: 0o767, killPrivNotice: true }))).toBe('EPERM');
    const sgidx = file('sgidx', 0o2777, 0);
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: sgidx, mode: 0o3777, killPrivNotice: true }))).toBe('EPERM');
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: sgidx, mode: 0o2777, killPrivNotice: true }))).toBe('EPERM');
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: sgidx, mode: 0o775, killPrivNotice: true }))).toBe('EPERM');
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: sgidx, mode: 0o777, uid: 1001, killPrivNotice: true }))).toBe('EPERM');
    expect(mode(sgidx)).toBe('2777');
    // Only from someone who may write it, and only on a regular file.
    const readonly = file('readonly', 0o4755, 0);
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: readonly, mode: 0o755, killPrivNotice: true }))).toBe('EPERM');
    const dir = ns.mkdir({ cred: ROOT, parent: 1, name: 'd', mode: 0o777, umask: 0 }).attr.inode;
    ns.setattr({ cred: ROOT, inode: dir, mode: 0o2777 });
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: dir, mode: 0o777, killPrivNotice: true }))).toBe('EPERM');
    expect(mode(readonly) + ' ' + mode(dir)).toBe('4755 2777');
  });

  it("the same mode change without the mount's kill-priv mark is a chmod(2): EPERM for a non-owner, as on ext4", () => {
    const { ns, mkfile, md } = setup();
    // Found by namespace.kernel.test (seed 1469451069): bob's chmod 01777 of root's
    // world-writable 03777 file only clears setgid, as a notice would, but ext4 refuses it.
    const f = mkfile(1, 'f');
    ns.setattr({ cred: ROOT, inode: f, mode: 0o3777 });
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: f, mode: 0o1777 }))).toBe('EPERM');
    const suid = mkfile(1, 'suid');
    ns.setattr({ cred: ROOT, inode: suid, mode: 0o4777 });
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: suid, mode: 0o777 }))).toBe('EPERM');
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: suid, size: 1, mode: 0o777 }))).toBe('EPERM');
    expect([md.mode[f], md.mode[suid], md.attr(suid).size]).toEqual([0o3777, 0o4777, 0]);
  });

  it('truncate by a non-owner with the kill-priv notice: one change, size and mode as on ext4', () => {
    const { ns, mkfile, md } = setup();
    const f = mkfile(1, 'f');
    ns.setattr({ cred: ROOT, inode: f, mode: 0o6777 });
    const before = ns.md.version;
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: f, size: 3, mode: 0o777, killPrivNotice: true }))).toBe('ok');
    expect([md.attr(f).size, md.mode[f]]).toEqual([3, 0o777]);
    expect(ns.md.version).toBe(before + 1);
    // Without write permission the size check answers first, as in Linux.
    ns.setattr({ cred: ROOT, inode: f, mode: 0o6755 });
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: f, size: 0, mode: 0o755, killPrivNotice: true }))).toBe('EACCES');
  });

  it('a size change through a descriptor open for writing needs no write permission (ftruncate)', () => {
    const { ns, md } = setup();
    for (const mode of [0, 0o444]) {
      const { attr } = ns.mknod({ cred: BOB, parent: 1, name: `n${mode}`, type: 'file', mode, umask: 0, rdev: 0, open: 0o102 });
      expect(errnoOf(() => ns.setattr({ cred: BOB, inode: attr.inode, size: 0 }))).toBe('EACCES');
      expect(errnoOf(() => ns.setattr({ cred: BOB, inode: attr.inode, size: 7, viaWritableHandle: true }))).toBe('ok');
      expect(md.attr(attr.inode).size).toBe(7);
      // The descriptor allows the size, not anything else.
      expect(errnoOf(() => ns.setattr({ cred: ALICE, inode: attr.inode, size: 1, viaWritableHandle: true, mtime: { sec: 1, nsec: 0 } }))).toBe('EPERM');
    }
    // A non-owner's ftruncate of a setuid file it opened for writing, since made read-only.
    const f = ns.mknod({ cred: ROOT, parent: 1, name: 'suid', type: 'file', mode: 0o4666, umask: 0, rdev: 0 }).attr.inode;
    ns.setattr({ cred: ROOT, inode: f, mode: 0o4644 });
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: f, size: 0, mode: 0o644, killPrivNotice: true }))).toBe('EACCES');
    expect(errnoOf(() => ns.setattr({ cred: BOB, inode: f, size: 0, mode: 0o644, killPrivNotice: true, viaWritableHandle: true }))).toBe('ok');
    expect(md.mode[f]).toBe(0o644);
  });
});

describe('hard links', () => {
  it('count links across directories and survive the removal of other names', () => {
    const { ns, mkfile, mkdir, md, replayEqualsLive } = setup();
    const a = mkdir(1, 'a');
    const b = mkdir(1, 'b');
    const f = mkfile(a, 'f');
    ns.link({ cred: ROOT, inode: f, parent: b, name: 'g' });
    ns.link({ cred: ROOT, inode: f, parent: a, name: 'h' });
    expect(md.attr(f).nlink).toBe(3);
    ns.unlink({ cred: ROOT, parent: a, name: 'f' });
    ns.rename({ cred: ROOT, parent: b, name: 'g', newParent: a, newName: 'h', flags: 0 }); // same inode: nothing happens
    expect(md.attr(f).nlink).toBe(2);
    expect(md.lookup(b, 'g')).toBe(f);
    expect(errnoOf(() => ns.rmdir({ cred: ROOT, parent: 1, name: 'b' }))).toBe('ENOTEMPTY');
    replayEqualsLive();
  });
});

describe('trash and sustained files', () => {
  it('unlinking the last link with trashtime > 0 keeps the file in trash, listed with its path', () => {
    const { ns, mkdir, mkfile, write, md, replayEqualsLive } = setup();
    const d = mkdir(1, 'd');
    const f = mkfile(d, 'f');
    write(f, 0, 1234);
    ns.unlink({ cred: ROOT, parent: d, name: 'f' });
    const [entry] = ns.trashList().entries;
    expect(entry).toMatchObject({ inode: f, path: '/d/f', size: 1234 });
    expect(ns.statfs().trashSpace).toBe(1234);
    expect(md.exists(f)).toBe(true);
    ns.trashUndelete({ inode: f });
    expect(md.lookup(d, 'f')).toBe(f);
    expect(md.attr(f).nlink).toBe(1);
    expect(ns.trashList().entries).toEqual([]);
    replayEqualsLive();
  });

  it('undelete: ENOENT when the original directory is gone, EEXIST when the name is taken', () => {
    const { ns, mkdir, mkfile } = setup();
    const d = mkdir(1, 'd');
    const f = mkfile(d, 'f');
    const g = mkfile(d, 'g');
    ns.unlink({ cred: ROOT, parent: d, name: 'f' });
    mkfile(d, 'f');
    expect(errnoOf(() => ns.trashUndelete({ inode: f }))).toBe('EEXIST');
    ns.unlink({ cred: ROOT, parent: d, name: 'g' });
    ns.unlink({ cred: ROOT, parent: d, name: 'f' });
    ns.rmdir({ cred: ROOT, parent: 1, name: 'd' });
    expect(errnoOf(() => ns.trashUndelete({ inode: g }))).toBe('ENOENT');
  });

  it('expired trash is found by time and purged; chunks lose their reference', () => {
    const { ns, mkfile, write, md, live, replayEqualsLive } = setup();
    ns.settrashtime({ cred: ROOT, inode: 1, trashtime: 60, mode: 'set', recursive: false });
    const f = mkfile(1, 'f');
    const chunk = write(f, 0, 10).chunkId;
    ns.unlink({ cred: ROOT, parent: 1, name: 'f' });
    expect(ns.expiredTrash(live.clock.sec + 10)).toEqual([]);
    expect(ns.expiredTrash(live.clock.sec + 61)).toEqual([f]);
    ns.purge(f);
    expect(md.exists(f)).toBe(false);
    expect(md.chunks.has(chunk)).toBe(false);
    expect(md.chunks.toDelete).toContain(chunk);
    replayEqualsLive();
  });

  it('trashtime 0 and still open: sustained until the last release', () => {
    const { ns, mkfile, md, live, replayEqualsLive } = setup();
    ns.settrashtime({ cred: ROOT, inode: 1, trashtime: 0, mode: 'set', recursive: false });
    const f = mkfile(1, 'f');
    ns.open({ cred: ROOT, inode: f, flags: 0 });
    ns.open({ cred: ROOT, inode: f, flags: 0 });
    ns.unlink({ cred: ROOT, parent: 1, name: 'f' });
    expect(ns.sustainedList().entries.map((e) => e.inode)).toEqual([f]);
    expect(ns.getattr({ inode: f }).attr.nlink).toBe(0);
    ns.release({ inode: f });
    expect(md.exists(f)).toBe(true);
    ns.release({ inode: f });
    expect(md.exists(f)).toBe(false);
    expect(live.log.at(-1)).toMatchObject({ op: 'purge', inode: f });
    replayEqualsLive();
  });

  it('mknod with open: made and opened at once, even a mode its creator could not open (O_CREAT)', () => {
    const { ns, md, live, replayEqualsLive } = setup();
    ns.settrashtime({ cred: ROOT, inode: 1, trashtime: 0, mode: 'set', recursive: false });
    const home = ns.mkdir({ cred: ROOT, parent: 1, name: 'home', mode: 0o777, umask: 0 }).attr.inode;
    const r = ns.mknod({ cred: ALICE, parent: home, name: 'ro', type: 'file', mode: 0o444, umask: 0, rdev: 0, open: O_WRONLY | O_TRUNC });
    expect(r.opened).toBe(true);
    const f = r.attr.inode;
    expect(ns.opens(f)).toBe(1);
    expect(errnoOf(() => ns.open({ cred: ALICE, inode: f, flags: O_WRONLY }))).toBe('EACCES');
    const entries = live.log.length;
    expect(live.log.at(-1)).toMatchObject({ op: 'create', inode: f });
    ns.unlink({ cred: ALICE, parent: home, name: 'ro' });
    expect(md.sustained.has(f)).toBe(true);
    ns.release({ inode: f });
    expect(md.exists(f)).toBe(false);
    expect(live.log.length).toBe(entries + 2);
    expect(ns.mknod({ cred: ROOT, parent: 1, name: 'plain', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).opened).toBeUndefined();
    replayEqualsLive();
  });

  it('sustained files nobody has open any more (after a restart) can be purged at once', () => {
    const { ns, mkfile, md, live } = setup();
    ns.settrashtime({ cred: ROOT, inode: 1, trashtime: 0, mode: 'set', recursive: false });
    const f = mkfile(1, 'f');
    const g = mkfile(1, 'g');
    ns.open({ cred: ROOT, inode: f, flags: 0 });
    ns.open({ cred: ROOT, inode: g, flags: 0 });
    ns.unlink({ cred: ROOT, parent: 1, name: 'f' });
    ns.unlink({ cred: ROOT, parent: 1, name: 'g' });
    const restarted = new Namespace(md, (m) => live.log.push(m), live.clock.read);
    restarted.open({ cred: ROOT, inode: g, flags: 0 });
    expect(restarted.purgeUnopenedSustained()).toBe(1);
    expect(md.exists(f)).toBe(false);
    expect(md.sustained.has(g)).toBe(true);
  });

  it('a trashed file purged while open becomes sustained', () => {
    const { ns, mkfile, md } = setup();
    const f = mkfile(1, 'f');
    ns.open({ cred: ROOT, inode: f, flags: 0 });
    ns.unlink({ cred: ROOT, parent: 1, name: 'f' });
    ns.trashPurge({ inode: f });
    expect(md.sustained.has(f)).toBe(true);
    ns.release({ inode: f });
    expect(md.exists(f)).toBe(false);
  });

  it('rename over the last link of a file sends the replaced file to trash', () => {
    const { ns, mkfile } = setup();
    mkfile(1, 'a');
    const b = mkfile(1, 'b');
    ns.rename({ cred: ROOT, parent: 1, name: 'a', newParent: 1, newName: 'b', flags: 0 });
    expect(ns.trashList().entries.map((e) => [e.inode, e.path])).toEqual([[b, '/b']]);
  });
});

describe('inode ids', () => {
  it('are reused only after INODE_REUSE_DELAY seconds, oldest first', () => {
    const { ns, mkfile, live } = setup();
    ns.settrashtime({ cred: ROOT, inode: 1, trashtime: 0, mode: 'set', recursive: false });
    const a = mkfile(1, 'a');
    ns.unlink({ cred: ROOT, parent: 1, name: 'a' });
    const b = mkfile(1, 'b');
    expect(b).not.toBe(a);
    live.clock.sec += INODE_REUSE_DELAY;
    expect(mkfile(1, 'c')).toBe(a);
    expect(mkfile(1, 'd')).toBe(b + 1);
  });
});

describe('goal and trashtime', () => {
  it('inherit from the parent at creation', () => {
    const { ns, mkdir, mkfile, md } = setup();
    const d = mkdir(1, 'd');
    ns.setgoal({ cred: ROOT, inode: d, goal: 3, mode: 'set', recursive: false });
    ns.settrashtime({ cred: ROOT, inode: d, trashtime: 7, mode: 'set', recursive: false });
    const f = mkfile(d, 'f');
    expect(md.attr(f)).toMatchObject({ goal: 3, trashtime: 7 });
  });

  it('recursive set counts changed / notChanged / denied; histograms by value', () => {
    const { ns, mkdir, mkfile } = setup();
    const d = mkdir(1, 'd', ROOT, 0o777);
    mkfile(d, 'a', ALICE);
    mkfile(d, 'b', BOB);
    const e = mkdir(d, 'e', ALICE);
    mkfile(e, 'c', ALICE);
    expect(ns.setgoal({ cred: ALICE, inode: d, goal: 2, mode: 'set', recursive: true })).toEqual({ changed: 3, notChanged: 0, denied: 2 });
    expect(ns.setgoal({ cred: ROOT, inode: d, goal: 2, mode: 'increase', recursive: true })).toEqual({ changed: 2, notChanged: 3, denied: 0 });
    expect(ns.setgoal({ cred: ROOT, inode: e, goal: 1, mode: 'decrease', recursive: true })).toEqual({ changed: 2, notChanged: 0, denied: 0 });
    expect(ns.getgoal({ inode: d, recursive: true }).histogram).toEqual([
      { value: 1, files: 1, dirs: 1 },
      { value: 2, files: 2, dirs: 1 },
    ]);
    expect(ns.gettrashtime({ inode: d, recursive: false }).histogram).toEqual([{ value: 86_400, files: 0, dirs: 1 }]);
    expect(errnoOf(() => ns.setgoal({ cred: ROOT, inode: d, goal: 10, mode: 'set', recursive: false }))).toBe('EINVAL');
    expect(errnoOf(() => ns.setgoal({ cred: BOB, inode: e, goal: 3, mode: 'set', recursive: false }))).toBe('EPERM');
  });
});

describe('snapshots and chunks', () => {
  it('a snapshot shares chunks; the first write after it copies on write', () => {
    const { ns, mkdir, mkfile, write, md, replayEqualsLive } = setup();
    const d = mkdir(1, 'd');
    const f = mkfile(d, 'f');
    const g1 = write(f, 0, 100);
    write(f, 1, CHUNK_SIZE + 10);
    const snap = ns.snapshot({ cred: ROOT, inode: d, parent: 1, name: 's', overwrite: false }).attr.inode;
    const copy = md.lookup(snap, 'f')!;
    expect(md.chunkEntries(copy)).toEqual(md.chunkEntries(f));
    expect(md.chunks.refcount[g1.chunkId]).toBe(2);
    expect(md.attr(copy).size).toBe(CHUNK_SIZE + 10);
    const g2 = ns.writeChunk({ cred: ROOT, inode: copy, index: 0 });
    expect(g2.chunkId).not.toBe(g1.chunkId);
    expect(md.chunks.cowSource.get(g2.chunkId)).toBe(g1.chunkId);
    expect(md.chunks.refcount[g1.chunkId]).toBe(1);
    // Not shared any more: the next lease bumps the version.
    const g3 = ns.writeChunk({ cred: ROOT, inode: f, index: 0 });
    expect(g3).toMatchObject({ chunkId: g1.chunkId, version: g1.version + 1 });
    expect(ns.readChunk({ inode: f, index: 0 })).toMatchObject({ chunkId: g1.chunkId, version: g1.version + 1, locations: [] });
    expect(ns.readChunk({ inode: f, index: 7 })).toMatchObject({ chunkId: 0 });
    replayEqualsLive();
  });

  it('EEXIST without overwrite; overwrite merges dirs and replaces file contents; EINVAL into itself', () => {
    const { ns, mkdir, mkfile, write, md, replayEqualsLive } = setup();
    const d = mkdir(1, 'd');
    const f = mkfile(d, 'f');
    write(f, 0, 100);
    const t = mkdir(1, 't');
    const old = mkfile(t, 'f');
    write(old, 0, 5);
    mkfile(t, 'keep');
    expect(errnoOf(() => ns.snapshot({ cred: ROOT, inode: d, parent: 1, name: 't', overwrite: false }))).toBe('EEXIST');
    expect(errnoOf(() => ns.snapshot({ cred: ROOT, inode: d, parent: d, name: 'x', overwrite: false }))).toBe('EINVAL');
    ns.snapshot({ cred: ROOT, inode: d, parent: 1, name: 't', overwrite: true });
    expect(md.lookup(t, 'f')).toBe(old);
    expect(md.chunkEntries(old)).toEqual(md.chunkEntries(f));
    expect(md.attr(old).size).toBe(100);
    expect(md.lookup(t, 'keep')).toBeDefined();
    replayEqualsLive();
  });

  it('EINVAL for a snapshot that would overwrite an ancestor of its source (found by the replay property test)', () => {
    const { ns, mkdir, md, replayEqualsLive } = setup();
    const b = mkdir(1, 'b');
    const ba = mkdir(b, 'a');
    mkdir(ba, 'a');
    const before = md.lookup(1, 'b');
    expect(errnoOf(() => ns.snapshot({ cred: ROOT, inode: ba, parent: 1, name: 'b', overwrite: true }))).toBe('EINVAL');
    expect(errnoOf(() => ns.snapshot({ cred: ROOT, inode: ba, parent: b, name: 'a', overwrite: true }))).toBe('EINVAL');
    expect(md.lookup(1, 'b')).toBe(before);
    replayEqualsLive();
  });

  it('a non-root snapshot belongs to the caller', () => {
    const { ns, mkdir, mkfile, md } = setup();
    const d = mkdir(1, 'd', ROOT, 0o777);
    mkfile(d, 'f', ROOT, 0o644);
    ns.setattr({ cred: ROOT, inode: 1, mode: 0o777 });
    const s = ns.snapshot({ cred: ALICE, inode: d, parent: 1, name: 'x', overwrite: false }).attr;
    expect(s).toMatchObject({ uid: ALICE.uid, gid: ALICE.gid });
    expect(md.attr(md.lookup(s.inode, 'f')!)).toMatchObject({ uid: ALICE.uid, gid: ALICE.gid, mode: 0o644 });
  });
});

describe('a mutation that apply cannot carry out', () => {
  it('is reported as MetadataBrokenError, never logged, and the owner is told', () => {
    const md = createEmptyMetadata({ sec: 1_700_000_000, nsec: 0 });
    const logged: string[] = [];
    const broken: MetadataBrokenError[] = [];
    const ns = new Namespace(md, (m) => void logged.push(m.op), () => ({ sec: 1_700_000_001, nsec: 0 }), (e) => void broken.push(e));
    const d = ns.mkdir({ cred: ROOT, parent: 1, name: 'd', mode: 0o755, umask: 0 }).attr.inode;
    // Corrupt the state behind validation's back: the directory loses its entry table.
    md.children.delete(d);
    expect(() => ns.mkdir({ cred: ROOT, parent: d, name: 'x', mode: 0o755, umask: 0 })).toThrow(MetadataBrokenError);
    expect(broken.map((e) => e.mutation.op)).toEqual(['create']);
    expect(logged).toEqual(['create']); // the first mkdir only
  });
});
