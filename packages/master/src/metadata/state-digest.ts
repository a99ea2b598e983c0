import type { Metadata } from './metadata.js';

/**
 * Everything the metadata holds, as plain data in a fixed order, for deep equality in
 * tests (replay = live, dump round trips). Orders that users can observe (directory
 * entries, xattr names, trash) are kept as they are, not sorted, so that a dump that
 * loses them fails the comparison. Chunk locations are left out: they are not state.
 */
export function canonicalState(md: Metadata): unknown {
  const inodes = [...md.inodes()].map((i) => inodeState(md, i));
  const chunks = [...md.chunks.ids()].map((id) => ({
    id,
    version: md.chunks.version[id],
    refcount: md.chunks.refcount[id],
    cowFrom: md.chunks.cowSource.get(id) ?? null,
  }));
  return {
    version: md.version,
    nextInode: md.nextInode,
    inodeCount: md.inodeCount,
    pendingFreeIds: md.pendingFreeIds(),
    nextChunkId: md.chunks.nextChunkId,
    inodes,
    chunks,
    chunksToDelete: [...md.chunks.toDelete],
    trash: [...md.trash].map(([inode, k]) => [inode, k.path, k.deletedAt]),
    sustained: [...md.sustained].map(([inode, k]) => [inode, k.path, k.deletedAt]),
    clients: md.clients.toJSON(),
    quotas: [...md.quotas.byDir],
    sclasses: md.sclasses.toJSON(),
    acls: [...md.acls.byInode],
  };
}

function inodeState(md: Metadata, i: number): Record<string, unknown> {
  const entries = md.children.get(i);
  const xattrs = md.xattrs.get(i);
  return {
    ...md.attr(i),
    parents: md.parents(i),
    dirName: md.dirName.get(i) ?? null,
    children: entries ? [...entries] : null,
    target: md.symlinkTarget.get(i) ?? null,
    xattrs: xattrs ? [...xattrs].map(([name, v]) => [name, Buffer.from(v).toString('hex')]) : null,
    chunks: md.chunkEntries(i),
  };
}
