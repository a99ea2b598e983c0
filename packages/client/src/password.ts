import { createHash } from 'node:crypto';

/**
 * The proof of a password sent in `register`: sha256(nonce ‖ password), with the
 * nonce the master sent at the handshake. The password itself never crosses the wire,
 * and a digest captured on one link is worthless on the next (new nonce).
 */
export function passwordDigest(nonce: Uint8Array, password: string): Buffer {
  return createHash('sha256').update(nonce).update(Buffer.from(password, 'utf8')).digest();
}
