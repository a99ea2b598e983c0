import { closeSync, fstatSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { constants, copyFile, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { BLOCK_SIZE, BLOCKS_PER_CHUNK, CHUNK_HEADER_SIZE, CHUNK_SIZE, Status, TsmfsError, crcOn, fail } from '@tsmfs/protocol';
import { type ChunkFd, RawFd } from './chunk-fd.js';
import { linearPart, patchedCrc } from './crc-patch.js';
import type { InlineIo } from './inline-io.js';

/**
 * One chunk on disk: a fixed 8 KiB header, then the chunk's bytes.
 *
 * Header (big-endian):
 *     0  signature "TSMFSCHK"            8 bytes
 *     8  format version                  u32 (1)
 *    12  chunk version                   u32
 *    16  chunk id                        u64
 *    24  data length in bytes            u32 (0 … 64 MiB)
 *    28  CRC32 of the header             u32 (over bytes 0–27 and 32–8191)
 *  1024  CRC32 of each 64 KiB block      1024 × u32
 *  8192  data
 *
 * A block's CRC always covers the full 64 KiB, bytes past the chunk's length counted
 * as zeros. So a block that holds no data has the CRC of 64 KiB of zeros, growing a
 * chunk (truncate up, a write past the end) never touches the CRCs of the blocks it
 * skips, and a reader pads the last partial block with zeros before checking it.
 * The file is kept exactly 8192 + length bytes long: holes stay sparse on disk.
 *
 * The header is 8 KiB rather than MooseFS's 5 KiB so that data blocks start page-aligned.
 */
export { CHUNK_HEADER_SIZE };
const SIGNATURE = Buffer.from('TSMFSCHK', 'latin1');
const FORMAT_VERSION = 1;
const CRC_TABLE_OFFSET = 1024;
const HEADER_CRC_OFFSET = 28;

const ZEROS = Buffer.alloc(BLOCK_SIZE);
const NO_BYTES = Buffer.alloc(0);
/**
 * 64 KiB buffers that a partial-block write (the old bytes it replaces) and a small read
 * (the block whose CRC it checks) read into, taken and given back around each use: a 4 KiB
 * random write or read otherwise allocated one per copy, outside V8's heap, and that
 * churn drives its major GCs (docs/benchmarks.md, "Random writes on the chunkserver").
 * Kept: as many as uses on different chunks overlap, up to this.
 */
const blockBuffers: Buffer[] = [];
const BLOCK_BUFFERS_KEPT = 16;

/** `use` of a block buffer taken from blockBuffers, given back once `use` settles. */
async function withBlockBuffer<T>(use: (buf: Buffer) => Promise<T>): Promise<T> {
  const buf = blockBuffers.pop() ?? Buffer.allocUnsafeSlow(BLOCK_SIZE);
  try {
    return await use(buf);
  } finally {
    if (blockBuffers.length < BLOCK_BUFFERS_KEPT) blockBuffers.push(buf);
  }
}
/** The CRC a block without data carries. */
export const ZERO_BLOCK_CRC = crc32(ZEROS) >>> 0;

/** File name extension of chunk files (MooseFS uses .mfs; ours are not interchangeable). */
export const CHUNK_FILE_EXTENSION = '.tsmfs';
const NAME_PATTERN = /^chunk_([0-9A-F]{16})_([0-9A-F]{8})\.tsmfs$/;

/** `chunk_<id 16 hex>_<version 8 hex>.tsmfs`, upper-case hex as MooseFS writes it. */
export function chunkFileName(chunkId: number, version: number): string {
  return `chunk_${hex(chunkId, 16)}_${hex(version, 8)}${CHUNK_FILE_EXTENSION}`;
}

export function parseChunkFileName(name: string): { chunkId: number; version: number } | undefined {
  const m = NAME_PATTERN.exec(name);
  if (!m) return undefined;
  const chunkId = Number.parseInt(m[1]!, 16);
  if (!Number.isSafeInteger(chunkId)) return undefined;
  return { chunkId, version: Number.parseInt(m[2]!, 16) };
}

function hex(n: number, width: number): string {
  return n.toString(16).toUpperCase().padStart(width, '0');
}

/** A chunk whose header or bytes cannot be trusted: EIO to readers, a damaged copy to the master. */
export class ChunkDamagedError extends TsmfsError {
  constructor(
    readonly chunkId: number,
    readonly version: number,
    /** The block that failed, undefined when the header itself is bad. */
    readonly block: number | undefined,
    reason: string,
  ) {
    super(Status.EIO, `chunk ${hex(chunkId, 16)}_${hex(version, 8)}${block === undefined ? '' : ` block ${block}`}: ${reason}`);
    this.name = 'ChunkDamagedError';
  }
}

/** A block whose bytes do not match the CRC in the header. */
export class ChunkCrcError extends ChunkDamagedError {
  declare readonly block: number;
  constructor(chunkId: number, version: number, block: number) {
    super(chunkId, version, block, 'CRC mismatch');
    this.name = 'ChunkCrcError';
  }
}

interface ChunkHeader {
  chunkId: number;
  version: number;
  length: number;
  crcs: Uint32Array;
}

function encodeHeader(h: ChunkHeader): Buffer {
  const b = Buffer.alloc(CHUNK_HEADER_SIZE);
  SIGNATURE.copy(b, 0);
  b.writeUInt32BE(FORMAT_VERSION, 8);
  b.writeUInt32BE(h.version >>> 0, 12);
  b.writeBigUInt64BE(BigInt(h.chunkId), 16);
  b.writeUInt32BE(h.length, 24);
  for (let i = 0; i < BLOCKS_PER_CHUNK; i++) b.writeUInt32BE(h.crcs[i]!, CRC_TABLE_OFFSET + 4 * i);
  b.writeUInt32BE(headerCrc(b), HEADER_CRC_OFFSET);
  return b;
}

function headerCrc(b: Buffer): number {
  return crc32(b.subarray(HEADER_CRC_OFFSET + 4), crc32(b.subarray(0, HEADER_CRC_OFFSET))) >>> 0;
}

/** Parses a header; returns why it is unusable as a string instead of throwing. */
function decodeHeader(b: Buffer): ChunkHeader | string {
  if (b.length < CHUNK_HEADER_SIZE) return `header is ${b.length} bytes long`;
  if (!b.subarray(0, 8).equals(SIGNATURE)) return 'not a tsmfs chunk file (bad signature)';
  if (b.readUInt32BE(8) !== FORMAT_VERSION) return `unknown chunk format ${b.readUInt32BE(8)}`;
  if (headerCrc(b) !== b.readUInt32BE(HEADER_CRC_OFFSET)) return 'header CRC mismatch';
  const length = b.readUInt32BE(24);
  if (length > CHUNK_SIZE) return `length ${length} exceeds the chunk size`;
  const crcs = new Uint32Array(BLOCKS_PER_CHUNK);
  for (let i = 0; i < BLOCKS_PER_CHUNK; i++) crcs[i] = b.readUInt32BE(CRC_TABLE_OFFSET + 4 * i);
  return { chunkId: Number(b.readBigUInt64BE(16)), version: b.readUInt32BE(12), length, crcs };
}

/** CRC of a block's bytes as stored, padded with zeros to the full block. */
function blockCrc(bytes: Uint8Array): number {
  const c = crc32(bytes);
  return (bytes.length === BLOCK_SIZE ? c : crc32(ZEROS.subarray(0, BLOCK_SIZE - bytes.length), c)) >>> 0;
}

/** The header read from a chunk file of `size` bytes, if it is sound and names the chunk expected. */
function checkedHeader(chunkId: number, version: number, bytes: Buffer, size: number): ChunkHeader {
  const header = decodeHeader(bytes);
  if (typeof header === 'string') throw new ChunkDamagedError(chunkId, version, undefined, header);
  if (header.chunkId !== chunkId || header.version !== version) {
    throw new ChunkDamagedError(chunkId, version, undefined, `header names chunk ${hex(header.chunkId, 16)}_${hex(header.version, 8)}`);
  }
  if (size < CHUNK_HEADER_SIZE + header.length) {
    const block = Math.floor((size - CHUNK_HEADER_SIZE) / BLOCK_SIZE);
    throw new ChunkDamagedError(chunkId, version, block, `file is ${size} bytes, header says ${CHUNK_HEADER_SIZE + header.length}`);
  }
  return header;
}

/** fsync of a directory: what makes the names created and renamed in it durable. */
async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function checkRange(offset: number, length: number): void {
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > CHUNK_SIZE) {
    throw fail('EINVAL', `range [${offset}, +${length}) lies outside a ${CHUNK_SIZE}-byte chunk`);
  }
}

/** Most whole blocks one gathered write takes (1 MiB): what a chain's stream has in flight. */
const GATHER_MAX_BLOCKS = 16;

/** Whole-block writes back to back, waiting for their turn to go to the disk as one pwritev. */
interface Gather {
  offset: number;
  end: number;
  parts: Uint8Array[];
  crcs: number[];
  done?: Promise<void>;
}

/**
 * An open chunk file. Every operation runs after the previous one finished (a write's
 * read-modify-write of a block and of the header must not interleave with another;
 * a stream's whole blocks may join the write queued just before them, `gathered`);
 * all I/O is asynchronous. Errors of the file system (EIO, ENOSPC, …) are passed on
 * as Node raised them, for the disk's owner to judge; a bad header or CRC is a
 * ChunkDamagedError.
 */
export class ChunkFile {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /**
   * The gathered write still taking blocks: queued, not started. Any other operation
   * queued after it closes it, so that nothing is written out of the order it came in.
   */
  private gather: Gather | undefined;
  /** Writes (pwrite and pwritev) of data this file made: how well streams were gathered (tests). */
  diskWrites = 0;
  /**
   * The file's directory entry is known durable: false for a file created or renamed
   * (a version change) since the last sync, and for one just opened (its creation or
   * last rename may still be only in the page cache).
   */
  private entrySynced = false;
  /**
   * The CRCs or length in memory are ahead of the header on disk: writes only update the
   * header in memory, and it is written once when the write ends (`flush`), on a sync and
   * at close, as MooseFS does, instead of 8 KiB per 64 KiB piece. A process killed in
   * between leaves the old header: overwritten blocks then fail their CRC (a damaged copy,
   * EIO) and appended bytes lie past the recorded length (cut at the next open) —
   * docs/chunkserver.md, "Crashes and the header".
   */
  private headerDirty = false;

  private constructor(
    private filePath: string,
    private readonly fh: ChunkFd,
    private readonly header: ChunkHeader,
  ) {}

  /**
   * Creates an empty chunk; EEXIST if the file is already there. With `inline`, when that
   * disk's policy allows it, the file is created and its header written on the event
   * loop (inline-io.ts): every small file's first write creates its chunk on each copy of
   * the chain, and the open through libuv's pool took 550–850 µs of the chain's opening on
   * a busy 2-core machine for a system call of ~30 µs (docs/benchmarks.md, "Chunk creation
   * on the event loop").
   */
  static async create(path: string, chunkId: number, version: number, inline?: InlineIo): Promise<ChunkFile> {
    const header: ChunkHeader = { chunkId, version, length: 0, crcs: new Uint32Array(BLOCKS_PER_CHUNK).fill(ZERO_BLOCK_CRC) };
    if (inline?.allowsWrite(CHUNK_HEADER_SIZE)) return ChunkFile.createInline(path, header, inline);
    const fh = await open(path, 'wx+');
    try {
      await writeAll(fh, encodeHeader(header), 0, inline);
    } catch (err) {
      await fh.close();
      await unlink(path).catch(() => undefined);
      throw err;
    }
    return new ChunkFile(path, fh, header);
  }

  /**
   * Opens a chunk and checks that its header is sound and names the chunk expected. With
   * `inline`, when that disk's policy allows it, the open, the header's read and the
   * fstat run on the event loop (inline-io.ts): a cold chunk's open (every small file read
   * after its chunk left the open-file cache) cost three round trips through libuv's pool,
   * six thread wake-ups, for three system calls of tens of µs.
   */
  static async open(path: string, chunkId: number, version: number, inline?: InlineIo): Promise<ChunkFile> {
    if (inline?.allows(CHUNK_HEADER_SIZE)) return ChunkFile.openInline(path, chunkId, version, inline);
    const fh = await open(path, 'r+');
    try {
      const buf = Buffer.alloc(CHUNK_HEADER_SIZE);
      const { bytesRead } = await fh.read(buf, 0, CHUNK_HEADER_SIZE, 0);
      const { size } = await fh.stat();
      const header = checkedHeader(chunkId, version, buf.subarray(0, bytesRead), size);
      // Bytes past the recorded length come from a write that never ended (the process
      // died before its header was written): not part of the chunk, and a later extension
      // must read zeros there.
      if (size > CHUNK_HEADER_SIZE + header.length) await fh.truncate(CHUNK_HEADER_SIZE + header.length);
      return new ChunkFile(path, fh, header);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  private static createInline(path: string, header: ChunkHeader, inline: InlineIo): ChunkFile {
    const t0 = performance.now();
    let fd: number | undefined;
    try {
      fd = openSync(path, 'wx+');
      writeAllSync(fd, encodeHeader(header), 0);
      return new ChunkFile(path, new RawFd(fd), header);
    } catch (err) {
      // Only a file this call created is removed (EEXIST leaves the other one alone).
      if (fd !== undefined) {
        closeSync(fd);
        try {
          unlinkSync(path);
        } catch {
          // already gone: nothing to undo
        }
      }
      throw err;
    } finally {
      inline.took(performance.now() - t0);
    }
  }

  private static openInline(path: string, chunkId: number, version: number, inline: InlineIo): ChunkFile {
    const t0 = performance.now();
    let fd: number | undefined;
    try {
      fd = openSync(path, 'r+');
      const buf = Buffer.alloc(CHUNK_HEADER_SIZE);
      const bytesRead = readSync(fd, buf, 0, CHUNK_HEADER_SIZE, 0);
      const { size } = fstatSync(fd);
      const header = checkedHeader(chunkId, version, buf.subarray(0, bytesRead), size);
      if (size > CHUNK_HEADER_SIZE + header.length) ftruncateSync(fd, CHUNK_HEADER_SIZE + header.length);
      return new ChunkFile(path, new RawFd(fd), header);
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      throw err;
    } finally {
      inline.took(performance.now() - t0);
    }
  }

  get path(): string {
    return this.filePath;
  }
  get chunkId(): number {
    return this.header.chunkId;
  }
  get version(): number {
    return this.header.version;
  }
  /** Bytes of data; reads past it return zeros up to the chunk size. */
  get length(): number {
    return this.header.length;
  }

  /**
   * Reads [offset, offset+length), verifying the CRC of every block it touches. `crcs`,
   * when given, receives the CRC of each block holding data at the time of the read, at
   * index block - floor(offset / BLOCK_SIZE): a whole block can then be sent with it
   * instead of computing it again (blocks past the data have ZERO_BLOCK_CRC). A read of
   * whole blocks within the data returns the buffer read, uncopied. With `inline`, a small
   * read runs on the event loop when that disk's policy allows it (inline-io.ts).
   */
  async read(offset: number, length: number, crcs?: number[], inline?: InlineIo): Promise<Buffer> {
    checkRange(offset, length);
    return this.exclusive(async () => {
      const end = Math.min(offset + length, this.header.length);
      if (offset >= end) return Buffer.alloc(length);
      const first = Math.floor(offset / BLOCK_SIZE);
      const last = Math.floor((end - 1) / BLOCK_SIZE);
      if (crcs) for (let b = first; b <= last; b++) crcs[b - first] = this.header.crcs[b]!;
      const from = offset - first * BLOCK_SIZE;
      const part = (blocks: Buffer): Buffer => {
        const out = Buffer.alloc(length);
        blocks.copy(out, 0, from, end - first * BLOCK_SIZE);
        return out;
      };
      // A part of one block (a small random read) is copied out of a recycled block
      // buffer: no 64 KiB allocation per read (see blockBuffers).
      const wholeBlock = from === 0 && length === Math.min(BLOCK_SIZE, this.header.length - offset);
      if (first === last && !wholeBlock) {
        return this.withBlockData(first, part, inline);
      }
      const blocks = await this.readBlocks(first, last, inline);
      if (from === 0 && blocks.length === length) return blocks;
      return part(blocks);
    });
  }

  /**
   * Writes `data` at `offset`. A block the write covers only partly gets its CRC patched
   * for the range that changes, from that range's old bytes (read first) and the block's
   * CRC as recorded (newBlockCrc). With `inline`,
   * small reads and writes run on the event loop when that disk's policy allows it.
   * `crc`, when given, is the CRC-32 of `data`, already checked against the bytes (a
   * piece's wire CRC): a piece within one block then needs no second pass over its bytes.
   */
  async write(offset: number, data: Uint8Array, inline?: InlineIo, crc?: number): Promise<void> {
    checkRange(offset, data.length);
    if (data.length === 0) return this.exclusive(async () => undefined);
    // A stream's whole blocks (each with its checked CRC) that arrive while the disk is
    // busy with the one before go to it together: one pwritev and one pair of thread
    // wake-ups per gather instead of per 64 KiB block.
    if (crc !== undefined && offset % BLOCK_SIZE === 0 && data.length === BLOCK_SIZE) return this.gathered(offset, data, crc);
    return this.exclusive(async () => {
      const end = offset + data.length;
      const first = Math.floor(offset / BLOCK_SIZE);
      const last = Math.floor((end - 1) / BLOCK_SIZE);
      const crcs = new Map<number, number>();
      for (let b = first; b <= last; b++) crcs.set(b, await this.newBlockCrc(b, offset, data, inline, first === last ? crc : undefined));
      try {
        this.diskWrites++;
        await writeAll(this.fh, data, CHUNK_HEADER_SIZE + offset, inline);
      } catch (err) {
        // A write cut short (ENOSPC) past the end must leave no stray bytes beyond the
        // recorded length: a later extension has to read zeros there.
        await this.fh.truncate(CHUNK_HEADER_SIZE + this.header.length).catch(() => undefined);
        throw err;
      }
      for (const [b, c] of crcs) this.header.crcs[b] = c;
      this.header.length = Math.max(this.header.length, end);
      this.headerDirty = true;
    });
  }

  /** Writes the header if writes changed it since it was last written (a write's end). */
  flush(inline?: InlineIo): Promise<void> {
    return this.exclusive(() => this.flushHeader(inline));
  }

  /** Cuts or extends the data to `length` bytes; an extension reads as zeros. */
  async truncate(length: number): Promise<void> {
    checkRange(length, 0);
    return this.exclusive(async () => {
      const old = this.header.length;
      if (length < old) await this.shrinkCrcs(length, old);
      // Cut to the recorded length first, so an extension reads zeros even if an
      // interrupted write left bytes past it.
      else await this.fh.truncate(CHUNK_HEADER_SIZE + old);
      await this.fh.truncate(CHUNK_HEADER_SIZE + length);
      this.header.length = length;
      await this.writeHeader();
    });
  }

  /** Records a new version in the header, then renames the file to match. */
  setVersion(version: number, newPath: string): Promise<void> {
    return this.exclusive(async () => {
      const previous = this.header.version;
      this.header.version = version;
      try {
        await this.writeHeader();
        await this.fh.datasync();
        await rename(this.filePath, newPath);
      } catch (err) {
        this.header.version = previous;
        throw err;
      }
      this.filePath = newPath;
      this.entrySynced = false;
    });
  }

  /**
   * Copies this chunk to `newPath` as chunk `chunkId` at `version` (snapshots). The copy
   * is a reflink where the file system offers one; no write interleaves with it.
   */
  duplicate(newPath: string, chunkId: number, version: number): Promise<void> {
    return this.exclusive(async () => {
      await copyFile(this.filePath, newPath, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      try {
        const fh = await open(newPath, 'r+');
        try {
          const header = { ...this.header, chunkId, version, crcs: this.header.crcs };
          await fh.write(encodeHeader(header), 0, CHUNK_HEADER_SIZE, 0);
          await fh.datasync();
        } finally {
          await fh.close();
        }
      } catch (err) {
        await unlink(newPath).catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Makes every completed write durable, and the file's name with it: a new chunk file or
   * a version rename lives in its directory, which a power loss can roll back (the bytes
   * synced, the name gone) unless that directory is synced too.
   */
  sync(): Promise<void> {
    return this.exclusive(async () => {
      await this.flushHeader();
      await this.fh.datasync();
      if (this.entrySynced) return;
      await syncDirectory(dirname(this.filePath));
      this.entrySynced = true;
    });
  }

  /** Writes the header if it is behind, then closes; the descriptor is closed even when that write fails. */
  close(): Promise<void> {
    if (this.closed) return this.queue.then(() => undefined);
    this.closed = true;
    const run = this.queue.then(() => this.flushHeader()).finally(() => this.fh.close());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Closes and deletes the file. */
  async remove(): Promise<void> {
    await this.close();
    await unlink(this.filePath);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(fail('EBADF', `chunk file ${this.filePath} is closed`));
    this.gather = undefined;
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Adds a whole block to the open gather when it follows it, or queues a new gather. */
  private gathered(offset: number, data: Uint8Array, crc: number): Promise<void> {
    const g = this.gather;
    if (g && g.end === offset && g.parts.length < GATHER_MAX_BLOCKS) {
      g.parts.push(data);
      g.crcs.push(crc);
      g.end += data.length;
      return g.done!;
    }
    const next: Gather = { offset, end: offset + data.length, parts: [data], crcs: [crc] };
    next.done = this.exclusive(() => this.writeGather(next));
    this.gather = next;
    return next.done;
  }

  /** A gather's turn: it takes no more blocks, and goes to the disk in one pwritev. */
  private async writeGather(g: Gather): Promise<void> {
    if (this.gather === g) this.gather = undefined;
    try {
      this.diskWrites++;
      await writevAll(this.fh, g.parts, CHUNK_HEADER_SIZE + g.offset);
    } catch (err) {
      // As a single write's: no stray bytes past the recorded length.
      await this.fh.truncate(CHUNK_HEADER_SIZE + this.header.length).catch(() => undefined);
      throw err;
    }
    const first = g.offset / BLOCK_SIZE;
    for (let i = 0; i < g.crcs.length; i++) this.header.crcs[first + i] = g.crcs[i]!;
    this.header.length = Math.max(this.header.length, g.end);
    this.headerDirty = true;
  }

  /**
   * Blocks first..last (all holding data), verified, as one buffer clipped to the data
   * length: a new one, or the start of `into` when given (large enough).
   */
  private async readBlocks(first: number, last: number, inline?: InlineIo, into?: Buffer): Promise<Buffer> {
    const start = first * BLOCK_SIZE;
    const end = Math.min((last + 1) * BLOCK_SIZE, this.header.length);
    const buf = into ? into.subarray(0, end - start) : Buffer.allocUnsafe(end - start);
    await this.readData(buf, start, inline);
    for (let b = first; b <= last; b++) {
      const from = (b - first) * BLOCK_SIZE;
      if (blockCrc(buf.subarray(from, Math.min(from + BLOCK_SIZE, buf.length))) !== this.header.crcs[b]) {
        throw new ChunkCrcError(this.chunkId, this.version, b);
      }
    }
    return buf;
  }

  /** Fills `buf` with the data from `start` on (all of it within the data's length), unverified. */
  private async readData(buf: Buffer, start: number, inline?: InlineIo): Promise<void> {
    const at = (filled: number): number => CHUNK_HEADER_SIZE + start + filled;
    if (inline?.allows(buf.length)) {
      const t0 = performance.now();
      try {
        for (let filled = 0; filled < buf.length; ) filled += this.gotBytes(start, filled, readSync(this.fh.fd, buf, filled, buf.length - filled, at(filled)));
      } finally {
        inline.took(performance.now() - t0);
      }
      return;
    }
    for (let filled = 0; filled < buf.length; ) {
      const { bytesRead } = await this.fh.read(buf, filled, buf.length - filled, at(filled));
      filled += this.gotBytes(start, filled, bytesRead);
    }
  }

  /** `bytesRead` of a read at `filled` bytes into the data from `start`: none means the file is shorter than its header says. */
  private gotBytes(start: number, filled: number, bytesRead: number): number {
    if (bytesRead > 0) return bytesRead;
    const block = Math.floor((start + filled) / BLOCK_SIZE);
    throw new ChunkDamagedError(this.chunkId, this.version, block, 'file ends before the data its header records');
  }

  /**
   * `use` of block `b`'s data (shorter than a block at the data's end, empty past it),
   * verified, read into a recycled block buffer that is taken back once `use` returns.
   */
  private async withBlockData<T>(b: number, use: (data: Buffer) => T, inline?: InlineIo): Promise<T> {
    if (b * BLOCK_SIZE >= this.header.length) return use(NO_BYTES);
    return withBlockBuffer(async (buf) => use(await this.readBlocks(b, b, inline, buf)));
  }

  /** The CRC block `b` will have once `data` is written at `offset`; `crc` is data's own, when known. */
  private async newBlockCrc(b: number, offset: number, data: Uint8Array, inline?: InlineIo, crc?: number): Promise<number> {
    const start = b * BLOCK_SIZE;
    const from = Math.max(start, offset);
    const to = Math.min(start + BLOCK_SIZE, offset + data.length);
    const piece = data.subarray(from - offset, to - offset);
    const coversWholeBlock = from === start && to === start + BLOCK_SIZE;
    // A write that starts a block at or past the end of the data leaves nothing old in it.
    const nothingOldAfter = from === start && start >= this.header.length;
    if (coversWholeBlock && crc !== undefined) return crc;
    if (coversWholeBlock || nothingOldAfter) return blockCrc(piece);
    // The block's CRC patched for the range that changes (crc-patch.ts): only the range's
    // old bytes are read, not the block. The stored CRC is trusted rather than checked
    // against the rest of the block, and damage stays seen: the patched CRC is that of
    // the block as it should be, so bytes that rotted anywhere in it, inside the range
    // or out, still fail the next read's check (and the chunk test's).
    const newLinear = linearPart(crc ?? crcOn(piece, 0), piece.length);
    const oldLinear = await this.oldLinearPart(from, to, inline);
    return patchedCrc(this.header.crcs[b]!, oldLinear, newLinear, start + BLOCK_SIZE - to);
  }

  /** The linear part (crc-patch.ts) of the data's bytes in [from, to), within one block, zeros past the data's end. */
  private async oldLinearPart(from: number, to: number, inline?: InlineIo): Promise<number> {
    const end = Math.min(to, this.header.length);
    if (from >= end) return 0;
    return withBlockBuffer(async (buf) => {
      const old = buf.subarray(0, end - from);
      await this.readData(old, from, inline);
      return linearPart(crcOn(old, 0), old.length, to - end);
    });
  }

  /** CRCs after cutting the data from `old` down to `length` bytes. */
  private async shrinkCrcs(length: number, old: number): Promise<void> {
    const lastKept = Math.floor(length / BLOCK_SIZE);
    if (length % BLOCK_SIZE !== 0) {
      this.header.crcs[lastKept] = await this.withBlockData(lastKept, (kept) => blockCrc(kept.subarray(0, length % BLOCK_SIZE)));
    }
    const firstGone = Math.ceil(length / BLOCK_SIZE);
    const lastOld = Math.ceil(old / BLOCK_SIZE);
    for (let b = firstGone; b < lastOld; b++) this.header.crcs[b] = ZERO_BLOCK_CRC;
  }

  private async writeHeader(inline?: InlineIo): Promise<void> {
    this.headerDirty = false;
    try {
      await writeAll(this.fh, encodeHeader(this.header), 0, inline);
    } catch (err) {
      this.headerDirty = true;
      throw err;
    }
  }

  private async flushHeader(inline?: InlineIo): Promise<void> {
    if (this.headerDirty) await this.writeHeader(inline);
  }
}

/** Writes all of `data` at `position` on the event loop. */
function writeAllSync(fd: number, data: Uint8Array, position: number): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, position + done);
}

/** Writes `parts` one after the other from `position`, through the thread pool: one pwritev unless the kernel takes less. */
async function writevAll(fh: ChunkFd, parts: Uint8Array[], position: number): Promise<void> {
  if (parts.length === 1) return writeAll(fh, parts[0]!, position);
  const total = parts.reduce((n, p) => n + p.length, 0);
  const { bytesWritten } = await fh.writev(parts, position);
  // Rare (a signal, a full disk): the rest part by part, the first error thrown.
  for (let at = 0, skip = bytesWritten; at < total; ) {
    const p = parts.shift()!;
    if (skip < p.length) await writeAll(fh, p.subarray(skip), position + at + skip);
    at += p.length;
    skip = Math.max(0, skip - p.length);
  }
}

/** Writes all of `data` at `position`: on the event loop when `inline` allows it, else through the thread pool. */
async function writeAll(fh: ChunkFd, data: Uint8Array, position: number, inline?: InlineIo): Promise<void> {
  if (inline?.allowsWrite(data.length)) {
    const t0 = performance.now();
    try {
      writeAllSync(fh.fd, data, position);
    } finally {
      inline.took(performance.now() - t0);
    }
    return;
  }
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
