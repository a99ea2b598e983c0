import { CHUNK_SIZE } from '@tsmfs/protocol';
import { type Connection, notLeader } from '@tsmfs/rpc';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createEmptyMetadata } from '../metadata/metadata.js';
import { Namespace } from '../metadata/namespace.js';
import { ChunkManager } from './chunk-manager.js';
import { ChunkLoop } from './replication.js';

const root = { uid: 0, gid: 0, groups: [0] };
const log = pino({ level: 'silent' });

/**
 * HA (docs/ha.md): a follower keeps the chunkservers' registrations and reports, but its
 * metadata may lag behind their copies (a copy of a chunk whose creation it has not
 * applied yet), so it must take no step a leader takes on them: no command, and no copy
 * forgotten because a command it may not send "was done".
 */
function setup() {
  let t = 1_700_000_000;
  const clock = () => ({ sec: t++, nsec: 0 });
  const ns = new Namespace(createEmptyMetadata(clock()), () => undefined, clock);
  const state = { leading: false };
  const sent: { name: string; body: unknown }[] = [];
  const link = () =>
    ({
      closed: false,
      socket: { remoteAddress: '127.0.0.1' },
      request: async (name: string, body: unknown) => {
        sent.push({ name, body });
        return {};
      },
    }) as unknown as Connection;
  const chunks = new ChunkManager({
    md: () => ns.md,
    // As master.ts: a command needs the leader's admitted epoch.
    epoch: () => {
      if (!state.leading) throw notLeader('a follower');
      return 7;
    },
    leaseTimeoutMs: 1000,
    limits: { writesPerServer: [2, 2, 2, 2], readsPerServer: [2, 2, 2, 2], global: 10, deletesPerServer: 5 },
    log,
  });
  const loop = new ChunkLoop({ chunks, periodMs: 60_000, delayInitMs: 0, serverTimeoutMs: 60_000, leading: () => state.leading, log });
  const inode = ns.mknod({ cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
  const g = ns.writeChunk({ cred: root, inode, index: 0 });
  ns.writeChunkEnd({ inode, index: 0, chunkId: g.chunkId, length: CHUNK_SIZE, ok: true });
  const servers = [0, 1].map((i) => chunks.register({ host: '127.0.0.1', port: i + 1, labels: [], totalSpace: 1e12, usedSpace: 0, chunkCount: 0 }, link()));
  return { ns, chunks, loop, state, sent, inode, chunkId: g.chunkId, servers };
}

describe('a follower\'s chunk registry', () => {
  it('sends no command and forgets no copy of a chunk its metadata does not know yet; once leading, the loop acts', async () => {
    const { chunks, loop, state, sent, chunkId, servers } = setup();
    // Server 0 holds the chunk and one the follower's metadata has not seen created yet (id 999).
    chunks.report(servers[0]!, [{ chunkId, version: 1 }, { chunkId: 999, version: 1 }], true);
    chunks.report(servers[1]!, [], true);
    await loop.start();
    loop.pass();
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual([]);
    expect(chunks.copies.get(999, servers[0]!.csid)).toEqual({ version: 1, damaged: false });
    expect(chunks.locations(chunkId).map((l) => l.csid)).toEqual([servers[0]!.csid]);

    // Leading, the same pass deletes the copy of the chunk the metadata does not name.
    state.leading = true;
    loop.pass();
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual([{ name: 'chunkDelete', body: { chunkId: 999, version: 1, epoch: 7 } }]);
    await loop.stop();
  });

  it('follows what the leader\'s commands did (chunksChanged), in either order with the changelog, and hands out the right copies once it leads', () => {
    const { ns, chunks, inode, chunkId, servers } = setup();
    chunks.report(servers[0]!, [{ chunkId, version: 1 }], true);
    chunks.report(servers[1]!, [{ chunkId, version: 1 }], true);
    // The chunkservers tell of the leader's version bump before the follower applies its entry.
    const v = ns.md.chunks.version[chunkId]! + 1;
    chunks.changed(servers[0]!, [{ chunkId, version: v }], []);
    chunks.changed(servers[1]!, [{ chunkId: 5, version: 3 }], []);
    chunks.changed(servers[1]!, [{ chunkId, version: v }], [{ chunkId: 5, version: 3 }]);
    expect(chunks.copies.of(5).size).toBe(0);
    expect(chunks.locations(chunkId)).toEqual([]);
    // The entry comes (the shadow applies it and names the chunk).
    ns.writeChunk({ cred: root, inode, index: 0 });
    expect(ns.md.chunks.version[chunkId]).toBe(v);
    chunks.chunkTouched(chunkId);
    // Taking over: what grants hand out is computed against the metadata as applied.
    expect(chunks.resyncLocations()).toBe(1);
    expect(ns.md.chunks.locations.get(chunkId)?.map((l) => l.csid).sort()).toEqual([servers[0]!.csid, servers[1]!.csid]);
  });

  it('a version bump the dead leader logged but never had the chunkservers apply: the new leader continues from the copies', () => {
    const { ns, chunks, inode, chunkId, servers } = setup();
    chunks.report(servers[0]!, [{ chunkId, version: 1 }], true);
    expect(ns.md.chunks.locations.get(chunkId)).toHaveLength(1);
    ns.writeChunk({ cred: root, inode, index: 0 });
    chunks.chunkTouched(chunkId);
    chunks.resyncLocations();
    expect(ns.md.chunks.locations.has(chunkId)).toBe(false);
    expect(chunks.interruptedCopies(chunkId)).toEqual({ version: 1, servers: [servers[0]] });
  });
});
