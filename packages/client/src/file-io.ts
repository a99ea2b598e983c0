import { type Address, type Attr, CHUNK_SIZE, type ChunkGrant, type Cred, type MessageName, type Reply, type Request, Status, TsmfsError } from '@tsmfs/protocol';
import { ChunkLocations } from './chunk-locations.js';
import { DataLinks } from './data-links.js';
import { FileWriter, type FileWriterOptions, type PendingBytes, type WriteErrorSink } from './file-writer.js';
import { UnsyncedWrites } from './unsynced-writes.js';

/** What file I/O needs of a master session. */
export interface MasterCalls {
  call<N extends MessageName>(name: N, body: Request<N>): Promise<Reply<N>>;
}

export interface FileIoOptions {
  name: string;
  /** Time a cached chunk location is trusted. */
  locationTtlMs?: number;
  requestTimeoutMs?: number;
  /** UnsyncedWrites' bound. */
  maxUnsyncedFiles?: number;
}

/** A write's end's answer: the file's attributes right after it, and the ticket its listener took when it was sent. */
export interface WriteEndAttr<T> {
  attr: Attr;
  ticket: T;
}

/**
 * The data path a session's open files share: links to chunkservers and the chunk
 * location cache. Concurrent requests for the same chunk's grant share one master
 * request.
 */
export class FileIo {
  readonly links: DataLinks;
  readonly locations: ChunkLocations;
  /** Chunk writes retried on a new grant; chunk reads that had to turn to another copy. */
  readonly stats = { writeRetries: 0, readFallbacks: 0 };
  private readonly asking = new Map<string, Promise<ChunkGrant>>();
  /** Chunk writes acknowledged but not yet fsynced: what fsync(2) of the file sends `dataSync` for. */
  private readonly unsynced: UnsyncedWrites;
  /** Syncs under way per inode: an fsync must also wait for one started before it. */
  private readonly syncing = new Map<number, Promise<void>>();
  /**
   * The write-back buffer of each inode open for writing, shared by all its handles
   * (file-writer.ts: one buffer keeps two descriptors' writes in order). A background
   * chunk write takes its bytes when it starts, so "nothing buffered" is not "nothing in
   * flight": reads and size changes of the inode wait for the writer (drain), whatever
   * handle they use.
   */
  private readonly writers = new Map<number, FileWriter>();
  /** Bumped by forgetFile: a grant asked for before it must not be cached after it. */
  private readonly fileEpoch = new Map<number, number>();
  /**
   * What a write's end's reply brought, per inode (until writeEnded): the epoch it is
   * current at, whether its read grant was cached, the file's attributes, and each length
   * listener's ticket taken when the end was sent.
   */
  private readonly endReplies = new Map<number, { epoch: number; grantCached: boolean; attr: Attr | undefined; tickets: unknown[] }>();
  /** Told when a chunk write of an inode ended: the master's length of it may have moved. */
  private readonly lengthListeners: { listener: (inode: number, ended: WriteEndAttr<unknown> | undefined) => void; ticket: () => unknown }[] = [];

  constructor(
    readonly master: MasterCalls,
    options: FileIoOptions,
  ) {
    this.links = new DataLinks({ name: options.name, requestTimeoutMs: options.requestTimeoutMs });
    this.locations = new ChunkLocations({ ttlMs: options.locationTtlMs });
    const syncAll = async (at: Address): Promise<void> => void (await (await this.links.reader(at)).request('dataSyncAll', {}));
    this.unsynced = new UnsyncedWrites(syncAll, options.maxUnsyncedFiles);
  }

  /** Where chunk `index` of `inode` is: from the cache, or the master (`fresh` skips the cache). */
  async grant(inode: number, index: number, fresh = false): Promise<ChunkGrant> {
    if (!fresh) {
      const cached = this.locations.get(inode, index);
      if (cached) return cached;
    }
    // The epoch in the key: a grant asked for before a write or truncate changed the file
    // carries the old file length and must neither be shared nor cached after it.
    const epoch = this.fileEpoch.get(inode) ?? 0;
    const key = `${inode}:${index}:${epoch}`;
    let asked = this.asking.get(key);
    if (!asked) {
      asked = this.master.call('readChunk', { inode, index });
      this.asking.set(key, asked);
      asked.then(
        (g) => {
          this.asking.delete(key);
          if ((this.fileEpoch.get(inode) ?? 0) === epoch) this.locations.set(inode, index, g);
        },
        () => this.asking.delete(key),
      );
    }
    return asked;
  }

  /** Where `inode`'s cache stands: a grant asked for now may be cached if `cacheGrant` gets the same epoch. */
  epochOf(inode: number): number {
    return this.fileEpoch.get(inode) ?? 0;
  }

