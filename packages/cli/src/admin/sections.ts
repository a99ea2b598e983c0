import type { ChunkserverView, DiskView, ExportView, GroupStatus, HealthView, InfoView, QuotaView, SClassView, SessionView } from '@tsmfs/master';
import type { AdminClient } from './admin-client.js';
import { matrixPlain, matrixTable } from './health-matrix.js';
import { bytes, textTable } from './text-table.js';

/** mfscli's sections that tsmfs-cli shows: the letter code after -S, the API document, the text form. */
export interface Section<T = unknown> {
  code: string;
  title: string;
  path: string;
  /** How the document is fetched, when it is more than GET `path`. */
  load?: (client: AdminClient) => Promise<T>;
  text: (data: T, plain: boolean, o: TextOptions) => string;
}

/** mfscli's -m (which view of a section) and -p (its plain, tab-separated lines where tsmfs-cli has them). */
export interface TextOptions {
  mode: number;
  mfsPlain: boolean;
}

const pct = (used: number, total: number) => (total > 0 ? `${((100 * used) / total).toFixed(1)}%` : '-');

/** -SIN's document: the master's figures and, for an HA group, the group as its leader sees it. */
type InfoWithGroup = InfoView & { group: GroupStatus; leaderGroup?: GroupStatus };

/** The group as `status` (one master's /api/status) and its leader's see it; '' for a lone master. */
function groupText(g: GroupStatus, leader: GroupStatus | undefined): string {
  if (g.role === 'alone') return '';
  const lead = leader ?? (g.role === 'leader' ? g : undefined);
  const rows: (string | number)[][] = [
    ['HA group', g.cluster ?? '-'],
    ['this master', `${g.self.client} (${g.role})`],
    ['leader', g.leader ? `${g.leader.client} (http ${g.leader.http})` : 'none (election under way)'],
    ['epoch', g.epoch],
    ['failovers seen', g.failovers],
  ];
  if (g.follower) rows.push(['applied / leader version (lag)', `${g.follower.appliedVersion} / ${g.follower.leaderVersion} (${g.follower.lag})`]);
  const sync = lead?.sync;
  rows.push(['synchronous standbys', sync ? `${sync.standbys} wanted; set in etcd: ${sync.set.length ? sync.set.join(', ') : '(empty)'}` : '0 (asynchronous failover)']);
  let out = `\n${textTable(['group', 'value'], rows)}`;
  if (sync && sync.followers.length) {
    const version = lead!.metadataVersion;
    out += `\n\n${textTable(
      ['follower', 'acked version', 'behind', 'state', 'link'],
      sync.followers.map((f) => [f.member, f.acked, Math.max(0, version - f.acked), f.state, f.connected ? 'up' : 'down']),
    )}`;
  }
  return out;
}

const info: Section<InfoWithGroup> = {
  code: 'IN',
  title: 'master info',
  path: '/api/v1/info',
  load: async (client) => {
    const [i, group] = await Promise.all([client.get<InfoView>('/api/v1/info'), client.get<GroupStatus>('/api/status')]);
    // A follower's view of the group is partial: the leader knows the standbys.
    let leaderGroup: GroupStatus | undefined;
    if (group.role === 'follower' && group.leader) {
      const [host, port] = splitHostPort(group.leader.http);
      leaderGroup = await client.at(host, port).get<GroupStatus>('/api/status').catch(() => undefined);
    }
    return { ...i, group, leaderGroup };
  },
  text: (i, plain) =>
    textTable(
      ['item', 'value'],
      [
        ['version', i.version],
        ['protocol version', i.protocolVersion],
        ['uptime (s)', i.uptimeSeconds],
        ['metadata version', i.metadataVersion],
        ['total space', bytes(i.totalSpace, plain)],
        ['available space', bytes(i.availSpace, plain)],
        ['used space', `${bytes(i.usedSpace, plain)} (${pct(i.usedSpace, i.totalSpace)})`],
        ['trash', `${i.trashFiles} files, ${bytes(i.trashSpace, plain)}`],
        ['sustained', `${i.sustainedFiles} files, ${bytes(i.sustainedSpace, plain)}`],
        ['inodes', i.inodes],
        ['directories', i.dirs],
        ['files', i.files],
        ['chunks', i.chunks],
        ['chunk copies', i.copies],
        ['chunkservers (online/total)', `${i.chunkservers.online}/${i.chunkservers.total}`],
        ['chunks lost / under goal / over goal', `${i.health.lost} / ${i.health.underGoal} / ${i.health.overGoal}`],
        ...replicationRows(i.replications),
        ['memory (rss / heap used)', `${bytes(i.memory.rss, plain)} / ${bytes(i.memory.heapUsed, plain)}`],
      ],
    ) + groupText(i.group, i.leaderGroup),
};

