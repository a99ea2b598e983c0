import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyMutation } from './apply.js';
import { decodeDump, encodeDump } from './metadata-dump.js';
import { createEmptyMetadata } from './metadata.js';
import { type Live, extraOpArb, freshLive, opArb, runOp } from './namespace-ops.test-helpers.js';
import { Namespace } from './namespace.js';
import { canonicalState } from './state-digest.js';

const anyOp = fc.oneof({ weight: 3, arbitrary: opArb }, { weight: 2, arbitrary: extraOpArb });

function replay(log: Live['log'], from = createEmptyMetadata({ sec: 1_700_000_000, nsec: 0 })) {
  for (const m of log) applyMutation(from, structuredClone(m));
  return from;
}

describe('replay = live', () => {
  it('replaying the mutations the sink received rebuilds the live state exactly', () => {
    fc.assert(
      fc.property(fc.array(anyOp, { maxLength: 120, size: 'max' }), (ops) => {
        const live = freshLive();
        for (const op of ops) runOp(live, op);
        expect(live.md.version).toBe(live.log.length);
        expect(canonicalState(replay(live.log))).toEqual(canonicalState(live.md));
      }),
      { numRuns: 300 },
    );
  });

  it('a dump taken midway plus the rest of the changelog equals the live state', () => {
    fc.assert(
      fc.property(fc.array(anyOp, { maxLength: 120, size: 'max' }), fc.array(anyOp, { maxLength: 60, size: 'max' }), (before, after) => {
        const live = freshLive();
        for (const op of before) runOp(live, op);
        const dump = encodeDump(live.md);
        const cut = live.log.length;
        for (const op of after) runOp(live, op);
        const restored = replay(live.log.slice(cut), decodeDump(dump));
        expect(canonicalState(restored)).toEqual(canonicalState(live.md));
      }),
      { numRuns: 200 },
    );
  });

  it('a restored namespace keeps working like the live one (same ids, same errors)', () => {
    fc.assert(
      fc.property(fc.array(anyOp, { maxLength: 80, size: 'max' }), fc.array(opArb, { maxLength: 40, size: 'max' }), (before, after) => {
        const a = freshLive();
        for (const op of before) runOp(a, op);
        // Opens are session state, not metadata: drop them so both sides start equal.
        for (const inode of a.opened.splice(0)) a.ns.release({ inode });
        const b = freshLive();
        b.clock.sec = a.clock.sec;
        b.clock.nsec = a.clock.nsec;
        const restored = decodeDump(encodeDump(a.md));
        const bLive: Live = { ...b, md: restored, ns: new Namespace(restored, (m) => b.log.push(m), b.clock.read) };
        for (const op of after) expect(runOp(bLive, op)).toBe(runOp(a, op));
        expect(canonicalState(bLive.md)).toEqual(canonicalState(a.md));
      }),
      { numRuns: 100 },
    );
  });
});
