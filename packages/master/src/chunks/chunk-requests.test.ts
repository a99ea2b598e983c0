import { CHUNK_SIZE, Status, signCreationReceipt } from '@tsmfs/protocol';
import type { Connection } from '@tsmfs/rpc';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { createEmptyMetadata } from '../metadata/metadata.js';
import { Namespace } from '../metadata/namespace.js';
import { ChunkManager } from './chunk-manager.js';
import { ChunkRequests } from './chunk-requests.js';

const root = { uid: 0, gid: 0, groups: [0] };
/** A chunkserver link as the registry sees one: open, from loopback. Commands are never sent here. */
const link = () => ({ closed: false, socket: { remoteAddress: '127.0.0.1' } }) as unknown as Connection;

describe('fileinfo', () => {
  it('shows every copy with its state, and a copy being replicated', async () => {
    let t = 1_700_000_000;
    const clock = () => ({ sec: t++, nsec: 0 });
    const ns = new Namespace(createEmptyMetadata(clock()), () => undefined, clock);
    const chunks = new ChunkManager({ md: () => ns.md, epoch: () => 1, leaseTimeoutMs: 1000, limits: { writesPerServer: [2, 2, 2, 2], readsPerServer: [2, 2, 2, 2], global: 10, deletesPerServer: 2 }, log: pino({ level: 'silent' }) });
    const requests = new ChunkRequests(chunks, () => ns);
    const inode = ns.mknod({ cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    const g = ns.writeChunk({ cred: root, inode, index: 0 });
    ns.writeChunkEnd({ inode, index: 0, chunkId: g.chunkId, length: CHUNK_SIZE, ok: true });
    const [a, b, c, d] = [1, 2, 3, 4].map((port) => chunks.register({ host: '127.0.0.1', port, labels: [], totalSpace: 1e12, usedSpace: 0, chunkCount: 0 }, link()));
    chunks.report(a!, [{ chunkId: g.chunkId, version: 1 }], true);
    chunks.report(b!, [{ chunkId: g.chunkId, version: 0 }], true);
    chunks.report(c!, [{ chunkId: g.chunkId, version: 1 }], true);
    chunks.damaged(c!, [{ chunkId: g.chunkId, version: 1 }]);
    chunks.replicating.set(g.chunkId, d!.csid);
    const info = requests.fileinfo({ inode });
    expect(info.chunks[0]!.copies.map((x) => [x.port, x.state, x.version])).toEqual([
      [1, 'valid', 1],
      [2, 'stale', 0],
      [3, 'damaged', 1],
      [4, 'replicating', 1],
    ]);
  });
});

describe('the end of a write that created its chunk', () => {
  function cluster() {
    let t = 1_700_000_000;
    const clock = () => ({ sec: t++, nsec: 0 });
    const ns = new Namespace(createEmptyMetadata(clock()), () => undefined, clock);
    const chunks = new ChunkManager({ md: () => ns.md, epoch: () => 1, leaseTimeoutMs: 1000, limits: { writesPerServer: [2, 2, 2, 2], readsPerServer: [2, 2, 2, 2], global: 10, deletesPerServer: 2 }, log: pino({ level: 'silent' }) });
    const requests = new ChunkRequests(chunks, () => ns);
    const servers = [1, 2, 3].map((port) => {
      const cs = chunks.register({ host: '127.0.0.1', port, labels: [], totalSpace: 1e12, usedSpace: 0, chunkCount: 0 }, link());
      chunks.report(cs, [], true);
      chunks.tokens.issueKey(cs, undefined);
      return cs;
    });
    const inode = ns.mknod({ cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    ns.setgoal({ inode, goal: 2, cred: root, recursive: false, mode: 'set' });
    const grant = (index = 0) => requests.write(1, { cred: root, inode, index }, (keep) => ns.writeChunk({ cred: root, inode, index }, false, keep));
    const end = (chunkId: number, version: number, created?: Buffer[], index = 0) => {
      const req = { inode, index, chunkId, length: index * CHUNK_SIZE + 4096, ok: true, version, ...(created ? { created } : {}) };
      return requests.writeEnd(1, req, () => ns.writeChunkEnd(req));
    };
    /** What the chunkserver `csid` of the grant answers: a receipt signed with its key. */
    const receipt = (csid: number, chunkId: number, version: number, key = chunks.registry.get(csid)!.grantKey!) => signCreationReceipt(key, { chunkId, version, csid });
    return { ns, chunks, servers, inode, grant, end, receipt };
  }

  it('counts the copies its receipts prove, with no report from the servers', async () => {
    const { chunks, grant, end, receipt, ns, inode } = cluster();
    const g = await grant();
    expect(g.create).toBe(true);
    const placed = g.locations.map((l) => l.csid);
    expect(placed).toHaveLength(2);
    await end(g.chunkId, g.version, placed.map((csid) => receipt(csid, g.chunkId, g.version)));
    expect(chunks.unborn.has(g.chunkId)).toBe(false);
    expect(chunks.locations(g.chunkId).map((l) => l.csid).sort()).toEqual([...placed].sort());
    expect(ns.md.size[inode]).toBe(4096);
  });

  it("waits for the servers' reports when a receipt proves nothing, and refuses the end if none comes", async () => {
    const { chunks, servers, grant, end, receipt, inode } = cluster();
    const g = await grant();
    const placed = g.locations.map((l) => l.csid);
    const outside = servers.find((cs) => !placed.includes(cs.csid))!.csid;
    const forged = [
      receipt(placed[0]!, g.chunkId, g.version, Buffer.alloc(32, 7)), // not the server's key
      receipt(outside, g.chunkId, g.version), // a server the grant did not name
      receipt(placed[1]!, g.chunkId + 1, g.version), // another chunk
      receipt(placed[1]!, g.chunkId, g.version + 1), // another version
    ];
    let ended = false;
    const ending = Promise.resolve(end(g.chunkId, g.version, forged)).then(() => (ended = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(ended).toBe(false);
    expect(chunks.unborn.has(g.chunkId)).toBe(true);
    // The servers' own reports (chunksNew) end the wait.
    for (const csid of placed) chunks.created(chunks.registry.get(csid)!, [{ chunkId: g.chunkId, version: g.version }]);
    await ending;
    expect(chunks.locations(g.chunkId)).toHaveLength(2);

    // Nothing ever reported: refused (the client writes again on a new grant), the lease let go.
    vi.useFakeTimers();
    try {
      const h = await grant(1);
      expect(h.create).toBe(true);
      const refused = Promise.resolve(end(h.chunkId, h.version, [], 1)).catch((err: unknown) => err);
      await vi.advanceTimersByTimeAsync(6_000);
      expect(await refused).toMatchObject({ status: Status.EAGAIN });
      expect(chunks.leases.grantOf(1, inode, 1)).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });
});
