import { hostname } from 'node:os';
import { ConfigError } from '@tsmfs/daemon';
import { parseAddressList } from '@tsmfs/rpc';
import type { MasterConfig } from '../config.js';

/** The HA_* keys of a master that is a member of a group (docs/ha.md). */
export interface HaSettings {
  /** gRPC endpoints as etcd3 takes them: `http://host:port`. */
  endpoints: string[];
  cluster: string;
  /** What we ask etcd for; etcd may grant more (its minimum), and the election uses what it grants. */
  ttlSec: number;
  syncStandbys: number;
  syncTimeoutMs: number;
}

/** etcd's default client port, as in `etcdctl --endpoints`. */
const ETCD_CLIENT_PORT = 2379;

/** The HA keys, or undefined when HA_ETCD_ENDPOINTS is empty: the master runs alone, exactly as without HA. */
export function haSettings(config: MasterConfig): HaSettings | undefined {
  const raw = config.HA_ETCD_ENDPOINTS.trim();
  if (raw === '') return undefined;
  let endpoints: string[];
  try {
    // `http://` is the only scheme served: the group's etcd runs on a trusted network (docs/ha.md).
    endpoints = parseAddressList(raw.replace(/(^|,)\s*http:\/\//g, '$1'), ETCD_CLIENT_PORT).map((a) => `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`);
  } catch (err) {
    throw new ConfigError(`HA_ETCD_ENDPOINTS: ${(err as Error).message}`);
  }
  const cluster = config.HA_CLUSTER_NAME;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(cluster)) throw new ConfigError(`HA_CLUSTER_NAME: '${cluster}' must be 1-64 letters, digits, '.', '_' or '-'`);
  return { endpoints, cluster, ttlSec: config.HA_LEASE_TTL, syncStandbys: config.HA_SYNC_STANDBYS, syncTimeoutMs: config.HA_SYNC_TIMEOUT_MS };
}

/** Where a peer reaches a port the master listens on: `*` (every interface) is published as the host's name. */
export function advertised(listenHost: string, port: number): string {
  const host = listenHost === '*' || listenHost === '0.0.0.0' || listenHost === '::' ? hostname() : listenHost;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
