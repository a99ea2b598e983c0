import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { link, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ML_DUMP_FILE, ML_DUMP_TEMP_FILE, dumpVersion, listMlDumps, mlDumpBackupFile } from '@tsmfs/master';
import { Status, TsmfsError } from '@tsmfs/protocol';
import type { Connection } from '@tsmfs/rpc';

/** Bytes asked for per mlDumpRead (the master caps pieces at 1 MiB). */
const PIECE = 1024 * 1024;

export interface DumpDownloaded {
  version: number;
  bytes: number;
  ms: number;
}

/**
 * Downloads the master's newest dump as metadata_ml.tsmfs: into metadata_ml.tsmfs.tmp,
 * fsynced, checked twice (the sha256 the master announced, and the dump's own CRC32 and
 * header), then the previous copies shift to .back.N and the temp file is renamed over
 * metadata_ml.tsmfs. A failed or damaged download leaves the previous dump as the newest.
 */
export async function downloadDump(conn: Connection, dir: string, keepPrevious: number): Promise<DumpDownloaded> {
  const started = Date.now();
  const info = await conn.request('mlDumpOpen', {});
  const tmp = join(dir, ML_DUMP_TEMP_FILE);
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
  await shiftBackups(dir, keepPrevious);
  await rename(tmp, join(dir, ML_DUMP_FILE));
  await fsyncDir(dir);
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

/** back.N → N+1 (beyond keepPrevious removed), the current dump hard-linked as back.1. */
async function shiftBackups(dir: string, keepPrevious: number): Promise<void> {
  const backups = listMlDumps(dir).filter((d) => d.n > 0);
  for (const b of [...backups].reverse()) {
    if (b.n + 1 > keepPrevious) await rm(b.path, { force: true });
    else await rename(b.path, join(dir, mlDumpBackupFile(b.n + 1)));
  }
  const current = join(dir, ML_DUMP_FILE);
  if (keepPrevious > 0 && existsSync(current)) await link(current, join(dir, mlDumpBackupFile(1)));
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
