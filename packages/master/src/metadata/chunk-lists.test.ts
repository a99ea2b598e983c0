import fc from 'fast-check';
import { MAX_CHUNK_INDEX } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { ChunkLists } from './chunk-lists.js';

type ListOp = { k: 'set'; inode: number; index: number; id: number } | { k: 'cut'; inode: number; keep: number } | { k: 'clear'; inode: number };

// Near indexes (dense part, padded holes), gaps just over the padding, and far ones (sparse part).
const index = fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 40 }), fc.constantFrom(1_638_400, 1_638_401, MAX_CHUNK_INDEX));
const inode = fc.integer({ min: 1, max: 3 });
const opArb: fc.Arbitrary<ListOp> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('set' as const), inode, index, id: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 })) }) },
  fc.record({ k: fc.constant('cut' as const), inode, keep: index }),
  fc.record({ k: fc.constant('clear' as const), inode }),
);

/** The reference: inode → index → id, holes absent. */
function applyModel(model: Map<number, Map<number, number>>, op: ListOp): number[] {
  const list = model.get(op.inode) ?? new Map<number, number>();
  model.set(op.inode, list);
  if (op.k === 'set') {
    if (op.id === 0) list.delete(op.index);
    else list.set(op.index, op.id);
    return [];
  }
  const gone = [...list].filter(([i]) => op.k === 'clear' || i >= op.keep).sort(([a], [b]) => b - a);
  for (const [i] of gone) list.delete(i);
  return op.k === 'cut' ? gone.map(([, id]) => id) : [];
}

function entries(lists: ChunkLists, inode: number): [number, number][] {
  const out: [number, number][] = [];
  lists.forEach(inode, (id, i) => out.push([i, id]));
  return out;
}

describe('ChunkLists', () => {
  it('behaves as a map of index → id whatever the order of writes (dense, padded, sparse)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 200 }), (ops) => {
        const lists = new ChunkLists(8);
        const model = new Map<number, Map<number, number>>();
        for (const op of ops) {
          const expected = applyModel(model, op);
          if (op.k === 'set') lists.set(op.inode, op.index, op.id);
          else if (op.k === 'cut') expect(lists.cut(op.inode, op.keep)).toEqual(expected);
          else lists.clear(op.inode);
        }
        for (const [i, list] of model) {
          const want = [...list].sort(([a], [b]) => a - b);
          expect(entries(lists, i)).toEqual(want);
          expect(lists.slots(i)).toBe(want.length === 0 ? 0 : want[want.length - 1]![0] + 1);
          for (const probe of [0, 1, 5, 13, 1_638_400, MAX_CHUNK_INDEX]) expect(lists.get(i, probe)).toBe(list.get(probe) ?? 0);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('keeps a sequentially written file dense: no sparse part', () => {
    const lists = new ChunkLists(8);
    for (let i = 0; i < 1000; i++) lists.set(1, i, i + 1);
    expect(lists.slots(1)).toBe(1000);
    expect(entries(lists, 1)).toHaveLength(1000);
    // The dense part reaches an index first written far out, and takes it over.
    lists.set(2, 7, 70);
    lists.set(2, 1, 10);
    for (let i = 2; i < 7; i++) lists.set(2, i, i * 10);
    expect(entries(lists, 2).map(([i]) => i)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});
