import type { Attr } from '@tsmfs/protocol';
import { LockTable } from '../locks/lock-table.js';

/**
 * The client state that must survive a takeover (docs/ha.md, "What survives a takeover"):
 * which sessions exist, and for each the results of its recent requests that must not
 * be applied twice (the request-id table). It lives in the metadata, so it reaches a
 * follower and a restarted master the way every other state does: through changelog
 * entries applied by applyMutation (live, replay and a shadow master alike) and the dump.
 *
 * A mutating client request of the exactly-once kind (its schema has `rid`) carries its
 * session's request id; the namespace writes it on the entry the request made (`req`),
 * and applying that entry records the result here. A request re-sent after a lost reply
 * (to this master or, after a failover, to the next leader) finds its id and gets the
 * recorded result instead of being applied again.
 *
 * Bounds, both deterministic (applied the same everywhere): the client tells with each
 * request the lowest id it still waits for (`lo`); ids below it were answered and are
 * dropped. A client that never moves `lo` keeps at most MAX_RESULTS_PER_SESSION, the
 * oldest dropped first. A session's results go with the session (`sessionEnd`).
 *
 * Failed requests are not recorded: they changed nothing, so applying a re-sent one is
 * its first application (the caller sees the re-send's outcome, a valid order).
 *
 * The locks the sessions hold (locks/lock-table.ts) are client state too: a takeover
 * keeps them, and they go with their session.
 */

/** A request's identity on the changelog entry it made. */
export interface RequestTag {
  /** Session id. */
  s: number;
  /** Request id, increasing within the session. */
  r: number;
  /** The lowest id the client was still waiting for: everything below was answered. */
  lo: number;
}

/** A session as a takeover needs it: who may re-attach to its id. */
export interface SessionRecord {
  id: number;
  address: string;
  root: number;
  meta: boolean;
  /** ms since the epoch. */
  openedAt: number;
}

/** What a re-sent request is answered. */
export interface RequestResult {
  /** The metadata version of the entry: the reply waits until it is saved. */
  version: number;
  /** The node's attributes as the request left them (creates, link, snapshot, appendchunks). */
  attr?: Attr;
}

export const MAX_RESULTS_PER_SESSION = 1024;

export class ClientState {
  readonly sessions = new Map<number, SessionRecord>();
  /** session id → request id → result, in insertion (= request id) order. */
  readonly results = new Map<number, Map<number, RequestResult>>();
  /**
   * Sustained file → the sessions that held it open when it became sustained: a session
   * re-attaching to a new leader may claim its opens of such a file (and only those), so
   * its open descriptor keeps reading it (docs/ha.md).
   */
  readonly sustainedBy = new Map<number, number[]>();
  /** flock and POSIX locks held, by inode (lock entries; dropped with their session). */
  locks = new LockTable();

  openSession(rec: SessionRecord): void {
    this.sessions.set(rec.id, rec);
  }

  endSession(id: number): void {
    this.sessions.delete(id);
    this.results.delete(id);
    this.locks.dropSession(id);
    for (const [inode, holders] of this.sustainedBy) {
      if (!holders.includes(id)) continue;
      const rest = holders.filter((h) => h !== id);
      if (rest.length) this.sustainedBy.set(inode, rest);
      else this.sustainedBy.delete(inode);
    }
  }

  record(tag: RequestTag, result: RequestResult): void {
    let table = this.results.get(tag.s);
    if (!table) {
      table = new Map();
      this.results.set(tag.s, table);
    }
    for (const r of table.keys()) {
      if (r >= tag.lo && table.size < MAX_RESULTS_PER_SESSION) break;
      table.delete(r);
    }
    table.set(tag.r, result);
  }

  lookup(session: number, rid: number): RequestResult | undefined {
    return this.results.get(session)?.get(rid);
  }

  /** The highest session id recorded: new ids go above it. */
  maxSessionId(): number {
    let max = 0;
    for (const id of this.sessions.keys()) max = Math.max(max, id);
    return max;
  }

  /** Plain data for the dump and for state comparisons. */
  toJSON(): unknown {
    return {
      sessions: [...this.sessions.values()],
      results: [...this.results].map(([s, table]) => [s, [...table]]),
      sustainedBy: [...this.sustainedBy],
      locks: this.locks.toJSON(),
    };
  }

  static fromJSON(data: unknown): ClientState {
    const state = new ClientState();
    const d = data as { sessions: SessionRecord[]; results: [number, [number, RequestResult][]][]; sustainedBy: [number, number[]][]; locks?: unknown };
    for (const rec of d.sessions) state.sessions.set(rec.id, rec);
    for (const [s, table] of d.results) state.results.set(s, new Map(table));
    for (const [inode, holders] of d.sustainedBy) state.sustainedBy.set(inode, holders);
    // A dump from before locks were replicated has none.
    state.locks = LockTable.fromJSON(d.locks);
    return state;
  }
}
