import {
  BLOCK_SIZE,
  CHUNK_SIZE,
  type ChunkGrant,
  type Cred,
  DataFrameType,
  type MessageName,
  type Reply,
  type Request,
  Status,
  TsmfsError,
  dataCrc,
  decodeDataWriteStatus,
  encodeDataBlockHeader,
  ioFailure,
} from '@tsmfs/protocol';
import type { Connection } from '@tsmfs/rpc';
import type { DataLinks } from './data-links.js';
import { type DirtyExtents, type Extent, blockPieces } from './dirty-extents.js';

/** Pieces of a write in flight on one chain before we wait for acknowledgements. */
const WRITE_WINDOW = 64;
/** Attempts of one chunk write, each on a fresh grant (a new version, without dead servers). */
const MAX_ATTEMPTS = 8;

/**
 * Errors a new chain cannot cure: the caller gets them. Everything else (a chunkserver
 * that died, a CRC error on the wire, a timeout) is retried on a new write grant.
 */
const FINAL = new Set<number>([Status.ENOSPC, Status.EROFS, Status.EACCES, Status.EPERM, Status.ENOENT, Status.EISDIR, Status.EINVAL, Status.EDQUOT, Status.EFBIG]);

export interface ChunkWriteContext {
  call<N extends MessageName>(name: N, body: Request<N>): Promise<Reply<N>>;
  cred: Cred;
  links: DataLinks;
  inode: number;
  /** Called with each grant and with the file length each finished write reached. */
  onWritten(index: number, grant: ChunkGrant, fileLength: number): void;
  /** Called before each retry on a new grant. */
  onRetry?(index: number, err: unknown): void;
  /**
   * Whether the caller waits for this write to end (close, fsync, a read of the file):
   * then no more bytes are expected and the end goes right behind the last piece.
   * Otherwise a streaming writer keeps adding to the same grant while pieces are acknowledged.
   */
  finishing?(): boolean;
}

/**
 * Writes everything `dirty` holds for chunk `index`, and whatever arrives there while
 * it runs, through the chain the master grants: the first copy gets the pieces, each
 * chunkserver forwards to the next, a piece is acknowledged when the whole chain has
 * it. When anything in the chain fails, the write is ended as failed, every piece of it
 * (acknowledged or not: none is safe before the end) goes back into `dirty` and a new
 * grant is asked for: the master bumps the
 * version on the copies still alive (the dead one becomes stale) and we write again.
 */
export async function writeChunk(ctx: ChunkWriteContext, index: number, dirty: DirtyExtents): Promise<void> {
  let attempt = 0;
  // End of what the chain acknowledged: kept across a retry, whose length must cover it too.
  let end = 0;
  while (!dirty.empty) {
    attempt++;
    const grant = await grantWithRetry(ctx, index);
    let sending: Extent[] = [];
    // Acknowledged by the chain but not ended: a chunkserver killed before the end may
    // lose them (it writes a chunk's CRC header at the end; docs/chunkserver.md,
    // "Crashes and the header"), so a retry sends them again.
    const acknowledged: Extent[] = [];
    try {
      if (grant.locations.length === 0) throw new TsmfsError(Status.EIO, `no chunkserver holds chunk ${grant.chunkId}`);
      const head = grant.locations[0]!;
      const conn = await ctx.links.writer(head);
      // The pieces follow the init without waiting for its reply (the chunkserver holds
      // them while the chain opens); when the init fails, its error is the write's.
      // Every copy checks the master's write token for it (a token that ran out is retried on a new grant).
      const chain = grant.locations.slice(1).map(({ host, port, token }) => ({ host, port, token }));
      // A 'create' grant: every copy of the chain creates the chunk at this init.
      const init = conn.request('dataWriteInit', { chunkId: grant.chunkId, version: grant.version, token: head.token, chain, ...(grant.create ? { create: true } : {}) });
      init.catch(() => undefined);
      const endWrite = () => conn.request('dataWriteEnd', { chunkId: grant.chunkId, version: grant.version });
      // The chain's answer to the end: the receipts of the copies this write created, for the master.
      let ended: Reply<'dataWriteEnd'> = {};
      let closing: Promise<Reply<'dataWriteEnd'>> | undefined;
      try {
        while (!dirty.empty && !closing) {
          sending = dirty.take();
          await sendExtents(conn, grant, sending, () => {
            // Nothing more to send and none expected: the end follows the last piece at
            // once instead of a round trip later (the chunkserver answers it once every
            // piece before it is answered; a failed piece still fails the write here).
            // Bytes that arrive meanwhile go out on the next grant.
            if (!dirty.empty || !ctx.finishing?.()) return;
            closing = endWrite();
            closing.catch(() => undefined);
          });
          for (const e of sending) end = Math.max(end, e.end);
          acknowledged.push(...sending);
          sending = [];
        }
        await init;
        ended = await (closing ?? endWrite());
      } catch (err) {
        conn.close();
        throw (await init.then(() => undefined, (e: unknown) => e)) ?? err;
      }
      ctx.links.done(head, conn);
      const fileLength = index * CHUNK_SIZE + end;
      // With the grant's version: every copy has every byte now, so the master may grant
      // the chunk's next write at this version (no version change on the chunkservers).
      await ctx.call('writeChunkEnd', { inode: ctx.inode, index, chunkId: grant.chunkId, length: end === 0 ? 0 : fileLength, ok: true, version: grant.version, ...(ended.created ? { created: ended.created } : {}) });
      ctx.onWritten(index, grant, end === 0 ? 0 : fileLength);
      attempt = 0;
      end = 0;
    } catch (err) {
      dirty.restore([...acknowledged, ...sending]);
      // The lease must end before the next grant; a failure to say so only delays it.
      await ctx.call('writeChunkEnd', { inode: ctx.inode, index, chunkId: grant.chunkId, length: 0, ok: false }).catch(() => undefined);
      const status = err instanceof TsmfsError ? err.status : Status.EIO;
      if (FINAL.has(status)) throw err;
      if (attempt >= MAX_ATTEMPTS) throw ioFailure(err);
      ctx.onRetry?.(index, err);
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** (attempt - 1))));
    }
  }
}

