import { EventEmitter } from 'node:events';
import { mkdir, readdir, rename, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger, Service } from '@tsmfs/daemon';
import { BLOCK_SIZE, type ChunkRef, Status, TsmfsError, fail } from '@tsmfs/protocol';
import { ChunkDamagedError, ChunkFile, chunkFileName, parseChunkFileName } from './chunk-file.js';
import { chunkFolder, folderName, legacyChunkFolder } from './chunk-folders.js';
import type { DiskSpec } from './hdd-config.js';
import { InlineIo } from './inline-io.js';

/**
 * A file every disk in service carries at its root. Its absence means the disk is not
 * what we scanned (unmounted, replaced, wiped): the disk is taken out of service rather
 * than filled with new chunks on whatever lies under the mount point.
 */
export const DISK_MARKER = '.tsmfs-disk';

/** errno codes that mean the disk, not one chunk, is failing. */
const DISK_ERRORS = new Set(['EIO', 'EROFS', 'ENXIO', 'ENODEV', 'ENOTDIR', 'EUCLEAN', 'ESTALE', 'ENOTCONN']);

export interface DiskStatus {
  path: string;
  markedForRemoval: boolean;
  /** Why the disk was taken out of service, or undefined while it serves. */
  damaged: string | undefined;
  totalSpace: number;
  usedSpace: number;
  chunkCount: number;
}

export interface SpaceReport {
  totalSpace: number;
  usedSpace: number;
  chunkCount: number;
  damagedDisks: number;
  disks: DiskStatus[];
}

export interface HddEvents {
  /** Copies that went away with a disk (or whose file vanished); the master must be told. */
  chunksLost: [chunks: ChunkRef[], reason: string];
  /** A copy whose header or a block failed its CRC; the master must be told. */
  chunkDamaged: [chunk: ChunkRef, err: ChunkDamagedError];
  diskDamaged: [path: string, reason: string];
}

export interface HddManagerOptions {
  disks: readonly DiskSpec[];
  log: Logger;
  /** Bytes kept free on every disk: a disk with less is full for new chunks (HDD_LEAVE_SPACE_DEFAULT). */
  leaveSpace: number;
  /** Seconds between two background checks (disk marker, one chunk's CRCs); 0 = never (HDD_TEST_FREQ). */
  testFreqSeconds: number;
  /** Minimum milliseconds between two progress lines of a disk scan. */
  progressIntervalMs?: number;
  /** Milliseconds between two measurements of every disk's free space (placement works from them). */
  spaceRefreshMs?: number;
  /** A small read on the event loop slower than this sends the disk's small reads and writes to the thread pool for a while (inline-io.ts). */
  inlineReadSlowMs?: number;
}

/** What a reload of the hdd configuration changed, for the masters (HddManager.reload). */
export interface HddReload {
  /** Copies on disks added to the configuration. */
  found: ChunkRef[];
  /** Per disk path, the copies of a disk newly marked for removal, and of one back in service. */
  marked: [disk: string, chunks: ChunkRef[]][];
  unmarked: [disk: string, chunks: ChunkRef[]][];
}

/** One configured disk (exported for types only; HddManager owns every instance). */
export class Disk {
  /** Chunks found on this disk: id → version. */
  readonly chunks = new Map<number, number>();
  damaged: string | undefined;
  /** Free bytes at the last statfs, less what chunks created since then reserved; undefined before the first. */
  avail: number | undefined;
  /** Bytes reserved by creations since the statfs in progress started (subtracted once it lands). */
  reservedSinceMeasure = 0;
  /** Whether this disk's small reads run on the event loop (it answers them from the page cache). */
  readonly inline: InlineIo;
  constructor(
    /** Replaced when a reload changes the disk's `*` mark. */
    public spec: DiskSpec,
    inlineReadSlowMs?: number,
  ) {
    this.inline = new InlineIo(inlineReadSlowMs);
  }
  get path(): string {
    return this.spec.path;
  }
  get writable(): boolean {
    return this.damaged === undefined && !this.spec.markedForRemoval;
  }
}

interface Located {
  disk: Disk;
  version: number;
}

