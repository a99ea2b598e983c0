import { describe, expect, it } from 'vitest';
import { parseLabelExpr } from '../sclass/label-expr.js';
import type { Chunkserver } from './chunkserver-registry.js';
import { assignCopies, judgeCopies, keepsLabels, placeByLabels } from './label-placement.js';

const GiB = 1024 ** 3;

function server(csid: number, labels: string[], usedGiB = 0): Chunkserver {
  return {
    csid,
    address: { host: '127.0.0.1', port: 9422 + csid },
    labels,
    totalSpace: 100 * GiB,
    usedSpace: usedGiB * GiB,
    chunkCount: 0,
    damagedDisks: 0,
    link: undefined,
    lastHeartbeatMs: 0,
    reported: true,
    load: { repWrites: 0, repReads: 0, deletes: 0 },
    disks: [],
    bytesRead: 0,
    bytesWritten: 0,
    registeredMs: 0,
  };
}

const ids = (servers: readonly (Chunkserver | undefined)[]) => servers.map((cs) => cs?.csid);
const noRack = () => '';

describe('storage class placement', () => {
  it('assigns copies to rules as a maximum matching, not greedily', () => {
    // Server 1 has A and B, server 2 only A: A,B is served only with 2 on A and 1 on B.
    const [s1, s2] = [server(1, ['A', 'B']), server(2, ['A'])];
    expect(ids(assignCopies(parseLabelExpr('A,B'), [s1, s2]).bySlot)).toEqual([2, 1]);
    const none = assignCopies(parseLabelExpr('A,B'), [s2, server(3, ['C'])]);
    expect(ids(none.bySlot)).toEqual([2, undefined]);
    expect(ids(none.extra)).toEqual([3]);
  });

  it('judges copies: missing rules, and the spare copies most used first', () => {
    const a1 = server(1, ['A'], 50);
    const a2 = server(2, ['A'], 10);
    const x = server(3, [], 90);
    const j = judgeCopies(parseLabelExpr('A'), [a1, a2, x], (cs) => cs.usedSpace, (cs) => cs.totalSpace - cs.usedSpace);
    expect(j.missing).toEqual([]);
    expect(ids(j.extra)).toEqual([3, 1]);
    expect(judgeCopies(parseLabelExpr('A,B'), [a1, x], (cs) => cs.usedSpace, () => 0).missing).toEqual([[['B']]]);
    // Plain goals: the most used go first, as before classes.
    expect(ids(judgeCopies(parseLabelExpr('2'), [a1, a2, x], (cs) => cs.usedSpace, () => 0).extra)).toEqual([3]);
  });

  it('places new copies on matching servers; default and loose fall back to any, strict does not', () => {
    const servers = [server(1, ['A']), server(2, ['B']), server(3, []), server(4, ['A', 'B'])];
    for (let round = 0; round < 50; round++) {
      const placed = placeByLabels(parseLabelExpr('A,B'), 'default', servers, new Set(), Math.random, noRack);
      expect(placed).toHaveLength(2);
      expect(placed.some((cs) => cs.labels.includes('A'))).toBe(true);
      expect(placed.some((cs) => cs.labels.includes('B'))).toBe(true);
      expect(new Set(ids(placed)).size).toBe(2);
    }
    // Z exists nowhere: one copy on an A server and, but in strict mode, one anywhere else.
    expect(placeByLabels(parseLabelExpr('A,Z'), 'default', servers, new Set(), Math.random, noRack)).toHaveLength(2);
    expect(placeByLabels(parseLabelExpr('A,Z'), 'loose', servers, new Set(), Math.random, noRack)).toHaveLength(2);
    const strict = placeByLabels(parseLabelExpr('A,Z'), 'strict', servers, new Set(), Math.random, noRack);
    expect(strict).toHaveLength(1);
    expect(strict[0]!.labels).toContain('A');
    expect(placeByLabels(parseLabelExpr('Z'), 'strict', servers, new Set(), Math.random, noRack)).toEqual([]);
    // Never on an excluded server (one holding a copy of that id already).
    expect(ids(placeByLabels(parseLabelExpr('A'), 'strict', servers, new Set([1]), Math.random, noRack))).toEqual([4]);
  });

  it('a rebalancing move keeps the labels served', () => {
    const a = server(1, ['A']);
    const b = server(2, ['B']);
    const expr = parseLabelExpr('A,B');
    expect(keepsLabels(expr, [a, b], a, server(3, ['A']))).toBe(true);
    expect(keepsLabels(expr, [a, b], a, server(4, ['B']))).toBe(false);
  });
});
