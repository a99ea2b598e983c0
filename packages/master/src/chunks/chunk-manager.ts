import { type ChunkLocation, type ChunkRef, type MessageName, type Request, Status, TsmfsError } from '@tsmfs/protocol';
import type { Connection } from '@tsmfs/rpc';
import type { Logger } from 'pino';
import type { Metadata } from '../metadata/metadata.js';
import { ChunkCopies } from './chunk-copies.js';
import { CompleteWrites } from './complete-writes.js';
import { type Chunkserver, ChunkserverRegistry, isOnline } from './chunkserver-registry.js';
import { GrantTokens } from './grant-tokens.js';
import type { Topology } from './topology.js';
import { type ReplicationLimitsConfig, ReplicationLimits } from './replication-limits.js';
import { VersionChanges } from './version-changes.js';
import { WriteGrace } from './write-grace.js';
import { WriteLeases } from './write-leases.js';

export interface ChunkManagerOptions {
  md: () => Metadata;
  epoch: () => number;
  leaseTimeoutMs: number;
  limits: ReplicationLimitsConfig;
  log: Logger;
  /** How long a read grant's chunk tokens last (GRANT_TOKEN_TIMEOUT); write grants' last the lease. */
  readTokenTtlMs?: number;
  /** Network topology (TOPOLOGY_FILENAME): new copies go to racks that hold none. Absent: one rack. */
  topology?: () => Topology;
}

/** The master → chunkserver commands; each carries the master's epoch. */
type Command = 'masterLeads' | 'chunkCreate' | 'chunkDelete' | 'chunkSetVersion' | 'chunkDuplicate' | 'chunkTruncate' | 'chunkReplicate';

/** A copy's state as fileinfo shows it. */
export type CopyState = 'valid' | 'stale' | 'damaged' | 'replicating' | 'creating';

/**
 * The master's chunk state beside the namespace (MooseFS's chunks.c minus the
 * namespace part): the chunkserver registry, where every copy is and at which version,
 * write leases and recovery limits, and the commands sent to chunkservers. Nothing
 * here is persisted: locations come back with the chunkservers' reports.
 *
 * `md.chunks.locations` (what the namespace hands out in grants) is kept equal to the
 * valid copies: right version, not damaged, on a server that is online.
 */
export class ChunkManager {
  readonly registry = new ChunkserverRegistry();
  readonly copies = new ChunkCopies();
  readonly leases: WriteLeases;
  /** A new HA leader's grace period, and the write leases sessions claim back (write-grace.ts). */
  readonly grace: WriteGrace;
  readonly limits: ReplicationLimits;
  /** Chunks whose copies are being moved to the metadata's version: readers wait for them. */
  readonly changes = new VersionChanges();
  /** Signs the chunk tokens of grants and replication sources. */
  readonly tokens: GrantTokens;
  /** Replications in flight: chunk id → destination csid (the chunk loop makes one per chunk at a time). */
  readonly replicating = new Map<number, number>();
  /**
   * Chunks that lost their last valid copy while this master ran: chunk id → the version
   * that copy had. Copies older than that missed a write that completed, so they are
   * never made current by `interruptedCopies`.
   */
  private readonly lostValidAt = new Map<number, number>();
  /**
   * Chunks this master allocated whose creation has not reached any chunkserver yet: a
   * 'create' grant puts its chunk here until a chunkserver reports the copy its write's
   * init made (`created`).
   */
  readonly unborn = new Set<number>();
  /** Chunks a 'create' grant placed, while its lease lasts: chunk id → the servers it names (fileinfo shows them). */
  readonly creating = new Map<number, number[]>();
  /** Chunks whose last write ended complete on every granted copy: their next grant may keep the version. */
  readonly completeWrites = new CompleteWrites();
  /** Something changed that the chunk loop should look at soon (damage, a server lost). */
  onChange: () => void = () => {};

  constructor(private readonly options: ChunkManagerOptions) {
    this.leases = new WriteLeases(options.leaseTimeoutMs);
    this.grace = new WriteGrace(this.leases, () => this.md, options.log);
    this.limits = new ReplicationLimits(options.limits);
    this.tokens = new GrantTokens(this.registry, { readTtlMs: options.readTokenTtlMs ?? 60_000, writeTtlMs: options.leaseTimeoutMs });
  }

  get log(): Logger {
    return this.options.log;
  }

  get md(): Metadata {
    return this.options.md();
  }

  // ---- chunkserver reports ------------------------------------------------------------

  /** The rack of a server (its data address's location path, topology.ts): placement spreads copies over racks. */
  readonly rackOf = (cs: Chunkserver): string => this.options.topology?.().rackOf(cs.address.host) ?? '';

  register(req: Request<'chunkserverRegister'>, link: Connection): Chunkserver {
    const cs = this.registry.register(req, link, link.socket.remoteAddress ?? '');
    // A re-registration replaces whatever the old link had reported.
    this.forgetCopies(cs.csid);
    this.options.log.info({ csid: cs.csid, address: `${cs.address.host}:${cs.address.port}`, chunks: req.chunkCount, labels: cs.labels }, 'chunkserver registered');
    return cs;
  }

