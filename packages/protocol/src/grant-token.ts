import { createHmac } from 'node:crypto';
import { sameBytes } from './auth.js';
import { Status, TsmfsError } from './status.js';

/**
 * Chunk grant tokens: what lets a client (or a chunkserver ordered to replicate) use a
 * chunk on the data port, 9422. The master signs one per copy of every read and write
 * grant with that chunkserver's key; the chunkserver checks it before it serves a
 * dataRead, dataChunkInfo or dataWriteInit. A token names one chunk, one version, one
 * mode and an expiry, so it cannot be used for another chunk, for a version the chunk
 * has moved past, to write with a read grant, or after the grant ran out.
 *
 * Layout (54 bytes, big-endian):
 *   0 format u8 (1) | 1 mode u8 (1 read, 2 write, 3 create: make the chunk, then write it) | 2 chunkId u64 | 10 version u32 |
 *   14 expiry u64 (ms since the epoch, on the master's clock) | 22 HMAC-SHA256 of bytes 0–21
 */
export type GrantMode = 'read' | 'write' | 'create';

export interface GrantClaims {
  chunkId: number;
  version: number;
  mode: GrantMode;
  /** Milliseconds since the epoch on the master's clock. */
  expiresMs: number;
}

export const GRANT_TOKEN_SIZE = 54;
const BODY = 22;
const FORMAT = 1;
const MODE_CODE: Record<GrantMode, number> = { read: 1, write: 2, create: 3 };

function body(c: GrantClaims): Buffer {
  const b = Buffer.alloc(BODY);
  b.writeUInt8(FORMAT, 0);
  b.writeUInt8(MODE_CODE[c.mode], 1);
  b.writeBigUInt64BE(BigInt(c.chunkId), 2);
  b.writeUInt32BE(c.version >>> 0, 10);
  b.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(c.expiresMs))), 14);
  return b;
}

function tag(key: Uint8Array, b: Uint8Array): Buffer {
  return createHmac('sha256', key).update(b).digest();
}

export function signGrantToken(key: Uint8Array, claims: GrantClaims): Buffer {
  const b = body(claims);
  return Buffer.concat([b, tag(key, b)]);
}

/**
 * Refuses (EKEYREJECTED) a token that is missing, malformed, not signed with `key`, or
 * for another chunk, version or mode; EKEYEXPIRED when it ran out. Neither errno ends a
 * client's write: it asks the master for a new grant, as after any chunkserver error.
 * The tag is compared in constant time, before anything else is looked at.
 */
export function checkGrantToken(key: Uint8Array | undefined, token: Uint8Array | undefined, want: Omit<GrantClaims, 'expiresMs'>, nowMs: number): void {
  const t = authenticToken(key, token, want);
  checkClaims(t, want, nowMs);
}

/** The token as a Buffer once its tag is the one `key` makes; EKEYREJECTED otherwise. */
function authenticToken(key: Uint8Array | undefined, token: Uint8Array | undefined, want: Omit<GrantClaims, 'expiresMs'>): Buffer {
  if (key === undefined) throw new TsmfsError(Status.EKEYREJECTED, `no grant key from the master yet: cannot check the token for ${describe(want)}`);
  if (token === undefined) throw new TsmfsError(Status.EKEYREJECTED, `no grant token for ${describe(want)}`);
  const t = Buffer.from(token.buffer, token.byteOffset, token.length);
  if (t.length !== GRANT_TOKEN_SIZE || !sameBytes(tag(key, t.subarray(0, BODY)), t.subarray(BODY))) {
    throw new TsmfsError(Status.EKEYREJECTED, `grant token for ${describe(want)} is not the master's`);
  }
  return t;
}

/** An authentic token's claims against the request's: same chunk, version and mode, not expired. */
function checkClaims(t: Buffer, want: Omit<GrantClaims, 'expiresMs'>, nowMs: number): void {
  const expected = body({ ...want, expiresMs: 0 });
  // Signed by the master: the claims are its own; they must be this request's.
  if (!t.subarray(0, 14).equals(expected.subarray(0, 14))) throw new TsmfsError(Status.EKEYREJECTED, `grant token is not for ${describe(want)}`);
  const expiresMs = Number(t.readBigUInt64BE(14));
  if (nowMs > expiresMs) throw new TsmfsError(Status.EKEYEXPIRED, `grant token for ${describe(want)} expired ${nowMs - expiresMs} ms ago`);
}

function describe(want: Omit<GrantClaims, 'expiresMs'>): string {
  return `chunk ${want.chunkId} v${want.version} (${want.mode})`;
}

/**
 * Creation receipts: a chunkserver's proof, for the master, that it created a copy under
 * a create token. It goes back up the chain in the write's end answer and with the
 * client's writeChunkEnd, so the master learns of the new copies from the end itself
 * instead of from each server's own report before it (two messages and two wake-ups of
 * the master less per new chunk: docs/master.md, "Chunk creation"). Signed with the key
 * the master gave that server, over the server's id as well: with AUTH_CODE every server
 * has the same key, and a client must not pass one server's receipt off as another's.
 *
 * Layout (49 bytes, big-endian):
 *   0 format u8 (2) | 1 chunkId u64 | 9 version u32 | 13 csid u32 | 17 HMAC-SHA256 of bytes 0–16
 */
