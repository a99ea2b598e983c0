import { FRAME_HEADER_SIZE } from './constants.js';

/**
 * One frame on the wire: a fixed 12-byte big-endian header (type, body length,
 * request id) and the body. The header is read and the length checked before a
 * single body byte is buffered, so a peer cannot make us allocate what it claims.
 */
export interface Frame {
  type: number;
  requestId: number;
  body: Buffer;
}

/** Replies carry the request's type with this bit set. */
export const REPLY_FLAG = 0x8000_0000;

export class FrameError extends Error {
  constructor(
    readonly reason: 'oversized' | 'malformed',
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

export function encodeFrameHeader(type: number, bodyLength: number, requestId: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  h.writeUInt32BE(type >>> 0, 0);
  h.writeUInt32BE(bodyLength >>> 0, 4);
  h.writeUInt32BE(requestId >>> 0, 8);
  return h;
}

export function encodeFrame(type: number, requestId: number, body: Uint8Array): Buffer {
  const h = encodeFrameHeader(type, body.length, requestId);
  return Buffer.concat([h, body]);
}

/**
 * Incremental decoder: push TCP chunks of any size, get whole frames. Keeps a partial
 * frame across pushes without re-concatenating everything it has seen (a 64 KiB data
 * frame arriving in 1 KiB pieces costs one copy, not 64).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private header: { type: number; length: number; requestId: number } | undefined;

  constructor(private readonly maxBody: number) {}

  /** Returns the frames completed by this chunk; throws FrameError on an oversized frame. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (!this.header) {
        if (this.buffered < FRAME_HEADER_SIZE) break;
        const h = this.take(FRAME_HEADER_SIZE);
        const length = h.readUInt32BE(4);
        if (length > this.maxBody) {
          throw new FrameError('oversized', `frame body of ${length} bytes exceeds the limit of ${this.maxBody}`);
        }
        this.header = { type: h.readUInt32BE(0), length, requestId: h.readUInt32BE(8) };
      }
      if (this.buffered < this.header.length) break;
      const body = this.take(this.header.length);
      frames.push({ type: this.header.type, requestId: this.header.requestId, body });
      this.header = undefined;
    }
    return frames;
  }

  /** Bytes held for a frame not yet complete. */
  get pending(): number {
    return this.buffered + (this.header ? FRAME_HEADER_SIZE : 0);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const want = n - filled;
      if (c.length <= want) {
        c.copy(out, filled);
        filled += c.length;
        this.chunks.shift();
      } else {
        c.copy(out, filled, 0, want);
        this.chunks[0] = c.subarray(want);
        filled += want;
      }
    }
    this.buffered -= n;
    return out;
  }
}