  /** Part of a server's chunk report; `markedDisk`: these copies are on that disk, marked for removal. */
  report(cs: Chunkserver, chunks: readonly ChunkRef[], last: boolean, markedDisk?: string): void {
    for (const c of chunks) this.copies.set(c.chunkId, cs.csid, c.version, false, markedDisk);
    if (!last) return;
    cs.reported = true;
    for (const c of this.copies.idsOn(cs.csid)) this.syncLocations(c);
    this.options.log.info({ csid: cs.csid, chunks: this.copies.countOn(cs.csid) }, 'chunk report complete');
    this.onChange();
  }

  /**
   * Copies a write's init created ('create' grants, chunk-requests.ts): from now on they
   * are handed out and counted like any other. One that is not at the chunk's version
   * (an init that came after the grant moved on) is stale, one of an unknown chunk
   * unreferenced: the chunk loop deletes them.
   */
  created(cs: Chunkserver, chunks: readonly ChunkRef[]): void {
    const md = this.md;
    let odd = false;
    for (const c of chunks) {
      this.copies.set(c.chunkId, cs.csid, c.version);
      const current = md.chunks.has(c.chunkId) && md.chunks.version[c.chunkId] === c.version;
      if (current) this.unborn.delete(c.chunkId);
      else odd = true;
      this.syncLocations(c.chunkId);
      this.changes.progressed(c.chunkId);
    }
    if (odd) this.onChange();
  }

  /**
   * What another master's command did to a server's copies (HA: a follower hears it from
   * the chunkserver, chunksChanged): made at these versions, or deleted.
   */
  changed(cs: Chunkserver, chunks: readonly ChunkRef[], gone: readonly ChunkRef[]): void {
    for (const c of chunks) {
      this.copies.set(c.chunkId, cs.csid, c.version);
      this.syncLocations(c.chunkId);
    }
    for (const c of gone) {
      if (this.copies.get(c.chunkId, cs.csid)?.version !== c.version) continue;
      this.copies.remove(c.chunkId, cs.csid);
      this.syncLocations(c.chunkId);
    }
  }

  /**
   * Chunks whose metadata moved since their copies were last judged (HA: a follower
   * applying the leader's changelog: a chunk made, a version bumped). Judged again when
   * this master leads (resyncLocations). Chunks freed need nothing: freeing drops their
   * locations.
   */
  private readonly touched = new Set<number>();

  /** An applied changelog entry made chunk `chunkId` or moved its version. */
  chunkTouched(chunkId: number): void {
    this.touched.add(chunkId);
  }

  /**
   * This master has just become the leader (HA): what grants hand out is computed again
   * for the chunks the changelog touched since their copies were reported (or for every
   * chunk with `all`: the metadata was replaced by a dump). What it believed of lost
   * valid copies was a follower's: forgotten, and so is the touched chunks' previous
   * location (lostValidAt would keep a write grant from continuing a version bump the old
   * leader logged but never had the chunkservers apply). Returns how many were judged.
   */
  resyncLocations(all = false): number {
    const table = this.md.chunks;
    this.lostValidAt.clear();
    const ids = all ? [...table.ids()] : [...this.touched];
    this.touched.clear();
    if (all) table.locations.clear();
    for (const id of ids) {
      table.locations.delete(id);
      this.syncLocations(id);
    }
    return ids.length;
  }

  /**
   * A new leader's first word to every chunkserver registered with it (HA): its epoch,
   * which fences the deposed leader's commands from now on. Once its changes are admitted.
   */
  announceLeader(): void {
    for (const cs of this.registry.all()) {
      if (cs.link && !cs.link.closed) this.command(cs, 'masterLeads', {}).catch((err: Error) => this.options.log.warn({ csid: cs.csid, err: err.message }, 'cannot tell a chunkserver we lead'));
    }
  }

  damaged(cs: Chunkserver, chunks: readonly ChunkRef[]): void {
    for (const c of chunks) {
      const copy = this.copies.get(c.chunkId, cs.csid);
      if (!copy || copy.version !== c.version) continue;
      copy.damaged = true;
      this.syncLocations(c.chunkId);
    }
    this.options.log.warn({ csid: cs.csid, chunks: chunks.map((c) => c.chunkId) }, 'damaged copies reported');
    this.onChange();
  }

  lost(cs: Chunkserver, chunks: readonly ChunkRef[]): void {
    for (const c of chunks) {
      this.copies.remove(c.chunkId, cs.csid);
      this.syncLocations(c.chunkId);
    }
    this.options.log.warn({ csid: cs.csid, chunks: chunks.length }, 'lost copies reported');
    this.onChange();
  }

  /** A server's copies whose disk was marked for removal (or back in service) by a reload of its hdd file. */
  marked(cs: Chunkserver, disk: string, marked: boolean, chunks: readonly ChunkRef[]): void {
    for (const c of chunks) {
      const copy = this.copies.get(c.chunkId, cs.csid);
      if (!copy) continue;
      if (marked) copy.markedDisk = disk;
      else if (copy.markedDisk === disk) delete copy.markedDisk;
      this.syncLocations(c.chunkId);
    }
    this.options.log.info({ csid: cs.csid, disk, marked, chunks: chunks.length }, marked ? 'copies on a disk marked for removal' : 'copies on a disk back in service');
    this.onChange();
  }

