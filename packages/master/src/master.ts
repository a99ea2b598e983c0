import { type Logger, type Service, linkLimits } from '@tsmfs/daemon';
import { Changelog, DataLock, type MetadataCodec, MetadataStore } from '@tsmfs/metastore';
import type { Timespec } from '@tsmfs/protocol';
import { ChunkManager } from './chunks/chunk-manager.js';
import { ChunkRequests } from './chunks/chunk-requests.js';
import { ChunkLoop, type ChunkLoopSettings } from './chunks/replication.js';
import { ToolRequests } from './chunks/tool-requests.js';
import { type MasterConfig, changelogSaveMode, checkDataPath, listenHost, replicationLimits } from './config.js';
import { DumpScheduler } from './dump-scheduler.js';
import { ExportScope } from './export-scope.js';
import { exportsFile as readExportsFile, topologyFile } from './reloaded-file.js';
import { Election } from './ha/election.js';
import { ALONE, type HaGate, type LeaderAddresses } from './ha/gate.js';
import { advertised, haSettings } from './ha/ha-config.js';
import { groupStatus } from './ha/ha-status.js';
import { Shadow } from './ha/shadow.js';
import { SyncStandbys } from './ha/sync-standbys.js';
import { History } from './http/history.js';
import { HttpServer } from './http/http-server.js';
import { MasterMetrics } from './http/metrics.js';
import { ChunkserverLink } from './links/chunkserver-link.js';
import { ClientLink } from './links/client-link.js';
import { ClientRequests } from './links/client-requests.js';
import { MetaloggerLink } from './links/metalogger-link.js';
import { applyMutation } from './metadata/apply.js';
import { type Metadata, createEmptyMetadata } from './metadata/metadata.js';
import type { Mutation } from './metadata/mutation.js';
import { decodeDump, encodeDump } from './metadata/metadata-dump.js';
import { Leases } from './leases/leases.js';
import { Namespace } from './metadata/namespace.js';
import { Sessions } from './sessions.js';
import { TrashSweeper } from './trash-sweeper.js';

/** The master's clock for mutations: wall time with sub-millisecond resolution. */
export function masterClock(): Timespec {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: Math.min(999_999_999, Math.floor((ms - sec * 1000) * 1e6)) };
}

export const metadataCodec: MetadataCodec<Metadata, Mutation> = {
  encode: encodeDump,
  decode: decodeDump,
  empty: () => createEmptyMetadata(masterClock()),
  apply: (md, m) => void applyMutation(md, m),
};

/** The live namespace over the loaded metadata, its mutations going to the changelog. */
class NamespaceService implements Service {
  readonly name = 'namespace';
  private ns: Namespace | undefined;

  constructor(
    private readonly store: MetadataStore<Metadata, Mutation>,
    private readonly changelog: Changelog,
    private readonly onFatal?: (err: Error) => void,
    private readonly leases?: Leases,
    /** The client sessions holding an inode open (Sessions.holdersOf). */
    private readonly holdersOf?: (inode: number) => number[],
    /** QUOTA_DEFAULT_GRACE_PERIOD, in seconds. */
    private readonly quotaGrace?: number,
  ) {}

  get namespace(): Namespace {
    if (!this.ns) throw new Error('namespace not started');
    return this.ns;
  }

  async start(): Promise<void> {
    const md = this.store.metadata;
    this.ns = new Namespace(md, (m) => this.record(md, m), masterClock, (err) => this.onFatal?.(err));
    this.ns.clients.holdersOf = this.holdersOf;
    if (this.quotaGrace !== undefined) this.ns.quotas.defaultGrace = this.quotaGrace;
    const leases = this.leases;
    if (leases) this.ns.observe = (m, md) => leases.changing(m, md);
  }

  async stop(): Promise<void> {
    this.ns = undefined;
  }

  /** The store's metadata was replaced (a shadow master loaded the leader's dump): serve that one. */
  reload(): void {
    if (this.ns) void this.start();
  }

  private record(md: Metadata, m: Parameters<Changelog['append']>[0]): void {
    const version = this.changelog.append(m);
    // Namespace applies before it hands the entry over: the two counters move together.
    if (version !== md.version) throw new Error(`changelog version ${version} and metadata version ${md.version} diverged`);
  }
}

