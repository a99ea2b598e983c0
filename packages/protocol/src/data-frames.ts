import { crc32 } from 'node:zlib';
import { BLOCK_SIZE, CHUNK_SIZE, FRAME_HEADER_SIZE } from './constants.js';
import { FrameError, REPLY_FLAG, encodeFrameHeader } from './frame.js';

/**
 * Data frames: the frames that carry chunk bytes between clients and chunkservers.
 * They share the 12-byte frame header with control frames, but their type lies in a
 * range of its own and their body is a small fixed big-endian header followed by the
 * raw bytes: block data is never msgpack-wrapped (no copy, no encoding cost, and the
 * CRC travels with the bytes it covers).
 *
 * Types 0x4000_0000–0x4000_00FF are data frames (with REPLY_FLAG for their replies);
 * control message ids stay far below. A link hands data frames to its data handler raw.
 */
export const DATA_FRAME_MIN = 0x4000_0000;
export const DATA_FRAME_MAX = 0x4000_00ff;

export const DataFrameType = {
  /**
   * Client → chunkserver, chunkserver → next chunkserver of the chain: bytes to write.
   * Answered by a DATA_WRITE reply frame (type | REPLY_FLAG) with a DataWriteStatus body.
   */
  write: DATA_FRAME_MIN + 1,
  /** Chunkserver → reader: one piece of the answer to a `dataRead` request (same request id). */
  read: DATA_FRAME_MIN + 2,
} as const;

/** True for a data frame or a data frame's reply: such frames are never msgpack-decoded. */
export function isDataFrameType(type: number): boolean {
  const id = (type & ~REPLY_FLAG) >>> 0;
  return id >= DATA_FRAME_MIN && id <= DATA_FRAME_MAX;
}

/** Largest payload of one data frame: one block. */
export const MAX_DATA_PAYLOAD = BLOCK_SIZE;

/**
 * One piece of a chunk in flight. `seq` numbers the pieces of a write (the writer
 * matches acknowledgements by it) or of a read reply. `offset` is within the chunk.
 */
export interface DataBlock {
  chunkId: number;
  version: number;
  seq: number;
  offset: number;
  /** CRC32 of `data`, computed by the sender; the receiver checks it. */
  crc: number;
  data: Uint8Array;
}

/** The acknowledgement of one written piece; status is 0 or an errno. */
export interface DataWriteStatus {
  chunkId: number;
  seq: number;
  status: number;
}

/**
 * DataBlock header, 32 bytes, big-endian:
 *   0 chunkId u64 | 8 version u32 | 12 seq u32 | 16 offset u32 | 20 length u32 | 24 crc u32 | 28 reserved u32
 */
export const DATA_BLOCK_HEADER_SIZE = 32;
/** DataWriteStatus body, 16 bytes: 0 chunkId u64 | 8 seq u32 | 12 status u32. */
export const DATA_WRITE_STATUS_SIZE = 16;

/** A data frame body that does not parse; the link it came on is closed. */
export class DataFrameError extends FrameError {
  constructor(message: string) {
    super('malformed', message);
    this.name = 'DataFrameError';
  }
}

/**
 * The CRC every sender puts in a DataBlock (zlib's CRC-32, as in the chunk files), of
 * one buffer or of several sent one after the other as the payload.
 */
export function dataCrc(data: Uint8Array | readonly Uint8Array[]): number {
  if (data instanceof Uint8Array) return crc32(data) >>> 0;
  let crc = 0;
  for (const part of data) crc = crcOn(part, crc);
  return crc >>> 0;
}

/**
 * CRC-32 of `bytes` continuing from `crc`. An empty segment is skipped, not passed on:
 * Node 20's zlib.crc32 answers 0 instead of `crc` for some empty views (a view of
 * Buffer.alloc(0)), which restarted the running CRC.
 */
export function crcOn(bytes: Uint8Array, crc: number): number {
  return bytes.length === 0 ? crc : crc32(bytes, crc);
}

export function encodeDataBlockHeader(block: Omit<DataBlock, 'data'> & { length: number }): Buffer {
  checkBlockFields(block.chunkId, block.offset, block.length);
  const h = Buffer.alloc(DATA_BLOCK_HEADER_SIZE);
  h.writeBigUInt64BE(BigInt(block.chunkId), 0);
  h.writeUInt32BE(block.version >>> 0, 8);
  h.writeUInt32BE(block.seq >>> 0, 12);
  h.writeUInt32BE(block.offset, 16);
  h.writeUInt32BE(block.length, 20);
  h.writeUInt32BE(block.crc >>> 0, 24);
  return h;
}

