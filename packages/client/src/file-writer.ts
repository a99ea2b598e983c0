import { CHUNK_SIZE, type ChunkGrant, type Cred, type MessageName, type Reply, type Request, Status, TsmfsError } from '@tsmfs/protocol';
import { writeChunk } from './chunk-writer.js';
import type { DataLinks } from './data-links.js';
import { DirtyExtents } from './dirty-extents.js';

export interface FileWriterOptions {
  /** A chunk's buffered bytes that start sending it (write-back). */
  flushAtBytes?: number;
  /** Buffered bytes of the file beyond which write() waits for the chunkservers. */
  maxDirtyBytes?: number;
  /** Buffered writes go out after this long even without fsync/close. */
  idleFlushMs?: number;
}

/** Bytes written at `off` (a file offset) that the chunkservers may not show yet. */
export interface PendingBytes {
  off: number;
  data: Buffer;
}

/** What a writer needs of its session's file I/O. */
export interface WriterIo {
  readonly links: DataLinks;
  call<N extends MessageName>(name: N, body: Request<N>): Promise<Reply<N>>;
  /** A chunk write ended with every copy acknowledging (fsync must make it durable). */
  written(inode: number, index: number, grant: ChunkGrant): void;
  /** A chunk write ended, successfully or not: the file's length may have moved. */
  writeEnded(inode: number): void;
  retried(): void;
}

/** A handle told of a background write's failure (each open for writing gets it once, as with Linux's errseq). */
export interface WriteErrorSink {
  writeFailed(err: TsmfsError): void;
}

/**
 * Bytes of one chunk waiting to be sent with one caller's credentials: the master's
 * write grant checks them and clears set-user-ID bits for them. Writes of another
 * caller start a new run after this one, so the runs go out in the order they were made.
 */
interface Run {
  cred: Cred;
  dirty: DirtyExtents;
}

/**
 * The write-back buffer of one file in a session, shared by every handle open on it:
 * the bytes of all its descriptors, in the order they were written, per chunk. One
 * buffer per file is what keeps two descriptors' overlapping writes in order: with a
 * buffer per handle, a later write through one descriptor could reach the chunkservers
 * before an earlier one through another, and the older bytes won (docs/client.md,
 * "Write-back"). A chunk has at most one write in flight; bytes arriving meanwhile join
 * it or wait for the next.
 */
export class FileWriter {
  private readonly runs = new Map<number, Run[]>();
  private readonly jobs = new Map<number, Promise<void>>();
  private readonly sinks = new Set<WriteErrorSink>();
  private flushing = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly flushAt: number;
  private readonly maxDirty: number;
  private readonly idleMs: number;

  constructor(
    private readonly io: WriterIo,
    readonly inode: number,
    options: FileWriterOptions = {},
  ) {
    this.flushAt = options.flushAtBytes ?? 4 * 1024 * 1024;
    this.maxDirty = options.maxDirtyBytes ?? 64 * 1024 * 1024;
    this.idleMs = options.idleFlushMs ?? 1000;
  }

  /** Buffered bytes not yet handed to a chunk write. */
  get dirtyBytes(): number {
    let n = 0;
    for (const runs of this.runs.values()) for (const r of runs) n += r.dirty.bytes;
    return n;
  }

  /** Whether bytes are buffered or a chunk write is in flight. */
  get pending(): boolean {
    return this.jobs.size > 0 || this.dirtyBytes > 0;
  }

  /**
   * This file's bytes buffered or in flight (not ended) that lie in [from, to), with file
   * offsets, oldest first (runs in the order they were written).
   */
  pendingIn(from: number, to: number): PendingBytes[] {
    const out: PendingBytes[] = [];
    for (const [index, runs] of this.runs) {
      const base = index * CHUNK_SIZE;
      if (base >= to || base + CHUNK_SIZE <= from) continue;
      for (const r of runs) for (const p of r.dirty.pendingIn(from - base, to - base)) out.push({ off: base + p.off, data: p.data });
    }
    return out;
  }

  /** Whether a handle is attached. */
  get attached(): boolean {
    return this.sinks.size > 0;
  }

  /** Handles that hear of a failed background write. */
  attach(sink: WriteErrorSink): void {
    this.sinks.add(sink);
  }

