import { ConfigError, type ConfigValues, describeConfigMarkdown, key, linkLimitKeys, niceLevelKey } from '@tsmfs/daemon';
import { DEFAULT_PORTS } from '@tsmfs/protocol';
import { DEFAULT_CONNECTION_LIMITS, DEFAULT_MAX_IN_FLIGHT } from '@tsmfs/rpc';
import { type SaveMode, checkDataPath as checkDirectory } from '@tsmfs/metastore';
import type { RepLimitList, ReplicationLimitsConfig } from './chunks/replication-limits.js';

/**
 * tsmfs-master's configuration keys, named as in mfsmaster.cfg wherever MooseFS has the
 * key. This schema is the single source of parsing, validation, `--help` and the table
 * in docs/configuration.md (printed by `node packages/master/dist/bin/config-table.js`;
 * config.test.ts fails when the two differ).
 */
export const masterSchema = {
  DATA_PATH: key('path', '/var/lib/tsmfs', 'directory holding metadata dumps, changelogs and the lock file; must exist'),
  NICE_LEVEL: niceLevelKey,
  EXPORTS_FILENAME: key('path', '/etc/tsmfs/tsmfsexports.cfg', 'exports file (mfsexports.cfg syntax); if missing, MooseFS\'s default rules apply'),
  TOPOLOGY_FILENAME: key('path', '/etc/tsmfs/tsmfstopology.cfg', 'network topology (mfstopology.cfg syntax: ADDRESSES LOCATION_PATH): copies read and written closest first, new copies spread over racks; optional'),
  MATOML_LISTEN_HOST: key('host', '*', 'address to listen on for metaloggers and shadow masters (* = all)'),
  MATOML_LISTEN_PORT: key('port', DEFAULT_PORTS.matoml, 'port for metaloggers and shadow masters'),
  MATOML_LOG_PRESERVE_SECONDS: key('int', 600, 'seconds of changelog kept in memory for metaloggers catching up (older entries are read from the changelog files, BACK_LOGS of them)', { min: 0, max: 86_400 }),
  MATOCS_LISTEN_HOST: key('host', '*', 'address to listen on for chunkservers (* = all)'),
  MATOCS_LISTEN_PORT: key('port', DEFAULT_PORTS.matocs, 'port for chunkservers'),
  MATOCL_LISTEN_HOST: key('host', '*', 'address to listen on for clients and CLI tools (* = all)'),
  MATOCL_LISTEN_PORT: key('port', DEFAULT_PORTS.matocl, 'port for clients and CLI tools'),
  ...linkLimitKeys({ ...DEFAULT_CONNECTION_LIMITS, maxInFlight: DEFAULT_MAX_IN_FLIGHT }, 'the ports 9419, 9420 and 9421 (counted per port)'),
  HTTP_LISTEN_HOST: key('host', '127.0.0.1', 'address of the web monitor, JSON API and /metrics (* = all; the default, loopback, keeps the unauthenticated pages off the network: docs/monitor.md)'),
  HTTP_LISTEN_PORT: key('port', DEFAULT_PORTS.http, 'port of the web monitor, JSON API and /metrics'),
  HTTP_MAX_CONNECTIONS: key('int', 64, 'connections open at once on the HTTP port; more are closed at once (logged)', { min: 1, max: 100_000 }),
  HTTP_REQUEST_TIMEOUT: key('int', 10, 'seconds an HTTP client has to send a whole request (headers included); an idle keep-alive connection is closed after 5 s', { min: 1, max: 3600 }),
  METADATA_SAVE_FREQ: key('int', 1, 'hours between metadata dumps (a dump is also written at shutdown and on SIGUSR2)', { min: 1, max: 24 * 24 }),
  BACK_META_KEEP_PREVIOUS: key('int', 1, 'older metadata dumps kept as metadata.tsmfs.back.N', { min: 0, max: 99 }),
  BACK_LOGS: key('int', 50, 'older changelog files kept as changelog.N.tsmfs (one is started at every dump)', { min: 1, max: 10_000 }),
  CHANGELOG_SAVE_MODE: key('int', 2, 'how far a change is saved before it is acknowledged: 0 = in memory (written and fsynced in the background), 1 = written to the page cache, 2 = fsynced (docs/master.md: what each can lose)', { min: 0, max: 2 }),
  CHANGELOG_SAVE_INTERVAL_MS: key('int', 100, 'in modes 0 and 1, milliseconds between background saves: what was not yet written and fsynced then is', { min: 1, max: 60_000 }),
  CHANGELOG_FSYNC: key('string', '', 'deprecated: 0 means CHANGELOG_SAVE_MODE = 1, 1 means 2 (a warning says so at start-up)'),
  EMPTY_TRASH_PERIOD: key('int', 300, 'seconds between sweeps that purge trashed files whose trash time has expired', { min: 1, max: 86_400 }),
  SESSION_SUSTAIN_TIME: key('int', 86_400, 'seconds a disconnected client session (and the files it holds open) is kept for it to reconnect', { min: 0, max: 7 * 86_400 }),
  LOCK_SUSTAIN_TIME: key('int', 60, 'seconds a disconnected client session keeps its flock/POSIX locks (a dead mount\'s locks then go; its open files stay for SESSION_SUSTAIN_TIME)', { min: 1, max: 7 * 86_400 }),
  QUOTA_DEFAULT_GRACE_PERIOD: key('int', 604_800, 'seconds a soft quota may stay exceeded before it acts as a hard one, for quotas set without a grace period (setquota -p)', { min: 0, max: 0xffff_ffff }),
  LEASE_TIME: key('int', 10, 'a session\'s lease term, renewed by each of its requests: a client answers the directory entries and attributes it read without asking again while its term lasts, unless another session changes them first (recalled; the change waits at most this long for a holder that does not answer or renew); 0 = no leases (docs/mount.md, "Leases")', { min: 0, max: 3600 }),
  MAX_SESSIONS: key('int', 10_000, 'client sessions (connected or sustained) kept at once; a register beyond it is refused with EAGAIN (logged)', { min: 1, max: 1_000_000 }),
  MAX_SESSIONS_PER_IP: key('int', 1000, 'client sessions (connected or sustained) kept at once for one client address', { min: 1, max: 1_000_000 }),
  CHUNKS_LOOP_MIN_TIME: key('int', 5, 'seconds between passes of the chunk loop (replication, deletion of stale, over-goal and unreferenced copies); reloaded by SIGHUP', { min: 1, max: 3600 }),
  CHUNKS_WRITE_REP_LIMIT: key('string', '2,1,1,4', 'replications in flight with one chunkserver as the destination, four limits as in MooseFS 3.0: for endangered chunks, under goal (and on the wrong labels), rebalancing between servers of near usage, other rebalancing; one value sets all four (the older format). Reloaded by SIGHUP (docs/master.md, "Rate limits")', { check: repLimitRefusal }),
  CHUNKS_READ_REP_LIMIT: key('string', '10,5,2,5', 'replications in flight with one chunkserver as the source: four limits as CHUNKS_WRITE_REP_LIMIT\'s; reloaded by SIGHUP', { check: repLimitRefusal }),
  CHUNKS_GLOBAL_REP_LIMIT: key('int', 50, 'replications in flight in the whole cluster (rebalancing takes only what the other kinds leave); reloaded by SIGHUP', { min: 1, max: 10_000 }),
  CHUNKS_SOFT_DEL_LIMIT: key('int', 10, 'chunk deletions in flight on one chunkserver; reloaded by SIGHUP', { min: 1, max: 1000 }),
  ACCEPTABLE_PERCENTAGE_DIFFERENCE: key('number', 1, 'chunkservers whose disk usage (% used) differs by more than this many percentage points are rebalanced: the chunk loop moves chunks at goal from the fullest to the emptiest, within the replication limits, when no chunk is under goal; reloaded by SIGHUP', { min: 0.1, max: 10 }),
  REPLICATIONS_DELAY_INIT: key('int', 60, 'seconds after start-up before copies are replicated or deleted (chunkservers must report first); reloaded by SIGHUP', { min: 0, max: 3600 }),
  CHUNKSERVER_TIMEOUT: key('int', 10, 'seconds without a heartbeat after which a chunkserver is taken for dead and its link closed', { min: 2, max: 600 }),
  AUTH_CODE: key('string', '', 'shared secret chunkservers and metaloggers must prove they know (challenge-response, never sent); empty = no authentication. Switching it on: docs/security.md'),
  GRANT_TOKEN_TIMEOUT: key('int', 60, 'seconds the chunk tokens of a read grant stay valid on the chunkservers (write grants\' last WRITE_LEASE_TIMEOUT); a client whose token ran out asks again', { min: 1, max: 3600 }),
  WRITE_LEASE_TIMEOUT: key('int', 60, 'seconds a client\'s write lease on a chunk lasts without writeChunkEnd (a dead client does not block the chunk longer)', { min: 1, max: 3600 }),
  HA_ETCD_ENDPOINTS: key('string', '', 'etcd endpoints (comma-separated `http://host:port` or `host:port`) of an HA group: masters elect their leader there (docs/ha.md); empty = this master runs alone'),
  HA_CLUSTER_NAME: key('string', 'tsmfs', 'name of the HA group: its keys in etcd are under /tsmfs/NAME/ (letters, digits, . _ -)'),
  HA_LEASE_TTL: key('int', 3, 'seconds of the leader\'s etcd lease: a dead leader is replaced about this long after it stops; etcd raises less than 2 to 2', { min: 1, max: 60 }),
  HA_SYNC_STANDBYS: key('int', 0, 'standbys (shadow masters of the synchronous set, recorded in etcd) that must hold a change before the leader acknowledges it; only they may take over; 0 = asynchronous failover (docs/ha.md)', { min: 0, max: 16 }),
  HA_WRITE_GRACE_MS: key('int', 3000, 'a new leader\'s grace period: until every session of the former leader re-registered, or this many milliseconds (at most SESSION_SUSTAIN_TIME), a chunk slot is write-granted only to a session that claims a write in flight on it (docs/ha.md); 0 = none', { min: 0, max: 600_000 }),
  HA_SYNC_TIMEOUT_MS: key('int', 2000, 'a synchronous standby that leaves a change unconfirmed this long is dropped from the synchronous set (written to etcd first; the leader then goes on without it)', { min: 100, max: 600_000 }),
};