/** One open ChunkFile shared by everyone using that chunk, so their writes serialize. */
export interface OpenRecord {
  chunkId: number;
  disk: Disk;
  file: Promise<ChunkFile>;
  refs: number;
  /** When the last holder released it (it stays open, idle, for the next one); 0 while held. */
  idleSince: number;
}

/**
 * Chunk files kept open after their last holder released them, and for how long: a read
 * of a chunk that is open costs no open, fstat and 8 KiB header read (as MooseFS keeps
 * descriptors open), which was most of a 4 KiB read's cost. The least recently used go
 * first beyond the cap; an idle one's header was written when its write ended.
 */
const IDLE_OPEN_MAX = 256;
const IDLE_OPEN_MS = 10_000;


/**
 * The chunkserver's disks: where each chunk lives, which disk gets a new one, and what
 * happens when a disk fails. A disk that raises I/O errors (or loses its marker) is
 * marked damaged and leaves service, its chunks reported lost through `chunksLost`;
 * the daemon carries on with the others.
 */
export class HddManager extends EventEmitter<HddEvents> implements Service {
  readonly name = 'hdd manager';
  private readonly disks: Disk[];
  private readonly index = new Map<number, Located>();
  private readonly openFiles = new Map<number, OpenRecord>();
  /** The records of openFiles nobody holds, least recently released first. */
  private readonly idle = new Map<number, OpenRecord>();
  /**
   * Closes of dropped idle files under way, by chunk: a new open of the same chunk waits
   * for its close, which may still write a header the new open must read (and must not
   * cut the file to an older length under it).
   */
  private readonly closing = new Map<number, Promise<void>>();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private spaceTimer: NodeJS.Timeout | undefined;
  private testQueue: number[] = [];

  constructor(private readonly options: HddManagerOptions) {
    super();
    this.disks = options.disks.map((d) => new Disk(d, options.inlineReadSlowMs));
    this.log = options.log.child({ component: 'hdd' });
  }

