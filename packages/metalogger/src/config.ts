import { ConfigError, type ConfigValues, key, niceLevelKey } from '@tsmfs/daemon';
import { type Address, DEFAULT_PORTS } from '@tsmfs/protocol';
import { parseAddressList } from '@tsmfs/rpc';

/**
 * tsmfs-metalogger's keys, named as in mfsmetalogger.cfg. The table in
 * docs/configuration.md is printed from this schema by
 * `node packages/metalogger/dist/bin/config-table.js`.
 */
export const metaloggerSchema = {
  DATA_PATH: key('path', '/var/lib/tsmfs', 'directory for metadata_ml.tsmfs dumps, changelog_ml.N.tsmfs files and the lock file; must exist'),
  NICE_LEVEL: niceLevelKey,
  MASTER_HOST: key('string', 'tsmfsmaster', 'master address; several may be given, comma-separated (tried in turn)'),
  MASTER_PORT: key('port', DEFAULT_PORTS.matoml, 'master port for metaloggers (MATOML_LISTEN_PORT); a HOST:PORT in MASTER_HOST overrides it'),
  MASTER_RECONNECTION_DELAY: key('int', 5, 'longest wait, in seconds, between attempts to reach the master (attempts back off from 0.1 s up to it)', { min: 1, max: 3600 }),
  MASTER_TIMEOUT: key('int', 10, 'seconds without an answer from the master after which the link is declared dead', { min: 2, max: 600 }),
  META_DOWNLOAD_FREQ: key('int', 24, 'hours between metadata dump downloads (one is also downloaded at start)', { min: 1, max: 24 * 30 }),
  BACK_LOGS: key('int', 50, 'older changelog files kept as changelog_ml.N.tsmfs (one is started at every dump download)', { min: 1, max: 10_000 }),
  BACK_META_KEEP_PREVIOUS: key('int', 3, 'older dumps kept as metadata_ml.tsmfs.back.N', { min: 0, max: 99 }),
  AUTH_CODE: key('string', '', 'shared secret proved to a master that asks for it (challenge-response, never sent); a master that asks must prove it too. Empty = none. docs/security.md'),
  CHANGELOG_FSYNC: key('bool', true, 'fdatasync each batch of changelog received (0: faster; a crash of this machine may then cut the tail, which is fetched again)'),
};

export type MetaloggerSchema = typeof metaloggerSchema;
export type MetaloggerConfig = ConfigValues<MetaloggerSchema>;

/** MASTER_HOST as a list: `a, b:9519, [::1]:9419`; a bare host takes MASTER_PORT. */
export function masterAddresses(config: Pick<MetaloggerConfig, 'MASTER_HOST' | 'MASTER_PORT'>): Address[] {
  try {
    return parseAddressList(config.MASTER_HOST, config.MASTER_PORT);
  } catch (err) {
    throw new ConfigError(`MASTER_HOST: ${(err as Error).message}`);
  }
}
