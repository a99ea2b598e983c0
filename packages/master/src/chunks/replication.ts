import type { Service } from '@tsmfs/daemon';
import { Status, TsmfsError } from '@tsmfs/protocol';
import type { Logger } from 'pino';
import type { Metadata } from '../metadata/metadata.js';
import type { ChunkManager } from './chunk-manager.js';
import { type Chunkserver, freeSpace, isOnline } from './chunkserver-registry.js';
import { RemovalProgress } from './disk-removal.js';
import { pickRemovals, placeCopies } from './placement.js';
import { pickMoves, usagePercent } from './rebalance.js';
import { type CopyRule, type LabelExpr, isPlain, matches } from '../sclass/label-expr.js';
import type { CreateMode } from '@tsmfs/protocol';
import { judgeCopies, keepsLabels, labelsOf } from './label-placement.js';
import { isArchived } from '../sclass/sclass-apply.js';
import { type KindCounts, type ReplicationKind, type ReplicationSlot, noKinds } from './replication-limits.js';

export interface ChunkLoopOptions {
  chunks: ChunkManager;
  /** CHUNKS_LOOP_MIN_TIME in ms: time between passes. */
  periodMs: number;
  /** REPLICATIONS_DELAY_INIT in ms: nothing is replicated or deleted before then. */
  delayInitMs: number;
  /** CHUNKSERVER_TIMEOUT in ms: a server silent this long is dropped. */
  serverTimeoutMs: number;
  /**
   * HA (docs/ha.md): whether this master may command chunkservers now. A follower keeps
   * their registrations but its metadata may lag behind their copies: it deletes and
   * replicates nothing. Default: always (a lone master).
   */
  leading?: () => boolean;
  /**
   * Logs that these freed chunks (`toDelete`) have no copy left on any chunkserver, so they
   * leave the list (Namespace.chunksDeleted); absent, the list is left as it is.
   */
  chunksDeleted?: (chunkIds: number[]) => void;
  /**
   * Logs a chunk's new version (Namespace.repairChunkVersion), for the repair of chunks an
   * interrupted grant left without a valid copy; absent, they wait for a writer.
   */
  bumpVersion?: (chunkId: number, version: number) => void;
  /** ACCEPTABLE_PERCENTAGE_DIFFERENCE: rebalancing (rebalance.ts); absent, none. */
  acceptablePercentageDifference?: number;
  log: Logger;
}

/** What a reload may change (ChunkLoop.reconfigure). */
export type ChunkLoopSettings = Pick<ChunkLoopOptions, 'periodMs' | 'delayInitMs' | 'acceptablePercentageDifference'>;

/** Ids per chunksDeleted entry: keeps one changelog line small. */
const FORGET_BATCH = 4096;

/** What the pass found a chunk to need: its valid copies and every server holding any copy of it. */
interface Survey {
  id: number;
  version: number;
  goal: number;
  /** Servers with a valid copy (sources for replication). */
  valid: Chunkserver[];
  /** Those of them whose copy is not on a disk marked for removal: what counts toward the goal. */
  kept: Chunkserver[];
  holders: Set<number>;
  /** The class's copy rules without a copy on a matching server (label-placement.ts). */
  missing: CopyRule[];
  /** Kept copies no rule needs, the first to delete first. */
  extra: Chunkserver[];
  /** The class's mode: whether a copy with no matching server to go to goes anywhere. */
  mode: CreateMode;
  /** Every copy may go anywhere (a plain goal). */
  plain: boolean;
}

/** Counters for tools, tests and the monitor. */
export interface ChunkLoopStats {
  passes: number;
  replicated: number;
  replicationFailures: number;
  deleted: number;
  /** Chunks without any valid copy at the last pass. */
  lost: number;
  /** Chunks down to one valid copy below their goal at the last pass (replicated first). */
  endangered: number;
  /** Chunks under goal at the last pass, endangered ones included. */
  underGoal: number;
  overGoal: number;
  /** Chunks with enough copies, some on servers their storage class's labels do not want. */
  misplaced: number;
  /** Copies started to even out disk usage (ACCEPTABLE_PERCENTAGE_DIFFERENCE). */
  rebalanced: number;
  /** Replications started, by kind (each held to its kind's limits: replication-limits.ts). */
  started: KindCounts;
}

