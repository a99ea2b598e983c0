import { close, fdatasync, fstat, fsync, ftruncate, read, write, writev } from 'node:fs';
import { promisify } from 'node:util';

/**
 * What a ChunkFile does with its descriptor: fs/promises' FileHandle has it all, and so
 * has RawFd, for a descriptor opened on the event loop (openSync: FileHandle cannot wrap
 * an existing descriptor).
 */
export interface ChunkFd {
  readonly fd: number;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(data: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  writev(buffers: Uint8Array[], position: number): Promise<{ bytesWritten: number }>;
  stat(): Promise<{ size: number }>;
  truncate(length: number): Promise<void>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

const readP = promisify(read);
const writeP = promisify(write);
const writevP = promisify(writev);
const fstatP = promisify(fstat);
const ftruncateP = promisify(ftruncate);
const fdatasyncP = promisify(fdatasync);
const fsyncP = promisify(fsync);
const closeP = promisify(close);

/** A descriptor of our own, its operations through libuv's pool as FileHandle's are. */
export class RawFd implements ChunkFd {
  private closed = false;

  constructor(readonly fd: number) {}

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    const { bytesRead } = await readP(this.fd, buffer, offset, length, position);
    return { bytesRead };
  }

  async write(data: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    const { bytesWritten } = await writeP(this.fd, data, offset, length, position);
    return { bytesWritten };
  }

  async writev(buffers: Uint8Array[], position: number): Promise<{ bytesWritten: number }> {
    const { bytesWritten } = await writevP(this.fd, buffers, position);
    return { bytesWritten };
  }

  stat(): Promise<{ size: number }> {
    return fstatP(this.fd);
  }

  truncate(length: number): Promise<void> {
    return ftruncateP(this.fd, length);
  }

  datasync(): Promise<void> {
    return fdatasyncP(this.fd);
  }

  sync(): Promise<void> {
    return fsyncP(this.fd);
  }

  /** Closes once; a second close is a no-op, as FileHandle's is (the number may be reused by then). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return closeP(this.fd);
  }
}