/** The chunk loop's replications by kind, in the limits' order, and the limits (as mfsmaster.cfg writes them). */
function replicationRows(r: InfoView['replications']): (string | number)[][] {
  const byKind = (k: typeof r.started) => `${k.endangered} / ${k.underGoal} / ${k.wrongLabels} / ${k.rebalance}`;
  return [
    ['replications in flight (endangered/under/labels/rebalance)', byKind(r.inFlight)],
    ['replications started (endangered/under/labels/rebalance)', byKind(r.started)],
    ['replication limits (write; read; cluster)', `${r.writeLimits.join(',')}; ${r.readLimits.join(',')}; ${r.globalLimit}`],
  ];
}

/** "HOST:PORT" or "[V6]:PORT". */
function splitHostPort(hp: string): [string, number] {
  const at = hp.lastIndexOf(':');
  return [hp.slice(0, at).replace(/^\[|\]$/g, ''), Number(hp.slice(at + 1))];
}

const chunkservers: Section<ChunkserverView[]> = {
  code: 'CS',
  title: 'chunkservers',
  path: '/api/v1/chunkservers',
  text: (list, plain) =>
    textTable(
      ['id', 'ip:port', 'status', 'chunks', 'used', 'total', '% used', 'damaged disks', 'last heartbeat (s)', 'labels', 'rack'],
      list.map((c) => [c.csid, `${c.host}:${c.port}`, c.online ? 'online' : 'OFFLINE', c.chunks, bytes(c.usedSpace, plain), bytes(c.totalSpace, plain), pct(c.usedSpace, c.totalSpace), c.damagedDisks, c.lastHeartbeatAgoSeconds, c.labels.join(',') || '-', c.rack || '-']),
    ),
};

const disks: Section<DiskView[]> = {
  code: 'HD',
  title: 'disks',
  path: '/api/v1/disks',
  text: (list, plain) =>
    textTable(
      ['ip:port', 'path', 'status', 'chunks', 'used', 'total', '% used'],
      list.map((d) => [`${d.host}:${d.port}`, d.path, d.damaged ? `damaged (${d.damaged})` : d.left !== null ? `${d.status} (${d.left === 0 ? 'ready' : `${d.left} left`})` : d.status, d.chunks, bytes(d.usedSpace, plain), bytes(d.totalSpace, plain), pct(d.usedSpace, d.totalSpace)]),
    ),
};

const sessions: Section<SessionView[]> = {
  code: 'MU',
  title: 'mounts (sessions)',
  path: '/api/v1/sessions',
  text: (list) =>
    textTable(
      ['session', 'ip', 'host', 'mountpoint', 'root', 'mode', 'open files', 'state', 'export rule'],
      list.map((s) => [s.id, s.address, s.hostname, s.mountpoint || '-', s.root, `${s.meta ? 'meta ' : ''}${s.readonly ? 'ro' : 'rw'}${s.attachedTo !== null ? ` tool of ${s.attachedTo}` : ''}`, s.openFiles, s.connected ? 'connected' : 'disconnected', s.exportRule]),
    ),
};

/** mfscli -SIC: the chunks state matrix by goal (the copies the class keeps) and valid copies; -m 1 the "regular" one. */
const health: Section<HealthView> = {
  code: 'IC',
  title: 'chunk health: chunks by goal and valid copies',
  path: '/api/v1/health',
  text: (h, _plain, o) => (o.mfsPlain ? matrixPlain(h, o.mode === 1) : matrixTable(h, o.mode === 1)),
};

const exportsSection: Section<ExportView[]> = {
  code: 'EX',
  title: 'exports',
  path: '/api/v1/exports',
  text: (list) => textTable(['address', 'path', 'options', 'defined at'], list.map((e) => [e.address, e.path, e.options, e.where])),
};