/**
 * The chunk loop (MooseFS's chunk_jobs): every pass looks at every chunk and at every
 * copy the chunkservers reported, and
 *   - deletes copies of chunks no file references (purged files, unknown ids),
 *   - deletes stale copies (a version behind: they missed a write) and damaged ones,
 *     once a valid copy exists,
 *   - replicates under-goal chunks from a valid copy to the servers with most free
 *     space that hold no copy of that chunk,
 *   - deletes valid copies beyond the goal (from the fullest servers),
 *   - counts lost chunks (no valid copy) and logs each once.
 * Within the rate limits (ReplicationLimits): what does not fit waits for the next pass.
 * Chunks under a write lease are left alone. A pass also drops silent chunkservers.
 */
export class ChunkLoop implements Service {
  readonly name = 'chunk-loop';
  readonly stats: ChunkLoopStats = { passes: 0, replicated: 0, replicationFailures: 0, deleted: 0, lost: 0, endangered: 0, underGoal: 0, overGoal: 0, misplaced: 0, rebalanced: 0, started: noKinds() };
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private readonly replicating = new Set<number>();
  private readonly deleting = new Set<string>();
  private readonly lostLogged = new Set<number>();
  /**
   * Chunks this pass found lost for the first time: one error line per pass, not per chunk
   * (every chunkserver gone — a stop, a network cut — made one line per chunk, 50,000
   * lines in the stop of a benchmark cluster).
   */
  private newlyLost: { chunk: number; version: number; copies: number }[] = [];
  /** Chunks whose copies an interrupted grant left behind, being moved to a new version. */
  private readonly repairing = new Set<number>();
  /** Per disk marked for removal, the copies on it still waiting for a copy elsewhere. */
  readonly removal = new RemovalProgress();
  private soon: NodeJS.Timeout | undefined;

  constructor(private readonly options: ChunkLoopOptions) {}

  async start(): Promise<void> {
    this.startedAt = Date.now();
    this.arm();
    this.options.chunks.onChange = () => this.kick();
  }

  private arm(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.pass(), this.options.periodMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.timer = undefined;
    this.soon = undefined;
    this.options.chunks.onChange = () => {};
  }

  /**
   * This master has just become the leader: it waits REPLICATIONS_DELAY_INIT as a master
   * just started would, so that what the chunkservers were still telling it as a
   * follower (a copy's last change in flight) arrives before a copy is judged stale.
   */
  restartDelay(): void {
    this.startedAt = Date.now();
  }

  /** The keys a reload may change, as in force. */
  settings(): ChunkLoopSettings {
    const { periodMs, delayInitMs, acceptablePercentageDifference } = this.options;
    return { periodMs, delayInitMs, acceptablePercentageDifference };
  }

  /**
   * SIGHUP: new CHUNKS_LOOP_MIN_TIME, REPLICATIONS_DELAY_INIT and
   * ACCEPTABLE_PERCENTAGE_DIFFERENCE, as MooseFS's chunk_reload re-reads them. A new
   * period re-arms the timer; a new delay counts from the start, as it always did.
   */
  reconfigure(next: ChunkLoopSettings): void {
    const rearm = this.timer !== undefined && next.periodMs !== this.options.periodMs;
    Object.assign(this.options, next);
    if (rearm) this.arm();
  }