/**
 * A whole data frame as buffers to write in order — frame header with the block
 * header, then the payload itself, uncopied.
 */
export function dataBlockFrame(type: number, requestId: number, block: DataBlock): Buffer[] {
  const header = encodeDataBlockHeader({ ...block, length: block.data.length });
  const frameHeader = encodeFrameHeader(type, DATA_BLOCK_HEADER_SIZE + block.data.length, requestId);
  return [Buffer.concat([frameHeader, header]), Buffer.from(block.data.buffer, block.data.byteOffset, block.data.length)];
}

/** The body of a DataBlock frame (header + payload) in one buffer. */
export function encodeDataBlock(block: DataBlock): Buffer {
  return Buffer.concat([encodeDataBlockHeader({ ...block, length: block.data.length }), block.data]);
}

/**
 * Parses a DataBlock body. Every field is range-checked and the declared length must
 * match the body exactly; the payload is a view into `body`, not a copy. The CRC is
 * not checked here (see dataBlockCrcOk): a corrupted payload is an I/O error for that
 * piece, not a reason to drop the link.
 */
export function decodeDataBlock(body: Uint8Array): DataBlock {
  if (body.length < DATA_BLOCK_HEADER_SIZE) {
    throw new DataFrameError(`data block: body of ${body.length} bytes is shorter than its ${DATA_BLOCK_HEADER_SIZE}-byte header`);
  }
  const b = Buffer.from(body.buffer, body.byteOffset, body.length);
  const chunkId = readChunkId(b, 0);
  const offset = b.readUInt32BE(16);
  const length = b.readUInt32BE(20);
  if (length !== b.length - DATA_BLOCK_HEADER_SIZE) {
    throw new DataFrameError(`data block: header says ${length} bytes, frame carries ${b.length - DATA_BLOCK_HEADER_SIZE}`);
  }
  checkBlockFields(chunkId, offset, length);
  if (b.readUInt32BE(28) !== 0) throw new DataFrameError('data block: reserved header field is not zero');
  return {
    chunkId,
    version: b.readUInt32BE(8),
    seq: b.readUInt32BE(12),
    offset,
    crc: b.readUInt32BE(24),
    data: b.subarray(DATA_BLOCK_HEADER_SIZE),
  };
}

export function dataBlockCrcOk(block: DataBlock): boolean {
  return dataCrc(block.data) === block.crc;
}

export function encodeDataWriteStatus(s: DataWriteStatus): Buffer {
  const b = Buffer.alloc(DATA_WRITE_STATUS_SIZE);
  b.writeBigUInt64BE(BigInt(checkChunkId(s.chunkId)), 0);
  b.writeUInt32BE(s.seq >>> 0, 8);
  b.writeUInt32BE(s.status >>> 0, 12);
  return b;
}

export function decodeDataWriteStatus(body: Uint8Array): DataWriteStatus {
  if (body.length !== DATA_WRITE_STATUS_SIZE) {
    throw new DataFrameError(`write status: body of ${body.length} bytes, expected ${DATA_WRITE_STATUS_SIZE}`);
  }
  const b = Buffer.from(body.buffer, body.byteOffset, body.length);
  return { chunkId: readChunkId(b, 0), seq: b.readUInt32BE(8), status: b.readUInt32BE(12) };
}

function readChunkId(b: Buffer, at: number): number {
  const id = b.readBigUInt64BE(at);
  if (id > BigInt(Number.MAX_SAFE_INTEGER)) throw new DataFrameError(`chunk id ${id} is out of range`);
  return Number(id);
}

function checkChunkId(chunkId: number): number {
  if (!Number.isSafeInteger(chunkId) || chunkId < 0) throw new DataFrameError(`chunk id ${chunkId} is out of range`);
  return chunkId;
}

function checkBlockFields(chunkId: number, offset: number, length: number): void {
  checkChunkId(chunkId);
  if (length > MAX_DATA_PAYLOAD) throw new DataFrameError(`data block of ${length} bytes exceeds ${MAX_DATA_PAYLOAD}`);
  if (!Number.isInteger(offset) || offset < 0 || offset + length > CHUNK_SIZE) {
    throw new DataFrameError(`data block [${offset}, +${length}) lies outside the chunk`);
  }
}

/** Bytes a whole data frame of `payload` bytes occupies on the wire. */
export function dataFrameSize(payload: number): number {
  return FRAME_HEADER_SIZE + DATA_BLOCK_HEADER_SIZE + payload;
}
