import { CHUNK_SIZE, type Attr, type Cred, MAX_FILE_SIZE, O_ACCMODE, O_RDWR, O_WRONLY, Status, TsmfsError } from '@tsmfs/protocol';
import { readChunk } from './chunk-reader.js';
import { writeChunk } from './chunk-writer.js';
import { DirtyExtents } from './dirty-extents.js';
import type { FileIo } from './file-io.js';

export { O_RDWR, O_WRONLY } from '@tsmfs/protocol';

export interface FileHandleOptions {
  /** A chunk's buffered bytes that start sending it (write-back). */
  flushAtBytes?: number;
  /** Buffered bytes of the handle beyond which write() waits for the chunkservers. */
  maxDirtyBytes?: number;
  /** Buffered writes go out after this long even without fsync/close. */
  idleFlushMs?: number;
  /** Called once by close(), after the last flush (the session's release). */
  onClose?: () => Promise<void>;
}

/**
 * An open file: reads from the chunkservers (falling back to another copy when one
 * fails), writes buffered per chunk and sent down write chains in the background,
 * fsync/close waiting for every buffered byte to be acknowledged by every copy.
 * Everything is asynchronous and any number of reads and writes may run at once.
 *
 * As with MooseFS's client (and close(2) on NFS), an error of a background write is
 * reported by the next write, fsync or close of the handle.
 */
export class FileHandle {
  private readonly dirty = new Map<number, DirtyExtents>();
  private readonly jobs = new Map<number, Promise<void>>();
  private failure: TsmfsError | undefined;
  private flushing = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly flushAt: number;
  private readonly maxDirty: number;

  constructor(
    private readonly io: FileIo,
    readonly inode: number,
    readonly flags: number,
    private readonly cred: Cred,
    readonly attr: Attr,
    private readonly options: FileHandleOptions = {},
  ) {
    this.flushAt = options.flushAtBytes ?? 4 * 1024 * 1024;
    this.maxDirty = options.maxDirtyBytes ?? 64 * 1024 * 1024;
  }

  get readable(): boolean {
    return (this.flags & O_ACCMODE) !== O_WRONLY;
  }

  get writable(): boolean {
    return (this.flags & O_ACCMODE) === O_WRONLY || (this.flags & O_ACCMODE) === O_RDWR;
  }

  /** Bytes written to the handle and not yet acknowledged by the chunkservers. */
  get dirtyBytes(): number {
    let n = 0;
    for (const d of this.dirty.values()) n += d.bytes;
    return n;
  }

  /**
   * Up to `length` bytes from `offset`; shorter at the end of the file, empty past it.
   * Holes read as zeros. Writes of the file made through this session (any handle) are
   * sent and acknowledged first, so a read sees them and the file length they made (a
   * short read would tell the kernel the file shrank).
   */
  async read(offset: number, length: number): Promise<Buffer> {
    this.check();
    if (!this.readable) throw new TsmfsError(Status.EBADF, 'file not open for reading');
    await this.io.drain(this.inode);
    const first = Math.floor(offset / CHUNK_SIZE);
    const fileLength = (await this.io.grant(this.inode, first)).fileLength;
    const end = Math.min(offset + length, fileLength);
    if (end <= offset) return Buffer.alloc(0);
    const parts: Promise<Buffer>[] = [];
    for (let pos = offset; pos < end; ) {
      const index = Math.floor(pos / CHUNK_SIZE);
      const to = Math.min(end, (index + 1) * CHUNK_SIZE);
      parts.push(this.readChunkPart(index, pos - index * CHUNK_SIZE, to - pos));
      pos = to;
    }
    const bufs = await Promise.all(parts);
    return bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
  }

