import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@tsmfs/rpc';
import type { Logger } from 'pino';
import type { Mutation } from '../metadata/mutation.js';
import { type NameView, leaseKeys } from './mutation-keys.js';

/** A lease holder: a client session (sessions.ts's Session has these). */
export interface Holder {
  readonly id: number;
  /** Its client asked for leases (and so answers recalls). */
  readonly wantsLeases: boolean;
  link: object | undefined;
}

/** The request being served: whose change it is, and the recalls its reply waits for. */
interface Served {
  actor: number;
  recalls: Promise<void>[];
}

export interface LeasesOptions {
  /** LEASE_TIME in ms; 0 grants none. */
  leaseMs: number;
  log: Logger;
}

/**
 * A holder's leases all end together, when its term does: each request of its session
 * renews the term by the lease time (NFSv4's implicit renewal), and a mount with nothing
 * else to ask sends `leaseRenew`. A term that ended voids every lease granted in it: the
 * next request starts a new Term object, and a lease is live only while the term it
 * names is its holder's current one.
 */
interface Term {
  /** The holder's. */
  readonly id: number;
  /** When it ends (ms, this process's monotonic clock). */
  until: number;
}

/**
 * Who holds a lease: the term it was granted in, or several holders' terms. Most keys
 * have one holder, for which the table's entry is a reference to the holder's shared
 * term (37 bytes a key, against 222 for a Map per key: measured with 200,000 keys, a
 * mount's bound).
 */
type Held = Term | Term[];

/**
 * Metadata leases, as CephFS capabilities or NFSv4 delegations: a session that read a
 * directory's entries or a node's attributes may answer them itself until the master
 * recalls them, the client lets them go (`release`), or the session's term ends (Term:
 * one lease time after its last request); another session's change of them is
 * answered only once every holder has forgotten them (its leaseRecall answer) or its
 * term has ended, so that a dead or stopped holder delays the change by at most the
 * lease time. Leases live in memory only: a master restart or a failover starts without
 * any, and a client drops its own when its link drops (docs/mount.md, "Leases").
 */
export class Leases {
  private readonly dirs = new Map<number, Held>();
  private readonly attrs = new Map<number, Held>();
  private readonly holders = new Map<number, Holder>();
  private readonly terms = new Map<number, Term>();
  /**
   * The request being served, while its handler runs (serve) or a continuation bound to
   * it does (bind). Not an AsyncLocalStorage: on Node 20 one turns on async hooks for the
   * whole process — a hook call for every promise and callback — which cost 5-21 % of
   * the master's CPU per request (docs/benchmarks.md, "The leases' request context").
   */
  private current: Served | undefined;
  private grantsSinceSweep = 0;
  /** Recalls sent, and those that ran into the lease's end instead of an answer. */
  readonly stats = { recalls: 0, expired: 0 };

  constructor(private readonly options: LeasesOptions) {}

  get leaseMs(): number {
    return this.options.leaseMs;
  }

  /** `holder` may answer the entries of `dir` (positive and negative) for as long as its term lasts. */
  grantDir(holder: Holder, dir: number): void {
    this.grant(this.dirs, holder, dir);
  }

  /** `holder` may answer `inode`'s attributes for as long as its term lasts. */
  grantAttr(holder: Holder, inode: number): void {
    this.grant(this.attrs, holder, inode);
  }

  /**
   * A request of `holder`'s session arrived: its term lasts the lease time from now. The
   * client counts the same from the request's sending (earlier), so the master's end is
   * never before the client's. A term that had ended starts anew: nothing it covered
   * holds (a change since may have gone unrecalled).
   */
  renew(holder: Holder): Term | undefined {
    if (this.options.leaseMs <= 0 || !holder.wantsLeases) return undefined;
    const now = performance.now();
    let term = this.terms.get(holder.id);
    if (!term || term.until <= now) this.terms.set(holder.id, (term = { id: holder.id, until: 0 }));
    term.until = now + this.options.leaseMs;
    return term;
  }

  /** The client let go of these leases (it no longer answers from them): no recall for them. */
  release(holder: Holder, dirs: readonly number[], inodes: readonly number[]): void {
    const others = (t: Term) => t.id !== holder.id;
    for (const dir of dirs) this.keep(this.dirs, dir, others);
    for (const inode of inodes) this.keep(this.attrs, inode, others);
  }

  /**
   * Serves `fn` as `actor`'s request: changes it makes do not recall the actor's own
   * leases (its client keeps its caches right about its own changes), and the returned
   * `recalls` settle once every other holder answered or its lease ended.
   */
  async serve<T>(actor: Holder, fn: () => T | Promise<T>): Promise<{ result: T; recalls: Promise<void>[] }> {
    const served: Served = { actor: actor.id, recalls: [] };
    const result = await this.within(served, fn);
    return { result, recalls: served.recalls };
  }

