import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { type FileHandle, link, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { type FileFamily, listDumps } from './data-path.js';
import { fsyncDir } from './fsync-dir.js';

/**
 * The envelope of a metadata dump (metadata.tsmfs, metadata_ml.tsmfs):
 *
 *   magic "TSMFSMD1" | format u32 | metadata version f64 | payload length f64 | payload | crc32 u32
 *
 * All numbers little-endian; the CRC covers everything before it. What the payload holds
 * (and which formats can be read) is the master's: packages/master/src/metadata/
 * metadata-dump.ts. This part is what a follower needs to check, name and serve a dump
 * without knowing the namespace.
 */
export const DUMP_MAGIC = Buffer.from('TSMFSMD1', 'latin1');
export const DUMP_HEADER_SIZE = 8 + 4 + 8 + 8;
const FORMAT_AT = 8;
const VERSION_AT = 12;
const LENGTH_AT = 20;

export class DumpError extends Error {
  constructor(
    readonly reason: 'magic' | 'format' | 'checksum' | 'truncated' | 'corrupt',
    message: string,
  ) {
    super(`metadata dump: ${message}`);
    this.name = 'DumpError';
  }
}

export interface DumpFrame {
  format: number;
  version: number;
  payload: Buffer;
}

/** Wraps an encoded payload in the header and checksum. */
export function frameDump(format: number, version: number, payload: Buffer): Buffer {
  const out = Buffer.alloc(DUMP_HEADER_SIZE + payload.length + 4);
  DUMP_MAGIC.copy(out, 0);
  out.writeUInt32LE(format, FORMAT_AT);
  out.writeDoubleLE(version, VERSION_AT);
  out.writeDoubleLE(payload.length, LENGTH_AT);
  payload.copy(out, DUMP_HEADER_SIZE);
  out.writeUInt32LE(crc32(out.subarray(0, DUMP_HEADER_SIZE + payload.length)), DUMP_HEADER_SIZE + payload.length);
  return out;
}

/**
 * Checks magic, length and checksum (and the format, when `readableFormats` is given)
 * and returns the payload; throws DumpError saying what is wrong.
 */
export function unframeDump(buf: Buffer, readableFormats?: readonly number[]): DumpFrame {
  if (buf.length < DUMP_MAGIC.length || !buf.subarray(0, DUMP_MAGIC.length).equals(DUMP_MAGIC)) {
    throw new DumpError(buf.length < DUMP_MAGIC.length ? 'truncated' : 'magic', 'not a tsmfs metadata dump');
  }
  if (buf.length < DUMP_HEADER_SIZE + 4) throw new DumpError('truncated', 'header cut short');
  const format = buf.readUInt32LE(FORMAT_AT);
  if (readableFormats && !readableFormats.includes(format)) {
    throw new DumpError('format', `format ${format}, this master reads ${readableFormats.join(' and ')}`);
  }
  const payloadLength = buf.readDoubleLE(LENGTH_AT);
  if (!Number.isSafeInteger(payloadLength) || payloadLength < 0) throw new DumpError('corrupt', 'bad payload length');
  if (buf.length < DUMP_HEADER_SIZE + payloadLength + 4) throw new DumpError('truncated', 'payload cut short');
  if (buf.length > DUMP_HEADER_SIZE + payloadLength + 4) throw new DumpError('corrupt', 'bytes after the checksum');
  const stored = buf.readUInt32LE(DUMP_HEADER_SIZE + payloadLength);
  if (stored !== crc32(buf.subarray(0, DUMP_HEADER_SIZE + payloadLength))) throw new DumpError('checksum', 'checksum mismatch');
  return { format, version: buf.readDoubleLE(VERSION_AT), payload: buf.subarray(DUMP_HEADER_SIZE, DUMP_HEADER_SIZE + payloadLength) };
}

/** The metadata version recorded in a dump, after checking its envelope. */
export function dumpVersion(buf: Buffer): number {
  return unframeDump(buf).version;
}

/**
 * sha256 of a whole dump file and the version in its header, read in pieces: what a
 * master announces before serving a dump to a follower.
 */
export async function digestDumpFile(fh: FileHandle, size: number): Promise<{ sha256: Buffer; version: number }> {
  const hash = createHash('sha256');
  const buf = Buffer.alloc(4 * 1024 * 1024);
  let version = -1;
  for (let off = 0; off < size; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - off), off);
    if (bytesRead === 0) break;
    if (off === 0 && bytesRead >= DUMP_HEADER_SIZE && buf.subarray(0, DUMP_MAGIC.length).equals(DUMP_MAGIC)) {
      version = buf.readDoubleLE(VERSION_AT);
    }
    hash.update(buf.subarray(0, bytesRead));
    off += bytesRead;
  }
  if (!Number.isSafeInteger(version) || version < 0) throw new DumpError('corrupt', 'no valid header');
  return { sha256: hash.digest(), version };
}

/**
 * Puts a complete, fsynced temp dump (family.dumpTemp) in place as family.dump: the
 * backups shift (back.N → N+1, beyond `keepPrevious` removed), the current dump is
 * hard-linked as back.1, and the temp file is renamed over the current one, so that a
 * crash at any point leaves a whole dump under the current name. The directory is
 * fsynced last: the rename is only as durable as its directory.
 */
export async function installDump(dir: string, family: FileFamily, keepPrevious: number): Promise<void> {
  const backups = listDumps(dir, family).filter((d) => d.n > 0);
  for (const b of [...backups].reverse()) {
    if (b.n + 1 > keepPrevious) await rm(b.path, { force: true });
    else await rename(b.path, join(dir, family.dumpBackup(b.n + 1)));
  }
  const current = join(dir, family.dump);
  if (keepPrevious > 0 && existsSync(current)) await link(current, join(dir, family.dumpBackup(1)));
  await rename(join(dir, family.dumpTemp), current);
  await fsyncDir(dir);
}
