import fc from 'fast-check';
import type { ChunkGrant } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { ChunkLocations } from './chunk-locations.js';

const grant = (chunkId: number): ChunkGrant => ({ chunkId, version: 1, length: 0, locations: [] }) as unknown as ChunkGrant;

describe('ChunkLocations', () => {
  it('forgetFile drops exactly the file\'s chunks, through evictions and replacements (a model of recent sets)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), inode: fc.integer({ min: 1, max: 4 }), index: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('forget' as const), inode: fc.integer({ min: 1, max: 4 }), index: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('forgetFile' as const), inode: fc.integer({ min: 1, max: 4 }), index: fc.constant(0) }),
      fc.record({ kind: fc.constant('get' as const), inode: fc.integer({ min: 1, max: 4 }), index: fc.integer({ min: 0, max: 3 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const max = 5;
        const cache = new ChunkLocations({ max, ttlMs: 60_000 });
        // The model: key → grant, in least-recently-used order (Map keeps insertion order).
        const model = new Map<string, ChunkGrant>();
        let n = 0;
        for (const o of ops) {
          const k = `${o.inode}:${o.index}`;
          if (o.kind === 'set') {
            const g = grant(++n);
            cache.set(o.inode, o.index, g);
            model.delete(k);
            model.set(k, g);
            if (model.size > max) model.delete(model.keys().next().value!);
          } else if (o.kind === 'forget') {
            cache.forget(o.inode, o.index);
            model.delete(k);
          } else if (o.kind === 'forgetFile') {
            cache.forgetFile(o.inode);
            for (const mk of [...model.keys()]) if (mk.startsWith(`${o.inode}:`)) model.delete(mk);
          } else {
            const g = model.get(k);
            expect(cache.get(o.inode, o.index)).toBe(g);
            if (g) {
              model.delete(k);
              model.set(k, g);
            }
          }
          expect(cache.size).toBe(model.size);
        }
        for (let inode = 1; inode <= 4; inode++) for (let index = 0; index <= 3; index++) expect(cache.get(inode, index)).toBe(model.get(`${inode}:${index}`));
      }),
      { numRuns: 300 },
    );
  });
});
