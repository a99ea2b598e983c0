import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE, FRAME_HEADER_SIZE } from './constants.js';
import {
  DATA_BLOCK_HEADER_SIZE,
  type DataBlock,
  DataFrameError,
  DataFrameType,
  MAX_DATA_PAYLOAD,
  dataBlockCrcOk,
  dataBlockFrame,
  dataCrc,
  decodeDataBlock,
  decodeDataWriteStatus,
  encodeDataBlock,
  encodeDataWriteStatus,
  isDataFrameType,
} from './data-frames.js';
import { FrameDecoder, REPLY_FLAG } from './frame.js';
import { Messages } from './messages.js';

const blockArb: fc.Arbitrary<DataBlock> = fc
  .record({
    chunkId: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    version: fc.integer({ min: 0, max: 0xffff_ffff }),
    seq: fc.integer({ min: 0, max: 0xffff_ffff }),
    data: fc.uint8Array({ maxLength: 2000 }),
    at: fc.integer({ min: 0, max: CHUNK_SIZE }),
  })
  .map(({ at, data, ...rest }) => ({ ...rest, data, offset: Math.min(at, CHUNK_SIZE - data.length), crc: dataCrc(data) }));

function decodeOrDataError<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    expect(err).toBeInstanceOf(DataFrameError);
    return undefined;
  }
}

describe('data frames', () => {
  it('a data block survives encode → decode, payload and CRC intact', () => {
    fc.assert(
      fc.property(blockArb, (block) => {
        const decoded = decodeDataBlock(encodeDataBlock(block));
        expect({ ...decoded, data: Buffer.from(decoded.data) }).toEqual({ ...block, data: Buffer.from(block.data) });
        expect(dataBlockCrcOk(decoded)).toBe(true);
      }),
    );
  });

  it('a whole data frame passes the frame decoder, split anywhere, and keeps its type and request id', () => {
    fc.assert(
      fc.property(blockArb, fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 1, max: 5000 }), (block, requestId, cut) => {
        const wire = Buffer.concat(dataBlockFrame(DataFrameType.write, requestId, block));
        expect(wire.length).toBe(FRAME_HEADER_SIZE + DATA_BLOCK_HEADER_SIZE + block.data.length);
        const decoder = new FrameDecoder(1 << 20);
        const at = Math.min(cut, wire.length);
        const frames = [...decoder.push(wire.subarray(0, at)), ...decoder.push(wire.subarray(at))];
        expect(frames).toHaveLength(1);
        expect(frames[0]!.type).toBe(DataFrameType.write);
        expect(frames[0]!.requestId).toBe(requestId);
        expect(Buffer.from(decodeDataBlock(frames[0]!.body).data).equals(Buffer.from(block.data))).toBe(true);
      }),
    );
  });

  it('the CRC of a payload in parts is the CRC of its bytes, whatever the parts, empty views included', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant(null)), { maxLength: 8 }), (parts) => {
        // null: an empty view of Buffer.alloc(0), on which Node's crc32 drops its running value.
        const bufs = parts.map((p) => (p === null ? Buffer.alloc(0).subarray(0) : Buffer.from(p)));
        expect(dataCrc(bufs)).toBe(dataCrc(Buffer.concat(bufs)));
      }),
    );
  });

  it('write statuses round-trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 200 }), (chunkId, seq, status) => {
        expect(decodeDataWriteStatus(encodeDataWriteStatus({ chunkId, seq, status }))).toEqual({ chunkId, seq, status });
      }),
    );
  });

  it('random bytes never crash the decoders: they decode or raise DataFrameError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        decodeOrDataError(() => decodeDataBlock(bytes));
        decodeOrDataError(() => decodeDataWriteStatus(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('a damaged header or payload is caught: length mismatch, ranges, CRC', () => {
    fc.assert(
      fc.property(blockArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (block, pos, xor) => {
        const bytes = encodeDataBlock(block);
        const i = pos % bytes.length;
        bytes[i] = bytes[i]! ^ xor;
        const decoded = decodeOrDataError(() => decodeDataBlock(bytes));
        // A flip the structure cannot see (ids, seq, offset within range) must not pass as the original.
        if (decoded) expect({ ...decoded, data: Buffer.from(decoded.data) }).not.toEqual({ ...block, data: Buffer.from(block.data) });
        if (decoded && i >= DATA_BLOCK_HEADER_SIZE) expect(dataBlockCrcOk(decoded)).toBe(false);
      }),
    );
    const tooBig = { chunkId: 1, version: 1, seq: 0, offset: 0, crc: 0, data: new Uint8Array(MAX_DATA_PAYLOAD + 1) };
    expect(() => encodeDataBlock(tooBig)).toThrow(DataFrameError);
    expect(() => encodeDataBlock({ ...tooBig, data: new Uint8Array(10), offset: CHUNK_SIZE - 5 })).toThrow(/outside the chunk/);
    const header = encodeDataBlock({ ...tooBig, data: new Uint8Array(0) });
    header.writeUInt32BE(5, 20);
    expect(() => decodeDataBlock(header)).toThrow(/header says 5 bytes, frame carries 0/);
  });

  it('the data frame range never meets a control message id', () => {
    for (const def of Object.values(Messages)) {
      expect(isDataFrameType(def.id)).toBe(false);
      expect(isDataFrameType((def.id | REPLY_FLAG) >>> 0)).toBe(false);
    }
    expect(isDataFrameType(DataFrameType.read)).toBe(true);
    expect(isDataFrameType((DataFrameType.write | REPLY_FLAG) >>> 0)).toBe(true);
  });
});
