import type { Address, ChunkLocation, DiskInfo, Request } from '@tsmfs/protocol';
import type { Connection } from '@tsmfs/rpc';

/** What the master knows of one chunkserver (MooseFS's matocsserventry). */
export interface Chunkserver {
  readonly csid: number;
  /** Where clients and other chunkservers reach its data server. */
  address: Address;
  labels: string[];
  totalSpace: number;
  usedSpace: number;
  chunkCount: number;
  damagedDisks: number;
  /** Its disks as the last heartbeat described them (empty until one did). */
  disks: DiskInfo[];
  /** Data bytes it served / stored since it started, from its heartbeats (for throughput). */
  bytesRead: number;
  bytesWritten: number;
  /** When it registered on its current link (ms). */
  registeredMs: number;
  /** The link it registered on; undefined once that link closed. */
  link: Connection | undefined;
  lastHeartbeatMs: number;
  /** Its chunk report has been received in full: until then its copies are not complete. */
  reported: boolean;
  /** Replications in flight with this server as destination / as source; deletions in flight. */
  load: { repWrites: number; repReads: number; deletes: number };
  /** The key its grant tokens are signed with, given at registration (grant-tokens.ts). */
  grantKey?: Buffer;
}

/**
 * The chunkservers the master knows: registration (a reconnect with the csid a previous
 * registration returned keeps that id), space, load and liveness by heartbeat. Purely
 * in memory: after a master restart chunkservers register and report afresh.
 */
export class ChunkserverRegistry {
  private readonly servers = new Map<number, Chunkserver>();
  private nextCsid = 1;

  constructor(private readonly now: () => number = Date.now) {}

  /** Registers (or re-registers) a chunkserver; `source` is the link's remote address, used when it sent host ''. */
  register(req: Request<'chunkserverRegister'>, link: Connection, source: string): Chunkserver {
    const address = { host: req.host === '' ? normalizeHost(source) : req.host, port: req.port };
    const previous = req.csid === undefined ? undefined : this.servers.get(req.csid);
    // Another live link holding that id (a duplicate or confused server) does not lose it.
    const reuse = previous && (previous.link === undefined || previous.link.closed) ? previous : undefined;
    const same = reuse ?? this.byAddress(address);
    const csid = same && (same.link === undefined || same.link.closed) ? same.csid : this.nextCsid++;
    const cs: Chunkserver = {
      csid,
      address,
      labels: [...req.labels],
      totalSpace: req.totalSpace,
      usedSpace: req.usedSpace,
      chunkCount: req.chunkCount,
      damagedDisks: 0,
      disks: [],
      bytesRead: 0,
      bytesWritten: 0,
      registeredMs: this.now(),
      link,
      lastHeartbeatMs: this.now(),
      reported: false,
      load: { repWrites: 0, repReads: 0, deletes: 0 },
    };
    if (csid >= this.nextCsid) this.nextCsid = csid + 1;
    this.servers.set(csid, cs);
    return cs;
  }

  heartbeat(cs: Chunkserver, hb: Request<'chunkserverHeartbeat'>): void {
    cs.totalSpace = hb.totalSpace;
    cs.usedSpace = hb.usedSpace;
    cs.chunkCount = hb.chunkCount;
    cs.damagedDisks = hb.damagedDisks;
    if (hb.disks) cs.disks = hb.disks;
    cs.bytesRead = hb.bytesRead ?? cs.bytesRead;
    cs.bytesWritten = hb.bytesWritten ?? cs.bytesWritten;
    cs.lastHeartbeatMs = this.now();
  }

  /** The server's link closed: it stays known (its csid is kept for its return) but offline. */
  disconnected(cs: Chunkserver, link: Connection): void {
    if (cs.link === link) {
      cs.link = undefined;
      cs.reported = false;
    }
  }

  get(csid: number): Chunkserver | undefined {
    return this.servers.get(csid);
  }

  /** Servers with a live link whose chunk report is complete. */
  online(): Chunkserver[] {
    return [...this.servers.values()].filter((cs) => isOnline(cs));
  }

  all(): Chunkserver[] {
    return [...this.servers.values()];
  }

  /** Online servers that missed heartbeats for longer than `timeoutMs`. */
  silent(timeoutMs: number): Chunkserver[] {
    const limit = this.now() - timeoutMs;
    return [...this.servers.values()].filter((cs) => cs.link !== undefined && !cs.link.closed && cs.lastHeartbeatMs < limit);
  }

  location(cs: Chunkserver): ChunkLocation {
    return { host: cs.address.host, port: cs.address.port, csid: cs.csid };
  }

  private byAddress(address: Address): Chunkserver | undefined {
    for (const cs of this.servers.values()) if (cs.address.host === address.host && cs.address.port === address.port) return cs;
    return undefined;
  }
}

export function isOnline(cs: Chunkserver): boolean {
  return cs.link !== undefined && !cs.link.closed && cs.reported;
}

export function freeSpace(cs: Chunkserver): number {
  return Math.max(0, cs.totalSpace - cs.usedSpace);
}

/** An IPv4-mapped IPv6 source address names the IPv4 host clients can dial. */
function normalizeHost(remote: string): string {
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote;
}
