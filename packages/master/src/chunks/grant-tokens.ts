import { randomBytes } from 'node:crypto';
import { type ChunkLocation, type DataAddress, type GrantMode, grantKeyFromAuthCode, signGrantToken } from '@tsmfs/protocol';
import type { Chunkserver, ChunkserverRegistry } from './chunkserver-registry.js';

export interface GrantTokenOptions {
  /** How long a read grant's tokens last (GRANT_TOKEN_TIMEOUT). */
  readTtlMs: number;
  /** How long a write grant's tokens last: the write lease (WRITE_LEASE_TIMEOUT). */
  writeTtlMs: number;
  now?: () => number;
}

/** A replication pulls a whole chunk in 4 MiB reads, each checked: its token lasts as long as the command may. */
const REPLICATION_TTL_MS = 120_000;

/**
 * The master's half of chunk grant tokens (protocol/grant-token.ts): each chunkserver
 * gets a key when it registers, and every location the master hands out — in read and
 * write grants, and as a replication source — carries a token signed with the key of
 * the chunkserver it names. A key per registration means a server that registers as a
 * chunkserver learns nothing that opens another server's chunks (without AUTH_CODE,
 * anyone may register); with AUTH_CODE the key is derived from the code instead, so it
 * never crosses the wire.
 */
export class GrantTokens {
  private readonly now: () => number;

  constructor(
    private readonly registry: ChunkserverRegistry,
    private readonly options: GrantTokenOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Gives a newly registered chunkserver its key; returns what its registration reply
   * must carry (the key itself unless it derives it from AUTH_CODE, and our clock).
   */
  issueKey(cs: Chunkserver, authCode: string | undefined): { grantKey?: Buffer; clock: number } {
    if (authCode) {
      cs.grantKey = grantKeyFromAuthCode(authCode);
      return { clock: this.now() };
    }
    cs.grantKey = randomBytes(32);
    return { grantKey: cs.grantKey, clock: this.now() };
  }

  /** The grant's locations, each with its chunkserver's token for (chunk, version, mode). */
  sign(locations: readonly ChunkLocation[], chunkId: number, version: number, mode: GrantMode): ChunkLocation[] {
    const expiresMs = this.now() + (mode === 'read' ? this.options.readTtlMs : this.options.writeTtlMs);
    return locations.map((loc) => {
      const key = this.registry.get(loc.csid)?.grantKey;
      return key ? { ...loc, token: signGrantToken(key, { chunkId, version, mode, expiresMs }) } : loc;
    });
  }

  /** A replication source: its data address and a read token for the chunk on it. */
  source(cs: Chunkserver, chunkId: number, version: number): DataAddress {
    const { host, port } = cs.address;
    if (!cs.grantKey) return { host, port };
    return { host, port, token: signGrantToken(cs.grantKey, { chunkId, version, mode: 'read', expiresMs: this.now() + REPLICATION_TTL_MS }) };
  }
}