/**
 * Grant errors that pass: no chunkserver connected yet (EAGAIN, MooseFS's
 * ERROR_NOCHUNKSERVERS, e.g. while they dial back a restarted master), another writer's
 * lease (EAGAIN), copies not reported yet (EIO). Asked again with back-off for up to
 * GRANT_RETRY_MS, as mfsmount does; anything else goes to the caller.
 */
const GRANT_TRANSIENT = new Set<number>([Status.EAGAIN, Status.EIO]);
const GRANT_RETRY_MS = 60_000;

async function grantWithRetry(ctx: ChunkWriteContext, index: number): Promise<Reply<'writeChunk'>> {
  const deadline = Date.now() + GRANT_RETRY_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return await ctx.call('writeChunk', { cred: ctx.cred, inode: ctx.inode, index });
    } catch (err) {
      if (!(err instanceof TsmfsError && GRANT_TRANSIENT.has(err.status)) || Date.now() >= deadline) throw err;
      ctx.onRetry?.(index, err);
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
    }
  }
}

/**
 * Sends extents as pieces of at most one block, never crossing a block boundary, WRITE_WINDOW
 * at a time; `sent` runs once the last piece is queued, before its acknowledgements. A
 * piece goes out as the views of the written buffers it spans (blockPieces), uncopied.
 */
async function sendExtents(conn: Connection, grant: ChunkGrant, extents: Extent[], sent: () => void): Promise<void> {
  const inFlight: Promise<void>[] = [];
  let seq = 0;
  let failure: unknown;
  for (const e of extents) {
    for (const { off, parts } of blockPieces(e, BLOCK_SIZE)) {
      const length = parts.length === 1 ? parts[0]!.length : parts.reduce((n, p) => n + p.length, 0);
      const header = encodeDataBlockHeader({ chunkId: grant.chunkId, version: grant.version, seq: seq++, offset: off, length, crc: dataCrc(parts) });
      const ack = conn.requestData(DataFrameType.write, [header, ...parts]).then((body) => {
        const st = decodeDataWriteStatus(body);
        if (st.status !== 0) throw new TsmfsError(st.status, `chunkserver refused a piece of chunk ${grant.chunkId} at ${off}`);
      });
      ack.catch((err) => (failure ??= err));
      inFlight.push(ack);
      if (failure) throw failure;
      if (inFlight.length >= WRITE_WINDOW) await inFlight.shift();
      if (conn.socket.writableNeedDrain) await conn.drained();
    }
  }
  sent();
  await Promise.all(inFlight);
}