  /** Whether no handle is attached any more. */
  detach(sink: WriteErrorSink): boolean {
    this.sinks.delete(sink);
    return this.sinks.size === 0;
  }

  /** Buffers `data` (the caller's own copy) at `offset` for `cred`; waits while the file's buffer is full. */
  async write(offset: number, data: Buffer, cred: Cred): Promise<void> {
    for (let pos = 0; pos < data.length; ) {
      const abs = offset + pos;
      const index = Math.floor(abs / CHUNK_SIZE);
      const n = Math.min(data.length - pos, (index + 1) * CHUNK_SIZE - abs);
      const run = this.runFor(index, cred);
      run.dirty.insert(abs - index * CHUNK_SIZE, data.subarray(pos, pos + n));
      if (this.chunkBytes(index) >= this.flushAt) this.startJob(index);
      pos += n;
    }
    // Bounded: each pass waits for a chunk write to end, and a failed one drops its bytes.
    while (this.dirtyBytes >= this.maxDirty && this.jobs.size > 0) {
      for (const index of this.runs.keys()) this.startJob(index);
      await Promise.race(this.jobs.values());
    }
    this.armIdleFlush();
  }

  /** Sends every buffered byte and waits for every chunk write to end (errors go to the attached handles). */
  async flush(): Promise<void> {
    this.flushing++;
    try {
      while (this.pending) {
        for (const index of this.runs.keys()) this.startJob(index);
        await Promise.allSettled(this.jobs.values());
      }
    } finally {
      this.flushing--;
    }
  }

  /** Stops the idle timer (the last handle closed, after its flush). */
  close(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private runFor(index: number, cred: Cred): Run {
    let runs = this.runs.get(index);
    if (!runs) this.runs.set(index, (runs = []));
    const last = runs[runs.length - 1];
    if (last && sameCred(last.cred, cred)) return last;
    const run = { cred, dirty: new DirtyExtents() };
    runs.push(run);
    return run;
  }

  private chunkBytes(index: number): number {
    let n = 0;
    for (const r of this.runs.get(index) ?? []) n += r.dirty.bytes;
    return n;
  }

  /** Sends chunk `index`'s runs one after another, unless a write of it is already in flight. */
  private startJob(index: number): void {
    if (this.jobs.has(index) || !this.runs.has(index)) return;
    const job = this.sendRuns(index).finally(() => {
      this.jobs.delete(index);
      if (this.runs.has(index) && (this.flushing > 0 || this.chunkBytes(index) >= this.flushAt)) this.startJob(index);
      this.io.writeEnded(this.inode);
    });
    this.jobs.set(index, job);
  }

  private async sendRuns(index: number): Promise<void> {
    // Bounded: every pass ends a run (sent, or dropped with its error), and only the last
    // run takes new bytes.
    for (let runs = this.runs.get(index); runs && runs.length > 0; runs = this.runs.get(index)) {
      const run = runs[0]!;
      try {
        await writeChunk(
          {
            call: (name, body) => this.io.call(name, body),
            cred: run.cred,
            links: this.io.links,
            inode: this.inode,
            onWritten: (i, grant) => this.io.written(this.inode, i, grant),
            onRetry: () => this.io.retried(),
            finishing: () => this.flushing > 0 || runs.length > 1,
          },
          index,
          run.dirty,
        );
      } catch (err) {
        // As with MooseFS's client (and close(2) on NFS), the bytes of a failed chunk write
        // are dropped and the error reported by each handle's next write, fsync or close.
        run.dirty.take();
        const failure = err instanceof TsmfsError ? err : new TsmfsError(Status.EIO, String(err));
        for (const s of this.sinks) s.writeFailed(failure);
      }
      // Ended (or failed and given up): what it took is on every copy, or never will be.
      run.dirty.settle();
      if (!run.dirty.empty) continue;
      runs.shift();
      if (runs.length === 0) this.runs.delete(index);
    }
  }

  private armIdleFlush(): void {
    if (this.idleTimer || this.idleMs <= 0) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      for (const index of this.runs.keys()) this.startJob(index);
    }, this.idleMs);
    this.idleTimer.unref();
  }
}

function sameCred(a: Cred, b: Cred): boolean {
  return a.uid === b.uid && a.gid === b.gid && a.groups.length === b.groups.length && a.groups.every((g, i) => g === b.groups[i]);
}
