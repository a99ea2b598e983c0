/**
 * A takeover the clients do not notice (docs/ha.md, "What survives a takeover"): a
 * request applied by a leader that died before its reply reached the client is answered
 * by the next leader from the replicated (session, request id) table, never applied a
 * second time, and the client keeps its session id. Real etcd, real master processes,
 * the reply lost on a real socket (test/fixture/link-proxy.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { O_RDWR } from '@tsmfs/client';
import { describe, expect, it } from 'vitest';
import { openSession } from './fixture/cluster.js';
import { Etcd } from './fixture/etcd.js';
import { HaGroup, caughtUp } from './fixture/ha-group.js';
import { LinkProxy } from './fixture/link-proxy.js';
import { until } from './fixture/poll.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('a takeover the clients do not notice', () => {
  it('a create and an unlink applied by a leader killed before their replies: the next leader answers them from the table, once', async () => {
    const etcd = await Etcd.start();
    const group = await HaGroup.create(etcd, 3);
    const first = await group.leader();
    const proxy = await LinkProxy.start(first.leader.address);
    // A reaches the masters only through the proxy; B directly (the other client).
    const a = await openSession({ masters: [proxy.address], hostname: 'a', mountpoint: '/a', reconnectTimeoutMs: 60_000, connectTimeoutMs: 1000 });
    const b = await openSession({ masters: group.addresses, hostname: 'b', mountpoint: '/b', reconnectTimeoutMs: 60_000 });
    const dir = await a.mkdir(a.root, 'd');
    await a.create(dir.inode, 'u', 0o644);
    const sessionId = a.sessionId;

    // The master applies both and answers; the answers are lost on the way.
    proxy.swallow = true;
    const created = a.create(dir.inode, 'f', 0o640);
    const unlinked = a.unlink(dir.inode, 'u');
    await until('both applied on the leader', async () => {
      const names = (await b.readdir(dir.inode)).map((e) => e.name);
      return names.includes('f') && !names.includes('u') ? true : undefined;
    });
    const followers = group.masters.filter((m) => m !== first.leader);
    await caughtUp(first.leader, followers);
    proxy.hold = true;
    await first.leader.kill('SIGKILL');
    proxy.cut();
    proxy.swallow = false;

    // Between the lost replies and the re-sends, another client moves the new file away,
    // makes a directory of its name, and makes a new file of the unlinked name.
    const second = await group.leader(followers);
    await b.rename(dir.inode, 'f', dir.inode, 'g');
    const squatter = await b.mkdir(dir.inode, 'f');
    const theirs = await b.create(dir.inode, 'u', 0o600);

    proxy.target = second.leader.address;
    proxy.hold = false;
    const attr = await created;
    await unlinked;
    // The create's own answer: the file now named g (probing would have said EEXIST: f is a directory).
    const g = await b.lookup(dir.inode, 'g');
    expect(attr.inode).toBe(g.inode);
    expect(attr.type).toBe('file');
    expect(attr.mode & 0o777).toBe(0o640 & ~0o022);
    // The unlink was not applied again: B's u is still there.
    expect((await b.lookup(dir.inode, 'u')).inode).toBe(theirs.inode);
    expect((await b.lookup(dir.inode, 'f')).inode).toBe(squatter.inode);
    // The same session, re-attached; nothing resolved by probing.
    expect(a.sessionId).toBe(sessionId);
    expect(a.stats.resent).toBeGreaterThanOrEqual(2);
    expect(a.stats.resolved).toBe(0);
    expect(second.leader.logs().some((l) => l.msg === 'client session registered' && l.session === sessionId && l.reattached === true)).toBe(true);
    a.close();
    b.close();
    await proxy.close();
  });

  it('an unlinked file held open stays readable through a takeover (and goes when closed); a write in flight across it completes', async () => {
    const etcd = await Etcd.start();
    const group = await HaGroup.create(etcd, 3);
    const first = await group.leader();
    await Promise.all((await group.chunkservers(3)).map((cs) => cs.waitRegistered(30_000)));
    const a = await openSession({ masters: group.addresses, hostname: 'a', mountpoint: '/a', reconnectTimeoutMs: 60_000 });
    const b = await openSession({ masters: group.addresses, hostname: 'b', mountpoint: '/b', reconnectTimeoutMs: 60_000 });
    const kept = await a.create(a.root, 'kept', 0o644);
    // No trash: removing its last name while it is open makes it sustained.
    await a.settrashtime(kept.inode, 0);
    const keptHandle = await a.openFile(kept.inode, O_RDWR);
    const keptData = randomBytes(3 * 1024 * 1024 + 5);
    await keptHandle.write(0, keptData);
    await keptHandle.flush();
    // Another client removes its name: A's descriptor keeps it (sustained).
    await b.unlink(b.root, 'kept');
    const meta = await openSession({ masters: group.addresses, hostname: 'm', mountpoint: '/m', meta: true, reconnectTimeoutMs: 60_000 });
    expect((await meta.sustainedList()).map((e) => e.inode)).toEqual([kept.inode]);

    const moving = await a.create(a.root, 'moving', 0o644);
    const movingHandle = await a.openFile(moving.inode, O_RDWR);
    const followers = group.masters.filter((m) => m !== first.leader);
    await caughtUp(first.leader, followers);
    // A write of several chunks is under way when the leader dies.
    const big = randomBytes(2 * 64 * 1024 * 1024 + 12_345);
    const written = movingHandle.write(0, big).then(async (n) => {
      await movingHandle.close();
      return n;
    });
    await until('the write under way', async () => ((await b.getattr(moving.inode)).size > 0 ? true : undefined), 60_000, 20);
    await first.leader.kill('SIGKILL');
    expect(await written).toBe(big.length);

    const second = await group.leader(followers);
    expect(a.info.master).toEqual(second.leader.address);
    // The new leader knew the copies as a follower (docs/ha.md, "Chunkservers and
    // followers"); the write in flight across the kill may still be moving versions.
    await until('the new leader knows the sustained file\'s copies', async () => {
      const info = await a.fileinfo(kept.inode);
      return info.chunks.every((c) => c.copies.some((k) => k.state === 'valid')) ? true : undefined;
    }, 30_000, 50);
    // Through the same descriptor, on the new leader: the sustained file's bytes.
    expect(sha(await keptHandle.read(0, keptData.length))).toBe(sha(keptData));
    expect((await meta.sustainedList()).map((e) => e.inode)).toEqual([kept.inode]);
    // The write: every byte, read by the other client.
    expect((await b.getattr(moving.inode)).size).toBe(big.length);
    const check = await b.openFile(moving.inode, O_RDWR);
    expect(sha(await check.read(0, big.length))).toBe(sha(big));
    await check.close();
    // Closing the descriptor on the new leader ends the sustained file.
    await keptHandle.close();
    await until('the sustained file purged', async () => ((await meta.sustainedList()).length === 0 ? true : undefined), 10_000, 50);
    a.close();
    b.close();
    meta.close();
  });
});
