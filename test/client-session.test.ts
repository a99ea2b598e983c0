/**
 * The client library against the real master: every convenience method once, errors
 * arriving as the errno they stand for, passwords, subdir sessions and refusals.
 */
import { ACL_DEFAULT_XATTR, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ, Status, encodeAclXattr } from '@tsmfs/protocol';
import { O_RDWR } from '@tsmfs/client';
import { describe, expect, it } from 'vitest';
import { Cluster, openSession } from './fixture/cluster.js';
import { LinkProxy } from './fixture/link-proxy.js';
import { until, untilValue } from './fixture/poll.js';

describe('MasterSession against tsmfs-master', () => {
  it('namespace operations, paths, xattrs, goal and trashtime', async () => {
    const cluster = await Cluster.create();
    const s = await cluster.session();
    const a = await s.mkdir(s.root, 'a', 0o755);
    const f = await s.create(a.inode, 'f', 0o640);
    expect(f).toMatchObject({ type: 'file', mode: 0o640 & ~s.umask });
    await expect(s.create(a.inode, 'f')).rejects.toMatchObject({ status: Status.EEXIST });
    expect(await s.resolve('/a/f')).toEqual(await s.getattr(f.inode));
    expect((await s.resolve('a/../a/./f')).inode).toBe(f.inode);
    expect(await s.resolveParent('/a/new')).toEqual({ parent: a.inode, name: 'new' });

    const l = await s.symlink(a.inode, 'l', 'f');
    expect(await s.readlink(l.inode)).toBe('f');
    const h = await s.link(f.inode, s.root, 'hard');
    expect(h.inode).toBe(f.inode);
    expect((await s.getattr(f.inode)).nlink).toBe(2);

    await s.rename(a.inode, 'f', s.root, 'moved');
    await expect(s.lookup(a.inode, 'f')).rejects.toMatchObject({ status: Status.ENOENT });
    const names = (await s.readdir(s.root)).map((e) => e.name).filter((n) => n !== '.' && n !== '..');
    expect(names.sort()).toEqual(['a', 'hard', 'moved']);

    const many = await s.mkdir(s.root, 'many');
    for (let i = 0; i < 25; i++) await s.create(many.inode, `e${i}`);
    const paged = await s.readdir(many.inode, { pageSize: 7, withAttrs: true });
    expect(paged.filter((e) => e.name.startsWith('e'))).toHaveLength(25);

    const changed = await s.setattr(f.inode, { mode: 0o600, mtime: { sec: 1_000_000, nsec: 5 } });
    expect(changed).toMatchObject({ mode: 0o600, mtime: { sec: 1_000_000, nsec: 5 } });

    await s.setxattr(f.inode, 'user.k', Buffer.from('v1'));
    expect((await s.getxattr(f.inode, 'user.k')).toString()).toBe('v1');
    expect(await s.listxattr(f.inode)).toContain('user.k');
    await s.removexattr(f.inode, 'user.k');
    await expect(s.getxattr(f.inode, 'user.k')).rejects.toMatchObject({ status: Status.ENODATA });

    await s.setgoal(a.inode, 3, { recursive: true });
    expect((await s.getattr(a.inode)).goal).toBe(3);
    expect(await s.getgoal(a.inode, { recursive: true })).toEqual(expect.arrayContaining([expect.objectContaining({ value: 3 })]));
    await s.settrashtime(f.inode, 3600);
    expect((await s.getattr(f.inode)).trashtime).toBe(3600);

    await s.access(f.inode, 4);
    await s.open(f.inode, 0);
    await s.release(f.inode);
    expect(await s.statfs()).toMatchObject({ inodes: expect.any(Number) });

    await s.unlink(s.root, 'hard');
    await s.unlink(a.inode, 'l');
    await expect(s.rmdir(s.root, 'many')).rejects.toMatchObject({ status: Status.ENOTEMPTY });
    await s.rmdir(s.root, 'a');
  });

  it('past its bound of unsynced files, a session has each chunkserver sync all it wrote, once, and forgets it; fsync still syncs any file', async () => {
    const cluster = await Cluster.create();
    const servers = await cluster.addChunkservers(2);
    const s = await cluster.session({ maxUnsyncedFiles: 3 });
    await s.setgoal(s.root, 2);
    const write = async (name: string) => {
      const attr = await s.create(s.root, name, 0o644);
      const f = await s.openFile(attr.inode, O_RDWR);
      await f.write(0, Buffer.alloc(4096, name));
      await f.close();
      return attr.inode;
    };
    const sweeps = (cs: (typeof servers)[number]) => cs.process!.logs().filter((l) => l.msg === 'copies written since their last sync synced');
    const first = await write('f0');
    for (let i = 1; i < 4; i++) await write(`f${i}`);
    // The fourth file: each chunkserver syncs the four copies written there.
    for (const cs of servers) await cs.process!.waitForLog((l) => l.msg === 'copies written since their last sync synced', 10_000, 'the first sweep');
    expect(servers.map((cs) => sweeps(cs).map((l) => l.chunks))).toEqual([[4], [4]]);
    // Forgotten: three more files stay within the bound (no sweep at each file, as if nothing
    // had been forgotten), the fourth sweeps again, its four copies only.
    for (let i = 4; i < 8; i++) await write(`f${i}`);
    const both = await untilValue('the second sweep', () => servers.map((cs) => sweeps(cs).map((l) => l.chunks)), (v) => v.every((c) => c.length === 2), 10_000);
    expect(both).toEqual([[4, 4], [4, 4]]);
    // fsync of a file the sweeps covered, and of one written after them, on every copy.
    const last = await write('f8');
    for (const inode of [first, last]) {
      const f = await s.openFile(inode, O_RDWR);
      await f.fsync();
      await f.close();
    }
    await cluster.stop();
  });

  it('an unlinked file with a trashtime lands in the trash and can be restored', async () => {
    const cluster = await Cluster.create();
    const s = await cluster.session();
    const f = await s.create(s.root, 'doomed');
    await s.settrashtime(f.inode, 3600);
    await s.unlink(s.root, 'doomed');
    const meta = await cluster.session({ meta: true });
    const trash = await meta.trashList();
    expect(trash.map((e) => e.inode)).toContain(f.inode);
    await meta.trashUndelete(f.inode);
    expect((await s.lookup(s.root, 'doomed')).inode).toBe(f.inode);
  });

  it('passwords and subdirectories from the exports file', async () => {
    const cluster = await Cluster.create({
      // '/' without alldirs: /locked is reachable only through its password rule.
      master: { exports: ['127.0.0.1  /  rw,maproot=0:0', '127.0.0.1  /locked  rw,alldirs,maproot=0:0,password=s3cret'] },
    });
    const admin = await cluster.session();
    const locked = await admin.mkdir(admin.root, 'locked');
    await admin.create(locked.inode, 'inside');

    await expect(cluster.session({ subdir: '/locked', password: 'wrong' })).rejects.toMatchObject({ status: Status.EACCES });
    const s = await cluster.session({ subdir: '/locked', password: 's3cret' });
    expect(s.root).toBe(locked.inode);
    expect((await s.resolve('inside')).type).toBe('file');
    await expect(cluster.session({ subdir: '/locked/missing', password: 's3cret' })).rejects.toMatchObject({ status: Status.ENOENT });
    await expect(cluster.session({ subdir: '/elsewhere' })).rejects.toMatchObject({ status: Status.EACCES });
  });

  it('a create applied before its reply was lost, re-sent to a master with no record of it, under a default ACL: resolved, not EEXIST', async () => {
    // The client comes back from another address: the master gives it a new session, so
    // the re-sends' request ids mean nothing there and their EEXIST is resolved by looking
    // (client/src/resend.ts). The default ACL, not the umask, shaped the new nodes' modes.
    const cluster = await Cluster.create({ master: { exports: ['127.0.0.0/8  /  rw,alldirs,admin,maproot=0:0'] } });
    const proxy = await LinkProxy.start(cluster.master.address);
    try {
      const a = await openSession({ masters: [proxy.address], reconnectTimeoutMs: 20_000, connectTimeoutMs: 1000 });
      const b = await cluster.session();
      const dir = await a.mkdir(a.root, 'acl', 0o777);
      const dflt = [
        { tag: ACL_USER_OBJ, perm: 7 },
        { tag: ACL_USER, perm: 7, id: 1000 },
        { tag: ACL_GROUP_OBJ, perm: 5 },
        { tag: ACL_MASK, perm: 5 },
        { tag: ACL_OTHER, perm: 0 },
      ];
      await b.setxattr(dir.inode, ACL_DEFAULT_XATTR, encodeAclXattr(dflt));
      const firstSession = a.sessionId;

      proxy.swallow = true;
      const file = a.create(dir.inode, 'f', 0o666);
      const sub = a.mkdir(dir.inode, 'd', 0o777);
      await until('both applied', async () => {
        const names = (await b.readdir(dir.inode)).map((e) => e.name);
        return names.includes('f') && names.includes('d') ? true : undefined;
      });
      proxy.source = '127.0.0.2';
      proxy.cut();
      proxy.swallow = false;

      const [f, d] = await Promise.all([file, sub]);
      expect(a.sessionId).not.toBe(firstSession);
      expect(a.stats.resolved).toBe(2);
      expect(f.inode).toBe((await b.lookup(dir.inode, 'f')).inode);
      expect(d.inode).toBe((await b.lookup(dir.inode, 'd')).inode);
      // 0666 and 0777 masked by the default ACL (rwx, r-x mask, ---), the umask not applied.
      expect(f.mode & 0o777).toBe(0o640);
      expect(d.mode & 0o777).toBe(0o750);

      // Someone else's node of the same name and type but other bits still stays EEXIST.
      await b.create(dir.inode, 'g', 0o600);
      proxy.swallow = true;
      const theirs = a.create(dir.inode, 'g', 0o666);
      proxy.cut();
      proxy.swallow = false;
      await expect(theirs).rejects.toMatchObject({ status: Status.EEXIST });
    } finally {
      await proxy.close();
    }
  });
});
