import type { Logger } from '@tsmfs/daemon';
import { type DataAddress, DataFrameError, Status, TsmfsError, dataBlockCrcOk, decodeDataBlock, fail } from '@tsmfs/protocol';
import { type Connection, dial } from '@tsmfs/rpc';
import type { ChunkHandle, HddManager } from './hdd-manager.js';

export interface ReplicateOptions {
  hdd: HddManager;
  log: Logger;
  /** Our name in handshakes with the source. */
  name: string;
  timeoutMs?: number;
}

/** Bytes asked of the source per dataRead: bounded memory, and progress a timeout can see. */
const READ_SPAN = 4 * 1024 * 1024;

/**
 * Pulls chunk `chunkId` at `version` from the first of `sources` that delivers all of it
 * with every block's CRC intact (the source checks its disk, we check the wire), and
 * keeps it here. A source that fails is left for the next; a partial copy is deleted.
 * The master asks for this (chunkReplicate) to bring a chunk back to its goal.
 */
export async function replicateChunk(opts: ReplicateOptions, chunkId: number, version: number, sources: readonly DataAddress[]): Promise<void> {
  if (sources.length === 0) throw fail('EINVAL', `replicate chunk ${chunkId}: no source given`);
  let lastError: Error | undefined;
  for (const source of sources) {
    try {
      await copyFrom(opts, chunkId, version, source);
      opts.log.info({ chunkId, version, source: `${source.host}:${source.port}` }, 'chunk replicated');
      return;
    } catch (err) {
      lastError = err as Error;
      opts.log.warn({ chunkId, version, source: `${source.host}:${source.port}`, err: (err as Error).message }, 'replication from this source failed');
      if (err instanceof TsmfsError && (err.status === Status.EEXIST || err.status === Status.ENOSPC)) break;
    }
  }
  const status = lastError instanceof TsmfsError ? lastError.status : Status.EIO;
  throw new TsmfsError(status, `replicate chunk ${chunkId} v${version}: ${lastError?.message ?? 'no source'}`);
}

async function copyFrom(opts: ReplicateOptions, chunkId: number, version: number, source: DataAddress): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const { conn } = await dial({ host: source.host, port: source.port, role: 'chunkserver', name: opts.name, requestTimeoutMs: timeoutMs, connectTimeoutMs: timeoutMs });
  try {
    // The master's read token for the source's copy opens it to us, as a client's would.
    const { token } = source;
    const { length } = await conn.request('dataChunkInfo', { chunkId, version, token });
    await opts.hdd.create(chunkId, version);
    const chunk = await opts.hdd.acquire(chunkId, version);
    let complete = false;
    try {
      await pull(conn, chunk, length, token);
      await chunk.sync();
      complete = true;
    } finally {
      await chunk.release();
      if (!complete) await opts.hdd.delete(chunkId, version).catch(() => undefined);
    }
  } finally {
    conn.close();
  }
}

/** Reads [0, length) from the source in spans and writes each piece as it arrives. */
async function pull(conn: Connection, chunk: ChunkHandle, length: number, token: Uint8Array | undefined): Promise<void> {
  for (let offset = 0; offset < length; offset += READ_SPAN) {
    const span = Math.min(READ_SPAN, length - offset);
    const writes: Promise<void>[] = [];
    let received = 0;
    let bad: Error | undefined;
    await conn.requestStream('dataRead', { chunkId: chunk.chunkId, version: chunk.version, offset, length: span, token }, (frame) => {
      if (bad) return;
      try {
        const block = decodeDataBlock(frame.body);
        if (!dataBlockCrcOk(block)) throw fail('EIO', `piece at ${block.offset} arrived with a bad CRC`);
        if (block.offset < offset || block.offset + block.data.length > offset + span) throw new DataFrameError(`piece at ${block.offset} lies outside the span asked`);
        received += block.data.length;
        writes.push(chunk.write(block.offset, block.data, block.crc));
      } catch (err) {
        bad = err as Error;
      }
    });
    const results = await Promise.allSettled(writes);
    if (bad) throw bad;
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    if (received !== span) throw fail('EIO', `source sent ${received} of ${span} bytes at ${offset}`);
  }
}