export interface Master {
  /** Start-up order; shutdown is the reverse. */
  services: Service[];
  clientLink: ClientLink;
  metaloggerLink: MetaloggerLink;
  chunkserverLink: ChunkserverLink;
  chunks: ChunkManager;
  chunkLoop: ChunkLoop;
  http: HttpServer;
  /** SIGHUP: takes the keys that apply without a restart (AUTH_CODE, the chunk loop's: reloadChunkLoop) from a re-read config. */
  reload(config: MasterConfig, log: Logger): void;
}

export interface MasterHooks {
  /** The changelog cannot be written: the master must not go on acknowledging. */
  onFatal?: (err: Error) => void;
}

/**
 * tsmfs-master as an ordered list of services, like MooseFS's list of module inits:
 * exports (a mistake there stops us before DATA_PATH is touched) → lock DATA_PATH →
 * load metadata (dump + changelogs) → open the changelog → the namespace → the
 * chunkserver port (locations come back before clients ask) → the client port → the
 * metalogger port → the chunk loop → trash sweeper → dump scheduler → the monitor's
 * history sampler → the HTTP port (monitor, JSON API, /metrics). Stopping runs
 * the list backwards, so the client port closes, the changelog is flushed, the metadata
 * store writes its shutdown dump and the lock is released last.
 */