  async start(): Promise<void> {
    await Promise.all(this.disks.map((d) => this.scanDisk(d)));
    await this.measureSpace();
    const usable = this.disks.filter((d) => d.damaged === undefined).length;
    if (usable === 0) this.log.error('no disk is usable: this chunkserver stores nothing until one is repaired');
    this.log.info({ chunks: this.index.size, disks: this.disks.length, usable }, 'disks scanned');
    if (this.options.testFreqSeconds > 0) {
      this.timer = setInterval(() => void this.testRound(), this.options.testFreqSeconds * 1000);
      this.timer.unref();
    }
    // Placement works from these figures so that a chunk creation needs no statfs of its own.
    this.spaceTimer = setInterval(() => void this.measureSpace(), this.options.spaceRefreshMs ?? 1000);
    this.spaceTimer.unref();
    this.idleTimer = setInterval(() => this.closeIdle(Date.now() - IDLE_OPEN_MS), IDLE_OPEN_MS / 2);
    this.idleTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.spaceTimer) clearInterval(this.spaceTimer);
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.timer = undefined;
    this.spaceTimer = undefined;
    this.idleTimer = undefined;
    const records = [...this.openFiles.values()];
    this.openFiles.clear();
    this.idle.clear();
    await Promise.all(records.map((r) => r.file.then((f) => f.close()).catch(() => undefined)));
  }

  /** Every chunk copy held on a disk in service, for the registration report. */
  chunkList(): ChunkRef[] {
    return [...this.index].map(([chunkId, { version }]) => ({ chunkId, version }));
  }

  /** The version of our copy of `chunkId`, or undefined if we hold none. */
  versionOf(chunkId: number): number | undefined {
    return this.index.get(chunkId)?.version;
  }

  /** The copies on each disk marked for removal that holds any (they are in chunkList too). */
  markedChunks(): Map<string, ChunkRef[]> {
    const out = new Map<string, ChunkRef[]>();
    for (const [chunkId, { disk, version }] of this.index) {
      if (!disk.spec.markedForRemoval) continue;
      let list = out.get(disk.path);
      if (!list) out.set(disk.path, (list = []));
      list.push({ chunkId, version });
    }
    return out;
  }

  get chunkCount(): number {
    return this.index.size;
  }

  /** Space on every disk (statfs now), totals over the disks in service. */
  async space(): Promise<SpaceReport> {
    const disks = await Promise.all(this.disks.map((d) => this.diskStatus(d)));
    const serving = disks.filter((d) => d.damaged === undefined && !d.markedForRemoval);
    return {
      totalSpace: serving.reduce((n, d) => n + d.totalSpace, 0),
      usedSpace: serving.reduce((n, d) => n + d.usedSpace, 0),
      chunkCount: this.index.size,
      damagedDisks: disks.filter((d) => d.damaged !== undefined).length,
      disks,
    };
  }

  /**
   * Creates an empty chunk on the disk with the most free space (as last measured); a disk
   * that turns out full is marked so and the next one is tried; ENOSPC if none has room.
   */
  async create(chunkId: number, version: number): Promise<void> {
    for (;;) {
      if (this.index.has(chunkId)) throw fail('EEXIST', `chunk ${chunkId} already exists here`);
      const disk = await this.chooseDisk();
      if (this.index.has(chunkId)) throw fail('EEXIST', `chunk ${chunkId} already exists here`);
      // Claimed before the file exists, so that a concurrent create of the same id fails.
      this.place(chunkId, version, disk);
      const file = this.guard(disk, { chunkId, version }, () => ChunkFile.create(this.pathOf(disk, chunkId, version), chunkId, version, disk.inline));
      // Open to acquire() from now on, not once created: see `opening`.
      const record = this.opening(chunkId, disk, file);
      try {
        await file;
      } catch (err) {
        record.refs--;
        this.unplace(chunkId, disk);
        // guard() marked the disk full: another may still have room.
        if (!(err instanceof TsmfsError && err.status === Status.ENOSPC)) throw err;
        continue;
      }
      // Kept open: a new chunk is written next (the master creates it for a write).
      await this.release(record);
      return;
    }
  }

  /**
   * Opens a chunk for reading and writing. Everyone holding the same chunk shares one
   * ChunkFile; call release() when done.
   */
  async acquire(chunkId: number, version: number): Promise<ChunkHandle> {
    const at = this.locate(chunkId, version);
    let record = this.openFiles.get(chunkId);
    if (record && record.disk !== at.disk) {
      this.forget(record);
      record = undefined;
    }
    if (!record) {
      const path = this.pathOf(at.disk, chunkId, version);
      const closing = this.closing.get(chunkId);
      const open = (): Promise<ChunkFile> => ChunkFile.open(path, chunkId, version, at.disk.inline);
      record = this.track({ chunkId, disk: at.disk, refs: 0, idleSince: 0, file: this.guard(at.disk, { chunkId, version }, closing ? () => closing.then(open) : open) });
    }
    if (record.refs === 0) this.idle.delete(chunkId);
    record.idleSince = 0;
    record.refs++;
    try {
      const file = await record.file;
      return new ChunkHandle(this, record, file);
    } catch (err) {
      record.refs--;
      throw err;
    }
  }

  async delete(chunkId: number, version: number): Promise<void> {
    const at = this.locate(chunkId, version);
    // Holders keep their descriptor (to an unlinked file); a new chunk of this id starts afresh.
    const record = this.openFiles.get(chunkId);
    if (record) this.forget(record);
    this.unplace(chunkId, at.disk);
    await this.guard(at.disk, { chunkId, version }, () => unlink(this.pathOf(at.disk, chunkId, version)));
  }

  async setVersion(chunkId: number, version: number, newVersion: number): Promise<void> {
    await this.withChunk(chunkId, version, (h) => h.setVersion(newVersion));
  }

  /** Truncates (down or up) and moves to `newVersion`, as the master's truncate command does. */
  async truncate(chunkId: number, version: number, newVersion: number, length: number): Promise<void> {
    await this.withChunk(chunkId, version, async (h) => {
      await h.truncate(length);
      if (newVersion !== version) await h.setVersion(newVersion);
    });
  }

  /** Copies a chunk as a new chunk (snapshot copy-on-write), on the same disk when it has room. */
  async duplicate(chunkId: number, version: number, newChunkId: number, newVersion: number): Promise<void> {
    if (this.index.has(newChunkId)) throw fail('EEXIST', `chunk ${newChunkId} already exists here`);
    await this.withChunk(chunkId, version, async (h) => {
      const disk = this.hasRoom(h.disk) ? h.disk : await this.chooseDisk();
      if (this.index.has(newChunkId)) throw fail('EEXIST', `chunk ${newChunkId} already exists here`);
      this.place(newChunkId, newVersion, disk);
      const path = this.pathOf(disk, newChunkId, newVersion);
      const copy = this.guard(disk, { chunkId: newChunkId, version: newVersion }, async () => {
        await h.file.duplicate(path, newChunkId, newVersion);
        return ChunkFile.open(path, newChunkId, newVersion);
      });
      const record = this.opening(newChunkId, disk, copy);
      try {
        await copy;
      } catch (err) {
        record.refs--;
        this.unplace(newChunkId, disk);
        throw err;
      }
      // Kept open: the copy-on-write chunk is written next.
      await this.release(record);
    });
  }

  /**
   * Applies a re-read hdd configuration (SIGHUP, as MooseFS's `mfschunkserver reload`), by
   * disk path: a disk whose `*` changed is marked for removal or back in service in place
   * (its chunks stay where they are); a new disk is scanned and its chunks join; a disk no
   * longer listed leaves service (its open files closed, its copies reported lost, as a
   * damaged disk's are). Returns what the masters must be told besides those lost copies.
   */
  async reload(specs: readonly DiskSpec[]): Promise<HddReload> {
    const out: HddReload = { found: [], marked: [], unmarked: [] };
    const wanted = new Map(specs.map((s) => [s.path, s]));
    for (const disk of [...this.disks]) {
      const spec = wanted.get(disk.path);
      if (!spec) {
        this.disks.splice(this.disks.indexOf(disk), 1);
        const lost = this.takeOut(disk);
        this.log.info({ disk: disk.path, lostChunks: lost.length }, 'disk no longer in the hdd configuration: taken out of service');
        if (lost.length > 0) this.emit('chunksLost', lost, `disk ${disk.path} removed from the configuration`);
        continue;
      }
      wanted.delete(disk.path);
      if (spec.markedForRemoval === disk.spec.markedForRemoval) continue;
      // Back in service: a disk marked at start-up was never given its marker and folders.
      if (!spec.markedForRemoval && disk.damaged === undefined) await this.prepareDisk(disk).catch((err: Error) => this.markDamaged(disk, err.message));
      disk.spec = spec;
      const chunks = this.copiesOn(disk);
      (spec.markedForRemoval ? out.marked : out.unmarked).push([disk.path, chunks]);
      this.log.info({ disk: disk.path, chunks: chunks.length, markedForRemoval: spec.markedForRemoval }, spec.markedForRemoval ? 'disk marked for removal' : 'disk back in service');
    }
    for (const spec of wanted.values()) {
      const disk = new Disk(spec, this.options.inlineReadSlowMs);
      this.disks.push(disk);
      await this.scanDisk(disk);
      const chunks = this.copiesOn(disk);
      out.found.push(...chunks);
      if (spec.markedForRemoval && chunks.length > 0) out.marked.push([disk.path, chunks]);
    }
    if (out.found.length > 0 || wanted.size > 0) await this.measureSpace();
    return out;
  }

  /**
   * One background check: every disk's marker (a vanished disk is damaged at once),
   * then a full CRC read of the next chunk in turn, as MooseFS's HDD_TEST_FREQ does.
   */
  async testRound(): Promise<void> {
    for (const d of this.disks) if (d.damaged === undefined) await this.checkDisk(d);
    if (this.testQueue.length === 0) this.testQueue = [...this.index.keys()];
    const chunkId = this.testQueue.pop();
    const at = chunkId === undefined ? undefined : this.index.get(chunkId);
    if (chunkId === undefined || !at) return;
    try {
      await this.withChunk(chunkId, at.version, async (h) => {
        await h.read(0, h.length);
      });
    } catch {
      // Reported through the events by guard(); nothing else to do here.
    }
  }

  /** Status of each disk as configured (for the CLI and the tests). */
  diskStates(): { path: string; damaged: string | undefined; markedForRemoval: boolean; chunkCount: number }[] {
    return this.disks.map((d) => ({ path: d.path, damaged: d.damaged, markedForRemoval: d.spec.markedForRemoval, chunkCount: d.chunks.size }));
  }

  // ---- internals shared with ChunkHandle ---------------------------------------------

  /** @internal Runs a disk operation; turns what it throws into the error callers see, judging the disk. */
  async guard<T>(disk: Disk, chunk: ChunkRef, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw await this.classify(disk, chunk, err);
    }
  }

  /** @internal The last holder gone, the file stays open, idle, unless the chunk was deleted or moved meanwhile. */
  release(record: OpenRecord): Promise<void> {
    record.refs--;
    if (record.refs > 0) return Promise.resolve();
    if (this.openFiles.get(record.chunkId) !== record) return record.file.then((f) => f.close());
    record.idleSince = Date.now();
    this.idle.set(record.chunkId, record);
    if (this.idle.size > IDLE_OPEN_MAX) this.forget(this.idle.values().next().value!);
    return Promise.resolve();
  }

  /** Open chunk files nobody holds (for the tests). */
  get idleOpenFiles(): number {
    return this.idle.size;
  }

  /**
   * Registers, held once, the file of a chunk that is being made (created, duplicated) the
   * moment the chunk is placed: an acquire() of it meanwhile — the background test picks
   * the newest chunk when it starts a pass — must share that file, not open a second
   * ChunkFile on it. A second one would read the header before the first one's write
   * ended and, finding bytes past the length it records, cut the file to it: the write
   * is lost and, once its header is written, the copy is damaged.
   */
  private opening(chunkId: number, disk: Disk, file: Promise<ChunkFile>): OpenRecord {
    return this.track({ chunkId, disk, file, refs: 1, idleSince: 0 });
  }

  /** Registers a file being opened; one whose open fails is dropped again. */
  private track(record: OpenRecord): OpenRecord {
    this.openFiles.set(record.chunkId, record);
    record.file.catch(() => {
      if (this.openFiles.get(record.chunkId) === record) this.openFiles.delete(record.chunkId);
    });
    return record;
  }

  /** Drops a record from the open files: closed now if idle, else by its last holder's release. */
  private forget(record: OpenRecord): void {
    if (this.openFiles.get(record.chunkId) === record) this.openFiles.delete(record.chunkId);
    if (record.refs > 0) return;
    if (this.idle.get(record.chunkId) === record) this.idle.delete(record.chunkId);
    const closed = record.file
      .then((f) => f.close())
      .catch((err: unknown) => this.log.warn({ chunkId: record.chunkId, err: (err as Error).message }, 'closing an idle chunk file failed'));
    this.closing.set(record.chunkId, closed);
    void closed.then(() => {
      if (this.closing.get(record.chunkId) === closed) this.closing.delete(record.chunkId);
    });
  }

  /** Closes the files idle since before `before` (ms since the epoch). */
  private closeIdle(before: number): void {
    for (const record of [...this.idle.values()]) {
      if (record.idleSince >= before) break;
      this.forget(record);
    }
  }

  pathOf(disk: Disk, chunkId: number, version: number): string {
    return join(disk.path, chunkFolder(chunkId), chunkFileName(chunkId, version));
  }

  /** @internal Records a version change made through a handle. */
  moved(chunkId: number, disk: Disk, version: number): void {
    const at = this.index.get(chunkId);
    if (at?.disk === disk) at.version = version;
    disk.chunks.set(chunkId, version);
  }

  // ---- placement ------------------------------------------------------------------

  private locate(chunkId: number, version: number): Located {
    const at = this.index.get(chunkId);
    if (!at) throw fail('ENOENT', `chunk ${chunkId} is not on this chunkserver`);
    if (at.version !== version) throw fail('ESTALE', `chunk ${chunkId}: version ${version} asked, this copy has ${at.version}`);
    return at;
  }

  private place(chunkId: number, version: number, disk: Disk): void {
    this.index.set(chunkId, { disk, version });
    disk.chunks.set(chunkId, version);
  }

  private unplace(chunkId: number, disk: Disk): void {
    if (this.index.get(chunkId)?.disk === disk) this.index.delete(chunkId);
    disk.chunks.delete(chunkId);
  }

  private async withChunk<T>(chunkId: number, version: number, fn: (h: ChunkHandle) => Promise<T>): Promise<T> {
    const h = await this.acquire(chunkId, version);
    try {
      return await fn(h);
    } finally {
      await h.release();
    }
  }

  /** The writable disk with the most room by the last measurement; the chosen one's figure is debited at once. */
  private async chooseDisk(): Promise<Disk> {
    if (this.disks.some((d) => d.writable && d.avail === undefined)) await this.measureSpace();
    let best: Disk | undefined;
    for (const disk of this.disks) if (this.hasRoom(disk) && (!best || disk.avail! > best.avail!)) best = disk;
    if (!best) throw fail('ENOSPC', 'no disk in service has room for a new chunk');
    this.reserve(best);
    return best;
  }

  private hasRoom(disk: Disk): boolean {
    return disk.writable && disk.avail !== undefined && disk.avail >= this.needed();
  }

  /** A chunk needs at least its header and one block beyond the space kept free. */
  private needed(): number {
    return this.options.leaveSpace + 2 * BLOCK_SIZE;
  }

  /** Space a new chunk takes before the next measurement sees it (its header and a first block). */
  private reserve(disk: Disk): void {
    const bytes = 2 * BLOCK_SIZE;
    disk.avail = Math.max(0, (disk.avail ?? 0) - bytes);
    disk.reservedSinceMeasure += bytes;
  }

  /** @internal A write or creation hit ENOSPC: no new chunk goes there until a measurement finds room. */
  markFull(disk: Disk): void {
    disk.avail = 0;
  }

  /** statfs of every disk in service; a disk whose statfs fails is judged like any I/O error. */
  private measureSpace(): Promise<void> {
    return Promise.all(this.disks.map((d) => this.measureDisk(d))).then(() => undefined);
  }

  private async measureDisk(disk: Disk): Promise<void> {
    if (disk.damaged !== undefined) return;
    disk.reservedSinceMeasure = 0;
    try {
      const s = await statfs(disk.path);
      this.recordSpace(disk, s.bavail * s.bsize);
    } catch (err) {
      await this.classify(disk, undefined, err);
    }
  }

  /** A fresh statfs figure, less what creations reserved while it ran (they may not show in it). */
  private recordSpace(disk: Disk, avail: number): void {
    disk.avail = Math.max(0, avail - disk.reservedSinceMeasure);
  }

  private async diskStatus(disk: Disk): Promise<DiskStatus> {
    const status = { path: disk.path, markedForRemoval: disk.spec.markedForRemoval, chunkCount: disk.chunks.size, totalSpace: 0, usedSpace: 0 };
    if (disk.damaged === undefined) {
      try {
        disk.reservedSinceMeasure = 0;
        const s = await statfs(disk.path);
        this.recordSpace(disk, s.bavail * s.bsize);
        status.totalSpace = s.blocks * s.bsize;
        status.usedSpace = (s.blocks - s.bavail) * s.bsize;
      } catch (err) {
        await this.classify(disk, undefined, err);
      }
    }
    return { ...status, damaged: disk.damaged };
  }

  // ---- failures -------------------------------------------------------------------

  private async classify(disk: Disk, chunk: ChunkRef | undefined, err: unknown): Promise<Error> {
    if (err instanceof ChunkDamagedError) {
      this.log.warn({ disk: disk.path, chunkId: err.chunkId, version: err.version, block: err.block, err: err.message }, 'damaged chunk');
      this.emit('chunkDamaged', { chunkId: err.chunkId, version: err.version }, err);
      return err;
    }
    if (err instanceof TsmfsError) return err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const message = `${disk.path}: ${(err as Error).message}`;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      this.markFull(disk);
      return new TsmfsError(Status.ENOSPC, message);
    }
    if (code === 'EEXIST') return new TsmfsError(Status.EEXIST, message);
    if (code === 'EMFILE' || code === 'ENFILE') return new TsmfsError(Status.EMFILE, message);
    if (code === 'ENOENT') return this.missing(disk, chunk, message);
    if (DISK_ERRORS.has(code)) {
      this.markDamaged(disk, `${code}: ${(err as Error).message}`);
      return new TsmfsError(Status.EIO, message);
    }
    return new TsmfsError(Status.EIO, message, { cause: err });
  }

  /** A file that is not there: either the chunk went missing, or the whole disk did. */
  private async missing(disk: Disk, chunk: ChunkRef | undefined, message: string): Promise<Error> {
    if (!(await this.checkDisk(disk))) return new TsmfsError(Status.EIO, message);
    if (chunk && this.index.get(chunk.chunkId)?.disk === disk) {
      this.unplace(chunk.chunkId, disk);
      this.log.warn({ disk: disk.path, chunkId: chunk.chunkId, version: chunk.version }, 'chunk file vanished');
      this.emit('chunksLost', [chunk], `file vanished from ${disk.path}`);
    }
    return new TsmfsError(Status.ENOENT, message);
  }

  /** False (and the disk damaged) when its marker is gone: unmounted, replaced, or failing. */
  private async checkDisk(disk: Disk): Promise<boolean> {
    if (disk.damaged !== undefined) return false;
    try {
      await stat(join(disk.path, DISK_MARKER));
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.markDamaged(disk, code === 'ENOENT' ? `${DISK_MARKER} is gone (disk unmounted or replaced?)` : `${code}: ${(err as Error).message}`);
      return false;
    }
  }

  private markDamaged(disk: Disk, reason: string): void {
    if (disk.damaged !== undefined) return;
    disk.damaged = reason;
    const lost = this.takeOut(disk);
    this.log.error({ disk: disk.path, reason, lostChunks: lost.length }, 'disk damaged: taken out of service');
    this.emit('diskDamaged', disk.path, reason);
    if (lost.length > 0) this.emit('chunksLost', lost, `disk ${disk.path} damaged: ${reason}`);
  }

  /** The copies the index has on `disk` (a chunk found on two disks counts where the index put it). */
  private copiesOn(disk: Disk): ChunkRef[] {
    return [...disk.chunks].filter(([id]) => this.index.get(id)?.disk === disk).map(([chunkId, version]) => ({ chunkId, version }));
  }

  /** Drops a disk's copies from the index and closes its open files; returns the copies. */
  private takeOut(disk: Disk): ChunkRef[] {
    const lost: ChunkRef[] = [];
    for (const [chunkId, version] of disk.chunks) {
      if (this.index.get(chunkId)?.disk === disk) {
        this.index.delete(chunkId);
        lost.push({ chunkId, version });
      }
    }
    disk.chunks.clear();
    for (const record of [...this.openFiles.values()]) if (record.disk === disk) this.forget(record);
    return lost;
  }

  // ---- start-up scan --------------------------------------------------------------

  private async scanDisk(disk: Disk): Promise<void> {
    const started = Date.now();
    try {
      const s = await stat(disk.path);
      if (!s.isDirectory()) throw Object.assign(new Error(`${disk.path} is not a directory`), { code: 'ENOTDIR' });
      if (!disk.spec.markedForRemoval) await this.prepareDisk(disk);
      else await stat(join(disk.path, DISK_MARKER));
      await this.scanFolders(disk);
    } catch (err) {
      this.markDamaged(disk, `scan failed: ${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`.trim());
      return;
    }
    this.log.info({ disk: disk.path, chunks: disk.chunks.size, ms: Date.now() - started, markedForRemoval: disk.spec.markedForRemoval }, 'disk scanned');
  }

  /** A disk without a marker is new: it gets the marker and its 256 subfolders. */
  private async prepareDisk(disk: Disk): Promise<void> {
    const marker = join(disk.path, DISK_MARKER);
    const fresh = await stat(marker).then(
      () => false,
      () => true,
    );
    await Promise.all(Array.from({ length: 256 }, (_, i) => mkdir(join(disk.path, folderName(i)), { recursive: true })));
    if (fresh) {
      await writeFile(marker, `tsmfs chunkserver disk, initialised ${new Date().toISOString()}\n`, { flag: 'wx' });
      this.log.info({ disk: disk.path }, 'new disk initialised');
    }
  }

  private async scanFolders(disk: Disk): Promise<void> {
    const interval = this.options.progressIntervalMs ?? 2000;
    let lastProgress = Date.now();
    let ignored = 0;
    // Chunk files where tsmfs placed them before 2026-12-03, moved once all folders were read.
    const legacy: { folder: string; name: string; chunk: ChunkRef }[] = [];
    for (let i = 0; i < 256; i++) {
      const folder = folderName(i);
      const names = await readdir(join(disk.path, folder)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' && disk.spec.markedForRemoval) return [] as string[];
        throw err;
      });
      for (const name of names) {
        const chunk = parseChunkFileName(name);
        if (chunk && chunkFolder(chunk.chunkId) === folder) this.adopt(disk, chunk);
        else if (chunk && legacyChunkFolder(chunk.chunkId) === folder) legacy.push({ folder, name, chunk });
        else ignored++;
      }
      if (Date.now() - lastProgress >= interval) {
        lastProgress = Date.now();
        this.log.info({ disk: disk.path, folders: `${i + 1}/256`, chunks: disk.chunks.size }, 'scanning disk');
      }
    }
    ignored += await this.moveLegacy(disk, legacy);
    if (ignored > 0) this.log.warn({ disk: disk.path, files: ignored }, 'files that are not chunks of this folder were ignored');
  }

  /**
   * Moves chunk files from the folders tsmfs used before 2026-12-03 to MooseFS's
   * (chunkFolder), then indexes them: a rename within the disk, so a crash in the middle
   * leaves each file in one folder or the other, and the next scan finds both kinds.
   * One already at its new place (a copy with the same name) is left where it was,
   * ignored. Returns how many were ignored.
   */
  private async moveLegacy(disk: Disk, files: readonly { folder: string; name: string; chunk: ChunkRef }[]): Promise<number> {
    let ignored = 0;
    for (const { folder, name, chunk } of files) {
      const target = join(disk.path, chunkFolder(chunk.chunkId), name);
      const taken = await stat(target).then(
        () => true,
        () => false,
      );
      if (taken) {
        ignored++;
        continue;
      }
      await rename(join(disk.path, folder, name), target);
      this.adopt(disk, chunk);
    }
    if (files.length > 0) this.log.info({ disk: disk.path, chunks: files.length - ignored }, "chunk files moved to MooseFS's folder layout");
    return ignored;
  }

  /** Indexes a chunk file the scan found in its folder. */
  private adopt(disk: Disk, { chunkId, version }: ChunkRef): void {
    const existing = this.index.get(chunkId);
    if (existing) {
      // Two copies of one chunk (a crash between a copy and a delete): the newer version wins.
      const keepNew = version > existing.version;
      this.log.warn({ chunkId, versions: [existing.version, version], kept: keepNew ? version : existing.version }, 'chunk found twice');
      if (!keepNew) return;
      existing.disk.chunks.delete(chunkId);
    }
    this.place(chunkId, version, disk);
  }
}

