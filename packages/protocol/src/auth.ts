import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * AUTH_CODE (MooseFS's key) as a challenge-response: the code itself never crosses the
 * wire. Each side of a handshake sends a fresh random nonce; the server proves it knows
 * the code with HMAC-SHA256(code, server label ‖ both nonces) in its handshake reply,
 * and the peer answers with HMAC-SHA256(code, peer label ‖ role ‖ both nonces) in an
 * `authenticate` request. The labels differ so that neither proof can be reflected as
 * the other; the nonces make a recorded proof useless on any other link. The same rule
 * serves every link that uses it: chunkservers on 9420, metaloggers and (later) shadow
 * masters on 9419.
 */
export const AUTH_NONCE_SIZE = 32;

const SERVER_LABEL = 'tsmfs AUTH_CODE v1 server';
const PEER_LABEL = 'tsmfs AUTH_CODE v1 peer';
const GRANT_KEY_LABEL = 'tsmfs grant token key v1';

function mac(code: string, ...parts: (string | Uint8Array)[]): Buffer {
  const h = createHmac('sha256', code);
  // Each part is length-prefixed, so that no two different part lists hash alike.
  for (const p of parts) {
    const bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(bytes.length);
    h.update(len).update(bytes);
  }
  return h.digest();
}

/** The server's proof, sent in its handshake reply. */
export function serverProof(code: string, serverNonce: Uint8Array, peerNonce: Uint8Array): Buffer {
  return mac(code, SERVER_LABEL, serverNonce, peerNonce);
}

/** The peer's proof, sent in `authenticate`; bound to the role it announced. */
export function peerProof(code: string, role: string, serverNonce: Uint8Array, peerNonce: Uint8Array): Buffer {
  return mac(code, PEER_LABEL, role, serverNonce, peerNonce);
}

/** Constant-time comparison of a proof (or token tag) with the expected one; a missing or short one never matches. */
export function sameBytes(expected: Uint8Array, given: Uint8Array | undefined): boolean {
  return given !== undefined && given.length === expected.length && timingSafeEqual(expected, given);
}

/**
 * The grant token key when AUTH_CODE is set: master and chunkservers derive the same key
 * from the code, so it never travels and survives restarts and reconnections.
 */
export function grantKeyFromAuthCode(code: string): Buffer {
  return mac(code, GRANT_KEY_LABEL);
}
