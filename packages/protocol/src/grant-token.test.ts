import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GRANT_TOKEN_SIZE, type GrantClaims, type GrantMode, GrantVerifier, authenticReceipt, checkGrantToken, creationReceiptClaims, signCreationReceipt, signGrantToken } from './grant-token.js';
import { Status } from './status.js';

const claimsArb = fc.record({
  chunkId: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  version: fc.nat({ max: 0xffff_ffff }),
  mode: fc.constantFrom<GrantMode>('read', 'write'),
  expiresMs: fc.integer({ min: 1, max: 2 ** 48 }),
});
const keyArb = fc.uint8Array({ minLength: 32, maxLength: 32 });

function statusOf(f: () => void): number {
  try {
    f();
    return Status.OK;
  } catch (err) {
    return (err as { status: number }).status;
  }
}

const want = ({ chunkId, version, mode }: GrantClaims) => ({ chunkId, version, mode });

describe('grant tokens', () => {
  it('a token checks for exactly the claims it was signed for, until it expires', () => {
    fc.assert(
      fc.property(keyArb, claimsArb, (key, c) => {
        const token = signGrantToken(key, c);
        expect(token.length).toBe(GRANT_TOKEN_SIZE);
        expect(statusOf(() => checkGrantToken(key, token, want(c), c.expiresMs))).toBe(Status.OK);
        expect(statusOf(() => checkGrantToken(key, token, want(c), c.expiresMs + 1))).toBe(Status.EKEYEXPIRED);
      }),
    );
  });

  // The layouts of grant-token.ts's comments, built here with BigInt as they say, against
  // the signers' own arithmetic on two 32-bit halves (chunk ids and expiries past 2^32).
  it('tokens and receipts are laid out byte for byte as documented', () => {
    const mac = (key: Uint8Array, b: Buffer) => Buffer.concat([b, createHmac('sha256', key).update(b).digest()]);
    fc.assert(
      fc.property(keyArb, claimsArb, fc.constantFrom<GrantMode>('read', 'write', 'create'), fc.nat({ max: 0xffff_ffff }), (key, c, mode, csid) => {
        const b = Buffer.alloc(22);
        b[0] = 1;
        b[1] = { read: 1, write: 2, create: 3 }[mode];
        b.writeBigUInt64BE(BigInt(c.chunkId), 2);
        b.writeUInt32BE(c.version, 10);
        b.writeBigUInt64BE(BigInt(c.expiresMs), 14);
        expect(signGrantToken(key, { ...c, mode }).equals(mac(key, b))).toBe(true);
        const r = Buffer.alloc(17);
        r[0] = 2;
        r.writeBigUInt64BE(BigInt(c.chunkId), 1);
        r.writeUInt32BE(c.version, 9);
        r.writeUInt32BE(csid, 13);
        const receipt = signCreationReceipt(key, { chunkId: c.chunkId, version: c.version, csid });
        expect(receipt.equals(mac(key, r))).toBe(true);
        expect(creationReceiptClaims(receipt)).toEqual({ chunkId: c.chunkId, version: c.version, csid });
        expect(authenticReceipt(key, receipt)).toBe(true);
      }),
    );
  });

  it('any tampered byte, a cut or padded token, or another key is refused', () => {
    fc.assert(
      fc.property(keyArb, claimsArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (key, c, at, flip) => {
        const token = signGrantToken(key, c);
        const tampered = Buffer.from(token);
        tampered[at % tampered.length]! ^= flip;
        // Even when the change would move the expiry later, the signature gives it away.
        expect(statusOf(() => checkGrantToken(key, tampered, want(c), 0))).toBe(Status.EKEYREJECTED);
        expect(statusOf(() => checkGrantToken(key, token.subarray(0, (at % GRANT_TOKEN_SIZE)), want(c), 0))).toBe(Status.EKEYREJECTED);
        expect(statusOf(() => checkGrantToken(key, Buffer.concat([token, Buffer.of(flip)]), want(c), 0))).toBe(Status.EKEYREJECTED);
        const other = Buffer.from(key);
        other[at % other.length]! ^= flip;
        expect(statusOf(() => checkGrantToken(other, token, want(c), 0))).toBe(Status.EKEYREJECTED);
      }),
    );
  });

  it('a genuine token is refused for another chunk, version or mode: a read grant cannot write', () => {
    fc.assert(
      fc.property(keyArb, claimsArb, claimsArb, (key, c, d) => {
        fc.pre(c.chunkId !== d.chunkId || c.version !== d.version || c.mode !== d.mode);
        const token = signGrantToken(key, c);
        expect(statusOf(() => checkGrantToken(key, token, want(d), 0))).toBe(Status.EKEYREJECTED);
      }),
    );
    const key = randomBytes(32);
    const read = signGrantToken(key, { chunkId: 5, version: 1, mode: 'read', expiresMs: Date.now() + 60_000 });
    expect(statusOf(() => checkGrantToken(key, read, { chunkId: 5, version: 1, mode: 'write' }, Date.now()))).toBe(Status.EKEYREJECTED);
  });

  it('no token, or no key yet, is refused', () => {
    const c = { chunkId: 1, version: 1, mode: 'read' as const };
    expect(statusOf(() => checkGrantToken(randomBytes(32), undefined, c, 0))).toBe(Status.EKEYREJECTED);
    expect(statusOf(() => checkGrantToken(undefined, signGrantToken(randomBytes(32), { ...c, expiresMs: 1 }), c, 0))).toBe(Status.EKEYREJECTED);
  });

  describe('a verifier that remembers authentic tokens', () => {
    const c = { chunkId: 7, version: 3, mode: 'read' as const };
    const setUp = () => {
      let now = 1_000_000;
      const v = new GrantVerifier(() => now);
      const key = randomBytes(32);
      v.set(key, 0);
      return { v, key, advance: (ms: number) => (now += ms), token: signGrantToken(key, { ...c, expiresMs: now + 1000 }) };
    };

    it('still checks the claims and the expiry of a token it has seen', () => {
      const { v, token, advance } = setUp();
      expect(statusOf(() => v.check(token, c))).toBe(Status.OK);
      expect(statusOf(() => v.check(token, c))).toBe(Status.OK);
      // Remembered as authentic, not as good for anything: another chunk, version or mode is refused.
      expect(statusOf(() => v.check(token, { ...c, chunkId: 8 }))).toBe(Status.EKEYREJECTED);
      expect(statusOf(() => v.check(token, { ...c, version: 4 }))).toBe(Status.EKEYREJECTED);
      expect(statusOf(() => v.check(token, { ...c, mode: 'write' }))).toBe(Status.EKEYREJECTED);
      advance(1001);
      expect(statusOf(() => v.check(token, c))).toBe(Status.EKEYEXPIRED);
    });

    it('refuses a tampered copy of a remembered token, and forgets every token when the key changes', () => {
      const { v, token } = setUp();
      expect(statusOf(() => v.check(token, c))).toBe(Status.OK);
      for (let at = 0; at < GRANT_TOKEN_SIZE; at++) {
        const tampered = Buffer.from(token);
        tampered[at]! ^= 1;
        expect(statusOf(() => v.check(tampered, c))).toBe(Status.EKEYREJECTED);
      }
      // The same bytes inside a larger buffer are the same token.
      const framed = Buffer.concat([Buffer.of(9, 9), token, Buffer.of(9)]).subarray(2, 2 + GRANT_TOKEN_SIZE);
      expect(statusOf(() => v.check(framed, c))).toBe(Status.OK);
      v.set(randomBytes(32), 0);
      expect(statusOf(() => v.check(token, c))).toBe(Status.EKEYREJECTED);
      v.set(undefined, 0);
      expect(statusOf(() => v.check(token, c))).toBe(Status.EKEYREJECTED);
    });

    it('stays bounded: a token pushed out by thousands of others is checked again, and still passes', () => {
      const { v, key, token } = setUp();
      expect(statusOf(() => v.check(token, c))).toBe(Status.OK);
      for (let i = 0; i < 5000; i++) v.check(signGrantToken(key, { ...c, chunkId: 100 + i, expiresMs: 2_000_000 }), { ...c, chunkId: 100 + i });
      expect(statusOf(() => v.check(token, c))).toBe(Status.OK);
      expect(statusOf(() => v.check(token, { ...c, version: 9 }))).toBe(Status.EKEYREJECTED);
    });
  });
});