  /** Runs a pass shortly (coalescing bursts of reports). */
  kick(): void {
    if (this.soon || !this.timer) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.pass();
    }, 200);
    this.soon.unref();
  }

  pass(): void {
    const { chunks, serverTimeoutMs, delayInitMs, log } = this.options;
    this.stats.passes++;
    for (const cs of chunks.registry.silent(serverTimeoutMs)) {
      log.warn({ csid: cs.csid }, 'chunkserver missed its heartbeats; dropping its link');
      cs.link?.close(new TsmfsError(Status.ETIMEDOUT, 'no heartbeat'));
    }
    if (Date.now() - this.startedAt < delayInitMs) return;
    if (this.options.leading?.() === false) return;
    const md = chunks.md;
    this.deleteUnreferenced(md);
    this.drainToDelete(md);
    // Unborn chunks of files removed meanwhile are no one's business any more.
    for (const id of chunks.unborn) if (!md.chunks.has(id)) chunks.unborn.delete(id);
    const { classes, archived } = chunkClasses(md, Math.floor(Date.now() / 1000));
    // An archived chunk is kept on its class's archive labels (mfsscadmin -A), the others on its keep labels.
    const rulesOf = (id: number): LabelExpr => {
      const rules = md.sclasses.rules(classes.get(id) ?? 1);
      return archived.has(id) ? rules.archive : rules.keep;
    };
    const goals = new Map([...classes.keys()].map((id) => [id, rulesOf(id).length]));
    // Survey first, act after, in order of danger (MooseFS's priorities): a chunk down to
    // its last copy is replicated before one merely under goal, both before copies on
    // servers of the wrong labels are moved, and all of them before extra copies are
    // trimmed, so that a scarce replication slot goes where a second failure would lose data.
    const plan = { endangered: [] as Survey[], under: [] as Survey[], misplaced: [] as Survey[], over: [] as Survey[] };
    let lost = 0;
    this.removal.begin(chunks);
    for (const id of md.chunks.ids()) {
      const sclass = classes.get(id) ?? 1;
      const expr = rulesOf(id);
      this.removal.count(chunks, id, md.chunks.version[id]!, expr.length);
      // An unborn chunk (a 'create' grant whose write never reached a chunkserver) holds no byte: not lost.
      if (chunks.leases.isLeased(id) || this.replicating.has(id) || this.repairing.has(id) || chunks.unborn.has(id)) continue;
      const survey = this.survey(md, id, sclass, expr);
      if (survey === 'lost') lost++;
      else if (survey === 'ok') continue;
      else if (survey.kept.length < survey.goal) (survey.valid.length === 1 ? plan.endangered : plan.under).push(survey);
      else if (survey.missing.length > 0) plan.misplaced.push(survey);
      else plan.over.push(survey);
    }
    this.removal.end();
    if (this.newlyLost.length > 0) {
      log.error({ chunks: this.newlyLost.length, first: this.newlyLost.slice(0, 10) }, 'chunk lost: no valid copy on any connected chunkserver');
      this.newlyLost = [];
    }
    // Each kind within its own limits (CHUNKS_WRITE_REP_LIMIT, CHUNKS_READ_REP_LIMIT): an
    // endangered chunk still finds a slot where under-goal ones have used theirs.
    for (const s of plan.endangered) this.replicate(s, 'endangered');
    for (const s of plan.under) this.replicate(s, 'underGoal');
    // Moved: a copy made on a matching server first; the misplaced one goes once it is extra.
    for (const s of plan.misplaced) {
      this.replicate(s, 'wrongLabels');
      this.trimOverGoal(s);
    }
    for (const s of plan.over) this.trimOverGoal(s);
    // Rebalancing last, and only when no chunk needs a copy: it uses what slots are left.
    if (this.options.acceptablePercentageDifference !== undefined && plan.endangered.length + plan.under.length === 0) this.rebalance(goals, rulesOf, this.options.acceptablePercentageDifference);
    this.stats.lost = lost;
    this.stats.endangered = plan.endangered.length;
    this.stats.underGoal = plan.endangered.length + plan.under.length;
    this.stats.overGoal = plan.over.length;
    this.stats.misplaced = plan.misplaced.length;
  }

  /** Copies of chunks that no file references any more (purged files, ids unknown after a restart). */
  private deleteUnreferenced(md: Metadata): void {
    const { chunks } = this.options;
    for (const id of [...chunks.copies.chunkIds()]) {
      if (md.chunks.has(id)) continue;
      for (const [csid, copy] of chunks.copies.of(id)) {
        const cs = chunks.registry.get(csid);
        if (cs && isOnline(cs)) this.deleteCopy(cs, id, copy.version);
      }
    }
  }

  /**
   * One chunk's copies: logs it once when lost, deletes its stale and damaged copies when
   * a valid one exists, and says what it still needs ('ok': nothing).
   */
  /**
   * Freed chunks leave `toDelete` once no chunkserver holds a copy: their copies were
   * deleted (deleteUnreferenced) or never existed. Only while every connected server has
   * reported in full (a copy not reported yet is not known); a copy on a server that is
   * away is deleted when it comes back, as any copy of a chunk no file references.
   */
  private drainToDelete(md: Metadata): void {
    const { chunks, chunksDeleted, log } = this.options;
    if (!chunksDeleted || md.chunks.toDelete.length === 0) return;
    if (chunks.registry.all().some((cs) => cs.link !== undefined && !cs.link.closed && !cs.reported)) return;
    const gone: number[] = [];
    for (const id of md.chunks.toDelete) {
      if (!md.chunks.has(id) && chunks.copies.of(id).size === 0) gone.push(id);
      if (gone.length === FORGET_BATCH) break;
    }
    if (gone.length === 0) return;
    try {
      chunksDeleted(gone);
      log.info({ chunks: gone.length, left: md.chunks.toDelete.length }, 'freed chunks deleted everywhere');
    } catch (err) {
      // A follower or deposed leader may not log: the leader does it.
      log.warn({ err: (err as Error).message }, 'freed chunks not logged as deleted');
    }
  }

  /** `expr`: the rules the chunk's copies must meet now (its class's keep or archive labels). */
  private survey(md: Metadata, id: number, sclass: number, expr: LabelExpr): Survey | 'ok' | 'lost' {
    const { chunks } = this.options;
    const goal = expr.length;
    const version = md.chunks.version[id]!;
    const valid: Chunkserver[] = [];
    const kept: Chunkserver[] = [];
    const holders = new Set<number>();
    const invalid: [Chunkserver, number][] = [];
    for (const [csid, copy] of chunks.copies.of(id)) {
      holders.add(csid);
      const cs = chunks.registry.get(csid);
      if (!cs || !isOnline(cs)) continue;
      if (copy.version !== version || copy.damaged) invalid.push([cs, copy.version]);
      else {
        valid.push(cs);
        if (copy.markedDisk === undefined) kept.push(cs);
      }
    }
    if (valid.length === 0) {
      if (this.repairInterrupted(id, version)) return 'lost';
      if (!this.lostLogged.has(id)) {
        this.lostLogged.add(id);
        this.newlyLost.push({ chunk: id, version, copies: invalid.length });
      }
      return 'lost';
    }
    this.lostLogged.delete(id);
    // Stale and damaged copies go first: they also block that server from taking a good copy.
    for (const [cs, v] of invalid) this.deleteCopy(cs, id, v);
    // Copies on disks marked for removal serve reads and replication but count for
    // nothing toward the goal; once the goal is met elsewhere they are left alone (the
    // administrator removes the disk).
    const plain = isPlain(expr);
    if (plain && kept.length === goal) return 'ok';
    const { missing, extra } = judgeCopies(expr, kept, usagePercent, freeSpace);
    if (missing.length === 0 && extra.length === 0) return 'ok';
    return { id, version, goal, valid, kept, holders, missing, extra, mode: md.sclasses.get(sclass)?.mode ?? 'default', plain };
  }

  /**
   * A chunk without a valid copy whose newest copies are only behind the logged version
   * because a grant's bump never reached them (a master killed in between, or a grant
   * that failed on every server: ChunkManager.interruptedCopies) is brought back without
   * waiting for a writer, as MooseFS's emergency version increase: a new version above
   * every one logged so far is logged, and those copies are moved to it (chunkSetVersion).
   * Readers wait for it as for a grant's version change. A write grant that comes in
   * meanwhile moves the chunk on again; the copies moved here are then stale and go.
   */
  private repairInterrupted(id: number, version: number): boolean {
    const { chunks, bumpVersion, log } = this.options;
    if (!bumpVersion) return false;
    const behind = chunks.interruptedCopies(id);
    if (!behind) return false;
    const newVersion = version + 1;
    try {
      bumpVersion(id, newVersion);
    } catch (err) {
      log.warn({ chunk: id, err: (err as Error).message }, 'interrupted chunk not repaired: its new version could not be logged');
      return false;
    }
    log.warn({ chunk: id, version, copiesVersion: behind.version, newVersion, copies: behind.servers.map((cs) => cs.csid) }, 'chunk repaired from the copies an interrupted grant left behind');
    this.repairing.add(id);
    chunks.changes.begin(id);
    const moves = behind.servers.map((cs) =>
      chunks
        .command(cs, 'chunkSetVersion', { chunkId: id, version: behind.version, newVersion })
        .then(() => {
          chunks.copies.set(id, cs.csid, newVersion);
          chunks.syncLocations(id);
          chunks.changes.progressed(id);
        })
        .catch((err: Error) => log.warn({ chunk: id, csid: cs.csid, err: err.message }, 'interrupted chunk: a copy not moved to the new version')),
    );
    void Promise.all(moves).finally(() => {
      chunks.changes.end(id);
      this.repairing.delete(id);
    });
    return true;
  }

  /**
   * Withdraws and deletes the valid copies beyond the goal that no rule of the class
   * needs, on the most used servers first (a rebalancing move's source, when it was one).
   */
  private trimOverGoal({ id, version, goal, kept, extra: spare, plain }: Survey): void {
    const { chunks } = this.options;
    // Plain goals: from the most used servers (a rebalancing move's source, when it was
    // one), but not a rack's last copy while another rack has two (topology.ts). Labelled
    // classes: the copies no rule needs, most used first.
    const byUse = [...kept].sort((a, b) => usagePercent(b) - usagePercent(a) || freeSpace(a) - freeSpace(b) || b.csid - a.csid);
    const extra = plain ? pickRemovals(byUse, kept.length - goal, chunks.rackOf) : spare.slice(0, Math.max(0, kept.length - goal));
    for (const cs of extra) {
      chunks.copies.remove(id, cs.csid);
      chunks.syncLocations(id);
      this.deleteCopy(cs, id, version, true);
    }
  }

  /**
   * One new copy, for the first rule of the class without one: on a server matching it.
   * A chunk under goal whose rule no server with room matches gets its copy anywhere
   * unless its class is strict (MooseFS: "REPLICATE - NO SPACE: WRITE ANY", strict: "NO
   * COPY"); a chunk with enough copies waits for a matching server.
   */
  private replicate({ id, version, valid, kept, goal, holders, missing, mode }: Survey, kind: ReplicationKind): void {
    const { chunks } = this.options;
    const rule = missing[0];
    const slot = { kind };
    if (!rule || chunks.limits.room(slot) === 0) return;
    const sources = valid.filter((cs) => chunks.limits.canReadFrom(cs, slot)).sort((a, b) => a.load.repReads - b.load.repReads);
    if (sources.length === 0) return;
    const candidates = chunks.registry.online().filter((cs) => chunks.limits.canReplicateInto(cs, slot));
    const matching = candidates.filter((cs) => matches(rule, labelsOf(cs)));
    // One destination per pass and chunk: the chunkserver's index refuses a second copy
    // of one id, and the next pass sees this one's outcome.
    // The holders go in too, excluded, for their racks: the copy goes to a rack without one.
    let [dst] = placeCopies([...matching, ...valid], 1, holders, Math.random, chunks.rackOf);
    if (!dst && kept.length < goal && mode !== 'strict') [dst] = placeCopies([...candidates, ...valid], 1, holders, Math.random, chunks.rackOf);
    if (dst) this.copy(id, version, sources, dst, kind);
  }

  /** Moves chunks from the fullest server to the emptiest while they differ by more than `acceptable` points. */
  private rebalance(goals: ReadonlyMap<number, number>, rulesOf: (id: number) => LabelExpr, acceptable: number): void {
    const { chunks } = this.options;
    const md = chunks.md;
    const busy = (id: number) => chunks.leases.isLeased(id) || this.replicating.has(id) || this.repairing.has(id) || chunks.unborn.has(id);
    const room = chunks.limits.room({ kind: 'rebalance' });
    // A move keeps the chunk's copies where its class's labels want them.
    const fits = (id: number, kept: Chunkserver[], from: Chunkserver, to: Chunkserver) => {
      const expr = rulesOf(id);
      return isPlain(expr) || keepsLabels(expr, kept, from, to);
    };
    for (const move of pickMoves(chunks, goals, acceptable, room, busy, fits)) {
      // MooseFS's third limit between servers of near usage, its fourth (higher by default) between the others.
      const slot: ReplicationSlot = { kind: 'rebalance', far: usagePercent(move.from) - usagePercent(move.to) > 1.5 * acceptable };
      if (!chunks.limits.canReplicateInto(move.to, slot) || !chunks.limits.canReadFrom(move.from, slot) || !md.chunks.has(move.id)) break;
      this.stats.rebalanced++;
      this.copy(move.id, move.version, [move.from], move.to, 'rebalance');
    }
  }

  /** Has `dst` make a copy of the chunk from `sources` (the first one takes the read slot). */
  private copy(id: number, version: number, sources: Chunkserver[], dst: Chunkserver, kind: ReplicationKind): void {
    const { chunks, log } = this.options;
    const done = chunks.limits.startReplication(dst, sources[0]!, kind);
    this.stats.started[kind]++;
    this.replicating.add(id);
    chunks.replicating.set(id, dst.csid);
    chunks
      .command(dst, 'chunkReplicate', { chunkId: id, version, sources: sources.map((cs) => chunks.tokens.source(cs, id, version)) })
      .then(() => {
        this.stats.replicated++;
        // Registered as the version it was made at: if a write moved the chunk on meanwhile it is stale and goes.
        chunks.copies.set(id, dst.csid, version);
        chunks.syncLocations(id);
        log.info({ chunk: id, version, kind, to: dst.csid, from: sources.map((s) => s.csid) }, 'chunk replicated');
      })
      .catch((err: Error) => {
        this.stats.replicationFailures++;
        log.warn({ chunk: id, version, to: dst.csid, err: err.message }, 'replication failed');
      })
      .finally(() => {
        done();
        this.replicating.delete(id);
        chunks.replicating.delete(id);
      });
  }

  private deleteCopy(cs: Chunkserver, id: number, version: number, force = false): void {
    const { chunks, log } = this.options;
    const key = `${id}:${cs.csid}`;
    if (this.deleting.has(key) || (!force && !chunks.limits.canDeleteOn(cs))) return;
    this.deleting.add(key);
    const done = chunks.limits.startDeletion(cs);
    chunks
      .command(cs, 'chunkDelete', { chunkId: id, version })
      .then(() => {
        this.stats.deleted++;
        log.debug({ chunk: id, version, csid: cs.csid }, 'copy deleted');
      })
      .catch((err: unknown) => {
        if (!(err instanceof TsmfsError && err.status === Status.ENOENT)) log.warn({ chunk: id, version, csid: cs.csid, err: (err as Error).message }, 'delete failed');
      })
      .finally(() => {
        done();
        this.deleting.delete(key);
        const copy = chunks.copies.get(id, cs.csid);
        if (copy && copy.version === version) {
          chunks.copies.remove(id, cs.csid);
          chunks.syncLocations(id);
        }
      });
  }
}

