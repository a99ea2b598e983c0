import type { FileHandle } from '@tsmfs/client';
import { LRUCache } from 'lru-cache';
import { ReadAhead, WindowBuffers } from './read-ahead.js';

export interface OpenFile {
  fh: number;
  inode: number;
  handle: FileHandle;
  readAhead: ReadAhead;
}

interface InodeState {
  files: Set<OpenFile>;
  /** End of the furthest byte written through this mount that the master may not know yet. */
  writtenEnd: number;
}

/**
 * The mount's open files by FUSE handle, and per inode what the master cannot know yet.
 *
 * With write-back the master learns a file's new length only when a chunk write ends,
 * and the kernel trusts our size over its own after every getattr (and takes a short read
 * as the file having shrunk). So the size shown for a file open here is the master's only
 * when no write of it is buffered or in flight here AND the master's attributes were asked
 * for after the last size change here ended ("current"); otherwise it is the larger of the
 * master's and the furthest end written here. Size changes are counted per inode so that
 * an answer asked for before one is recognised when it arrives after it.
 */
export class OpenFiles {
  private readonly byFh = new Map<number, OpenFile>();
  private readonly byInode = new Map<number, InodeState>();
  /** inode → value of `clock` at its last size change; kept beyond close for answers still on the way. */
  private readonly changedAt = new LRUCache<number, number>({ max: 100_000, ttl: 10 * 60_000 });
  private clock = 0;
  private nextFh = 1;
  /** Read-ahead windows' buffers, recycled across the mount's files. */
  private readonly windowBuffers = new WindowBuffers();

  /** `busy(inode)`: whether the session still has writes of it buffered or in flight. */
  constructor(private readonly busy: (inode: number) => boolean) {}

  add(inode: number, handle: FileHandle, readAheadMax: number): OpenFile {
    const file: OpenFile = { fh: this.nextFh++, inode, handle, readAhead: new ReadAhead(handle, readAheadMax, this.windowBuffers) };
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

  /** Taken before asking the master for attributes; see `current`. */
  stamp(): number {
    return this.clock;
  }

  /** Whether attributes asked for at `stamp` are newer than every size change of `inode` here. */
  current(inode: number, stamp: number): boolean {
    return (this.changedAt.get(inode) ?? -1) < stamp;
  }

  /** A write, a truncate or the end of a chunk write of `inode`: its size may have moved. */
  changed(inode: number): void {
    this.changedAt.set(inode, this.clock++);
  }

  wrote(inode: number, end: number): void {
    const state = this.byInode.get(inode);
    if (state && end > state.writtenEnd) state.writtenEnd = end;
    for (const f of state?.files ?? []) f.readAhead.reset();
    this.changed(inode);
  }

  /** A size change went through the master (its reply carries the new size). */
  truncated(inode: number): void {
    const state = this.byInode.get(inode);
    if (state) state.writtenEnd = 0;
    for (const f of state?.files ?? []) f.readAhead.reset();
    this.changed(inode);
  }

  /** The size to show for `inode` given the master's `masterSize` asked for at `stamp`. */
  size(inode: number, masterSize: number, stamp: number): number {
    const state = this.byInode.get(inode);
    if (!state) return masterSize;
    if (!this.busy(inode) && this.current(inode, stamp)) {
      // The master has every write made here: the writes' end need not be remembered.
      state.writtenEnd = 0;
      return masterSize;
    }
    return Math.max(masterSize, state.writtenEnd);
  }
}
