import { type ChunkGrant, Status, TsmfsError, dataBlockCrcOk, decodeDataBlock } from '@tsmfs/protocol';
import type { DataLinks } from './data-links.js';

/** Largest span of one dataRead: the chunkserver streams it back block by block. */
export const READ_SPAN = 8 * 1024 * 1024;

/**
 * Reads [offset, offset+length) of one chunk from the copies a grant lists, trying
 * them in turn from `first`: an error from a copy (EIO for a damaged block — the
 * chunkserver reports it to the master —, a CRC mismatch on the wire, a dead server,
 * an old version) moves on to the next copy. Throws only when every copy failed, with
 * the last error. Holes (chunk id 0) and bytes past a chunk's end read as zeros.
 */
export async function readChunkRange(
  links: DataLinks,
  grant: ChunkGrant,
  offset: number,
  length: number,
  first = 0,
  onFallback?: (err: unknown) => void,
): Promise<Buffer> {
  const out = Buffer.alloc(length);
  if (grant.chunkId === 0 || length === 0) return out;
  if (grant.locations.length === 0) throw new TsmfsError(Status.EIO, `chunk ${grant.chunkId} has no valid copy`);
  let lastError: unknown;
  for (let i = 0; i < grant.locations.length; i++) {
    const loc = grant.locations[(first + i) % grant.locations.length]!;
    try {
      for (let pos = 0; pos < length; pos += READ_SPAN) {
        await readSpan(links, loc, grant, offset + pos, Math.min(READ_SPAN, length - pos), out.subarray(pos));
      }
      return out;
    } catch (err) {
      lastError = err;
      if (i + 1 < grant.locations.length) onFallback?.(err);
    }
  }
  throw lastError instanceof TsmfsError ? lastError : new TsmfsError(Status.EIO, String((lastError as Error)?.message ?? lastError));
}

async function readSpan(links: DataLinks, loc: { host: string; port: number }, grant: ChunkGrant, offset: number, length: number, into: Buffer): Promise<void> {
  const conn = await links.reader(loc);
  let bad: string | undefined;
  let received = 0;
  await conn.requestStream('dataRead', { chunkId: grant.chunkId, version: grant.version, offset, length }, (frame) => {
    if (bad) return;
    const block = decodeDataBlock(frame.body);
    if (!dataBlockCrcOk(block)) bad = `CRC mismatch in the block at ${block.offset} of chunk ${grant.chunkId} from ${loc.host}:${loc.port}`;
    else if (block.chunkId !== grant.chunkId || block.offset < offset || block.offset + block.data.length > offset + length) bad = 'a read frame outside the span asked for';
    else {
      into.set(block.data, block.offset - offset);
      received += block.data.length;
    }
  });
  if (bad) throw new TsmfsError(Status.EIO, bad);
  if (received !== length) throw new TsmfsError(Status.EIO, `short read from ${loc.host}:${loc.port}: ${received} of ${length} bytes`);
}
