import fc from 'fast-check';
import { decodeEntry, encodeEntry } from '@tsmfs/metastore';
import { describe, expect, it } from 'vitest';
import { applyMutation } from './apply.js';
import { decodeDump, encodeDump } from './metadata-dump.js';
import { createEmptyMetadata } from './metadata.js';
import { type Live, extraOpArb, freshLive, opArb, runOp } from './namespace-ops.test-helpers.js';
import type { Mutation } from './mutation.js';
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

  it('makesnapshot -c/-p and appendchunks -s entries replay from their changelog lines (as a metalogger or shadow applies them)', () => {
    const live = freshLive();
    const ops = [
      { k: 'mkdir', who: 1, dir: '', name: 'zz', mode: 0o2775 },
      { k: 'create', who: 1, dir: 'zz', name: 'f', mode: 0o4755 },
      { k: 'write', who: 1, path: 'zz/f', index: 2, length: 150_000_000 },
      { k: 'link', who: 1, path: 'zz/f', dir2: 'zz', name2: 'g' },
      { k: 'snapshot', who: 2, path: 'zz', dir2: '', name2: 'zb', overwrite: false, cplike: 0o027, preserveHardlinks: true },
      { k: 'snapshot', who: 1, path: 'zz', dir2: '', name2: 'zc', overwrite: false, preserveHardlinks: true },
      { k: 'snapshot', who: 2, path: 'zz', dir2: '', name2: 'zc', overwrite: true, cplike: 0o077, preserveHardlinks: false },
      { k: 'create', who: 1, dir: '', name: 'zd', mode: 0o666 },
      { k: 'appendchunks', who: 1, path: 'zd', src: 'zz/f', from: -2 },
      { k: 'appendchunks', who: 1, path: 'zd', src: 'zz/f', from: 1, to: 2 },
      { k: 'appendchunks', who: 1, path: 'zd', src: 'zz/f', from: 2, to: 1 },
    ] as const;
    expect(ops.map((op) => runOp(live, op))).toEqual(ops.map(() => 'ok'));
    const logged = live.log.map((m, i) => decodeEntry<Mutation>(encodeEntry(i + 1, m).trimEnd()).mutation);
    expect(logged.filter((m) => m.op === 'snapshot').map((m) => [!!m.cplike, !!m.preserveHardlinks])).toEqual([[true, true], [false, true], [true, false]]);
    expect(logged.filter((m) => m.op === 'appendChunks').map((m) => m.slice)).toEqual([{ from: 1, to: 3 }, { from: 1, to: 2 }]);
    expect(canonicalState(replay(logged))).toEqual(canonicalState(live.md));
  });
});
