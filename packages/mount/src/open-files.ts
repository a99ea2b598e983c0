import type { FileHandle } from '@tsmfs/client';
import { ReadAhead } from './read-ahead.js';

export interface OpenFile {
  fh: number;
  inode: number;
  handle: FileHandle;
  readAhead: ReadAhead;
}

interface InodeState {
  files: Set<OpenFile>;
  /** End of the furthest byte written through this mount and maybe not on the master yet. */
  writtenEnd: number;
}

/**
 * The mount's open files by FUSE handle, and per inode what the master cannot know yet:
 * with write-back the master learns a file's new length only when a chunk write ends,
 * so until then getattr must show the length the writers reached here (the kernel
 * trusts our size over its own after every getattr).
 */
export class OpenFiles {
  private readonly byFh = new Map<number, OpenFile>();
  private readonly byInode = new Map<number, InodeState>();
  private nextFh = 1;

  add(inode: number, handle: FileHandle, readAheadMax: number): OpenFile {
    const file: OpenFile = { fh: this.nextFh++, inode, handle, readAhead: new ReadAhead(handle, readAheadMax) };
    this.byFh.set(file.fh, file);
    let state = this.byInode.get(inode);
    if (!state) this.byInode.set(inode, (state = { files: new Set(), writtenEnd: 0 }));
    state.files.add(file);
    return file;
  }

  get(fh: number): OpenFile | undefined {
    return this.byFh.get(fh);
  }

  remove(file: OpenFile): void {
    this.byFh.delete(file.fh);
    const state = this.byInode.get(file.inode);
    if (!state) return;
    state.files.delete(file);
    if (state.files.size === 0) this.byInode.delete(file.inode);
  }

  get count(): number {
    return this.byFh.size;
  }

  all(): OpenFile[] {
    return [...this.byFh.values()];
  }

  ofInode(inode: number): OpenFile[] {
    return [...(this.byInode.get(inode)?.files ?? [])];
  }

  wrote(inode: number, end: number): void {
    const state = this.byInode.get(inode);
    if (state && end > state.writtenEnd) state.writtenEnd = end;
    for (const f of state?.files ?? []) f.readAhead.reset();
  }

  truncated(inode: number, size: number): void {
    const state = this.byInode.get(inode);
    if (state) state.writtenEnd = size;
    for (const f of state?.files ?? []) f.readAhead.reset();
  }

  /** The size to show for `inode`: the master's, or further if writes here went further. */
  size(inode: number, masterSize: number): number {
    const state = this.byInode.get(inode);
    if (!state || state.writtenEnd <= masterSize) return masterSize;
    for (const f of state.files) if (f.handle.dirtyBytes > 0) return state.writtenEnd;
    return masterSize;
  }

  /** Sends every buffered write of `inode` (before a setattr or a read by another handle). */
  async flushInode(inode: number): Promise<void> {
    await Promise.all(this.ofInode(inode).filter((f) => f.handle.writable && f.handle.dirtyBytes > 0).map((f) => f.handle.flush()));
  }
}
