import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type HeldLock, LOCK_EOF, LOCK_READ, LOCK_UNLOCK, LOCK_WRITE, LockTable, firstConflict, setRange } from './lock-table.js';

/**
 * The range arithmetic against the simplest model there is: every byte of a small file
 * (plus one byte standing for "up to the end of the file") says which type each owner
 * holds on it. A lock or unlock rewrites the bytes of its range for its owner only.
 */
const BYTES = 24;
const owners = [
  { s: 1, o: '7' },
  { s: 1, o: '8' },
  { s: 2, o: '7' },
];

type Op = { who: number; type: 0 | 1 | 2; start: number; end: number };

const opArb: fc.Arbitrary<Op> = fc
  .record({ who: fc.nat(owners.length - 1), type: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>, a: fc.nat(BYTES), b: fc.nat(BYTES) })
  .map(({ who, type, a, b }) => {
    const start = Math.min(a, b);
    // The last byte stands for "to the end of the file".
    const end = Math.max(a, b) === BYTES ? LOCK_EOF : Math.max(a, b);
    return { who, type, start: start === BYTES ? BYTES - 1 : start, end };
  });

/** byte (BYTES stands for BYTES..EOF) → owner index → type */
type Model = Map<number, number>[];

function applyModel(model: Model, op: Op): void {
  const last = op.end === LOCK_EOF ? BYTES : op.end;
  for (let b = op.start; b <= last; b++) {
    if (op.type === LOCK_UNLOCK) model[b]!.delete(op.who);
    else model[b]!.set(op.who, op.type);
  }
}

function expand(list: readonly HeldLock[]): Model {
  const model: Model = Array.from({ length: BYTES + 1 }, () => new Map());
  for (const l of list) {
    const who = owners.findIndex((o) => o.s === l.s && o.o === l.o);
    const last = l.end === LOCK_EOF ? BYTES : l.end;
    for (let b = l.start; b <= last; b++) {
      expect(model[b]!.has(who), `owner ${who} holds byte ${b} twice`).toBe(false);
      model[b]!.set(who, l.type);
    }
  }
  return model;
}

describe('POSIX lock ranges (split and merge)', () => {
  it('match a per-byte model, and keep each owner’s locks disjoint and merged', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
        const model: Model = Array.from({ length: BYTES + 1 }, () => new Map());
        let list: HeldLock[] = [];
        for (const op of ops) {
          list = setRange(list, { ...owners[op.who]!, type: op.type, start: op.start, end: op.end, pid: 100 + op.who });
          applyModel(model, op);
          expect(expand(list)).toEqual(model);
          // Merged: no two locks of one owner and one type touch or overlap.
          for (const a of list) {
            for (const b of list) {
              if (a === b || a.s !== b.s || a.o !== b.o || a.type !== b.type) continue;
              expect(a.end + 1 < b.start || b.end + 1 < a.start).toBe(true);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('report a conflict exactly when another owner holds an overlapping byte and one of the two writes', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 15 }), opArb, (ops, probe) => {
        let list: HeldLock[] = [];
        const model: Model = Array.from({ length: BYTES + 1 }, () => new Map());
        for (const op of ops) {
          list = setRange(list, { ...owners[op.who]!, type: op.type, start: op.start, end: op.end, pid: 1 });
          applyModel(model, op);
        }
        if (probe.type === LOCK_UNLOCK) return;
        const last = probe.end === LOCK_EOF ? BYTES : probe.end;
        let expected = false;
        for (let b = probe.start; b <= last; b++) {
          for (const [who, type] of model[b]!) if (who !== probe.who && (type === LOCK_WRITE || probe.type === LOCK_WRITE)) expected = true;
        }
        const found = firstConflict(list, { ...owners[probe.who]!, type: probe.type, start: probe.start, end: probe.end, pid: 1 });
        expect(found !== undefined).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('split a lock an unlock cuts through, and merge touching locks of one type', () => {
    const me = { s: 1, o: '5', pid: 9 };
    let list = setRange([], { ...me, type: LOCK_WRITE, start: 0, end: 99 });
    list = setRange(list, { ...me, type: LOCK_UNLOCK, start: 10, end: 19 });
    expect(list.map((l) => [l.start, l.end])).toEqual([
      [0, 9],
      [20, 99],
    ]);
    list = setRange(list, { ...me, type: LOCK_READ, start: 10, end: 19 });
    expect(list.map((l) => [l.type, l.start, l.end])).toEqual([
      [LOCK_WRITE, 0, 9],
      [LOCK_READ, 10, 19],
      [LOCK_WRITE, 20, 99],
    ]);
    list = setRange(list, { ...me, type: LOCK_WRITE, start: 10, end: 19 });
    expect(list.map((l) => [l.type, l.start, l.end])).toEqual([[LOCK_WRITE, 0, 99]]);
  });
});

describe('the lock table', () => {
  it('keeps one flock lock per owner, drops a session’s locks, and survives JSON (the dump)', () => {
    const t = new LockTable();
    t.apply({ kind: 'flock', inode: 5, s: 1, o: '1', type: LOCK_READ, start: 0, end: 0, pid: 1 });
    t.apply({ kind: 'flock', inode: 5, s: 1, o: '1', type: LOCK_WRITE, start: 3, end: 4, pid: 1 });
    t.apply({ kind: 'posix', inode: 5, s: 2, o: '1', type: LOCK_READ, start: 3, end: 4, pid: 2 });
    expect(t.held('flock', 5)).toEqual([{ s: 1, o: '1', type: LOCK_WRITE, start: 0, end: LOCK_EOF, pid: 1 }]);
    const copy = LockTable.fromJSON(JSON.parse(JSON.stringify(t)));
    expect(copy.toJSON()).toEqual(t.toJSON());
    expect(t.dropSession(1)).toEqual([5]);
    expect(t.held('flock', 5)).toBeUndefined();
    expect(t.size).toBe(1);
    expect(LockTable.fromJSON(undefined).size).toBe(0);
  });
});
