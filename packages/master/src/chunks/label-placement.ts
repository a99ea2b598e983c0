import type { CreateMode } from '@tsmfs/protocol';
import { type CopyRule, type LabelExpr, isAny, matches } from '../sclass/label-expr.js';
import type { Chunkserver } from './chunkserver-registry.js';
import { type Random, placeCopies } from './placement.js';

/**
 * Storage classes on chunkservers (MooseFS 3.0's labels): which servers a chunk's copies
 * go to and which of its copies are where its class wants them. A class is a list of
 * copy rules (label-expr.ts); each copy must be on a distinct server matching its rule.
 * Chunkserver labels (LABELS in its config) are compared in upper case.
 */

export function labelsOf(cs: Chunkserver): Set<string> {
  return new Set(cs.labels.map((l) => l.toUpperCase()));
}

/** Which copy rule each server's copy serves, and the servers whose copy serves none. */
export interface Assignment {
  /** Per rule (in the expression's order), the server holding its copy, or undefined. */
  bySlot: (Chunkserver | undefined)[];
  /** Servers holding a copy that no rule needs: beyond the goal, or on servers with the wrong labels. */
  extra: Chunkserver[];
}

/**
 * The most copies of `expr` that `servers` (each holding one copy) satisfy: a maximum
 * matching of servers to rules, found by augmenting paths with the servers taken in the
 * order given. Taken that way, the servers a maximum matching leaves out are the last
 * ones that can be spared (the greedy rule of matroids): callers order the servers from
 * the one they most want to keep to the one they would delete first.
 */
export function assignCopies(expr: LabelExpr, servers: readonly Chunkserver[]): Assignment {
  const labels = servers.map(labelsOf);
  const bySlot: (number | undefined)[] = expr.map(() => undefined);
  const extra: Chunkserver[] = [];
  const augment = (s: number, seen: Set<number>): boolean => {
    for (let slot = 0; slot < expr.length; slot++) {
      if (seen.has(slot) || !matches(expr[slot]!, labels[s]!)) continue;
      seen.add(slot);
      const holder = bySlot[slot];
      if (holder === undefined || augment(holder, seen)) {
        bySlot[slot] = s;
        return true;
      }
    }
    return false;
  };
  servers.forEach((cs, s) => {
    if (!augment(s, new Set())) extra.push(cs);
  });
  return { bySlot: bySlot.map((s) => (s === undefined ? undefined : servers[s])), extra };
}

/**
 * Servers for the copies of a new chunk (the class's create labels): per rule, most
 * specific first (fewest servers match it), one server matching it, picked as
 * placeCopies picks (at random weighted by free space, other racks first). A rule no
 * server with room matches is served by any server in the default and loose modes
 * (MooseFS: "CREATE - NO SPACE: WRITE ANY"); in the strict mode it gets no copy, and a
 * chunk that would get none at all is refused with ENOSPC by the caller.
 */
export function placeByLabels(
  expr: LabelExpr,
  mode: CreateMode,
  candidates: readonly Chunkserver[],
  exclude: ReadonlySet<number>,
  random: Random,
  rackOf: (cs: Chunkserver) => string,
): Chunkserver[] {
  const labels = new Map(candidates.map((cs) => [cs.csid, labelsOf(cs)]));
  const matching = (rule: CopyRule) => candidates.filter((cs) => matches(rule, labels.get(cs.csid)!));
  const order = expr.map((rule, k) => ({ rule, k, n: isAny(rule) ? Infinity : matching(rule).length })).sort((a, b) => a.n - b.n || a.k - b.k);
  const taken = new Set(exclude);
  const picked: Chunkserver[] = [];
  const unserved: CopyRule[] = [];
  for (const { rule } of order) {
    // The servers taken already go in too (excluded), for their racks.
    const [cs] = placeCopies([...matching(rule), ...picked], 1, taken, random, rackOf);
    if (cs) take(cs);
    else unserved.push(rule);
  }
  if (mode !== 'strict') {
    for (let k = 0; k < unserved.length; k++) {
      const [cs] = placeCopies(candidates, 1, taken, random, rackOf);
      if (cs) take(cs);
    }
  }
  return picked;

  function take(cs: Chunkserver): void {
    taken.add(cs.csid);
    picked.push(cs);
  }
}

/** What a chunk's kept copies lack against its class, and which copies it can spare. */
export interface LabelJudgment {
  /** Rules without a copy on a matching server: what replication must add. */
  missing: CopyRule[];
  /** Copies no rule needs, the one to delete first first. */
  extra: Chunkserver[];
}

/**
 * Judges a chunk's copies (`kept`: valid ones, not on disks marked for removal) against
 * its class's rules. Copies on the least used servers are kept first, so that what is
 * left over, for trimming, are the most used ones (the over-goal rule of plain goals).
 */
export function judgeCopies(expr: LabelExpr, kept: readonly Chunkserver[], usage: (cs: Chunkserver) => number, free: (cs: Chunkserver) => number): LabelJudgment {
  const preferred = [...kept].sort((a, b) => usage(a) - usage(b) || free(b) - free(a) || a.csid - b.csid);
  const { bySlot, extra } = assignCopies(expr, preferred);
  return { missing: expr.filter((_, k) => bySlot[k] === undefined), extra: extra.reverse() };
}

/**
 * Whether a copy may move from `from` to `to` and the chunk still have every rule served
 * (rebalancing moves only what keeps its class's labels).
 */
export function keepsLabels(expr: LabelExpr, kept: readonly Chunkserver[], from: Chunkserver, to: Chunkserver): boolean {
  const before = assignCopies(expr, kept).bySlot.filter((s) => s !== undefined).length;
  const after = assignCopies(expr, [...kept.filter((cs) => cs !== from), to]).bySlot.filter((s) => s !== undefined).length;
  return after >= before;
}