  /** Buffers `data` at `offset` (copied: the caller may reuse its buffer); resolves with its length. */
  async write(offset: number, data: Uint8Array): Promise<number> {
    this.check();
    if (!this.writable) throw new TsmfsError(Status.EBADF, 'file not open for writing');
    if (this.failure) throw this.failure;
    checkFileEnd(offset + data.length);
    const copy = Buffer.from(data);
    for (let pos = 0; pos < copy.length; ) {
      const abs = offset + pos;
      const index = Math.floor(abs / CHUNK_SIZE);
      const n = Math.min(copy.length - pos, (index + 1) * CHUNK_SIZE - abs);
      const d = this.dirty.get(index) ?? new DirtyExtents();
      this.dirty.set(index, d);
      d.insert(abs - index * CHUNK_SIZE, copy.subarray(pos, pos + n));
      this.io.setWriting(this.inode, this, true);
      if (d.bytes >= this.flushAt) this.startJob(index);
      pos += n;
    }
    while (this.dirtyBytes >= this.maxDirty && this.jobs.size > 0) {
      for (const [index, d] of this.dirty) if (!d.empty) this.startJob(index);
      await Promise.race(this.jobs.values());
    }
    if (this.failure) throw this.failure;
    this.armIdleFlush();
    return data.length;
  }

  /**
   * Sends every buffered byte and waits until all copies acknowledged it (close(2)'s
   * promise, as mfsmount's); reports a background write error. Not durable: see fsync.
   */
  async flush(): Promise<void> {
    this.check();
    await this.flushAll();
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

  /**
   * Sends every buffered byte and waits for every chunk write of this handle to end,
   * leaving a write error to be reported by this handle's own write, fsync or close.
   */
  drain(): Promise<void> {
    return this.flushAll();
  }

  /** Flushes (not durable: no fsync, as close(2)), then releases the file with the master; reports a write error that flush did not. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      if (this.idleTimer) clearTimeout(this.idleTimer);
      await this.options.onClose?.();
    }
  }

  private check(): void {
    if (this.closed) throw new TsmfsError(Status.EBADF, 'file handle is closed');
  }

  private hasPending(): boolean {
    return this.jobs.size > 0 || this.dirtyBytes > 0;
  }

  private readChunkPart(index: number, offset: number, length: number): Promise<Buffer> {
    const { io } = this;
    const source = { links: io.links, grant: (fresh: boolean) => io.grant(this.inode, index, fresh), onFallback: () => void io.stats.readFallbacks++ };
    return readChunk(source, offset, length);
  }

  private async flushAll(): Promise<void> {
    this.flushing++;
    try {
      while (this.hasPending()) {
        for (const [index, d] of this.dirty) if (!d.empty) this.startJob(index);
        await Promise.allSettled(this.jobs.values());
        // A failed chunk's bytes are dropped (its error is reported), so this ends.
      }
    } finally {
      this.flushing--;
    }
  }

  private startJob(index: number): void {
    if (this.jobs.has(index)) return;
    const dirty = this.dirty.get(index);
    if (!dirty || dirty.empty) return;
    const job = writeChunk(
      {
        call: (name, body) => this.io.master.call(name, body),
        cred: this.cred,
        links: this.io.links,
        inode: this.inode,
        onWritten: (i, grant) => this.io.written(this.inode, i, grant),
        onRetry: () => void this.io.stats.writeRetries++,
        finishing: () => this.flushing > 0,
      },
      index,
      dirty,
    )
      .catch((err: unknown) => {
        this.failure ??= err instanceof TsmfsError ? err : new TsmfsError(Status.EIO, String(err));
        dirty.take();
      })
      .finally(() => {
        this.jobs.delete(index);
        if (dirty.empty) this.dirty.delete(index);
        else if (this.flushing > 0 || dirty.bytes >= this.flushAt) this.startJob(index);
        if (!this.hasPending()) this.io.setWriting(this.inode, this, false);
        this.io.writeEnded(this.inode);
      });
    this.jobs.set(index, job);
  }

  private armIdleFlush(): void {
    const ms = this.options.idleFlushMs ?? 1000;
    if (this.idleTimer || ms <= 0) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      for (const [index, d] of this.dirty) if (!d.empty) this.startJob(index);
    }, ms);
    this.idleTimer.unref();
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
