import { writeSync } from 'node:fs';
import { type FileHandle, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Service } from '@tsmfs/daemon';
import { TsmfsError, Status } from '@tsmfs/protocol';
import type { Logger } from 'pino';
import { type LoggedMutation, encodeEntry } from './changelog-entry.js';
import { type FileFamily, MASTER_FILES, changelogFile, listChangelogs } from './data-path.js';
import { fsyncDir } from './fsync-dir.js';

/**
 * CHANGELOG_SAVE_MODE, MooseFS's key and numbers: how far an entry has gone before the
 * mutation is answered. 0: only applied in memory (written and fsynced in the background
 * within the save interval); 1: written (write(2), the kernel's page cache); 2: fsynced.
 */
export type SaveMode = 0 | 1 | 2;

export interface ChangelogOptions {
  dir: string;
  /** Old changelogs kept after rotation (BACK_LOGS). */
  backLogs: number;
  /** CHANGELOG_SAVE_MODE (default 2). docs/master.md says what each mode can lose. */
  saveMode?: SaveMode;
  /** CHANGELOG_SAVE_INTERVAL_MS: in modes 0 and 1, what was not yet written and fsynced is, at least this often. */
  saveIntervalMs?: number;
  /** The metadata version the changelog continues from; read at start(). */
  startVersion: () => number;
  log: Logger;
  /** Told once if a write or fsync fails; the master cannot go on without its changelog. */
  onFailure?: (err: Error) => void;
  /** Told after each fsync, with the entries it made durable: for metrics and tests. */
  onSynced?: (upTo: number, entries: number) => void;
}

/** Told of each batch once it is durable: its first version and its lines, as written. */
export type DurableListener = (first: number, lines: readonly string[]) => void;

interface Waiter {
  version: number;
  /** Resolved once the entry is written (mode 1 replies) or only once fsynced. */
  until: 'written' | 'synced';
  resolve: () => void;
  reject: (err: Error) => void;
}

const DEFAULT_SAVE_INTERVAL_MS = 100;

/**
 * The append-only changelog, with group commit: `append` queues an entry and returns its
 * version at once; a writer loop writes everything queued as one batch after the
 * requests of the same event-loop turn (and in mode 2 fsyncs it while the next batch
 * forms). `saved(v)` resolves once `v` went as far as the
 * save mode requires before a reply; `durable(v)` once an fsync covering `v` finished,
 * asking for that fsync now if the mode would have left it to the background timer (a
 * client's fsync: metaSync). Followers (onDurable, durableUpTo) see only fsynced entries:
 * a metalogger must never hold an entry the master could still lose.
 *
 * One loop owns the file handle, so rotation and close are done by the loop between
 * batches, never under a write in flight.
 */
export class Changelog implements Service {
  readonly name = 'changelog';
  private fh: FileHandle | undefined;
  private lastVersion = 0;
  private writtenVersion = 0;
  private durableVersion = 0;
  private pending: string[] = [];
  /** Written but not yet fsynced (modes 0 and 1), kept for the durable listeners. */
  private unsynced: string[] = [];
  private waiters: Waiter[] = [];
  private running = false;
  private rotations: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private failure: Error | undefined;
  private closed = true;
  /** A sync was asked for up to this version (durable()). */
  private syncTarget = 0;
  /** A write was asked for up to this version (written(), mode 0). */
  private writeTarget = 0;
  /** The save interval ran out: write and fsync everything now. */
  private flushDue = false;
  private timer: NodeJS.Timeout | undefined;
  private drainedResolvers: (() => void)[] = [];
  private readonly durableListeners = new Set<DurableListener>();
  private readonly mode: SaveMode;

  constructor(private readonly options: ChangelogOptions) {
    this.mode = options.saveMode ?? 2;
  }

