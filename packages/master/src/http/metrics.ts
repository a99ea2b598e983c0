import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ChunkLoopStats } from '../chunks/replication.js';
import type { GroupStatus } from '../ha/ha-status.js';
import type { ChunkserverView, InfoView } from './cluster-view.js';
import type { HealthView } from './health-view.js';
import { OperationStats } from './operation-stats.js';

/** What one scrape reads; computed once per scrape by the HTTP server. */
export interface MetricsInput {
  info: InfoView;
  health: HealthView;
  chunkservers: ChunkserverView[];
  sessions: number;
  loop: ChunkLoopStats;
  group: GroupStatus;
}

type Labels<L extends string> = Partial<Record<L, string | number>>;

/**
 * /metrics in Prometheus text format (prom-client). Gauges are set from the master's
 * in-memory state at each scrape, so a scrape costs one pass over the chunks and no
 * timers run between scrapes; request counts and latencies are counted as requests
 * are served (OperationStats). Names: docs/monitor.md.
 */
export class MasterMetrics {
  readonly registry = new Registry();
  readonly operations: OperationStats;
  private readonly gauges = new Map<string, Gauge<string>>();
  private readonly loopCounters: Record<'replicated' | 'replicationFailures' | 'deleted', Counter<string>>;
  private readonly loopSeen = { replicated: 0, replicationFailures: 0, deleted: 0 };
  private readonly failovers: Counter<string>;
  private failoversSeen = 0;
  private readonly startedByKind: Counter<string>;
  private readonly startedSeen: Partial<Record<string, number>> = {};

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.operations = new OperationStats(this.registry);
    const counter = (name: string, help: string): Counter<string> => new Counter({ name, help, registers: [this.registry] });
    this.loopCounters = {
      replicated: counter('tsmfs_chunk_replications_total', 'Chunk copies made by the chunk loop (replication to goal)'),
      replicationFailures: counter('tsmfs_chunk_replication_failures_total', 'Replications that failed'),
      deleted: counter('tsmfs_chunk_deletions_total', 'Chunk copies deleted by the chunk loop (stale, damaged, over goal, unreferenced)'),
    };
    this.startedByKind = new Counter({ name: 'tsmfs_chunk_replications_started_total', help: 'Replications the chunk loop started, by kind: endangered, underGoal, wrongLabels, rebalance (each held to its CHUNKS_WRITE_REP_LIMIT / CHUNKS_READ_REP_LIMIT limit)', labelNames: ['kind'], registers: [this.registry] });
    this.failovers = counter('tsmfs_master_failovers_total', 'Leader changes of the HA group this master has seen since it started (docs/ha.md)');
  }

  async render(input: MetricsInput): Promise<string> {
    this.update(input);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private update({ info, health, chunkservers, sessions, loop, group }: MetricsInput): void {
    this.resetGauge('tsmfs_master_role');
    this.set('tsmfs_master_role', 'Always 1; the label is this master\'s role in its HA group: leader, follower or alone (docs/ha.md)', 1, { role: group.role }, true);
    this.set('tsmfs_master_epoch', 'Epoch of this master\'s leadership, or of the leader it follows (1 alone)', group.epoch);
    this.set('tsmfs_master_accepting_changes', '1 while this master admits metadata changes (alone, or the leader with a confirmed etcd lease)', group.mutable ? 1 : 0);
    if (group.failovers > this.failoversSeen) this.failovers.inc(group.failovers - this.failoversSeen);
    this.failoversSeen = group.failovers;
    this.set('tsmfs_master_sync_set_size', 'Members of the synchronous set as etcd holds it (the leader, with HA_SYNC_STANDBYS > 0; else 0)', group.sync?.set.length ?? 0);
    this.set('tsmfs_master_follower_lag', 'Changelog entries the leader holds that this follower has not applied yet (0 when leading or alone)', group.follower?.lag ?? 0);
    this.set('tsmfs_master_info', 'Always 1; the labels name the master build', 1, { version: info.version, protocol: info.protocolVersion }, true);
    this.set('tsmfs_master_uptime_seconds', 'Seconds since this master process started', info.uptimeSeconds);
    this.set('tsmfs_metadata_version', 'Metadata version (changelog entries applied since the file system was created)', info.metadataVersion);
    this.set('tsmfs_inodes', 'Inodes in use (files, directories, symlinks, devices, trash and sustained files)', info.inodes);
    this.set('tsmfs_directories', 'Directories', info.dirs);
    this.set('tsmfs_files', 'Regular files (trash and sustained included)', info.files);
    this.set('tsmfs_chunks', 'Chunks referenced by files', info.chunks);
    this.set('tsmfs_chunk_copies', 'Chunk copies the chunkservers reported (any state)', info.copies);
    this.set('tsmfs_chunks_lost', 'Chunks with no valid copy on any connected chunkserver', health.lost);
    this.set('tsmfs_chunks_under_goal', 'Chunks with fewer valid copies than their goal (but at least one)', health.underGoal);
    this.set('tsmfs_chunks_over_goal', 'Chunks with more valid copies than their goal', health.overGoal);
    this.set('tsmfs_chunks_at_goal', 'Chunks with exactly as many valid copies as their goal', health.ok);
    this.resetGauge('tsmfs_chunks_by_goal_copies');
    health.matrix.forEach((row, goal) =>
      row.forEach((n, copies) => {
        if (n > 0) this.set('tsmfs_chunks_by_goal_copies', 'Chunks by goal and number of valid copies (copies="10" counts 10 or more)', n, { goal, copies }, true);
      }),
    );
    this.set('tsmfs_space_total_bytes', 'Disk space of the online chunkservers', info.totalSpace);
    this.set('tsmfs_space_used_bytes', 'Used disk space of the online chunkservers', info.usedSpace);
    this.set('tsmfs_space_available_bytes', 'Free disk space of the online chunkservers', info.availSpace);
    this.set('tsmfs_trash_bytes', 'Length of the files in trash', info.trashSpace);
    this.set('tsmfs_trash_files', 'Files in trash', info.trashFiles);
    this.set('tsmfs_sustained_files', 'Unlinked files kept while open', info.sustainedFiles);
    this.set('tsmfs_sessions', 'Client and tool sessions the master holds (connected or waiting for their client)', sessions);
    this.set('tsmfs_chunkservers', 'Chunkservers known to the master', info.chunkservers.total);
    this.set('tsmfs_chunkservers_online', 'Chunkservers connected with a complete chunk report', info.chunkservers.online);
    for (const name of ['up', 'space_total_bytes', 'space_used_bytes', 'chunks', 'damaged_disks', 'heartbeat_age_seconds', 'read_bytes', 'written_bytes']) {
      this.resetGauge(`tsmfs_chunkserver_${name}`);
    }
    for (const cs of chunkservers) {
      const l = { csid: cs.csid, address: `${cs.host}:${cs.port}` };
      this.set('tsmfs_chunkserver_up', '1 when the chunkserver is connected and has reported its chunks', cs.online ? 1 : 0, l, true);
      this.set('tsmfs_chunkserver_space_total_bytes', 'Disk space of the chunkserver (last heartbeat)', cs.totalSpace, l, true);
      this.set('tsmfs_chunkserver_space_used_bytes', 'Used disk space of the chunkserver (last heartbeat)', cs.usedSpace, l, true);
      this.set('tsmfs_chunkserver_chunks', 'Chunk copies the master knows on the chunkserver', cs.chunks, l, true);
      this.set('tsmfs_chunkserver_damaged_disks', 'Disks the chunkserver took out of service', cs.damagedDisks, l, true);
      this.set('tsmfs_chunkserver_heartbeat_age_seconds', 'Seconds since the chunkserver\'s last heartbeat', cs.lastHeartbeatAgoSeconds, l, true);
      // Counters kept by the chunkserver, exported as gauges: a restart of it starts them from zero, which a Prometheus counter must not do.
      this.set('tsmfs_chunkserver_read_bytes', 'Data bytes the chunkserver has served since it started', cs.bytesRead, l, true);
      this.set('tsmfs_chunkserver_written_bytes', 'Data bytes the chunkserver has stored since it started', cs.bytesWritten, l, true);
    }
    for (const k of ['replicated', 'replicationFailures', 'deleted'] as const) {
      const delta = loop[k] - this.loopSeen[k];
      if (delta > 0) this.loopCounters[k].inc(delta);
      this.loopSeen[k] = loop[k];
    }
    for (const [kind, n] of Object.entries(info.replications.inFlight)) {
      this.set('tsmfs_chunk_replications_in_flight', 'Replications in flight, by kind (endangered, underGoal, wrongLabels, rebalance)', n, { kind }, true);
      const started = info.replications.started[kind as keyof typeof info.replications.started];
      this.startedByKind.inc({ kind }, started - (this.startedSeen[kind] ?? 0));
      this.startedSeen[kind] = started;
    }
  }

  private gauge(name: string, help: string, labelNames: string[]): Gauge<string> {
    let g = this.gauges.get(name);
    if (!g) {
      g = new Gauge({ name, help, labelNames, registers: [this.registry] });
      this.gauges.set(name, g);
    }
    return g;
  }

  private set(name: string, help: string, value: number, labels: Labels<string> = {}, labelled = false): void {
    const g = this.gauge(name, help, labelled ? Object.keys(labels) : []);
    if (labelled) g.set(labels, value);
    else g.set(value);
  }

  /** Labelled series of things that went away (a chunkserver forgotten, a matrix cell emptied) must not linger. */
  private resetGauge(name: string): void {
    this.gauges.get(name)?.reset();
  }
}
