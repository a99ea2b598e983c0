import { BLOCK_SIZE, CHUNK_HEADER_SIZE, CHUNK_SIZE, type Reply, type Request, fail } from '@tsmfs/protocol';
import type { Namespace } from '../metadata/namespace.js';
import { forEachNode } from '../metadata/tree-walk.js';
import type { ChunkManager } from './chunk-manager.js';

/**
 * MooseFS's tool requests that look at the namespace and the copies together: totals of a
 * tree (mfsdirinfo), a file's chunks by number of valid copies (mfscheckfile), repair of
 * chunks with no valid copy (mfsfilerepair), appending one file's chunks to another
 * (mfsappendchunks). The session layer has already mapped the caller's credentials.
 */
export class ToolRequests {
  constructor(
    private readonly chunks: ChunkManager,
    private readonly namespace: () => Namespace,
  ) {}

  dirinfo(req: Request<'dirinfo'>): Reply<'dirinfo'> {
    const md = this.chunks.md;
    if (!md.exists(req.inode)) throw fail('ENOENT', `inode ${req.inode}`);
    const out = { inodes: 0, dirs: 0, files: 0, chunks: 0, length: 0, size: 0, realsize: 0 };
    const seenChunks = new Set<number>();
    const seenInodes = new Set<number>();
    forEachNode(md, req.inode, true, (inode) => {
      // A hard-linked file is one inode however many names it has.
      if (seenInodes.has(inode)) return;
      seenInodes.add(inode);
      out.inodes++;
      const type = md.typeOf(inode);
      if (type === 'dir') out.dirs++;
      if (type !== 'file') return;
      out.files++;
      const length = md.size[inode]!;
      out.length += length;
      md.forEachChunk(inode, (id, index) => {
        if (seenChunks.has(id)) return;
        seenChunks.add(id);
        out.chunks++;
        const size = chunkDataSize(length, index);
        out.size += size;
        out.realsize += size * md.sclasses.copies(md.goal[inode]!);
      });
    });
    return out;
  }

  checkfile(req: Request<'checkfile'>): Reply<'checkfile'> {
    const md = this.chunks.md;
    if (!md.exists(req.inode)) throw fail('ENOENT', `inode ${req.inode}`);
    if (md.typeOf(req.inode) !== 'file') throw fail('EINVAL', 'not a regular file');
    const copies: number[] = [];
    let slots = 0;
    let chunks = 0;
    for (const [index, id] of md.chunkEntries(req.inode)) {
      const n = Math.min(256, this.chunks.validServers(id).length);
      while (copies.length <= n) copies.push(0);
      copies[n]!++;
      chunks++;
      slots = Math.max(slots, index + 1);
    }
    // Holes before the last chunk: mfscheckfile's "empty (zero) chunks".
    return { goal: md.goal[req.inode]!, copies, empty: slots - chunks };
  }

  /**
   * MooseFS's filerepair, for every chunk of the file with no valid copy: when copies at
   * another version are left (a write they missed, a master that lost a version bump),
   * the chunk takes the newest of those versions and those copies become valid again
   * (`repaired`: the file may miss the last writes to that chunk); when no copy is left
   * at all, the chunk leaves the file and the range reads as zeros (`erased`). Chunks
   * under a write lease, with a valid copy, or whose only copies are damaged are left
   * (`notChanged`): a damaged copy is not trusted back into service.
   */
  filerepair(req: Request<'filerepair'>): Reply<'filerepair'> {
    const ns = this.namespace();
    const inode = ns.checkRepairable(req.cred, req.inode);
    const out = { notChanged: 0, erased: 0, repaired: 0 };
    // A copy of the list: erasing a chunk changes it.
    ns.md.chunkEntries(inode).forEach(([index, id]) => {
      if (this.chunks.validServers(id).length > 0 || this.chunks.leases.isLeased(id)) {
        out.notChanged++;
        return;
      }
      const versions = [...this.chunks.copies.of(id).values()].filter((c) => !c.damaged).map((c) => c.version);
      const damagedOnly = versions.length === 0 && this.chunks.copies.of(id).size > 0;
      if (damagedOnly) {
        out.notChanged++;
      } else if (versions.length > 0) {
        ns.repairChunkVersion(id, Math.max(...versions));
        this.chunks.syncLocations(id);
        out.repaired++;
      } else {
        ns.eraseChunk(inode, index);
        out.erased++;
      }
    });
    return out;
  }

  appendchunks(req: Request<'appendchunks'>): Reply<'appendchunks'> {
    return this.namespace().appendChunks(req);
  }
}

/**
 * Bytes a chunk takes on one chunkserver, as MooseFS's "size" counts them: its header and
 * the file's bytes in it in whole 64 KiB blocks (mfsdirinfo: 73728 for a 1-byte file,
 * 67190784 for 64 MiB + 1 byte in two chunks).
 */
export function chunkDataSize(fileLength: number, index: number): number {
  const inChunk = Math.max(0, Math.min(CHUNK_SIZE, fileLength - index * CHUNK_SIZE));
  return CHUNK_HEADER_SIZE + Math.ceil(inChunk / BLOCK_SIZE) * BLOCK_SIZE;
}
