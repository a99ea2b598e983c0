import { crc32 } from 'node:zlib';

/**
 * One changelog line: `VERSION|CRC32HEX|JSON\n`. Text like MooseFS's changelogs, so an
 * operator can read and grep them; the CRC32 (over `VERSION|JSON`) is what lets start-up
 * tell a torn or damaged line from a good one. Binary values (xattr values) are written
 * as `{"$b64": "..."}`, the one object shape a Mutation never has of its own.
 */
export interface ChangelogEntry<M extends LoggedMutation = LoggedMutation> {
  version: number;
  mutation: M;
}

/**
 * What this package knows of a mutation: a JSON object named by its `op`. The master
 * declares the real union (packages/master/src/metadata/mutation.ts) and is the one that
 * applies it; the changelog, its followers and the dump store only carry it.
 */
export interface LoggedMutation {
  readonly op: string;
}

/** A line that does not verify; `reason` says why, for the operator's log. */
export class EntryError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'EntryError';
  }
}

const B64 = '$b64';
const B64_KEY = `"${B64}"`;

export function encodeEntry<M extends LoggedMutation>(version: number, mutation: M): string {
  // The replacer makes JSON.stringify ~3x slower (a call per value), and only an xattr
  // value is binary: every change's line is encoded on the master's request path.
  const json = hasBinary(mutation) ? JSON.stringify(mutation, binaryToBase64) : JSON.stringify(mutation);
  return `${version}|${crcHex(`${version}|${json}`)}|${json}\n`;
}

/**
 * Parses one line (without its newline); throws EntryError if it does not verify. `M` is
 * the caller's mutation type: the line is checked to be an op-named object, not that op's shape.
 */
export function decodeEntry<M extends LoggedMutation = LoggedMutation>(line: string): ChangelogEntry<M> {
  const first = line.indexOf('|');
  const second = first < 0 ? -1 : line.indexOf('|', first + 1);
  if (second < 0) throw new EntryError('not VERSION|CRC|JSON');
  const versionText = line.slice(0, first);
  const crcText = line.slice(first + 1, second);
  const json = line.slice(second + 1);
  if (!/^\d{1,16}$/.test(versionText)) throw new EntryError(`bad version '${versionText.slice(0, 20)}'`);
  const version = Number(versionText);
  if (crcText !== crcHex(`${versionText}|${json}`)) throw new EntryError('checksum mismatch');
  let mutation: unknown;
  try {
    // Without a `"$b64"` in the text no object can have that key: the reviver (a call per
    // value, ~3x slower) would change nothing. Start-up replays every line through here.
    mutation = json.includes(B64_KEY) ? JSON.parse(json, base64ToBinary) : JSON.parse(json);
  } catch (err) {
    throw new EntryError(`undecodable JSON (${(err as Error).message})`);
  }
  if (typeof mutation !== 'object' || mutation === null || typeof (mutation as { op?: unknown }).op !== 'string') {
    throw new EntryError('entry is not a mutation');
  }
  return { version, mutation: mutation as M };
}

function crcHex(text: string): string {
  return crc32(text).toString(16).padStart(8, '0');
}

// A Buffer's toJSON runs before a replacer sees the value, so look at the holder's
// original property instead of `value`.
function binaryToBase64(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  if (raw instanceof Uint8Array) return { [B64]: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
  return value;
}

/** Whether a Uint8Array (a Buffer) is anywhere in `value`'s objects and arrays. */
function hasBinary(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (value instanceof Uint8Array) return true;
  for (const v of Array.isArray(value) ? value : Object.values(value)) if (hasBinary(v)) return true;
  return false;
}

function base64ToBinary(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const rec = value as Record<string, unknown>;
    const keys = Object.keys(rec);
    if (keys.length === 1 && keys[0] === B64 && typeof rec[B64] === 'string') {
      return new Uint8Array(Buffer.from(rec[B64], 'base64'));
    }
  }
  return value;
}