export interface CreationClaims {
  chunkId: number;
  version: number;
  csid: number;
}

export const CREATION_RECEIPT_SIZE = 49;
const RECEIPT_BODY = 17;
const RECEIPT_FORMAT = 2;

export function signCreationReceipt(key: Uint8Array, c: CreationClaims): Buffer {
  const b = Buffer.alloc(RECEIPT_BODY);
  b.writeUInt8(RECEIPT_FORMAT, 0);
  b.writeBigUInt64BE(BigInt(c.chunkId), 1);
  b.writeUInt32BE(c.version >>> 0, 9);
  b.writeUInt32BE(c.csid >>> 0, 13);
  return Buffer.concat([b, tag(key, b)]);
}

/** The claims of a receipt as it says them, unchecked (which server's key to check it with); undefined if malformed. */
export function creationReceiptClaims(receipt: Uint8Array): CreationClaims | undefined {
  if (receipt.length !== CREATION_RECEIPT_SIZE || receipt[0] !== RECEIPT_FORMAT) return undefined;
  const b = Buffer.from(receipt.buffer, receipt.byteOffset, receipt.length);
  return { chunkId: Number(b.readBigUInt64BE(1)), version: b.readUInt32BE(9), csid: b.readUInt32BE(13) };
}

/** Whether `receipt` is signed with `key` (compared in constant time). */
export function authenticReceipt(key: Uint8Array, receipt: Uint8Array): boolean {
  if (receipt.length !== CREATION_RECEIPT_SIZE) return false;
  return sameBytes(tag(key, receipt.subarray(0, RECEIPT_BODY)), receipt.subarray(RECEIPT_BODY));
}

/** Tokens a verifier remembers as authentic (a grant's token is reused for every read of its chunk until it expires). */
const VERIFIED_MAX = 4096;

/**
 * A chunkserver's side: the key its master gave it (or that AUTH_CODE derives) and that
 * master's clock, which expiries are read against (the two machines' clocks may differ).
 * A token whose tag was checked once is remembered (its exact bytes, for the key that
 * signed it): a client reads a chunk many times with one grant, and the HMAC was a tenth
 * of a 4 KiB read's time on the chunkserver. The claims and the expiry are still checked
 * on every use; a new key forgets every remembered token.
 */
export class GrantVerifier {
  /**
   * Keys by the master that gave them: with HA a chunkserver registers with every master
   * of the group, each giving its own key, and a new leader's grants must be good at once.
   */
  private readonly keys = new Map<string, { key: Uint8Array; offsetMs: number; csid: number }>();
  /** Authentic tokens (latin1 of their 54 bytes) → the master whose key signed them, oldest first. */
  private readonly verified = new Map<string, string>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * From a registration: the key, the master's clock minus ours and the id that master
   * gave us (`from`: which master; one master: the default).
   */
  set(key: Uint8Array | undefined, masterOffsetMs: number, from = '', csid = 0): void {
    this.drop(from);
    if (key !== undefined) this.keys.set(from, { key, offsetMs: masterOffsetMs, csid });
  }

  /** That master's link is gone: its key opens nothing any more. */
  drop(from: string): void {
    if (!this.keys.delete(from)) return;
    for (const [id, by] of this.verified) if (by === from) this.verified.delete(id);
  }

  get ready(): boolean {
    return this.keys.size > 0;
  }

  /** Refuses a token as checkGrantToken does; returns which master's key signed it. */
  check(token: Uint8Array | undefined, want: Omit<GrantClaims, 'expiresMs'>): string {
    const id = this.keys.size > 0 && token?.length === GRANT_TOKEN_SIZE ? Buffer.from(token.buffer, token.byteOffset, token.length).toString('latin1') : undefined;
    let by = id === undefined ? undefined : this.verified.get(id);
    if (by === undefined) {
      by = this.signer(token, want);
      if (id !== undefined) this.remember(id, by);
    }
    checkClaims(Buffer.from(token!.buffer, token!.byteOffset, token!.length), want, this.now() + this.keys.get(by)!.offsetMs);
    return by;
  }

  /**
   * Our receipt for a copy we created under a create token that master `by`'s key signed
   * (check's answer), for that master; undefined once its key is gone.
   */
  receipt(by: string, chunkId: number, version: number): Buffer | undefined {
    const k = this.keys.get(by);
    return k && signCreationReceipt(k.key, { chunkId, version, csid: k.csid });
  }

  /** Which master's key signed the token; EKEYREJECTED when none did. */
  private signer(token: Uint8Array | undefined, want: Omit<GrantClaims, 'expiresMs'>): string {
    let refusal: unknown;
    for (const [from, { key }] of this.keys) {
      try {
        authenticToken(key, token, want);
        return from;
      } catch (err) {
        refusal = err;
      }
    }
    authenticToken(undefined, token, want);
    throw refusal;
  }

  private remember(id: string, by: string): void {
    if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(id, by);
  }
}
