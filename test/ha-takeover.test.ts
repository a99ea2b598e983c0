/**
 * A takeover the clients do not notice (docs/ha.md, "What survives a takeover"): a
 * request applied by a leader that died before its reply reached the client is answered
 * by the next leader from the replicated (session, request id) table, never applied a
 * second time, and the client keeps its session id. Real etcd, real master processes,
 * the reply lost on a real socket (test/fixture/link-proxy.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { type MasterSession, O_RDWR } from '@tsmfs/client';
import { type ChunkGrant, DataFrameType, dataCrc, decodeDataWriteStatus, encodeDataBlockHeader } from '@tsmfs/protocol';
import { type Connection, dial } from '@tsmfs/rpc';
import { describe, expect, it } from 'vitest';
import { openSession } from './fixture/cluster.js';
import { Etcd } from './fixture/etcd.js';
import { HaGroup, caughtUp, status } from './fixture/ha-group.js';
import { LinkProxy } from './fixture/link-proxy.js';
import { until } from './fixture/poll.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Sends `data` at `offset` of the chunk as one piece of the write opened on `conn` (seq `seq`); resolves once the chain has it. */
async function piece(conn: Connection, grant: ChunkGrant, seq: number, offset: number, data: Buffer): Promise<void> {
  const header = encodeDataBlockHeader({ chunkId: grant.chunkId, version: grant.version, seq, offset, length: data.length, crc: dataCrc(data) });
  const st = decodeDataWriteStatus(await conn.requestData(DataFrameType.write, [header, data]));
  if (st.status !== 0) throw new Error(`piece at ${offset} refused: status ${st.status}`);
}

/** A write grant of chunk 0 of `inode` and the write opened on its chain, paused there (no piece, no end yet). */
async function pausedWrite(s: MasterSession, inode: number): Promise<{ grant: ChunkGrant; conn: Connection }> {
  const grant = await s.call('writeChunk', { cred: s.cred, inode, index: 0 });
  const [head, ...rest] = grant.locations;
  const { conn } = await dial({ host: head!.host, port: head!.port, role: 'client', name: 'paused-writer' });
  await conn.request('dataWriteInit', { chunkId: grant.chunkId, version: grant.version, token: head!.token, chain: rest.map(({ host, port, token }) => ({ host, port, token })) });
  return { grant, conn };
}

describe('a takeover the clients do not notice', () => {
  it('a create and an unlink applied by a leader killed before their replies: the next leader answers them from the table, once; a write in flight across the next takeover keeps its lease', async () => {
    const etcd = await Etcd.start();
    // A long grace period: it ends when the sessions are back, never by its timeout here.
    const group = await HaGroup.create(etcd, 3, { HA_WRITE_GRACE_MS: 60_000 });
    const first = await group.leader();
    const [cs] = await group.chunkservers(1);
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

    // ---- A write in flight across a takeover keeps its lease (docs/ha.md, "Write leases
    // across a takeover"): A holds a write grant and is in the middle of its chunk write
    // when the leader dies; B asks the new leader for the same slot before A is back. B
    // must wait until A's write ended: A's bytes land, then B's overwrite wins.
    const third = group.masters.find((m) => m !== first.leader && m !== second.leader)!;
    await Promise.all([second.leader, third].map((m) => cs!.waitRegisteredWith(`${m.host}:${m.ports.matocs}`, 30_000)));
    const file = await b.create(b.root, 'w', 0o644);
    const base = randomBytes(256 * 1024);
    const bh = await b.openFile(file.inode, O_RDWR);
    await bh.write(0, base);
    await bh.flush();
    await a.open(file.inode, O_RDWR);
    const { grant, conn } = await pausedWrite(a, file.inode);
    const aBytes = randomBytes(8192);
    await piece(conn, grant, 0, 0, aBytes.subarray(0, 4096));
    await caughtUp(second.leader, [third]);
    proxy.hold = true;
    await second.leader.kill('SIGKILL');
    proxy.cut();
    await group.leader([third]);
    const order: string[] = [];
    const bBytes = randomBytes(4096);
    const bWrote = bh.write(2048, bBytes).then(() => bh.flush()).then(() => order.push('B'));
    const held = (l: { msg?: string }) => l.msg?.startsWith('write grant held by the grace period');
    await until('B granted, or held by the grace period', async () => (order.length > 0 || third.logs().some(held) ? true : undefined), 30_000, 20);
    // A is not back: B is not granted the slot A's write is still on.
    expect(order).toEqual([]);
    expect((await status(third)).grace?.waitingFor).toBe(1);
    proxy.target = third.address;
    proxy.hold = false;
    const reclaimed = await until('A back, claiming its write', async () => third.logs().find((l) => l.msg === 'write leases reclaimed' && l.session === sessionId), 30_000, 20);
    expect(reclaimed.taken).toBe(1);
    // Every session is back (the grace is over): B now waits on A's lease, not on the grace.
    await until('the grace period over', async () => (third.logs().some((l) => l.msg?.startsWith('grace period over')) ? true : undefined), 30_000, 20);
    expect((await status(third)).grace).toBeNull();
    expect(order).toEqual([]);
    await piece(conn, grant, 1, 4096, aBytes.subarray(4096));
    await conn.request('dataWriteEnd', { chunkId: grant.chunkId, version: grant.version });
    conn.close();
    await a.call('writeChunkEnd', { inode: file.inode, index: 0, chunkId: grant.chunkId, length: aBytes.length, ok: true, version: grant.version });
    order.push('A');
    await bWrote;
    expect(order).toEqual(['A', 'B']);
    const expected = Buffer.from(base);
    aBytes.copy(expected, 0);
    bBytes.copy(expected, 2048);
    const check = await a.openFile(file.inode, O_RDWR);
    expect(sha(await check.read(0, base.length))).toBe(sha(expected));
    await check.close();
    await bh.close();
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
