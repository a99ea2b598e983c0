import { readFileSync } from 'node:fs';
import { PROTOCOL_VERSION } from '@tsmfs/protocol';
import type { ChunkManager } from '../chunks/chunk-manager.js';
import { isOnline } from '../chunks/chunkserver-registry.js';
import type { RemovalProgress } from '../chunks/disk-removal.js';
import type { KindCounts, RepLimitList } from '../chunks/replication-limits.js';
import type { ChunkLoopStats } from '../chunks/replication.js';
import type { ExportRule } from '../exports.js';
import type { Metadata } from '../metadata/metadata.js';
import type { Session } from '../sessions.js';
import { type HealthView, healthView } from './health-view.js';
import { type QuotaView, quotasView } from './quota-view.js';
import { type SClassView, sclassesView } from './sclass-view.js';

/** What the views read: the master's live parts, all in memory. */
export interface ClusterSources {
  md: () => Metadata;
  chunks: ChunkManager;
  loop: ChunkLoopStats;
  /** How far the disks marked for removal have been emptied (the chunk loop's count). */
  removal?: RemovalProgress;
  sessions: () => readonly Session[];
  exports: () => readonly ExportRule[];
  startedAt: number;
}

export const MASTER_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface InfoView {
  version: string;
  protocolVersion: number;
  uptimeSeconds: number;
  metadataVersion: number;
  totalSpace: number;
  availSpace: number;
  usedSpace: number;
  trashSpace: number;
  trashFiles: number;
  sustainedSpace: number;
  sustainedFiles: number;
  inodes: number;
  dirs: number;
  files: number;
  chunks: number;
  copies: number;
  chunkservers: { total: number; online: number };
  health: { lost: number; underGoal: number; overGoal: number; ok: number };
  replications: ReplicationsView;
  memory: MemoryView;
}

/** The chunk loop's replications by kind (replication-limits.ts) and the limits in force. */
export interface ReplicationsView {
  inFlight: KindCounts;
  /** Started since the master started. */
  started: KindCounts;
  /** CHUNKS_WRITE_REP_LIMIT, CHUNKS_READ_REP_LIMIT: endangered, under goal, rebalancing near, far. */
  writeLimits: RepLimitList;
  readLimits: RepLimitList;
  globalLimit: number;
}

/** The process's memory (process.memoryUsage()): RSS, the JS heap, and memory outside it. */
export interface MemoryView {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  /** C++ objects bound to JS ones, typed arrays' and Buffers' contents included. */
  external: number;
  /** The part of `external` held by ArrayBuffers (typed arrays, Buffers). */
  arrayBuffers: number;
}

export function memoryView(): MemoryView {
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, heapTotal, external, arrayBuffers };
}

export interface ChunkserverView {
  csid: number;
  host: string;
  port: number;
  online: boolean;
  labels: string[];
  /** Its rack: the location path mfstopology.cfg gives its data address ('' when no line covers it). MooseFS 3.0's lists show none. */
  rack: string;
  chunks: number;
  totalSpace: number;
  usedSpace: number;
  damagedDisks: number;
  lastHeartbeatAgoSeconds: number;
  replicationsIn: number;
  replicationsOut: number;
  deletions: number;
  bytesRead: number;
  bytesWritten: number;
}

export interface DiskView {
  csid: number;
  host: string;
  port: number;
  path: string;
  status: 'ok' | 'damaged' | 'marked for removal';
  damaged: string | null;
  /**
   * Marked for removal: the copies on it whose chunk has not reached its goal elsewhere
   * yet (0: the disk can go; MooseFS's "ready"); null on other disks and before the chunk
   * loop has counted it.
   */
  left: number | null;
  chunks: number;
  totalSpace: number;
  usedSpace: number;
}

export interface SessionView {
  id: number;
  address: string;
  hostname: string;
  mountpoint: string;
  root: string;
  meta: boolean;
  readonly: boolean;
  connected: boolean;
  openFiles: number;
  attachedTo: number | null;
  exportRule: string;
  openedAt: string;
}

export interface ExportView {
  where: string;
  address: string;
  path: string;
  options: string;
}

export function infoView(src: ClusterSources, health: HealthView = healthView(src)): InfoView {
  const md = src.md();
  const servers = src.chunks.registry.all();
  const online = servers.filter(isOnline);
  const total = online.reduce((n, cs) => n + cs.totalSpace, 0);
  const used = online.reduce((n, cs) => n + Math.min(cs.usedSpace, cs.totalSpace), 0);
  let dirs = 0;
  let files = 0;
  for (const inode of md.inodes()) {
    const type = md.typeOf(inode);
    if (type === 'dir') dirs++;
    else if (type === 'file') files++;
  }
  let copies = 0;
  for (const id of md.chunks.ids()) copies += src.chunks.copies.of(id).size;
  return {
    version: MASTER_VERSION,
    protocolVersion: PROTOCOL_VERSION,
    uptimeSeconds: Math.round((Date.now() - src.startedAt) / 1000),
    metadataVersion: md.version,
    totalSpace: total,
    availSpace: total - used,
    usedSpace: used,
    trashSpace: keptSpace(md, md.trash),
    trashFiles: md.trash.size,
    sustainedSpace: keptSpace(md, md.sustained),
    sustainedFiles: md.sustained.size,
    inodes: md.inodeCount,
    dirs,
    files,
    chunks: md.chunks.count,
    copies,
    chunkservers: { total: servers.length, online: online.length },
    health: { lost: health.lost, underGoal: health.underGoal, overGoal: health.overGoal, ok: health.ok },
    replications: replicationsView(src),
    memory: memoryView(),
  };
}