/**
 * Each chunk's storage class: of the files that reference it (snapshots share chunks),
 * the class keeping the most copies; between classes keeping as many, the first met.
 * A chunk is archived when every file referencing it is (sclass-apply.ts, isArchived).
 */
export function chunkClasses(md: Metadata, nowSec: number): { classes: Map<number, number>; archived: Set<number> } {
  const classes = new Map<number, number>();
  // Chunks of archived files; almost always none, so no set of every chunk is kept for
  // the check below (this runs over the whole namespace at every pass of the loop).
  const archived = new Set<number>();
  for (const inode of md.inodes()) {
    if (md.typeOf(inode) !== 'file') continue;
    const sclass = md.goal[inode]!;
    const copies = md.sclasses.copies(sclass);
    const archivedFile = isArchived(md, inode, nowSec);
    md.forEachChunk(inode, (id) => {
      const now = classes.get(id);
      if (now === undefined || md.sclasses.copies(now) < copies) classes.set(id, sclass);
      if (archivedFile) archived.add(id);
    });
  }
  // A chunk an archived file shares with one that is not (a snapshot) stays hot.
  if (archived.size > 0) {
    for (const inode of md.inodes()) {
      if (md.typeOf(inode) === 'file' && !isArchived(md, inode, nowSec)) md.forEachChunk(inode, (id) => archived.delete(id));
    }
  }
  return { classes, archived };
}