  async start(): Promise<void> {
    this.lastVersion = this.writtenVersion = this.durableVersion = this.options.startVersion();
    this.fh = await this.openLive();
    this.closed = false;
    if (this.mode < 2) {
      this.timer = setInterval(() => this.saveNow(), this.options.saveIntervalMs ?? DEFAULT_SAVE_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** Writes out and fsyncs what is queued, then closes the file. Appending afterwards is an error. */
  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.drained();
    await this.fh?.close();
    this.fh = undefined;
  }

  get saveMode(): SaveMode {
    return this.mode;
  }

  /** The version of the last appended entry (durable or not). */
  get version(): number {
    return this.lastVersion;
  }

  /** The highest version fsynced. */
  get durableUpTo(): number {
    return this.durableVersion;
  }

  /**
   * Subscribes to durable batches (followers stream only what is durable: a metalogger
   * must never hold an entry the master could still lose). Returns the unsubscribe.
   */
  onDurable(listener: DurableListener): () => void {
    this.durableListeners.add(listener);
    return () => this.durableListeners.delete(listener);
  }

  /** Queues `m` as the next version and returns that version. */
  append<M extends LoggedMutation>(m: M): number {
    if (this.failure) throw new TsmfsError(Status.EIO, `changelog is not writable: ${this.failure.message}`);
    if (this.closed) throw new TsmfsError(Status.EIO, 'changelog is closed');
    const version = ++this.lastVersion;
    this.pending.push(encodeEntry(version, m));
    // Mode 0 leaves the write to the save timer (or to a durable() that cannot wait).
    if (this.mode > 0) this.kick();
    return version;
  }

  /** Resolves once `version` is saved as the save mode requires before a reply; rejects if the changelog failed. */
  saved(version: number): Promise<void> {
    if (this.mode === 0) return this.failure ? Promise.reject(this.ioError()) : Promise.resolve();
    return this.wait(version, this.mode === 1 ? 'written' : 'synced');
  }

  /**
   * Resolves once `version` is written (write(2) returned), writing now in mode 0 rather
   * than at the save timer: what a shadow master must have done before it tells the
   * leader it holds an entry (docs/ha.md, "Synchronous standbys").
   */
  written(version: number): Promise<void> {
    if (version > this.writtenVersion && version > this.writeTarget) {
      this.writeTarget = version;
      this.kick();
    }
    return this.wait(version, 'written');
  }

  /** Resolves once `version` is on stable storage, fsyncing now if needed; rejects if the changelog failed first. */
  durable(version: number): Promise<void> {
    // Closed with nothing in flight: stop() wrote and fsynced everything appended, and
    // before start() nothing was (the metadata then is what was read from disk).
    if (this.closed && !this.running && this.pending.length === 0 && this.unsynced.length === 0) {
      return this.failure ? Promise.reject(this.ioError()) : Promise.resolve();
    }
    if (version > this.durableVersion && version > this.syncTarget) {
      this.syncTarget = version;
      this.kick();
    }
    return this.wait(version, 'synced');
  }

  private wait(version: number, until: Waiter['until']): Promise<void> {
    if (version <= (until === 'written' ? this.writtenVersion : this.durableVersion)) return Promise.resolve();
    if (this.failure) return Promise.reject(this.ioError());
    return new Promise((resolve, reject) => this.waiters.push({ version, until, resolve, reject }));
  }

  /**
   * Starts a new changelog.0 after the current one is flushed: changelog.N becomes N+1,
   * the oldest beyond BACK_LOGS are removed. Called after a dump, so the files older
   * than the dumps kept are the ones that go.
   */
  rotate(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.rotations.push({ resolve, reject });
      this.kick();
    });
  }

  /**
   * Continues from `version` in a fresh changelog.0 (a shadow master that reloaded its
   * metadata from the leader's dump at `version`): what is queued is written out first,
   * the files before end earlier, and the dump covers the versions in between.
   */
  async restartAt(version: number): Promise<void> {
    await this.rotate();
    this.lastVersion = this.writtenVersion = this.durableVersion = version;
  }

  /** The save interval's tick (modes 0 and 1). */
  private saveNow(): void {
    if (this.pending.length === 0 && this.unsynced.length === 0) return;
    this.flushDue = true;
    this.kick();
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    // setImmediate, not a microtask: requests that arrive in the same I/O phase join the batch.
    setImmediate(() => void this.run());
  }