/** A chunk in use: its operations report disk failures and damaged blocks to the manager. */
export class ChunkHandle {
  private released = false;

  constructor(
    private readonly manager: HddManager,
    private readonly record: OpenRecord,
    readonly file: ChunkFile,
  ) {}

  get disk(): Disk {
    return this.record.disk;
  }
  get chunkId(): number {
    return this.file.chunkId;
  }
  get version(): number {
    return this.file.version;
  }
  get length(): number {
    return this.file.length;
  }

  read(offset: number, length: number, crcs?: number[]): Promise<Buffer> {
    return this.run(() => this.file.read(offset, length, crcs, this.disk.inline));
  }
  /** `crc`: data's CRC-32, already checked (ChunkFile.write). */
  write(offset: number, data: Uint8Array, crc?: number): Promise<void> {
    return this.run(() => this.file.write(offset, data, this.disk.inline, crc));
  }
  truncate(length: number): Promise<void> {
    return this.run(() => this.file.truncate(length));
  }
  sync(): Promise<void> {
    return this.run(() => this.file.sync());
  }
  /** Writes the chunk's header if writes left it behind (a write's end: see ChunkFile). */
  flush(): Promise<void> {
    return this.run(() => this.file.flush(this.disk.inline));
  }

  async setVersion(version: number): Promise<void> {
    const path = this.manager.pathOf(this.disk, this.chunkId, version);
    await this.run(() => this.file.setVersion(version, path));
    this.manager.moved(this.chunkId, this.disk, version);
  }

  release(): Promise<void> {
    if (this.released) return Promise.resolve();
    this.released = true;
    return this.manager.release(this.record);
  }

  private run<T>(op: () => Promise<T>): Promise<T> {
    return this.manager.guard(this.disk, { chunkId: this.chunkId, version: this.version }, op);
  }
}
