import { ConfigError, type ConfigValues, key, linkLimitKeys, niceLevelKey } from '@tsmfs/daemon';
import { type Address, DEFAULT_PORTS } from '@tsmfs/protocol';
import { DEFAULT_CONNECTION_LIMITS, parseAddressList } from '@tsmfs/rpc';
import { DATA_MAX_IN_FLIGHT } from './data-server.js';

/** The chunkserver's configuration keys, named as in mfschunkserver.cfg. */
export const chunkserverConfig = {
  MASTER_HOST: key('host', 'mfsmaster', 'master address: host or host:port, several comma-separated for an HA group'),
  MASTER_PORT: key('port', DEFAULT_PORTS.matocs, 'master port for chunkservers'),
  CSSERV_LISTEN_HOST: key('host', '*', 'address the data server listens on (* = every address)'),
  CSSERV_LISTEN_PORT: key('port', DEFAULT_PORTS.csserv, 'data server port (clients and other chunkservers)'),
  ...linkLimitKeys({ ...DEFAULT_CONNECTION_LIMITS, maxInFlight: DATA_MAX_IN_FLIGHT }, 'the data port (9422)'),
  HDD_CONF_FILENAME: key('path', '/etc/tsmfs/tsmfshdd.cfg', 'file listing the disks, one path a line (* prefix: marked for removal)'),
  DATA_PATH: key('path', '/var/lib/tsmfs', "the chunkserver's own state (chunks live on the disks of HDD_CONF_FILENAME)"),
  NICE_LEVEL: niceLevelKey,
  LABELS: key('string', '', 'labels of this chunkserver, comma-separated, for placement rules'),
  HDD_TEST_FREQ: key('int', 10, 'seconds between background checks of the disks and of one chunk’s CRCs (0 = off)', { min: 0, max: 86_400 }),
  HDD_LEAVE_SPACE_DEFAULT: key('string', '256MiB', 'space kept free on every disk; a disk with less takes no new chunk'),
  AUTH_CODE: key('string', '', 'shared secret proved to a master that asks for it (challenge-response, never sent); a master that asks must prove it too. Empty = none. docs/security.md'),
  HDD_FSYNC_BEFORE_CLOSE: key('int', 0, "1 = fsync a chunk at the end of every write (each close); 0 = only when a client's fsync asks (MooseFS's default)", { min: 0, max: 1 }),
};

export type ChunkserverConfig = ConfigValues<typeof chunkserverConfig>;

/** '*' (MooseFS's "any address") as Node's listen() wants it. */
export function listenHost(host: string): string {
  return host === '*' ? '0.0.0.0' : host;
}

const UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };
const BINARY_UNITS: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** Sizes as MooseFS writes them: 256MiB (binary), 10GB (decimal), 1048576 (bytes). */
export function parseSize(raw: string, keyName: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?$/i.exec(raw.trim());
  if (!m) throw new ConfigError(`${keyName}: '${raw}' is not a size (e.g. 256MiB, 10GB, 1048576)`);
  const unit = m[2]!.toLowerCase();
  const factor = m[3] ? BINARY_UNITS[unit] : UNITS[unit];
  if (factor === undefined) throw new ConfigError(`${keyName}: '${raw}' is not a size`);
  return Math.round(Number(m[1]) * factor);
}

/** LABELS as a list; each label is letters, digits or '_'. */
export function parseLabels(raw: string): string[] {
  const labels = raw.split(',').map((l) => l.trim()).filter((l) => l !== '');
  for (const l of labels) {
    if (!/^[A-Za-z0-9_]{1,64}$/.test(l)) throw new ConfigError(`LABELS: '${l}' is not a label (letters, digits and _ only)`);
  }
  return labels;
}

/**
 * MASTER_HOST as a list: `host`, `host:port` or several of them comma-separated (the
 * masters of an HA group, tried in turn); a bare host takes MASTER_PORT.
 */
export function parseMasters(raw: string, defaultPort: number): Address[] {
  try {
    return parseAddressList(raw, defaultPort);
  } catch (err) {
    throw new ConfigError(`MASTER_HOST: ${(err as Error).message}`);
  }
}