  private async run(): Promise<void> {
    try {
      while (!this.failure) {
        // Everything goes out before a rotation or a close, and when a sync or the timer asks.
        const everything = this.flushDue || this.closed || this.rotations.length > 0;
        if (this.pending.length > 0 && (this.mode > 0 || everything || this.syncTarget > this.writtenVersion || this.writeTarget > this.writtenVersion)) await this.writeBatch();
        else if (this.unsynced.length > 0 && (everything || this.syncTarget > this.durableVersion)) await this.sync();
        else if (this.rotations.length > 0) await this.rotateNow();
        else break;
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.flushDue = false;
      this.running = false;
      for (const r of this.drainedResolvers.splice(0)) r();
    }
  }

  /**
   * Writes the batch with write(2) on this thread, as MooseFS's master does: an append to
   * the page cache takes microseconds, and the thread pool's round trip (a wake-up of a
   * pool thread, then of this one) cost more than the write itself (docs/benchmarks.md,
   * "The changelog's write on the main thread"). The fdatasync stays in the pool.
   */
  private async writeBatch(): Promise<void> {
    const batch = this.pending;
    const upTo = this.lastVersion;
    this.pending = [];
    const bytes = Buffer.from(batch.join(''), 'utf8');
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fh!.fd, bytes, off);
    this.writtenVersion = upTo;
    this.unsynced.push(...batch);
    if (this.mode === 2) await this.sync();
    else this.settle();
  }

  /** fdatasyncs what is written, then tells the waiters and the followers. */
  private async sync(): Promise<void> {
    const lines = this.unsynced;
    const upTo = this.writtenVersion;
    this.unsynced = [];
    await this.fh!.datasync();
    this.durableVersion = upTo;
    this.options.onSynced?.(upTo, lines.length);
    for (const l of this.durableListeners) l(upTo - lines.length + 1, lines);
    this.settle();
  }

  /** Resolves the waiters the written and durable versions now cover (any caller may wait for any version). */
  private settle(): void {
    const covered = (w: Waiter): boolean => w.version <= (w.until === 'written' ? this.writtenVersion : this.durableVersion);
    const waiting = this.waiters;
    this.waiters = waiting.filter((w) => !covered(w));
    for (const w of waiting) if (covered(w)) w.resolve();
  }

  private async rotateNow(): Promise<void> {
    const waiting = this.rotations.splice(0);
    try {
      await this.fh!.close();
      this.fh = undefined;
      await rotateChangelogFiles(this.options.dir, this.options.backLogs);
      this.fh = await this.openLive();
      for (const w of waiting) w.resolve();
    } catch (err) {
      for (const w of waiting) w.reject(err as Error);
      throw err;
    }
  }

  /** Opens changelog.0 for appending; fsyncs the directory so a newly created file survives a crash. */
  private async openLive(): Promise<FileHandle> {
    const fh = await open(join(this.options.dir, changelogFile(0)), 'a');
    await fsyncDir(this.options.dir);
    return fh;
  }

  private drained(): Promise<void> {
    if (!this.running && this.pending.length === 0 && this.unsynced.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainedResolvers.push(resolve);
      this.kick();
    });
  }

  private fail(err: Error): void {
    this.failure = err;
    this.options.log.fatal({ err: err.message }, 'changelog write failed');
    for (const w of this.waiters.splice(0)) w.reject(this.ioError());
    for (const r of this.rotations.splice(0)) r.reject(this.ioError());
    this.options.onFailure?.(err);
  }

  private ioError(): TsmfsError {
    return new TsmfsError(Status.EIO, `changelog is not writable: ${this.failure?.message ?? 'unknown error'}`);
  }
}

/**
 * Shifts changelog.N to N+1 (newest last, so a crash in between leaves at worst a gap in
 * the numbering, which the reader tolerates) and removes files beyond `backLogs`.
 */
export async function rotateChangelogFiles(dir: string, backLogs: number, family: FileFamily = MASTER_FILES): Promise<void> {
  const files = listChangelogs(dir, family);
  // An empty changelog.0 (no mutation since the last rotation) is kept rather than
  // shifted, so idle dumps do not push real changelogs out of the BACK_LOGS window.
  const live = files[0]?.n === 0 ? files[0] : undefined;
  if (live && (await stat(live.path)).size === 0) return;
  for (const f of [...files].reverse()) {
    if (f.n + 1 > backLogs) await rm(f.path, { force: true });
    else await rename(f.path, join(dir, family.changelog(f.n + 1)));
  }
  await fsyncDir(dir);
}
