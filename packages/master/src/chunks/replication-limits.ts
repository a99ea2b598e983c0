import type { Chunkserver } from './chunkserver-registry.js';

export interface ReplicationLimitsConfig {
  /** CHUNKS_WRITE_REP_LIMIT: replications in flight into one server. */
  writesPerServer: number;
  /** CHUNKS_READ_REP_LIMIT: replications in flight out of one server. */
  readsPerServer: number;
  /** CHUNKS_GLOBAL_REP_LIMIT: replications in flight in the cluster. */
  global: number;
  /** CHUNKS_SOFT_DEL_LIMIT: deletions in flight on one server. */
  deletesPerServer: number;
}

/**
 * The rate limits of recovery, so that replication and deletion do not drown client
 * I/O: counts of operations in flight per server (as destination, as source) and in the
 * whole cluster. The chunk loop asks before it sends a command and returns the slot
 * when the command finishes, whatever its outcome.
 */
export class ReplicationLimits {
  private inFlight = 0;

  constructor(readonly config: ReplicationLimitsConfig) {}

  get replicationsInFlight(): number {
    return this.inFlight;
  }

  canReplicateInto(dst: Chunkserver): boolean {
    return this.inFlight < this.config.global && dst.load.repWrites < this.config.writesPerServer;
  }

  canReadFrom(src: Chunkserver): boolean {
    return src.load.repReads < this.config.readsPerServer;
  }

  /** Takes the slots of one replication; the returned function gives them back. */
  startReplication(dst: Chunkserver, src: Chunkserver): () => void {
    this.inFlight++;
    dst.load.repWrites++;
    src.load.repReads++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight--;
      dst.load.repWrites--;
      src.load.repReads--;
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
}
