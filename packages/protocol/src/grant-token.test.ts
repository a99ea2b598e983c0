import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GRANT_TOKEN_SIZE, type GrantClaims, type GrantMode, checkGrantToken, signGrantToken } from './grant-token.js';
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
});