export type MasterSchema = typeof masterSchema;
export type MasterConfig = ConfigValues<MasterSchema>;

/** `*` means every interface, as in MooseFS. */
export function listenHost(host: string): string {
  return host === '*' ? '0.0.0.0' : host;
}

/**
 * Checks what the schema cannot: DATA_PATH must be an existing directory. Like MooseFS,
 * the master does not create it: a typo in DATA_PATH must not silently start an empty
 * file system next to the real one.
 */
export function checkDataPath(config: MasterConfig): void {
  checkDirectory(config.DATA_PATH);
}

/**
 * CHANGELOG_SAVE_MODE, or what the deprecated CHANGELOG_FSYNC (tsmfs before 0.2) says
 * when it is set: fsync = 1 was mode 2, fsync = 0 wrote before the reply (mode 1).
 */
export function changelogSaveMode(config: MasterConfig): { mode: SaveMode; warning?: string } {
  const fsync = config.CHANGELOG_FSYNC.trim().toLowerCase();
  if (fsync === '') return { mode: config.CHANGELOG_SAVE_MODE as SaveMode };
  const on = ['1', 'yes', 'true', 'on'].includes(fsync);
  if (!on && !['0', 'no', 'false', 'off'].includes(fsync)) throw new ConfigError(`CHANGELOG_FSYNC: '${config.CHANGELOG_FSYNC}' is not 0 or 1`);
  const mode = on ? 2 : 1;
  return { mode, warning: `CHANGELOG_FSYNC is deprecated: CHANGELOG_FSYNC = ${on ? 1 : 0} is taken as CHANGELOG_SAVE_MODE = ${mode} (and overrides it); write that instead` };
}

