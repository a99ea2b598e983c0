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
 * Whether a frame's body may be lent: put in a buffer the decoder reuses, valid only
 * while the frame's handler runs. Asked once per frame, when its header is complete.
 */
export type LendBody = (type: number, requestId: number) => boolean;

/** Bodies up to this size are allocated whole on their header (Buffer's pool serves them). */
const SMALL_BODY = 4096;

/**
 * Incremental decoder: feed TCP bytes in pieces of any size, get whole frames, in order.
 *
 * Bytes are either owned (a 'data' event's chunk: a frame lying wholly inside it is a view,
 * not a copy) or lent (a socket's reused read buffer, overwritten after the call: every
 * body is copied out, unless `lend` says its handler takes it on loan). Lent bodies go to
 * one scratch buffer reused frame after frame: a stream of 64 KiB data frames then costs
 * no allocation at all, where an allocation per socket read and per frame made V8
 * collect its old space every few dozen MiB (docs/benchmarks.md, "Reads and the GC").
 *
 * A body larger than SMALL_BODY is kept as the pieces that arrived until it is whole, so
 * that a peer's claimed length costs us nothing before its bytes do (up to maxBody).
 */
export class FrameDecoder {
  private readonly head = Buffer.alloc(FRAME_HEADER_SIZE);
  private headFill = 0;
  private inBody = false;
  private type = 0;
  private length = 0;
  private requestId = 0;
  private lent = false;
  /** The body being filled: allocated whole (small or lent), or its pieces so far. */
  private body: Buffer | undefined;
  private pieces: Buffer[] = [];
  private bodyFill = 0;
  private scratch: Buffer | undefined;

  constructor(
    private readonly maxBody: number,
    private readonly lend?: LendBody,
  ) {}

  /** Returns the frames completed by this owned chunk; throws FrameError on an oversized frame. */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    this.feed(chunk, true, (f) => frames.push(f));
    return frames;
  }

  /**
   * Hands every frame these bytes complete to `onFrame` as soon as it is whole (so that a
   * lent body is used before the next overwrites it). `owned`: the caller will not
   * overwrite `bytes`. Throws FrameError on an oversized frame.
   */
  feed(bytes: Buffer, owned: boolean, onFrame: (frame: Frame) => void): void {
    let pos = 0;
    for (;;) {
      if (!this.inBody) {
        if (pos === bytes.length) return;
        pos = this.readHeader(bytes, pos);
        if (!this.inBody) return;
        const whole = bytes.length - pos >= this.length;
        if (whole && (owned || this.lent)) {
          const body = bytes.subarray(pos, pos + this.length);
          pos += this.length;
          this.emit(body, onFrame);
          continue;
        }
        if (this.lent) this.body = this.scratchOf(this.length);
        else if (this.length <= SMALL_BODY || whole) this.body = Buffer.allocUnsafe(this.length);
      }
      const take = Math.min(this.length - this.bodyFill, bytes.length - pos);
      const piece = bytes.subarray(pos, pos + take);
      if (this.body) this.body.set(piece, this.bodyFill);
      else if (take > 0) this.pieces.push(owned ? piece : Buffer.from(piece));
      this.bodyFill += take;
      pos += take;
      if (this.bodyFill < this.length) return;
      // Only the scratch is longer than the body; a gathered body is its pieces joined.
      if (this.body === undefined) this.emit(this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.length), onFrame);
      else this.emit(this.lent ? this.body.subarray(0, this.length) : this.body, onFrame);
    }
  }

  /** Bytes held for a frame not yet complete. */
  get pending(): number {
    return this.headFill + (this.inBody ? FRAME_HEADER_SIZE + this.bodyFill : 0);
  }

  /** Takes header bytes from `pos`; once 12 are in, checks the length and starts the body. */
  private readHeader(bytes: Buffer, pos: number): number {
    let h = bytes;
    let at = pos;
    if (this.headFill === 0 && bytes.length - pos >= FRAME_HEADER_SIZE) pos += FRAME_HEADER_SIZE;
    else {
      const take = Math.min(FRAME_HEADER_SIZE - this.headFill, bytes.length - pos);
      this.head.set(bytes.subarray(pos, pos + take), this.headFill);
      this.headFill += take;
      pos += take;
      if (this.headFill < FRAME_HEADER_SIZE) return pos;
      this.headFill = 0;
      h = this.head;
      at = 0;
    }
    const length = h.readUInt32BE(at + 4);
    if (length > this.maxBody) throw new FrameError('oversized', `frame body of ${length} bytes exceeds the limit of ${this.maxBody}`);
    this.type = h.readUInt32BE(at);
    this.length = length;
    this.requestId = h.readUInt32BE(at + 8);
    this.lent = this.lend?.(this.type, this.requestId) ?? false;
    this.inBody = true;
    return pos;
  }

  private emit(body: Buffer, onFrame: (frame: Frame) => void): void {
    this.inBody = false;
    this.body = undefined;
    if (this.pieces.length > 0) this.pieces = [];
    this.bodyFill = 0;
    onFrame({ type: this.type, requestId: this.requestId, body });
  }

  private scratchOf(length: number): Buffer {
    if (!this.scratch || this.scratch.length < length) this.scratch = Buffer.allocUnsafeSlow(Math.max(length, 128 * 1024));
    return this.scratch;
  }
}
