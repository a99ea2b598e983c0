import type { Metadata } from '../metadata/metadata.js';
import { DEFAULT_QUOTA_GRACE, type QuotaValues, type Usage } from '../quota/quota-table.js';

/** One directory quota as the monitor and tsmfs-cli -SQU show it (MooseFS's "Quotas" tab). */
export interface QuotaView {
  path: string;
  inode: number;
  /** 'hard': a hard limit is reached or a soft one's grace ran out (growth is refused); 'soft': a soft limit is passed, grace running; 'no'. */
  exceeded: 'no' | 'soft' | 'hard';
  /** 0: the master's default (QUOTA_DEFAULT_GRACE_PERIOD). */
  grace: number;
  /** Seconds of grace left (a default grace counted as 7 days) while a soft limit is passed; null otherwise. */
  graceLeft: number | null;
  usage: Usage;
  soft: QuotaValues;
  hard: QuotaValues;
}

export function quotasView(md: Metadata, nowSec = Math.floor(Date.now() / 1000)): QuotaView[] {
  const out: QuotaView[] = [];
  for (const [dir, q] of md.quotas.byDir) {
    const kinds = Object.keys(q.usage) as (keyof Usage)[];
    const atHard = kinds.some((k) => q.hard[k] !== undefined && q.usage[k] >= q.hard[k]!);
    const graceLeft = q.softSince === undefined ? null : Math.max(0, q.softSince + (q.grace || DEFAULT_QUOTA_GRACE) - nowSec);
    const exceeded = atHard || graceLeft === 0 ? 'hard' : graceLeft !== null ? 'soft' : 'no';
    out.push({ path: md.isLinked(dir) ? md.dirPath(dir) : `inode ${dir}`, inode: dir, exceeded, grace: q.grace, graceLeft, usage: { ...q.usage }, soft: { ...q.soft }, hard: { ...q.hard } });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
