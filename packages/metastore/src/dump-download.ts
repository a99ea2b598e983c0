import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Status, TsmfsError } from '@tsmfs/protocol';
import type { Connection } from '@tsmfs/rpc';
import type { FileFamily } from './data-path.js';
import { dumpVersion, installDump } from './dump-file.js';

/** Bytes asked for per mlDumpRead (the master caps pieces at 1 MiB). */
const PIECE = 1024 * 1024;

export interface DumpDownloaded {
  version: number;
  bytes: number;
  ms: number;
}

/**
 * Downloads the master's newest dump as `family.dump` (metadata_ml.tsmfs for a
 * metalogger): into the family's temp file, fsynced, checked twice (the sha256 the master
 * announced, and the dump's own CRC32 and header), then put in place by installDump. A
 * failed or damaged download leaves the previous dump as the newest.
 */
export async function downloadDump(conn: Connection, dir: string, family: FileFamily, keepPrevious: number): Promise<DumpDownloaded> {
  const started = Date.now();
  const info = await conn.request('mlDumpOpen', {});
  const tmp = join(dir, family.dumpTemp);
  try {
    await receive(conn, info.handle, info.size, tmp, Buffer.from(info.sha256));
    const version = dumpVersion(readFileSync(tmp));
    if (version !== info.version) throw new TsmfsError(Status.EIO, `downloaded dump is at version ${version}, the master announced ${info.version}`);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    void conn.request('mlDumpClose', { handle: info.handle }).catch(() => undefined);
  }
  await installDump(dir, family, keepPrevious);
  return { version: info.version, bytes: info.size, ms: Date.now() - started };
}

async function receive(conn: Connection, handle: number, size: number, tmp: string, sha256: Buffer): Promise<void> {
  const fh = await open(tmp, 'w');
  const hash = createHash('sha256');
  try {
    for (let off = 0; off < size; ) {
      const { data } = await conn.request('mlDumpRead', { handle, offset: off, length: Math.min(PIECE, size - off) });
      if (data.length === 0) throw new TsmfsError(Status.EIO, `dump download ended at ${off} of ${size} bytes`);
      hash.update(data);
      let w = 0;
      while (w < data.length) w += (await fh.write(data, w, data.length - w, off + w)).bytesWritten;
      off += data.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  const got = hash.digest();
  if (!got.equals(sha256)) throw new TsmfsError(Status.EIO, `downloaded dump's sha256 ${got.toString('hex')} differs from the master's ${sha256.toString('hex')}`);
}
