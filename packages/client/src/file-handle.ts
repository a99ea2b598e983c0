import { CHUNK_SIZE, type Attr, type Cred, MAX_FILE_SIZE, O_ACCMODE, O_RDWR, O_WRONLY, Status, TsmfsError } from '@tsmfs/protocol';
import { type Alloc, readChunk } from './chunk-reader.js';
import type { FileIo } from './file-io.js';
import type { FileWriter, FileWriterOptions, WriteErrorSink } from './file-writer.js';

export { O_RDWR, O_WRONLY } from '@tsmfs/protocol';

export interface FileHandleOptions extends FileWriterOptions {
  /** Called once by close(), after the last flush (the session's release). */
  onClose?: () => Promise<void>;
}

/**
 * An open file: reads from the chunkservers (falling back to another copy when one
 * fails); writes go into the file's write-back buffer, which every handle of the file in
 * this session shares (FileWriter: sent down write chains in the background, in the
 * order they were written), fsync/close waiting for every buffered byte to be
 * acknowledged by every copy. Everything is asynchronous and any number of reads and
 * writes may run at once.
 *
 * As with MooseFS's client (and close(2) on NFS), an error of a background write is
 * reported by the next write, fsync or close of each handle open for writing.
 */
export class FileHandle implements WriteErrorSink {
  private readonly writer: FileWriter | undefined;
  private failure: TsmfsError | undefined;
  private closed = false;

  constructor(
    private readonly io: FileIo,
    readonly inode: number,
    readonly flags: number,
    private readonly cred: Cred,
    readonly attr: Attr,
    private readonly options: FileHandleOptions = {},
  ) {
    if (this.writable) this.writer = io.writer(inode, this, options);
  }

  get readable(): boolean {
    return (this.flags & O_ACCMODE) !== O_WRONLY;
  }

  get writable(): boolean {
    return (this.flags & O_ACCMODE) === O_WRONLY || (this.flags & O_ACCMODE) === O_RDWR;
  }

  /** Bytes written to the file through this session and not yet handed to the chunkservers. */
  get dirtyBytes(): number {
    return this.writer?.dirtyBytes ?? 0;
  }

  /** A background write of the file failed: this handle's next write, fsync or close reports it. */
  writeFailed(err: TsmfsError): void {
    this.failure ??= err;
  }

  /**
   * Up to `length` bytes from `offset`; shorter at the end of the file, empty past it.
   * Holes read as zeros. A read sees every write of the file made through this session
   * (any handle) before it, and the file length they made (a short read would tell the
   * kernel the file shrank). It does not wait for them when it can do without: their
   * bytes still buffered or in flight are laid over what the chunkservers return. A
   * reader of one part of a file written in another (fio's randrw, a database) would
   * otherwise end the chunk write, and pay a new grant, at every read. It waits (drains)
   * only when the read goes past the file's end as the master knows it, or another
   * session changed the file meanwhile (a grant asked afresh), while writes are pending.
   * `alloc` gives the buffers the chunkservers' bytes are read into (a read-ahead's
   * recycled windows); the result is often one of them.
   */
  async read(offset: number, length: number, alloc?: Alloc): Promise<Buffer> {
    this.check();
    if (!this.readable) throw new TsmfsError(Status.EBADF, 'file not open for reading');
    const beside = await this.readRange(offset, length, this.io.busy(this.inode), alloc);
    if (beside) return beside;
    await this.io.drain(this.inode);
    return (await this.readRange(offset, length, false, alloc))!;
  }