export function buildMaster(config: MasterConfig, log: Logger, hooks: MasterHooks = {}): Master {
  checkDataPath(config);
  const ha = haSettings(config);
  const dir = config.DATA_PATH;
  const component = (name: string): Logger => log.child({ component: name });
  const limits = linkLimits(config);
  const lock = new DataLock(dir, component('data-lock'));
  const store = new MetadataStore<Metadata, Mutation>({
    dir,
    codec: metadataCodec,
    keepPrevious: config.BACK_META_KEEP_PREVIOUS,
    backLogs: config.BACK_LOGS,
    // `changelog` is made just below; the store only dumps once both have started.
    changelogDurable: (version): Promise<void> => changelog.durable(version),
    log: component('metadata-store'),
  });
  const saveMode = changelogSaveMode(config);
  if (saveMode.warning) log.warn(saveMode.warning);
  const repLimits = replicationLimits(config);
  for (const note of repLimits.notes) log.info(note);
  const changelog = new Changelog({
    dir,
    backLogs: config.BACK_LOGS,
    saveMode: saveMode.mode,
    saveIntervalMs: config.CHANGELOG_SAVE_INTERVAL_MS,
    startVersion: () => store.metadata.version,
    log: component('changelog'),
    onFailure: (err) => hooks.onFatal?.(new Error(`changelog write failed: ${err.message}`, { cause: err })),
  });
  const leases = new Leases({ leaseMs: config.LEASE_TIME * 1000, log: component('leases') });
  // `sessions` is made below; it is asked only once clients are served.
  const namespace = new NamespaceService(store, changelog, hooks.onFatal, leases, (inode): number[] => sessions.holdersOf(inode), config.QUOTA_DEFAULT_GRACE_PERIOD);
  // Without HA_ETCD_ENDPOINTS: alone, at epoch 1, as before HA. With it: a member of the
  // group, whose links all drop when it stops leading (docs/ha.md).
  const self: LeaderAddresses = {
    client: advertised(config.MATOCL_LISTEN_HOST, config.MATOCL_LISTEN_PORT),
    cs: advertised(config.MATOCS_LISTEN_HOST, config.MATOCS_LISTEN_PORT),
    ml: advertised(config.MATOML_LISTEN_HOST, config.MATOML_LISTEN_PORT),
    http: advertised(config.HTTP_LISTEN_HOST, config.HTTP_LISTEN_PORT),
  };
  const election: Election | undefined = ha
    ? new Election({
        settings: ha,
        self,
        log: component('election'),
        // A follower that had not applied all the leader had holds its campaign back one
        // TTL: a caught-up follower wins, and the behind one still leads if it is the only one.
        // With synchronous standbys only members of the set campaign, and each holds every
        // acknowledged change: none holds back.
        campaignDelayMs: (): number => (ha.syncStandbys === 0 && shadow?.caughtUp() === false ? ha.ttlSec * 1000 : 0),
        // After the refusals of what was held are written: a client told where the leader
        // is knows nothing was applied, one whose link just dropped does not.
        // Before the first request is served as leader: the copies the chunkservers reported
        // to this master as a follower become the locations grants hand out (docs/ha.md).
        onElected: () => {
          const t0 = performance.now();
          // Write leases of an earlier term of ours are stale: clients claim theirs back.
          chunks.grace.elected();
          const n = chunks.resyncLocations();
          shadow?.wake();
          log.info({ chunks: n, ms: Math.round(performance.now() - t0) }, 'elected: chunk locations of the chunks the changelog moved computed again');
        },
        onStepDown: () => {
          // Changes waiting for their standbys get no answer: their links are dropped next.
          standbys?.lost();
          setImmediate(() => {
            clientLink.dropAll();
            chunkserverLink.dropAll();
            metaloggerLink.dropAll();
          });
        },
      })
    : undefined;
  // HA_SYNC_STANDBYS > 0: a change is answered once the synchronous set holds it (docs/ha.md).
  const standbys: SyncStandbys | undefined =
    election && ha && ha.syncStandbys > 0
      ? new SyncStandbys({ election, changelog, n: ha.syncStandbys, timeoutMs: ha.syncTimeoutMs, log: component('sync-standbys') })
      : undefined;
  // A follower applies the leader's changelog as it comes (docs/ha.md); on winning the
  // election it admits mutations only once what it received is applied.
  const shadow: Shadow | undefined = election
    ? new Shadow({
        election,
        self,
        dir,
        store,
        changelog,
        codec: metadataCodec,
        // A new metadata object, without locations: every chunk is judged again.
        reloaded: () => {
          namespace.reload();
          chunks.resyncLocations(true);
        },
        chunkTouched: (chunkId) => chunks.chunkTouched(chunkId),
        keepPrevious: config.BACK_META_KEEP_PREVIOUS,
        // The metalogger's MASTER_TIMEOUT default: a dead leader is noticed by the election first.
        timeoutMs: 10_000,
        authCode: () => authCode,
        log: component('shadow'),
        onFatal: (err) => hooks.onFatal?.(new Error(`shadow master cannot keep the leader's changelog: ${err.message}`, { cause: err })),
        standbys,
        // The follower's last entries are applied: locations once more against them, the
        // chunkservers told who commands now, and the chunk loop's start-up delay again.
        onLead: () => {
          const t0 = performance.now();
          const n = chunks.resyncLocations();
          chunks.announceLeader();
          chunkLoop.restartDelay();
          // Until the former leader's sessions are back, a free slot is granted to nobody:
          // one of them may have a write in flight on it (docs/ha.md).
          chunks.grace.lead(sessions.absent(), Math.min(config.HA_WRITE_GRACE_MS, config.SESSION_SUSTAIN_TIME * 1000), (id) => sessions.linked(id));
          log.info({ chunks: n, chunkservers: chunks.registry.online().length, ms: Math.round(performance.now() - t0) }, 'leading with the chunk locations reported to this master as a follower');
        },
      })
    : undefined;
  const gate: HaGate = shadow ?? ALONE;
  const epoch = () => gate.epoch;
  // Read at every chunkserver and metalogger handshake: a reload applies to the next links.
  let authCode = config.AUTH_CODE;
  const exportsFile = readExportsFile(config.EXPORTS_FILENAME, component('exports'));
  const topology = topologyFile(config.TOPOLOGY_FILENAME, component('topology'));
  const reclaimScope = new ExportScope(() => namespace.namespace.md);
  const sessions: Sessions = new Sessions({
    rules: () => exportsFile.value,
    namespace: () => namespace.namespace,
    sustainMs: config.SESSION_SUSTAIN_TIME * 1000,
    lockSustainMs: config.LOCK_SUSTAIN_TIME * 1000,
    dropLocks: (id) => {
      const dropped = clientRequests.locks.dropSession(id);
      if (dropped > 0) component('sessions').warn({ session: id, dropped, after: config.LOCK_SUSTAIN_TIME }, "a disconnected session's locks released (LOCK_SUSTAIN_TIME)");
    },
    maxSessions: config.MAX_SESSIONS,
    maxSessionsPerIp: config.MAX_SESSIONS_PER_IP,
    leases,
    mayRecord: () => gate.mayMutate(),
    inScope: (session, inode) => {
      if (!ExportScope.confines(session)) return true;
      try {
        reclaimScope.check(session, inode, 'node');
        return true;
      } catch {
        return false;
      }
    },
    registered: (session, writes) => chunks.grace.registered(session.id, writes),
    log: component('sessions'),
  });
  const chunks = new ChunkManager({
    md: () => namespace.namespace.md,
    // A command carries the epoch of a leader whose lease is confirmed, or is not sent:
    // a deposed leader's last commands are refused here before the chunkservers refuse them.
    epoch: () => {
      if (!gate.mayMutate()) throw gate.refusal('cs');
      return gate.epoch;
    },
    leaseTimeoutMs: config.WRITE_LEASE_TIMEOUT * 1000,
    readTokenTtlMs: config.GRANT_TOKEN_TIMEOUT * 1000,
    topology: () => topology.value,
    limits: repLimits.limits,
    log: component('chunks'),
  });
  const chunkserverLink = new ChunkserverLink({
    host: listenHost(config.MATOCS_LISTEN_HOST),
    port: config.MATOCS_LISTEN_PORT,
    chunks,
    epoch,
    ha: gate,
    authCode: () => authCode,
    log: component('chunkserver-link'),
    limits,
  });
  const chunkLoop = new ChunkLoop({
    chunks,
    ...chunkLoopSettings(config),
    serverTimeoutMs: config.CHUNKSERVER_TIMEOUT * 1000,
    leading: () => gate.mayMutate(),
    chunksDeleted: (ids) => {
      if (gate.mayMutate()) namespace.namespace.chunksDeleted(ids);
    },
    bumpVersion: (chunkId, version) => {
      if (!gate.mayMutate()) throw gate.refusal('cs');
      namespace.namespace.repairChunkVersion(chunkId, version);
    },
    log: component('chunk-loop'),
  });
  const metrics = new MasterMetrics();
  const clientRequests: ClientRequests = new ClientRequests({
    sessions,
    namespace: () => namespace.namespace,
    chunks: new ChunkRequests(chunks, () => namespace.namespace, (fn) => leases.bind(fn)),
    tools: new ToolRequests(chunks, () => namespace.namespace),
    changelog,
    leases,
    replicated: (version) => gate.replicated?.(version),
    refusal: () => (gate.mayMutate() ? undefined : gate.refusal('client')),
    topology: () => topology.value,
  });
  const clientLink = new ClientLink({
    host: listenHost(config.MATOCL_LISTEN_HOST),
    port: config.MATOCL_LISTEN_PORT,
    requests: clientRequests,
    changelog,
    epoch,
    monitor: { host: config.HTTP_LISTEN_HOST, port: config.HTTP_LISTEN_PORT },
    ha: gate,
    log: component('client-link'),
    limits,
    stats: metrics.operations,
  });
  const metaloggerLink = new MetaloggerLink({
    host: listenHost(config.MATOML_LISTEN_HOST),
    port: config.MATOML_LISTEN_PORT,
    dir,
    changelog,
    preserveSeconds: config.MATOML_LOG_PRESERVE_SECONDS,
    epoch,
    ha: gate,
    standbys,
    authCode: () => authCode,
    log: component('metalogger-link'),
    limits,
  });
  const sweeper = new TrashSweeper({
    periodMs: config.EMPTY_TRASH_PERIOD * 1000,
    expired: (now) => namespace.namespace.expiredTrash(now),
    purge: (inode) => namespace.namespace.purge(inode),
    nowSec: () => masterClock().sec,
    log: component('trash-sweeper'),
  });
  const dumps = new DumpScheduler({
    everyMs: config.METADATA_SAVE_FREQ * 3_600_000,
    dump: () => store.dump(),
    rotateChangelog: () => changelog.rotate(),
    signal: 'SIGUSR2',
    log: component('dump-scheduler'),
  });
  const history = new History({
    everyMs: HISTORY_SAMPLE_MS,
    keep: HISTORY_SAMPLES,
    read: () => trafficCounters(chunks, metrics),
  });
  const http = new HttpServer({
    host: listenHost(config.HTTP_LISTEN_HOST),
    port: config.HTTP_LISTEN_PORT,
    maxConnections: config.HTTP_MAX_CONNECTIONS,
    requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT * 1000,
    sources: {
      md: () => namespace.namespace.md,
      chunks,
      loop: chunkLoop.stats,
      removal: chunkLoop.removal,
      sessions: () => sessions.all,
      exports: () => exportsFile.value,
      startedAt: Date.now(),
    },
    history,
    metrics,
    status: () => groupStatus(election, self, namespace.namespace.md.version, shadow?.progress() ?? null, standbys, chunks.grace.status()),
    log: component('http'),
  });
  return {
    // The election after the ports (a new leader serves at once; a follower answers with
    // the leader's address) and, stopping in reverse, before them: resigning hands over first.
    services: [exportsFile, topology, lock, store, changelog, namespace, ...(standbys ? [standbys] : []), ...(shadow ? [shadow] : []), chunkserverLink, clientLink, metaloggerLink, ...(election ? [election] : []), chunkLoop, sweeper, dumps, history, http],
    clientLink,
    metaloggerLink,
    chunkserverLink,
    chunks,
    chunkLoop,
    http,
    reload: (fresh, reloadLog) => {
      reloadChunkLoop(chunks, chunkLoop, fresh, reloadLog);
      if (fresh.AUTH_CODE === authCode) return;
      // As MooseFS: links already open stay as they are; new ones use the new code.
      reloadLog.warn({ authentication: fresh.AUTH_CODE === '' ? 'off' : authCode === '' ? 'on' : 'new code' }, 'AUTH_CODE changed: chunkservers and metaloggers connecting from now on use it');
      authCode = fresh.AUTH_CODE;
    },
  };
}