  /**
   * Caches a read grant another reply brought (the open of a file for reading), asked
   * for at `epoch`: dropped if this session changed the file since.
   */
  cacheGrant(inode: number, index: number, epoch: number, grant: ChunkGrant): void {
    if (this.epochOf(inode) === epoch) this.locations.set(inode, index, grant);
  }

  /** Drops what is cached of `inode`'s chunks and file length (it was written or truncated); returns the new epoch. */
  forgetFile(inode: number): number {
    const epoch = (this.fileEpoch.get(inode) ?? 0) + 1;
    // Deleted and set again: the map's order stays oldest-changed first for the pruning below.
    this.fileEpoch.delete(inode);
    this.fileEpoch.set(inode, epoch);
    // Bounded: an epoch only has to outlive the grant requests in flight.
    if (this.fileEpoch.size > 100_000) this.fileEpoch.delete(this.fileEpoch.keys().next().value as number);
    this.locations.forgetFile(inode);
    return epoch;
  }

  /**
   * The master requests of this session's chunk writes. A write's grant and its end
   * change the file at the master (a new chunk or version, the length): each forgets
   * what is cached of the file when it is sent, so that no grant asked for before it is
   * cached after it. A complete end's reply carries the chunk's read grant as of right
   * after that end; it is cached unless something else changed the file in this session
   * while the end was on its way (another write's request, a size change): then it may
   * be older than that change, and the next read asks the master.
   */
  private writeCall<N extends MessageName>(name: N, body: Request<N>): Promise<Reply<N>> {
    if (name !== 'writeChunk' && name !== 'writeChunkEnd') return this.master.call(name, body);
    const { inode, index } = body as Request<'writeChunk'>;
    const sent = this.forgetFile(inode);
    // Taken before the end is sent: what the listener caches of its answer counts from here.
    const tickets = name === 'writeChunkEnd' ? this.lengthListeners.map((l) => l.ticket()) : [];
    const reply = this.master.call(name, body);
    if (name === 'writeChunkEnd') {
      // Registered before the writer's own await: the grant is cached before the writer goes on.
      reply.then(
        (r) => this.endReplied(inode, index, sent, r as Reply<'writeChunkEnd'>, tickets),
        () => this.forgetFile(inode),
      );
    }
    return reply;
  }

  private endReplied(inode: number, index: number, sent: number, { grant, attr }: Reply<'writeChunkEnd'>, tickets: unknown[]): void {
    const unchanged = (this.fileEpoch.get(inode) ?? 0) === sent;
    // Forgotten again either way: an answer to a read grant asked for while the end was
    // on its way may describe the file before it.
    const epoch = this.forgetFile(inode);
    if (!unchanged) return;
    if (grant) this.locations.set(inode, index, grant);
    if (grant || attr) this.endReplies.set(inode, { epoch, grantCached: grant !== undefined, attr, tickets });
  }

  /** The write-back buffer of `inode`, which `sink` (a handle open for writing) shares until `release`. */
  writer(inode: number, sink: WriteErrorSink, options?: FileWriterOptions): FileWriter {
    let w = this.writers.get(inode);
    if (!w) {
      const io = { links: this.links, call: this.writeCall.bind(this), written: this.written.bind(this), writeEnded: this.writeEnded.bind(this), retried: () => void this.stats.writeRetries++ };
      this.writers.set(inode, (w = new FileWriter(io, inode, options)));
    }
    w.attach(sink);
    return w;
  }

  /** `sink`'s handle closed (after its flush): the last one drops the inode's buffer once it is empty. */
  release(w: FileWriter, sink: WriteErrorSink): void {
    if (!w.detach(sink)) return;
    // Bytes of a write that raced the close still go out first (flush never rejects).
    void w.flush().then(() => this.releaseIdle(w));
  }

  private releaseIdle(w: FileWriter): void {
    if (w.attached || w.pending || this.writers.get(w.inode) !== w) return;
    w.close();
    this.writers.delete(w.inode);
  }

  /** Whether this session has writes of `inode` buffered or in flight. */
  busy(inode: number): boolean {
    return this.writers.get(inode)?.pending ?? false;
  }

  /** This session's writes of `inode` buffered or in flight in [from, to), oldest first (FileWriter.pendingIn). */
  pendingWrites(inode: number, from: number, to: number): PendingBytes[] {
    return this.writers.get(inode)?.pendingIn(from, to) ?? [];
  }

  /**
   * Waits until every write of `inode` made through this session so far has ended (its
   * errors go to the handles open for writing): reads and size changes are ordered after them.
   */
  async drain(inode: number): Promise<void> {
    await this.writers.get(inode)?.flush();
  }

