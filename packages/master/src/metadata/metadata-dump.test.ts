import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DumpError, dumpVersion } from '@tsmfs/metastore';
import { decodeDump, encodeDump } from './metadata-dump.js';
import { createEmptyMetadata } from './metadata.js';
import { extraOpArb, freshLive, opArb, runOp } from './namespace-ops.test-helpers.js';
import { canonicalState } from './state-digest.js';

const anyOp = fc.oneof({ weight: 3, arbitrary: opArb }, { weight: 2, arbitrary: extraOpArb });
const stateArb = fc.array(anyOp, { maxLength: 100, size: 'max' }).map((ops) => {
  const live = freshLive();
  for (const op of ops) runOp(live, op);
  return live.md;
});

describe('metadata dump', () => {
  it('round-trips any reachable state', () => {
    fc.assert(
      fc.property(stateArb, (md) => {
        const buf = encodeDump(md);
        expect(dumpVersion(buf)).toBe(md.version);
        const back = decodeDump(buf);
        expect(canonicalState(back)).toEqual(canonicalState(md));
        expect(encodeDump(back).equals(buf)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('round-trips the empty file system', () => {
    const md = createEmptyMetadata({ sec: 5, nsec: 6 });
    expect(canonicalState(decodeDump(encodeDump(md)))).toEqual(canonicalState(md));
  });

  it('rejects any flipped byte with DumpError, never a wrong state', () => {
    fc.assert(
      fc.property(stateArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (md, at, xor) => {
        const buf = Buffer.from(encodeDump(md));
        const i = at % buf.length;
        buf[i] = buf[i]! ^ xor;
        expect(() => decodeDump(buf)).toThrow(DumpError);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects any truncation and trailing garbage', () => {
    fc.assert(
      fc.property(stateArb, fc.nat(), (md, cut) => {
        const buf = encodeDump(md);
        expect(() => decodeDump(buf.subarray(0, cut % buf.length))).toThrow(DumpError);
        expect(() => decodeDump(Buffer.concat([buf, Buffer.from([0])]))).toThrow(DumpError);
      }),
      { numRuns: 200 },
    );
  });

  it('names the reason', () => {
    const buf = encodeDump(createEmptyMetadata({ sec: 1, nsec: 0 }));
    const reason = (b: Buffer) => {
      try {
        decodeDump(b);
      } catch (err) {
        return (err as DumpError).reason;
      }
      return 'none';
    };
    expect(reason(Buffer.from('MFSM 2.0'))).toBe('magic');
    const badFormat = Buffer.from(buf);
    badFormat.writeUInt32LE(99, 8);
    expect(reason(badFormat)).toBe('format');
    const badCrc = Buffer.from(buf);
    badCrc[badCrc.length - 1]! ^= 1;
    expect(reason(badCrc)).toBe('checksum');
    expect(reason(buf.subarray(0, 20))).toBe('truncated');
  });
});