/**
 * SIGHUP: the chunk loop's keys (period, initial delay, rebalancing threshold) and the
 * replication and deletion limits, as MooseFS's chunk_reload re-reads them (a file with a
 * mistake is not applied at all: daemon-main). Replications in flight keep their slots
 * and count against the new limits.
 */
function reloadChunkLoop(chunks: ChunkManager, loop: ChunkLoop, fresh: MasterConfig, log: Logger): void {
  const next = replicationLimits(fresh);
  for (const note of next.notes) log.info(note);
  const was = chunks.limits.config;
  if (JSON.stringify(was) !== JSON.stringify(next.limits)) {
    chunks.limits.config = next.limits;
    log.warn({ was, now: next.limits }, 'replication limits changed');
  }
  const settings = chunkLoopSettings(fresh);
  const before = loop.settings();
  if (JSON.stringify(before) === JSON.stringify(settings)) return;
  loop.reconfigure(settings);
  log.warn({ was: before, now: settings }, 'chunk loop settings changed');
}

/** The chunk loop's keys that a reload may change. */
function chunkLoopSettings(config: MasterConfig): ChunkLoopSettings {
  return { periodMs: config.CHUNKS_LOOP_MIN_TIME * 1000, delayInitMs: config.REPLICATIONS_DELAY_INIT * 1000, acceptablePercentageDifference: config.ACCEPTABLE_PERCENTAGE_DIFFERENCE };
}

/** The monitor's charts: a sample every 5 s, 6 hours of them (4320 samples, about 300 KiB). */
const HISTORY_SAMPLE_MS = 5000;
const HISTORY_SAMPLES = 6 * 3600 * 1000 / HISTORY_SAMPLE_MS;

function trafficCounters(chunks: ChunkManager, metrics: MasterMetrics) {
  const servers = chunks.registry.all();
  const online = chunks.registry.online();
  return {
    ops: metrics.operations.total,
    bytesRead: servers.reduce((n, cs) => n + cs.bytesRead, 0),
    bytesWritten: servers.reduce((n, cs) => n + cs.bytesWritten, 0),
    usedSpace: online.reduce((n, cs) => n + cs.usedSpace, 0),
    totalSpace: online.reduce((n, cs) => n + cs.totalSpace, 0),
  };
}
