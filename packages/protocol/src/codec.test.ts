import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeErrorReply, encodeReply, encodeRequest, MalformedFrameError } from './codec.js';
import { FrameDecoder, FrameError, REPLY_FLAG } from './frame.js';
import { type MessageName, Messages } from './messages.js';
import { arbitraryOf } from './schema-arbitrary.test-helpers.js';
import { Status } from './status.js';

const names = Object.keys(Messages) as MessageName[];

function decodeAll(bytes: Buffer) {
  return new FrameDecoder(1 << 24).push(bytes).map(decodeFrame);
}

describe('message codec', () => {
  it.each(names)('%s: request and reply survive encode → decode', (name) => {
    const def = Messages[name];
    fc.assert(
      fc.property(arbitraryOf(def.req), arbitraryOf(def.res), fc.integer({ min: 0, max: 0xffff_ffff }), (req, res, id) => {
        const [r] = decodeAll(encodeRequest(name, id, req as never));
        expect(r).toEqual({ kind: 'request', name, requestId: id, body: req });
        const [p] = decodeAll(encodeReply(name, id, res as never));
        expect(p).toEqual({ kind: 'reply', name, requestId: id, status: 0, body: res });
      }),
      { numRuns: 50 },
    );
  });

  it('error replies carry the errno and the message', () => {
    const [p] = decodeAll(encodeErrorReply(Messages.lookup.id, 7, Status.ENOENT, 'no such entry'));
    expect(p).toMatchObject({ kind: 'reply', name: 'lookup', requestId: 7, status: Status.ENOENT, message: 'no such entry' });
  });

  it('a body that does not match its schema is a MalformedFrameError naming the field', () => {
    const bad = encodeRequest('lookup', 1, { cred: { uid: 0, gid: 0, groups: [] }, parent: -1, name: 'x' } as never);
    expect(() => decodeAll(bad)).toThrow(MalformedFrameError);
    expect(() => decodeAll(bad)).toThrow(/parent/);
  });

  it('unknown message types are refused', () => {
    const h = Buffer.alloc(13);
    h.writeUInt32BE(0x7777, 0);
    h.writeUInt32BE(1, 4);
    expect(() => decodeAll(h)).toThrow(/unknown message type/);
    h.writeUInt32BE((0x7777 | REPLY_FLAG) >>> 0, 0);
    expect(() => decodeAll(h)).toThrow(MalformedFrameError);
  });
});

describe('frame decoder', () => {
  it('reassembles frames split at every possible point, in order', () => {
    const frames = [
      encodeRequest('ping', 1, {}),
      encodeRequest('lookup', 2, { cred: { uid: 1, gid: 2, groups: [3] }, parent: 1, name: 'abc' }),
      encodeReply('getattr', 3, {
        attr: {
          inode: 5, type: 'file', mode: 0o644, uid: 0, gid: 0, nlink: 1, size: 10, rdev: 0, goal: 2, trashtime: 86400,
          atime: { sec: 1, nsec: 2 }, mtime: { sec: 3, nsec: 4 }, ctime: { sec: 5, nsec: 6 },
        },
      }),
    ];
    const all = Buffer.concat(frames);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: all.length }), { maxLength: 20 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const d = new FrameDecoder(1 << 20);
        const out = [];
        let prev = 0;
        for (const p of [...points, all.length]) {
          out.push(...d.push(all.subarray(prev, p)));
          prev = p;
        }
        expect(out.map((f) => f.requestId)).toEqual([1, 2, 3]);
        expect(d.pending).toBe(0);
      }),
    );
  });

  it('fed one byte at a time, it still yields every frame', () => {
    const all = Buffer.concat([encodeRequest('ping', 9, {}), encodeRequest('statfs', 10, {})]);
    const d = new FrameDecoder(1024);
    const out = [];
    for (const b of all) out.push(...d.push(Buffer.from([b])));
    expect(out.map((f) => f.requestId)).toEqual([9, 10]);
  });

  it('fed from a buffer overwritten after every call, every body is whole: copied, or lent only to its handler', () => {
    // Frames of every size class (empty, pool-sized, larger than a read); odd request
    // ids are lent. The reader's buffer is scribbled over after each feed, as a socket's
    // reused read buffer is by the next read.
    const frame = fc.record({ requestId: fc.integer({ min: 1, max: 1000 }), size: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 60_000, max: 70_000 })), fill: fc.integer({ min: 0, max: 255 }) });
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 70_000 }), { maxLength: 12 }), fc.boolean(), (frames, readSizes, owned) => {
        const wire = Buffer.concat(frames.map((f) => {
          const h = Buffer.alloc(12);
          h.writeUInt32BE(0x4000_0001, 0);
          h.writeUInt32BE(f.size, 4);
          h.writeUInt32BE(f.requestId, 8);
          return Buffer.concat([h, Buffer.alloc(f.size, f.fill)]);
        }));
        const d = new FrameDecoder(1 << 20, (_type, id) => id % 2 === 1);
        const kept: { id: number; body: Buffer }[] = [];
        const seenWhole: boolean[] = [];
        const readBuffer = Buffer.alloc(wire.length);
        let pos = 0;
        for (let i = 0; pos < wire.length; i++) {
          const n = Math.min(readSizes[i % Math.max(1, readSizes.length)] ?? wire.length, wire.length - pos);
          const bytes = owned ? Buffer.from(wire.subarray(pos, pos + n)) : readBuffer.subarray(0, n);
          if (!owned) wire.copy(readBuffer, 0, pos, pos + n);
          d.feed(bytes, owned, (f) => {
            const want = frames[kept.length]!;
            seenWhole.push(f.requestId === want.requestId && f.body.length === want.size && f.body.every((b) => b === want.fill));
            kept.push({ id: f.requestId, body: f.body });
          });
          if (!owned) readBuffer.fill(0xee);
          pos += n;
        }
        expect(seenWhole).toEqual(frames.map(() => true));
        // Bodies not lent are the frame's own bytes after every later read.
        for (const [i, k] of kept.entries()) if (k.id % 2 === 0) expect(k.body.every((b) => b === frames[i]!.fill)).toBe(true);
        expect(d.pending).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a frame whose declared length exceeds the limit before buffering it', () => {
    const h = Buffer.alloc(12);
    h.writeUInt32BE(1, 0);
    h.writeUInt32BE(0xffff_ffff, 4);
    const d = new FrameDecoder(4 * 1024 * 1024);
    expect(() => d.push(h)).toThrow(FrameError);
  });

  it('random bytes never crash, hang or escape as anything but a FrameError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const d = new FrameDecoder(64 * 1024);
        try {
          for (const f of d.push(Buffer.from(bytes))) decodeFrame(f);
        } catch (err) {
          expect(err).toBeInstanceOf(FrameError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('valid headers with random bodies are refused cleanly', () => {
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.boolean(), fc.uint8Array({ maxLength: 512 }), (name, reply, body) => {
        const h = Buffer.alloc(12);
        h.writeUInt32BE((Messages[name].id | (reply ? REPLY_FLAG : 0)) >>> 0, 0);
        h.writeUInt32BE(body.length, 4);
        try {
          decodeAll(Buffer.concat([h, body]));
        } catch (err) {
          expect(err).toBeInstanceOf(FrameError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