  /**
   * The read, with this session's pending writes laid over it when `pending`; undefined
   * when it cannot be answered without waiting for them (see read).
   */
  private async readRange(offset: number, length: number, pending: boolean, alloc: Alloc | undefined): Promise<Buffer | undefined> {
    const writes = pending ? this.io.pendingWrites(this.inode, offset, offset + length) : [];
    const first = Math.floor(offset / CHUNK_SIZE);
    const fileLength = (await this.io.grant(this.inode, first)).fileLength;
    if (pending && offset + length > fileLength) return undefined;
    const end = Math.min(offset + length, fileLength);
    if (end <= offset) return Buffer.alloc(0);
    const parts: Promise<Buffer>[] = [];
    // A grant asked for afresh because a cached one failed (another session moved the
    // chunk on: a truncation, a write) knows a newer file length than the cached one.
    let newer: number | undefined;
    const fresh = (length: number) => void (newer = Math.min(newer ?? length, length));
    for (let pos = offset; pos < end; ) {
      const index = Math.floor(pos / CHUNK_SIZE);
      const to = Math.min(end, (index + 1) * CHUNK_SIZE);
      parts.push(this.readChunkPart(index, pos - index * CHUNK_SIZE, to - pos, fresh, alloc));
      pos = to;
    }
    const bufs = await Promise.all(parts);
    if (pending && newer !== undefined) return undefined;
    let out = bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
    if (writes.length > 0) {
      // A copy: a single part may be a view of a receive buffer.
      out = Buffer.from(out);
      for (const w of writes) {
        const lo = Math.max(w.off, offset);
        const hi = Math.min(w.off + w.data.length, offset + out.length);
        if (lo < hi) w.data.copy(out, lo - offset, lo - w.off, hi - w.off);
      }
    }
    return newer !== undefined && newer < end ? out.subarray(0, Math.max(0, newer - offset)) : out;
  }

  /**
   * Buffers `data` at `offset`; resolves with its length. The bytes are copied, so that the
   * caller may reuse its buffer, unless it hands them over (`given`: it never touches that
   * memory again, as the mount with the buffer each FUSE write arrives in). That copy was
   * a second allocation per byte written, and with it most of the mount's GC
   * (docs/benchmarks.md, "Writes and the GC").
   */
  async write(offset: number, data: Uint8Array, given = false): Promise<number> {
    this.check();
    if (!this.writer) throw new TsmfsError(Status.EBADF, 'file not open for writing');
    if (this.failure) throw this.failure;
    checkFileEnd(offset + data.length);
    const kept = given ? Buffer.from(data.buffer, data.byteOffset, data.length) : Buffer.from(data);
    await this.writer.write(offset, kept, this.cred);
    if (this.failure) throw this.failure;
    return data.length;
  }

  /**
   * Sends every buffered byte and waits until all copies acknowledged it (close(2)'s
   * promise, as mfsmount's); reports a background write error. Not durable: see fsync.
   */
  async flush(): Promise<void> {
    this.check();
    await this.writer?.flush();
    if (this.failure) {
      const err = this.failure;
      this.failure = undefined;
      throw err;
    }
  }

  /**
   * flush, then every copy of what this session wrote to the file (through any handle,
   * POSIX: all of the file's data) fdatasyncs: durable when this resolves.
   */
  async fsync(): Promise<void> {
    await this.io.drain(this.inode);
    await this.flush();
    await this.io.sync(this.inode);
  }

  /** Sets the file's length (down or up; past the end reads as zeros), after this session's writes of it. */
  async truncate(size: number): Promise<Attr> {
    this.check();
    if (!this.writable) throw new TsmfsError(Status.EBADF, 'file not open for writing');
    checkFileEnd(size);
    const reply = await this.io.sizeChange(this.inode, () => this.io.master.call('setattr', { cred: this.cred, inode: this.inode, size }));
    return reply.attr;
  }

  /** Flushes (not durable: no fsync, as close(2)), then releases the file with the master; reports a write error that flush did not. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      if (this.writer) this.io.release(this.writer, this);
      await this.options.onClose?.();
    }
  }

  private check(): void {
    if (this.closed) throw new TsmfsError(Status.EBADF, 'file handle is closed');
  }

  private readChunkPart(index: number, offset: number, length: number, onFresh: (fileLength: number) => void, alloc: Alloc | undefined): Promise<Buffer> {
    const { io } = this;
    const grant = async (fresh: boolean) => {
      const g = await io.grant(this.inode, index, fresh);
      if (fresh) onFresh(g.fileLength);
      return g;
    };
    const source = { links: io.links, grant, onFallback: () => void io.stats.readFallbacks++, alloc };
    return readChunk(source, offset, length);
  }
}

/**
 * A write or truncate whose end passes MAX_FILE_SIZE is EFBIG before the master is asked,
 * as the kernel answers for a local file past s_maxbytes (FUSE has no way to tell the
 * kernel our maximum: it sets MAX_LFS_FILESIZE for every FUSE mount).
 */
export function checkFileEnd(end: number): void {
  if (end > MAX_FILE_SIZE) throw new TsmfsError(Status.EFBIG, `file length ${end} beyond the largest file (${MAX_FILE_SIZE})`);
}
