import type { Chunkserver } from './chunkserver-registry.js';

/**
 * What a replication is for, most urgent first (the chunk loop's order of danger):
 * a chunk down to its last valid copy below its goal, one merely under goal, one at goal
 * with copies on servers its storage class's labels do not want, and rebalancing.
 */
export const REPLICATION_KINDS = ['endangered', 'underGoal', 'wrongLabels', 'rebalance'] as const;
export type ReplicationKind = (typeof REPLICATION_KINDS)[number];
export type KindCounts = Record<ReplicationKind, number>;

/**
 * CHUNKS_WRITE_REP_LIMIT / CHUNKS_READ_REP_LIMIT as MooseFS 3.0 has them, four limits in
 * its order: endangered chunks, chunks under goal (MooseFS holds the wrong-labels copies
 * to this one too), rebalancing between servers whose usage is near each other's, and
 * rebalancing between the others (very full against very empty).
 */
export type RepLimitList = readonly [endangered: number, underGoal: number, rebalanceNear: number, rebalanceFar: number];

export interface ReplicationLimitsConfig {
  /** CHUNKS_WRITE_REP_LIMIT: replications in flight into one server. */
  writesPerServer: RepLimitList;
  /** CHUNKS_READ_REP_LIMIT: replications in flight out of one server. */
  readsPerServer: RepLimitList;
  /** CHUNKS_GLOBAL_REP_LIMIT: replications in flight in the cluster. */
  global: number;
  /** CHUNKS_SOFT_DEL_LIMIT: deletions in flight on one server. */
  deletesPerServer: number;
}

/**
 * The slot a replication asks for. `far`: a rebalancing move between servers whose usage
 * differs by more than 1.5 × ACCEPTABLE_PERCENTAGE_DIFFERENCE, held to the fourth limit
 * (MooseFS's split); nearer ones to the third.
 */
export interface ReplicationSlot {
  kind: ReplicationKind;
  far?: boolean;
}

/** Which of the four limits a slot is held to. */
export function limitIndex({ kind, far }: ReplicationSlot): 0 | 1 | 2 | 3 {
  return kind === 'endangered' ? 0 : kind === 'rebalance' ? (far ? 3 : 2) : 1;
}

export const noKinds = (): KindCounts => ({ endangered: 0, underGoal: 0, wrongLabels: 0, rebalance: 0 });

/**
 * What a replication of `kind` is counted against its limit with. As MooseFS, every
 * replication in flight on that server counts, whatever its kind (so with 2,1,1,4 a
 * destination with one under-goal copy in flight takes one endangered copy more, and no
 * under-goal one) — except rebalancing for the other kinds: in MooseFS a server busy with
 * four rebalancing copies (their limit) takes no endangered copy (limit 2) until they end;
 * here rebalancing never holds back a copy that restores redundancy.
 */
function countedAgainst(counts: KindCounts, kind: ReplicationKind): number {
  const all = REPLICATION_KINDS.reduce((n, k) => n + counts[k], 0);
  return kind === 'rebalance' ? all : all - counts.rebalance;
}

/**
 * The rate limits of recovery, so that replication and deletion do not drown client
 * I/O: counts of operations in flight per server (as destination, as source) and in the
 * whole cluster, per kind of replication. The chunk loop asks before it sends a command
 * and returns the slot when the command finishes, whatever its outcome. `config` may be
 * replaced (SIGHUP): what is in flight keeps its slots and is counted against the new
 * limits.
 */
export class ReplicationLimits {
  private readonly inFlightByKind = noKinds();
  /** Per server, by kind: replications in flight into it / out of it. */
  private readonly perServer = new WeakMap<Chunkserver, { into: KindCounts; from: KindCounts }>();

  constructor(public config: ReplicationLimitsConfig) {}

  get replicationsInFlight(): number {
    return REPLICATION_KINDS.reduce((n, k) => n + this.inFlightByKind[k], 0);
  }

  /** Replications in flight in the cluster, by kind (a copy). */
  inFlight(): KindCounts {
    return { ...this.inFlightByKind };
  }

  /** Replications of this slot's kind the cluster-wide limit leaves room for now. */
  room(slot: ReplicationSlot): number {
    return Math.max(0, this.config.global - countedAgainst(this.inFlightByKind, slot.kind));
  }

  canReplicateInto(dst: Chunkserver, slot: ReplicationSlot): boolean {
    return this.room(slot) > 0 && countedAgainst(this.counts(dst).into, slot.kind) < this.config.writesPerServer[limitIndex(slot)];
  }

  canReadFrom(src: Chunkserver, slot: ReplicationSlot): boolean {
    return countedAgainst(this.counts(src).from, slot.kind) < this.config.readsPerServer[limitIndex(slot)];
  }

  /** Takes the slots of one replication; the returned function gives them back. */
  startReplication(dst: Chunkserver, src: Chunkserver, kind: ReplicationKind): () => void {
    const into = this.counts(dst).into;
    const from = this.counts(src).from;
    const move = (by: number) => {
      this.inFlightByKind[kind] += by;
      into[kind] += by;
      from[kind] += by;
      dst.load.repWrites += by;
      src.load.repReads += by;
    };
    move(1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      move(-1);
    };
  }

  canDeleteOn(cs: Chunkserver): boolean {
    return cs.load.deletes < this.config.deletesPerServer;
  }

  startDeletion(cs: Chunkserver): () => void {
    cs.load.deletes++;
    let done = false;
    return () => {
      if (!done) cs.load.deletes--;
      done = true;
    };
  }

  private counts(cs: Chunkserver): { into: KindCounts; from: KindCounts } {
    let c = this.perServer.get(cs);
    if (!c) {
      c = { into: noKinds(), from: noKinds() };
      this.perServer.set(cs, c);
    }
    return c;
  }
}