  /**
   * `fn` as part of the request being served now, for a handler that calls it after an
   * await (a write's grant once its slot is free, a truncation's cut): its changes are
   * that request's, as those made before the await. Every such call must be bound:
   * unbound, a change is taken for the master's own (it recalls the actor's leases too,
   * and the request's reply does not wait for the recalls).
   */
  bind<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    const served = this.current;
    return served ? (...args: A) => this.within(served, () => fn(...args)) : fn;
  }

  /** Runs `fn` (its synchronous part: up to its first await) as `served`'s. */
  private within<R>(served: Served, fn: () => R): R {
    const outer = this.current;
    this.current = served;
    try {
      return fn();
    } finally {
      this.current = outer;
    }
  }

  /** Told of every change before it is applied (Namespace's observer). */
  changing(m: Mutation, md: NameView): void {
    if (this.holders.size === 0) return;
    const keys = leaseKeys(m, md);
    const served = this.current;
    const actor = served?.actor;
    const now = performance.now();
    const out = new Map<number, { dirs: Set<number>; inodes: Set<number>; until: number }>();
    const take = (table: Map<number, Held>, key: number, kind: 'dirs' | 'inodes') =>
      this.keep(table, key, (term) => {
        if (term.id === actor) return true;
        if (!this.live(term, now)) return false;
        let r = out.get(term.id);
        if (!r) out.set(term.id, (r = { dirs: new Set(), inodes: new Set(), until: term.until }));
        r[kind].add(key);
        return false;
      });
    if (keys.all) {
      for (const dir of [...this.dirs.keys()]) take(this.dirs, dir, 'dirs');
      for (const inode of [...this.attrs.keys()]) take(this.attrs, inode, 'inodes');
    } else {
      for (const dir of keys.dirs) take(this.dirs, dir, 'dirs');
      for (const inode of keys.inodes) take(this.attrs, inode, 'inodes');
    }
    for (const [id, r] of out) {
      const recall = this.recall(id, [...r.dirs], [...r.inodes], r.until - now);
      if (served) served.recalls.push(recall);
    }
  }

  /** A session registered (anew, or resumed after its link dropped): its client holds no lease now. */
  dropHolder(holder: Holder): void {
    this.holders.set(holder.id, holder);
    // Its next request starts a new term: what the tables hold of this one is dead (swept later).
    this.terms.delete(holder.id);
  }

  /** The session is gone for good. */
  forget(holder: Holder): void {
    this.dropHolder(holder);
    this.holders.delete(holder.id);
  }

  /** Whether a lease granted in `term` holds: the term is its holder's current one and has not ended. */
  private live(term: Term, now: number): boolean {
    return this.terms.get(term.id) === term && term.until > now;
  }

  /** Keeps, of `key`'s holders in `table`, the terms `keep` says; the key goes when none is left. */
  private keep(table: Map<number, Held>, key: number, keep: (t: Term) => boolean): void {
    const held = table.get(key);
    if (held === undefined) return;
    if (!Array.isArray(held)) {
      if (!keep(held)) table.delete(key);
      return;
    }
    const left = held.filter(keep);
    if (left.length === 0) table.delete(key);
    else table.set(key, left.length === 1 ? left[0]! : left);
  }

  /** Leases held now (for tests and the monitor). */
  count(): { dirs: number; attrs: number } {
    const now = performance.now();
    const live = (table: Map<number, Held>) => {
      let n = 0;
      for (const held of table.values()) for (const t of Array.isArray(held) ? held : [held]) if (this.live(t, now)) n++;
      return n;
    };
    return { dirs: live(this.dirs), attrs: live(this.attrs) };
  }

  private grant(table: Map<number, Held>, holder: Holder, key: number): void {
    // The request renewed the term already; renewed again in case serving it outlasted the term.
    const term = this.renew(holder);
    if (!term) return;
    this.holders.set(holder.id, holder);
    const held = table.get(key);
    if (held === undefined || (!Array.isArray(held) && held.id === term.id)) table.set(key, term);
    else if (!Array.isArray(held)) table.set(key, [held, term]);
    else {
      const mine = held.findIndex((t) => t.id === term.id);
      if (mine >= 0) held[mine] = term;
      else held.push(term);
    }
    // A sweep costs one visit per key: after as many grants as keys (at least 64 Ki), so
    // that each grant pays for about one visit, however many leases the mounts hold.
    if (++this.grantsSinceSweep >= Math.max(65_536, this.dirs.size + this.attrs.size)) this.sweep();
  }

  /**
   * Drops the leases of ended terms, so that the tables hold what is live, what clients
   * have not released yet, and the grants since the last sweep.
   */
  private sweep(): void {
    this.grantsSinceSweep = 0;
    const now = performance.now();
    // Deleting or replacing the entry being visited is safe in a Map's iteration.
    for (const table of [this.dirs, this.attrs]) for (const key of table.keys()) this.keep(table, key, (t) => this.live(t, now));
  }

  /**
   * Asks holder `id` to forget; settles on its answer or when its term ends (`leftMs`, as
   * of now: a holder that does not answer does not renew either), whichever is first: a
   * stopped, dead or unreachable holder has stopped trusting it by then.
   */
  private async recall(id: number, dirs: number[], inodes: number[], leftMs: number): Promise<void> {
    this.stats.recalls++;
    const ac = new AbortController();
    const expiry = sleep(leftMs, 'expired' as const, { signal: ac.signal, ref: false }).catch(() => 'aborted' as const);
    const link = this.holders.get(id)?.link;
    const answer =
      link instanceof Connection && !link.closed
        ? link.request('leaseRecall', { dirs, inodes }, Math.ceil(leftMs) + 1000).then(
            () => 'answered' as const,
            // A lost link or a refusal says nothing of the holder's caches: its lease's end does.
            () => expiry,
          )
        : expiry;
    const how = await Promise.race([answer, expiry]);
    ac.abort();
    if (how === 'expired') {
      this.stats.expired++;
      this.options.log.debug({ session: id, dirs: dirs.length, inodes: inodes.length }, 'lease recall not answered before the lease ended');
    }
  }
}