function replicationsView(src: ClusterSources): ReplicationsView {
  const { config } = src.chunks.limits;
  return { inFlight: src.chunks.limits.inFlight(), started: { ...src.loop.started }, writeLimits: config.writesPerServer, readLimits: config.readsPerServer, globalLimit: config.global };
}

export function chunkserversView(src: ClusterSources, now = Date.now()): ChunkserverView[] {
  return src.chunks.registry
    .all()
    .sort((a, b) => a.csid - b.csid)
    .map((cs) => ({
      csid: cs.csid,
      host: cs.address.host,
      port: cs.address.port,
      online: isOnline(cs),
      labels: cs.labels,
      rack: src.chunks.rackOf(cs),
      chunks: src.chunks.copies.countOn(cs.csid),
      totalSpace: cs.totalSpace,
      usedSpace: cs.usedSpace,
      damagedDisks: cs.damagedDisks,
      lastHeartbeatAgoSeconds: Math.max(0, Math.round((now - cs.lastHeartbeatMs) / 100) / 10),
      replicationsIn: cs.load.repWrites,
      replicationsOut: cs.load.repReads,
      deletions: cs.load.deletes,
      bytesRead: cs.bytesRead,
      bytesWritten: cs.bytesWritten,
    }));
}

export function disksView(src: ClusterSources): DiskView[] {
  return src.chunks.registry
    .all()
    .filter(isOnline)
    .sort((a, b) => a.csid - b.csid)
    .flatMap((cs) =>
      cs.disks.map((d) => ({
        csid: cs.csid,
        host: cs.address.host,
        port: cs.address.port,
        path: d.path,
        status: d.damaged !== undefined ? ('damaged' as const) : d.markedForRemoval ? ('marked for removal' as const) : ('ok' as const),
        damaged: d.damaged ?? null,
        left: d.markedForRemoval && d.damaged === undefined ? (src.removal?.left(cs.csid, d.path) ?? null) : null,
        chunks: d.chunkCount,
        totalSpace: d.totalSpace,
        usedSpace: d.usedSpace,
      })),
    );
}

export function sessionsView(src: ClusterSources): SessionView[] {
  const md = src.md();
  return [...src.sessions()]
    .sort((a, b) => a.id - b.id)
    .map((s) => ({
      id: s.id,
      address: s.address.startsWith('::ffff:') ? s.address.slice(7) : s.address,
      hostname: s.hostname,
      mountpoint: s.mountpoint,
      root: s.meta ? '(meta)' : md.exists(s.root) ? md.dirPath(s.root) : `(inode ${s.root})`,
      meta: s.meta,
      readonly: s.readonly,
      connected: s.link !== undefined,
      openFiles: [...s.opens.values()].reduce((n, k) => n + k, 0),
      attachedTo: s.attachedTo ?? null,
      exportRule: s.rule.where,
      openedAt: new Date(s.openedAt).toISOString(),
    }));
}

export function exportsView(src: ClusterSources): ExportView[] {
  return src.exports().map((r) => ({
    where: r.where,
    address: addressRange(r.from, r.to),
    path: r.meta ? '.' : r.path,
    options: exportOptions(r),
  }));
}

function exportOptions(r: ExportRule): string {
  const o = [r.readonly ? 'ro' : 'rw'];
  if (r.alldirs) o.push('alldirs');
  if (r.admin) o.push('admin');
  if (r.mapall) o.push(`mapall=${r.mapall.uid}:${r.mapall.gid}`);
  else o.push(`maproot=${r.maproot.uid}:${r.maproot.gid}`);
  if (r.password !== undefined) o.push('password=***');
  o.push(`goal=${r.minGoal}-${r.maxGoal}`, `trashtime=${r.minTrashtime}-${r.maxTrashtime}`);
  return o.join(',');
}

function addressRange(from: number, to: number): string {
  if (from === 0 && to === 0xffffffff) return '*';
  if (from === to) return ipv4(from);
  return `${ipv4(from)}-${ipv4(to)}`;
}

function ipv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

function keptSpace(md: Metadata, kept: ReadonlyMap<number, unknown>): number {
  let n = 0;
  for (const inode of kept.keys()) n += md.size[inode] ?? 0;
  return n;
}

/** Everything the monitor page shows, in one document. */
export function overview(src: ClusterSources): {
  info: InfoView;
  chunkservers: ChunkserverView[];
  disks: DiskView[];
  sessions: SessionView[];
  health: HealthView;
  exports: ExportView[];
  quotas: QuotaView[];
  sclasses: SClassView[];
} {
  const health = healthView(src);
  return {
    info: infoView(src, health),
    chunkservers: chunkserversView(src),
    disks: disksView(src),
    sessions: sessionsView(src),
    health,
    exports: exportsView(src),
    quotas: quotasView(src.md()),
    sclasses: sclassesView(src.md(), src.chunks),
  };
}