/** mfscli -SQU: every directory quota, each kind as current / soft / hard ('-': no limit). */
const quotas: Section<QuotaView[]> = {
  code: 'QU',
  title: 'quotas',
  path: '/api/v1/quotas',
  text: (list, plain) => {
    const kinds = ['inodes', 'length', 'size', 'realsize'] as const;
    const show = (k: (typeof kinds)[number], v: number | undefined) => (v === undefined ? '-' : k === 'inodes' ? v : bytes(v, plain));
    return textTable(
      ['path', 'exceeded', 'grace period (s)', 'grace left (s)', ...kinds.flatMap((k) => [`${k}`, 'soft', 'hard'])],
      list.map((q) => [q.path, q.exceeded, q.grace || 'default', q.graceLeft ?? '-', ...kinds.flatMap((k) => [show(k, q.usage[k]), show(k, q.soft[k]), show(k, q.hard[k])])]),
    );
  },
};

/**
 * mfscli -SSC's plain lines (MooseFS 3.0.117): id, name, admin only, mode, files, dirs,
 * standard then archived chunks under / exact / over goal ('-' for a zero under or over;
 * without an archive delay the archived count with the standard and '-' for all three),
 * then for create, keep and archive: can be fulfilled, goal, labels; last the delay.
 */
function sclassLines(list: readonly SClassView[]): string {
  return list
    .map((c) => {
      const arch = c.archiveDelay > 0;
      const std = arch ? c.copies.standard : { under: c.copies.standard.under + c.copies.archived.under, exact: c.copies.standard.exact + c.copies.archived.exact, over: c.copies.standard.over + c.copies.archived.over };
      const counts = (k: { under: number; exact: number; over: number }) => [k.under || '-', k.exact, k.over || '-'];
      const labels = (can: boolean, shown: string) => [can ? 'YES' : 'NO', shown.split(' , ').length, shown];
      return [
        'storage classes:',
        c.id,
        c.name,
        c.adminOnly ? 'YES' : 'NO',
        c.mode === 'default' ? 'STD' : c.mode.toUpperCase(),
        c.files,
        c.dirs,
        ...counts(std),
        ...(arch ? counts(c.copies.archived) : ['-', '-', '-']),
        ...labels(c.canCreate, c.shown.create),
        ...labels(c.canKeep, c.shown.keep),
        ...labels(c.canArchive, c.shown.archive),
        arch ? `${c.archiveDelay}d` : '-',
      ].join('\t');
    })
    .join('\n');
}

/** mfscli -SSC: every storage class, its files and its chunks by state against its labels; -p mfscli's plain lines. */
const sclasses: Section<SClassView[]> = {
  code: 'SC',
  title: 'storage classes',
  path: '/api/v1/sclasses',
  text: (list, _plain, o) => {
    if (o.mfsPlain) return sclassLines(list);
    const labels = (expr: string, ok: boolean) => `${expr}${ok ? '' : ' (cannot be met)'}`;
    return textTable(
      ['id', 'name', 'admin only', 'mode', 'files', 'dirs', 'chunks', 'lost', 'under goal', 'misplaced', 'over goal', 'ok', 'archived', 'create labels', 'keep labels', 'archive labels', 'archive delay'],
      list.map((c) => [
        c.id,
        c.name,
        c.adminOnly ? 'YES' : 'NO',
        c.mode.toUpperCase(),
        c.files,
        c.dirs,
        c.chunks.total,
        c.chunks.lost,
        c.chunks.underGoal,
        c.chunks.misplaced,
        c.chunks.overGoal,
        c.chunks.ok,
        c.chunks.archived,
        labels(c.create || c.keep, c.canCreate),
        labels(c.keep, c.canKeep),
        labels(c.archive || c.keep, c.canArchive),
        c.archive ? `${c.archiveDelay}d` : '-',
      ]),
    );
  },
};

export const SECTIONS: readonly Section<any>[] = [info, chunkservers, disks, sessions, health, exportsSection, quotas, sclasses];

export function sectionByCode(code: string): Section<any> | undefined {
  return SECTIONS.find((s) => s.code === code.toUpperCase());
}

export async function fetchSections(client: AdminClient, sections: readonly Section<any>[]): Promise<Record<string, unknown>> {
  const docs = await Promise.all(sections.map((s) => (s.load ? s.load(client) : client.get(s.path))));
  return Object.fromEntries(sections.map((s, i) => [s.code, docs[i]]));
}
