import { CHUNK_SIZE } from '@tsmfs/protocol';
import type { Connection } from '@tsmfs/rpc';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createEmptyMetadata } from '../metadata/metadata.js';
import { Namespace } from '../metadata/namespace.js';
import { ChunkManager } from './chunk-manager.js';

const root = { uid: 0, gid: 0, groups: [0] };
/** A chunkserver link as the registry sees one: open, from loopback. Commands are never sent here. */
const link = () => ({ closed: false, socket: { remoteAddress: '127.0.0.1' } }) as unknown as Connection;

function setup() {
  let t = 1_700_000_000;
  const clock = () => ({ sec: t++, nsec: 0 });
  const ns = new Namespace(createEmptyMetadata(clock()), () => undefined, clock);
  const chunks = new ChunkManager({ md: () => ns.md, epoch: () => 1, leaseTimeoutMs: 1000, limits: { writesPerServer: [2, 2, 2, 2], readsPerServer: [2, 2, 2, 2], global: 10, deletesPerServer: 2 }, log: pino({ level: 'silent' }) });
  const inode = ns.mknod({ cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
  const g = ns.writeChunk({ cred: root, inode, index: 0 });
  ns.writeChunkEnd({ inode, index: 0, chunkId: g.chunkId, length: CHUNK_SIZE, ok: true });
  const links = [link(), link(), link()];
  const servers = links.map((l, i) => chunks.register({ host: '127.0.0.1', port: i + 1, labels: [], totalSpace: 1e12, usedSpace: 0, chunkCount: 0 }, l));
  return { ns, chunks, inode, chunkId: g.chunkId, servers, links };
}

describe('interruptedCopies', () => {
  it('after a restart, bumps logged but never applied: the newest copies below the logged version', () => {
    const { ns, chunks, inode, chunkId, servers } = setup();
    // Two grants logged (v2, v3) that reached no chunkserver, as a master killed in between leaves it.
    ns.writeChunk({ cred: root, inode, index: 0 });
    ns.writeChunk({ cred: root, inode, index: 0 });
    chunks.report(servers[0]!, [{ chunkId, version: 1 }], true);
    chunks.report(servers[1]!, [{ chunkId, version: 2 }], true);
    chunks.report(servers[2]!, [{ chunkId, version: 2 }], true);
    chunks.damaged(servers[2]!, [{ chunkId, version: 2 }]);
    expect(chunks.validServers(chunkId)).toEqual([]);
    const behind = chunks.interruptedCopies(chunkId);
    expect(behind?.version).toBe(2);
    expect(behind?.servers.map((cs) => cs.csid)).toEqual([servers[1]!.csid]);
  });

  it('none while a copy is valid, nor below a valid copy this master saw disappear', () => {
    const { ns, chunks, inode, chunkId, servers, links } = setup();
    chunks.report(servers[0]!, [{ chunkId, version: 1 }], true);
    chunks.report(servers[1]!, [{ chunkId, version: 1 }], true);
    expect(chunks.interruptedCopies(chunkId)).toBeUndefined();
    // A grant moved server 0 to v2 (server 1 missed it), then server 0 went away.
    ns.writeChunk({ cred: root, inode, index: 0 });
    chunks.copies.set(chunkId, servers[0]!.csid, 2);
    chunks.syncLocations(chunkId, 1);
    chunks.disconnected(servers[0]!, links[0]!);
    expect(chunks.validServers(chunkId)).toEqual([]);
    expect(chunks.interruptedCopies(chunkId)).toBeUndefined();
  });
});