  /**
   * Runs a size change of `inode` (truncate, setattr size, open with O_TRUNC) after every
   * write this session made to it so far: a chunk write ending after the cut would be
   * refused (its chunk replaced) or bring cut bytes back.
   */
  async sizeChange<T>(inode: number, change: () => Promise<T>): Promise<T> {
    await this.drain(inode);
    try {
      return await change();
    } finally {
      this.forgetFile(inode);
    }
  }

  /**
   * Calls `listener(inode, ended)` whenever a chunk write of this session ended (the
   * master's file length may have moved). `ended`: the file's attributes the end's reply
   * brought, as of right after it, with the `ticket()` taken when the end was sent — when
   * nothing else changed the file in this session since it was sent; else undefined.
   */
  onLengthChange<T>(listener: (inode: number, ended: WriteEndAttr<T> | undefined) => void, ticket: () => T): void {
    this.lengthListeners.push({ listener: listener as (inode: number, ended: WriteEndAttr<unknown> | undefined) => void, ticket });
  }

  /**
   * A chunk write of `inode` ended, successfully or not. What is cached of the file is
   * dropped, unless it is the grant the write's own end brought and nothing changed the
   * file since (writeCall).
   */
  writeEnded(inode: number): void {
    const end = this.endReplies.get(inode);
    this.endReplies.delete(inode);
    const current = end !== undefined && end.epoch === (this.fileEpoch.get(inode) ?? 0);
    if (!current || !end.grantCached) this.forgetFile(inode);
    const attr = current ? end.attr : undefined;
    const tickets = end?.tickets ?? [];
    this.lengthListeners.forEach(({ listener }, i) => listener(inode, attr ? { attr, ticket: tickets[i] } : undefined));
  }

  /** Records a finished chunk write that fsync must make durable. */
  written(inode: number, index: number, grant: ChunkGrant): void {
    this.unsynced.add(inode, index, grant);
  }

  /**
   * Every copy of every chunk of `inode` written through this session since its last
   * sync fdatasyncs. A copy whose version moved on was synced by the chunkserver when it
   * took the new version; a chunk none of whose copies could sync fails with EIO (and
   * stays to be synced again).
   */
  async sync(inode: number): Promise<void> {
    const before = this.syncing.get(inode);
    const m = this.unsynced.take(inode);
    if (!m) return before;
    const p = Promise.all([before?.catch(() => undefined), this.syncChunks(inode, m)]).then(() => undefined);
    this.syncing.set(inode, p);
    try {
      await p;
    } finally {
      if (this.syncing.get(inode) === p) this.syncing.delete(inode);
    }
  }

  private async syncChunks(inode: number, m: Map<number, ChunkGrant>): Promise<void> {
    const failed: [number, ChunkGrant][] = [];
    await Promise.all(
      [...m].map(async ([index, g]) => {
        if (!(await this.syncChunk(g)) && (await this.stillHolds(inode, index, g))) failed.push([index, g]);
      }),
    );
    if (failed.length === 0) return;
    for (const [index, g] of failed) if (!this.unsynced.has(inode, index)) this.written(inode, index, g);
    throw new TsmfsError(Status.EIO, `fsync: no copy of chunk ${failed[0]![1].chunkId} could sync`);
  }

  /** Whether at least one copy of the chunk fdatasynced. */
  private async syncChunk(g: ChunkGrant): Promise<boolean> {
    const results = await Promise.allSettled(g.locations.map((at) => this.syncCopy(at, g)));
    return results.some((r) => r.status === 'fulfilled');
  }

  /**
   * Whether the file still holds the chunk a failed sync was for: a truncation (ours or
   * anyone's) may have dropped it, and the master then deletes its copies, so every copy
   * answers ENOENT; those bytes are no part of the file any more and fsync has nothing to
   * make durable. A chunk still there at a newer version (a truncation cut it, another
   * writer moved it on) is synced at that version instead.
   */
  private async stillHolds(inode: number, index: number, g: ChunkGrant): Promise<boolean> {
    let now: ChunkGrant;
    try {
      now = await this.master.call('readChunk', { inode, index });
    } catch (err) {
      // The file itself is gone (removed and released): nothing of it to make durable.
      if (err instanceof TsmfsError && err.status === Status.ENOENT) return false;
      throw err;
    }
    if (now.chunkId !== g.chunkId || index * CHUNK_SIZE >= now.fileLength) return false;
    if (now.version === g.version) return true;
    return !(await this.syncChunk(now));
  }

  private async syncCopy(at: ChunkGrant['locations'][number], g: ChunkGrant): Promise<void> {
    const conn = await this.links.reader(at);
    try {
      await conn.request('dataSync', { chunkId: g.chunkId, version: g.version });
    } catch (err) {
      if (err instanceof TsmfsError && err.status === Status.ESTALE) return;
      throw err;
    }
  }

  close(): void {
    this.links.close();
  }
}

export type { Cred };