/** The largest value of one replication limit (MooseFS sets none; more is surely a typo). */
const MAX_REP_LIMIT = 1000;

/**
 * Why `text` is not a CHUNKS_WRITE_REP_LIMIT / CHUNKS_READ_REP_LIMIT value, or undefined:
 * as MooseFS 3.0 reads them, four numbers separated by commas or one (MooseFS before
 * 3.0), blanks around them allowed. A fraction is taken as is: with whole counts in
 * flight, 1.5 lets in as many as 2 does (MooseFS lets the second in at random part of
 * the time). 0 stops that kind of replication.
 */
function repLimitRefusal(text: string): string | undefined {
  const fields = text.split(',').map((f) => f.trim());
  if ((fields.length === 1 || fields.length === 4) && fields.every((f) => /^(\d+\.?\d*|\.\d+)$/.test(f) && Number(f) <= MAX_REP_LIMIT)) return undefined;
  return `'${text}' is not one limit or four separated by commas (endangered, under goal, rebalancing near, rebalancing far), each 0..${MAX_REP_LIMIT}`;
}

/** A CHUNKS_WRITE_REP_LIMIT / CHUNKS_READ_REP_LIMIT value's four limits; one value sets all four. */
export function parseRepLimit(name: string, text: string): { limits: RepLimitList; oneValue: boolean } {
  const refused = repLimitRefusal(text);
  if (refused !== undefined) throw new ConfigError(`${name}: ${refused}`);
  const values = text.split(',').map(Number);
  const [a, b = a, c = a, d = a] = values as [number, ...number[]];
  return { limits: [a, b, c, d], oneValue: values.length === 1 };
}

/**
 * The replication and deletion limits (replication-limits.ts) from the configuration, with
 * a note per key given in the older one-value format (MooseFS logs one too).
 */
export function replicationLimits(config: MasterConfig): { limits: ReplicationLimitsConfig; notes: string[] } {
  const write = parseRepLimit('CHUNKS_WRITE_REP_LIMIT', config.CHUNKS_WRITE_REP_LIMIT);
  const read = parseRepLimit('CHUNKS_READ_REP_LIMIT', config.CHUNKS_READ_REP_LIMIT);
  const notes = [['CHUNKS_WRITE_REP_LIMIT', write] as const, ['CHUNKS_READ_REP_LIMIT', read] as const]
    .filter(([, r]) => r.oneValue)
    .map(([name, r]) => `${name} = ${r.limits[0]} is the format before MooseFS 3.0: all four limits (endangered, under goal, rebalancing near, far) are ${r.limits[0]}`);
  return { limits: { writesPerServer: write.limits, readsPerServer: read.limits, global: config.CHUNKS_GLOBAL_REP_LIMIT, deletesPerServer: config.CHUNKS_SOFT_DEL_LIMIT }, notes };
}

/** The master's keys as the Markdown table of docs/configuration.md. */
export function configTable(): string {
  return describeConfigMarkdown(masterSchema);
}