  disconnected(cs: Chunkserver, link: Connection): void {
    if (cs.link !== link) return;
    this.registry.disconnected(cs, link);
    const chunks = this.forgetCopies(cs.csid);
    this.options.log.warn({ csid: cs.csid, address: `${cs.address.host}:${cs.address.port}`, chunks: chunks.length }, 'chunkserver disconnected');
    this.onChange();
  }

  // ---- copies ---------------------------------------------------------------------------

  /** Online servers holding chunk `chunkId` at its current version, undamaged. */
  validServers(chunkId: number): Chunkserver[] {
    const md = this.md;
    if (!md.chunks.has(chunkId)) return [];
    const version = md.chunks.version[chunkId]!;
    const out: Chunkserver[] = [];
    for (const [csid, copy] of this.copies.of(chunkId)) {
      const cs = this.registry.get(csid);
      if (cs && isOnline(cs) && copy.version === version && !copy.damaged) out.push(cs);
    }
    return out;
  }

  /**
   * The newest copies of a chunk that has no valid copy but copies older than its
   * metadata version, when that gap can only come from version bumps that never reached
   * them: the master logs a bump (chunkVersion) before the chunkservers apply it, so a
   * master killed in between (or a grant that failed on every server) leaves every copy
   * behind although none of them missed a write. A write grant continues from these
   * copies (MooseFS likewise takes the newest copies when none has the logged version).
   * Not when this master saw a valid copy at a version above them: that one got a write
   * they missed. Online undamaged copies only; undefined when there is none.
   */
  interruptedCopies(chunkId: number): { version: number; servers: Chunkserver[] } | undefined {
    const md = this.md;
    if (!md.chunks.has(chunkId)) return undefined;
    const current = md.chunks.version[chunkId]!;
    let version = 0;
    let servers: Chunkserver[] = [];
    for (const [csid, copy] of this.copies.of(chunkId)) {
      const cs = this.registry.get(csid);
      if (!cs || !isOnline(cs) || copy.damaged || copy.version >= current || copy.version < version) continue;
      if (copy.version > version) servers = [];
      version = copy.version;
      servers.push(cs);
    }
    if (servers.length === 0 || version < (this.lostValidAt.get(chunkId) ?? 0)) return undefined;
    return { version, servers };
  }

  stateOf(chunkId: number, csid: number): CopyState | undefined {
    const copy = this.copies.get(chunkId, csid);
    if (!copy) return undefined;
    if (copy.damaged) return 'damaged';
    return this.md.chunks.has(chunkId) && copy.version === this.md.chunks.version[chunkId] ? 'valid' : 'stale';
  }

  locations(chunkId: number): ChunkLocation[] {
    return this.validServers(chunkId).map((cs) => this.registry.location(cs));
  }

  /**
   * Keeps what the namespace hands out in grants equal to the valid copies. `validVersion`:
   * the version the copies handed out so far had, when a grant has just moved the chunk on.
   */
  syncLocations(chunkId: number, validVersion?: number): void {
    const table = this.md.chunks;
    if (!table.has(chunkId)) {
      table.locations.delete(chunkId);
      this.lostValidAt.delete(chunkId);
      return;
    }
    const locs = this.locations(chunkId);
    if (locs.length === 0) {
      if (table.locations.has(chunkId)) this.lostValidAt.set(chunkId, validVersion ?? table.version[chunkId]!);
      table.locations.delete(chunkId);
    } else {
      this.lostValidAt.delete(chunkId);
      table.locations.set(chunkId, locs);
    }
  }

  /** Forgets a copy that belongs to no chunk of the metadata and has its server delete it. */
  dropOrphan(csid: number, chunkId: number, version: number): void {
    this.copies.remove(chunkId, csid);
    this.syncLocations(chunkId);
    const cs = this.registry.get(csid);
    this.options.log.warn({ chunk: chunkId, version, csid }, 'copy of a chunk id not allocated before: deleted');
    if (cs) this.command(cs, 'chunkDelete', { chunkId, version }).catch(() => undefined);
  }

  // ---- commands -------------------------------------------------------------------------

  /** Sends a command to a chunkserver; ECONNRESET when it is not connected. */
  async command<N extends Command>(cs: Chunkserver, name: N, body: Omit<Request<N>, 'epoch'>): Promise<void> {
    const link = cs.link;
    if (!link || link.closed) throw new TsmfsError(Status.ECONNRESET, `chunkserver ${cs.csid} is not connected`);
    await link.request(name as MessageName, { ...body, epoch: this.options.epoch() } as Request<N>);
  }

  private forgetCopies(csid: number): number[] {
    const chunks = this.copies.removeServer(csid);
    for (const c of chunks) this.syncLocations(c);
    return chunks;
  }
}
