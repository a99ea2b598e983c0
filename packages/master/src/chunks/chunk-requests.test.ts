import { CHUNK_SIZE } from '@tsmfs/protocol';
import type { Connection } from '@tsmfs/rpc';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
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
