import { CHUNK_HEADER_SIZE as HDR, CHUNK_SIZE } from '@tsmfs/protocol';
import type { Connection } from '@tsmfs/rpc';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { applyMutation } from '../metadata/apply.js';
import { type Metadata, createEmptyMetadata } from '../metadata/metadata.js';
import type { Mutation } from '../metadata/mutation.js';
import { canonicalState } from '../metadata/state-digest.js';
import { Namespace } from '../metadata/namespace.js';
import { ChunkManager } from './chunk-manager.js';
import { ToolRequests, chunkDataSize } from './tool-requests.js';

const root = { uid: 0, gid: 0, groups: [0] };
const alice = { uid: 1000, gid: 1000, groups: [1000] };

/** A chunkserver link as the registry sees one: open, from loopback. Commands are never sent here. */
const link = () => ({ closed: false, socket: { remoteAddress: '127.0.0.1' } }) as unknown as Connection;

function setup() {
  let t = 1_700_000_000;
  const clock = () => ({ sec: t++, nsec: 0 });
  const log: Mutation[] = [];
  const ns = new Namespace(createEmptyMetadata(clock()), (m) => void log.push(m), clock);
  /** The changelog replayed over a new file system must give the same state (what restarts rely on). */
  const replayed = () => {
    const md = createEmptyMetadata({ sec: 1_700_000_000, nsec: 0 });
    for (const m of JSON.parse(JSON.stringify(log)) as Mutation[]) applyMutation(md, m);
    return canonicalState(md);
  };
  const chunks = new ChunkManager({ md: () => ns.md, epoch: () => 1, leaseTimeoutMs: 1000, limits: { writesPerServer: [2, 2, 2, 2], readsPerServer: [2, 2, 2, 2], global: 10, deletesPerServer: 2 }, log: pino({ level: 'silent' }) });
  const tools = new ToolRequests(chunks, () => ns);
  const server = (port: number) => chunks.register({ host: '127.0.0.1', port, labels: [], totalSpace: 1e12, usedSpace: 0, chunkCount: 0 }, link());
  const file = (parent: number, name: string, length: number) => {
    const inode = ns.mknod({ cred: root, parent, name, type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    for (let i = 0; i * CHUNK_SIZE < length; i++) {
      const g = ns.writeChunk({ cred: root, inode, index: i });
      ns.writeChunkEnd({ inode, index: i, chunkId: g.chunkId, length: Math.min(length, (i + 1) * CHUNK_SIZE), ok: true });
    }
    return inode;
  };
  return { ns, chunks, tools, server, file, replayed };
}

describe('ToolRequests', () => {
  it('dirinfo counts a hard-linked file and a chunk shared by a snapshot once', () => {
    const { ns, tools, file } = setup();
    const dir = ns.mkdir({ cred: root, parent: 1, name: 'd', mode: 0o755, umask: 0 }).attr.inode;
    const f = file(dir, 'f', CHUNK_SIZE + 100 * 1024);
    ns.link({ cred: root, inode: f, parent: dir, name: 'hard' });
    ns.setgoal({ cred: root, inode: f, goal: 2, mode: 'set', recursive: false });
    ns.snapshot({ cred: root, inode: f, parent: dir, name: 'snap', overwrite: false });
    const r = tools.dirinfo({ inode: dir });
    expect(r).toEqual({
      inodes: 3,
      dirs: 1,
      files: 2,
      chunks: 2,
      length: 2 * (CHUNK_SIZE + 100 * 1024),
      size: CHUNK_SIZE + 128 * 1024 + 2 * HDR,
      realsize: 2 * (CHUNK_SIZE + 128 * 1024 + 2 * HDR),
    });
    // As mfsdirinfo counts them: a 1-byte file's size is 73728, a whole chunk's 64 MiB + 8 KiB.
    expect(chunkDataSize(1, 0)).toBe(73728);
    expect(chunkDataSize(CHUNK_SIZE * 3, 1)).toBe(CHUNK_SIZE + HDR);
  });

  it('checkfile counts chunks by valid copies', () => {
    const { ns, chunks, tools, server, file } = setup();
    const f = file(1, 'f', 2 * CHUNK_SIZE + 1);
    const [c0, c1] = chunkIds(chunks.md, f);
    const a = server(1);
    const b = server(2);
    chunks.report(a, [{ chunkId: c0!, version: 1 }, { chunkId: c1!, version: 1 }], true);
    chunks.report(b, [{ chunkId: c0!, version: 1 }], true);
    expect(tools.checkfile({ inode: f })).toEqual({ goal: 1, copies: [1, 1, 1], empty: 0 });
    // A chunk at index 3 only: three holes before it (mfscheckfile's "empty (zero) chunks").
    const { inode: sparse } = ns.mknod({ cred: root, parent: 1, name: 's', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr;
    const g = ns.writeChunk({ cred: root, inode: sparse, index: 3 });
    ns.writeChunkEnd({ inode: sparse, index: 3, chunkId: g.chunkId, length: 3 * CHUNK_SIZE + 1, ok: true });
    expect(tools.checkfile({ inode: sparse })).toEqual({ goal: 1, copies: [1], empty: 3 });
  });

  it('filerepair takes a stale copy\'s version, drops a chunk with no copy, leaves the rest', () => {
    const { ns, chunks, tools, server, file, replayed } = setup();
    const f = file(1, 'f', 4 * CHUNK_SIZE);
    const [c0, c1, c2, c3] = chunkIds(chunks.md, f);
    // c0 valid; c1 missed a write (copy at version 1, chunk now at 2); c2 nowhere; c3 only damaged.
    ns.writeChunk({ cred: root, inode: f, index: 1 });
    const a = server(1);
    chunks.report(a, [{ chunkId: c0!, version: 1 }, { chunkId: c1!, version: 1 }, { chunkId: c3!, version: 1 }], true);
    chunks.damaged(a, [{ chunkId: c3!, version: 1 }]);
    expect(() => tools.filerepair({ cred: alice, inode: f })).toThrow(/EACCES|permission/i);
    expect(tools.filerepair({ cred: root, inode: f })).toEqual({ notChanged: 2, erased: 1, repaired: 1 });
    expect(ns.md.chunks.version[c1!]).toBe(1);
    expect(chunks.locations(c1!)).toHaveLength(1);
    expect(ns.md.chunkEntries(f)).toEqual([[0, c0], [1, c1], [3, c3]]);
    expect(ns.md.chunks.has(c2!)).toBe(false);
    expect(tools.checkfile({ inode: f }).copies).toEqual([1, 2]);
    expect(replayed()).toEqual(canonicalState(ns.md));
  });

  it('appendchunks pads the destination to a whole chunk and shares the source\'s chunks', () => {
    const { ns, tools, file, replayed } = setup();
    const dst = file(1, 'dst', 10);
    const src = file(1, 'src', CHUNK_SIZE + 5);
    const [s0, s1] = chunkIds(ns.md, src);
    const r = tools.appendchunks({ cred: root, inode: dst, src });
    expect(r.attr.size).toBe(CHUNK_SIZE + CHUNK_SIZE + 5);
    expect(ns.md.chunkEntries(dst).slice(1)).toEqual([[1, s0], [2, s1]]);
    expect(ns.md.chunks.refcount[s0!]).toBe(2);
    expect(() => tools.appendchunks({ cred: alice, inode: dst, src })).toThrow();
    // A write to the shared chunk through dst is copy-on-write: src keeps its chunk.
    const g = ns.writeChunk({ cred: root, inode: dst, index: 1 });
    expect(g.chunkId).not.toBe(s0);
    expect(chunkIds(ns.md, src)).toEqual([s0, s1]);
    expect(replayed()).toEqual(canonicalState(ns.md));
  });
});

/** The file's chunk ids in index order (the files here have no holes). */
function chunkIds(md: Metadata, inode: number): number[] {
  return md.chunkEntries(inode).map(([, id]) => id);
}
