import { type ChunkGrant, type ChunkLocation, Status, TsmfsError, dataBlockCrcOk, decodeDataBlock, ioFailure } from '@tsmfs/protocol';
import type { DataLinks } from './data-links.js';

/** Largest span of one dataRead: the chunkserver streams it back block by block. */
export const READ_SPAN = 8 * 1024 * 1024;

/** Grants one chunk read may use before it fails: the cached one, then fresh ones. */
const READ_GRANTS = 6;
/** Pause before the third grant, doubling after (the second is asked for at once). */
const READ_RETRY_PAUSE_MS = 50;

/** Where one chunk of a file is, for `readChunk`. */
export interface ChunkSource {
  links: DataLinks;
  /** The chunk's read grant: from the location cache unless `fresh`. */
  grant(fresh: boolean): Promise<ChunkGrant>;
  /** A copy failed and another copy or grant is tried. */
  onFallback?: (err: unknown) => void;
  /** Where the bytes of a span go (a recycled read-ahead window); default: a new buffer. */
  alloc?: Alloc;
}

/** A buffer of `length` bytes whose contents may be anything: the read overwrites them all. */
export type Alloc = (length: number) => Buffer;

export interface RangeOptions {
  /** The copy tried first (an index into the grant's locations). */
  first?: number;
  onFallback?: (err: unknown) => void;
  alloc?: Alloc;
}

/**
 * Reads [offset, offset+length) of one chunk. When every copy of a grant failed — most
 * often because a writer or a truncation moved the chunk to a new version since the grant
 * (ESTALE), or took it away (ENOENT) — a fresh grant is asked for and its copies tried,
 * at most READ_GRANTS grants with a doubling pause: a read waits for another client's
 * version change instead of failing (the master holds back a grant while the change is
 * in flight; docs/client.md, "Reads"). Errors of the master's own (the file is gone, no
 * permission) are the read's error at once.
 */
export async function readChunk(source: ChunkSource, offset: number, length: number): Promise<Buffer> {
  let grant = await source.grant(false);
  const first = closestCopy(grant);
  for (let attempt = 1; ; attempt++) {
    try {
      return await readChunkRange(source.links, grant, offset, length, { first, onFallback: source.onFallback, alloc: source.alloc });
    } catch (err) {
      if (attempt >= READ_GRANTS) throw ioFailure(err);
      source.onFallback?.(err);
      if (attempt > 1) await new Promise((r) => setTimeout(r, READ_RETRY_PAUSE_MS << (attempt - 2)));
      grant = await source.grant(true);
    }
  }
}

/**
 * Where a read starts: one of the closest copies at random (the master lists them closest
 * first when it has a topology, each with its distance), so that the clients of a rack
 * share its servers; without distances, any copy at random.
 */
function closestCopy(grant: ChunkGrant): number {
  const nearest = grant.locations[0]?.distance;
  let n = 0;
  while (n < grant.locations.length && grant.locations[n]!.distance === nearest) n++;
  return Math.floor(Math.random() * Math.max(1, n));
}

/**
 * Reads [offset, offset+length) of one chunk from the copies a grant lists, trying
 * them in turn from `options.first`: an error from a copy (EIO for a damaged block — the
 * chunkserver reports it to the master —, a CRC mismatch on the wire, a dead server,
 * an old version) moves on to the next copy. Throws only when every copy failed, with
 * the last error. Holes (chunk id 0) and bytes past a chunk's end read as zeros.
 */
export async function readChunkRange(
  links: DataLinks,
  grant: ChunkGrant,
  offset: number,
  length: number,
  { first = 0, onFallback, alloc = Buffer.allocUnsafe }: RangeOptions = {},
): Promise<Buffer> {
  if (grant.chunkId === 0 || length === 0) return Buffer.alloc(length);
  if (grant.locations.length === 0) throw new TsmfsError(Status.EIO, `chunk ${grant.chunkId} has no valid copy`);
  let lastError: unknown;
  for (let i = 0; i < grant.locations.length; i++) {
    const loc = grant.locations[(first + i) % grant.locations.length]!;
    try {
      if (length <= READ_SPAN) return await readSpan(links, loc, grant, offset, alloc(length));
      // Every span fills its part or throws: nothing of `out` is left unwritten.
      const out = alloc(length);
      for (let pos = 0; pos < length; pos += READ_SPAN) {
        await readSpan(links, loc, grant, offset + pos, out.subarray(pos, Math.min(length, pos + READ_SPAN)));
      }
      return out;
    } catch (err) {
      lastError = err;
      if (i + 1 < grant.locations.length) onFallback?.(err);
    }
  }
  throw lastError instanceof TsmfsError ? lastError : new TsmfsError(Status.EIO, String((lastError as Error)?.message ?? lastError));
}

/**
 * One dataRead of `into.length` bytes at `offset`, into `into`. Its frames are lent (each
 * body is a view of the link's reused read buffer while the callback runs): their bytes
 * are copied straight into place, the one copy a read makes in the mount.
 */
async function readSpan(links: DataLinks, loc: ChunkLocation, grant: ChunkGrant, offset: number, into: Buffer): Promise<Buffer> {
  const { length } = into;
  const conn = await links.reader(loc);
  let bad: string | undefined;
  let received = 0;
  await conn.requestStream('dataRead', { chunkId: grant.chunkId, version: grant.version, offset, length, token: loc.token }, (frame) => {
    if (bad) return;
    const block = decodeDataBlock(frame.body);
    if (!dataBlockCrcOk(block)) bad = `CRC mismatch in the block at ${block.offset} of chunk ${grant.chunkId} from ${loc.host}:${loc.port}`;
    // In order and back to back, as a chunkserver sends them: the frames then cover the
    // span exactly when their bytes add up to it, so `into` needs no zeroing first.
    else if (block.chunkId !== grant.chunkId || block.offset !== offset + received || block.offset + block.data.length > offset + length) bad = 'a read frame out of order or outside the span asked for';
    else {
      into.set(block.data, block.offset - offset);
      received += block.data.length;
    }
  }, { lent: true });
  if (bad) throw new TsmfsError(Status.EIO, bad);
  if (received !== length) throw new TsmfsError(Status.EIO, `short read from ${loc.host}:${loc.port}: ${received} of ${length} bytes`);
  return into;
}
