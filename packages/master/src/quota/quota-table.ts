import type { Timespec } from '@tsmfs/protocol';

/**
 * MooseFS's directory quotas (mfssetquota): per directory, soft and hard limits on the
 * inodes of its subtree, the sum of its files' lengths, of their chunks' sizes and of
 * those sizes times the goal (realsize). This file is the data only: what a quota holds
 * and its changelog entry; quota-usage.ts keeps the usage, quota-checks.ts refuses.
 */
export const QUOTA_KINDS = ['inodes', 'length', 'size', 'realsize'] as const;
export type QuotaKind = (typeof QUOTA_KINDS)[number];
export type QuotaValues = Partial<Record<QuotaKind, number>>;
export type Usage = Record<QuotaKind, number>;

/** MooseFS's default soft-quota grace period (QUOTA_DEFAULT_GRACE_PERIOD): seven days. */
export const DEFAULT_QUOTA_GRACE = 7 * 86_400;

export interface QuotaLimits {
  /** Seconds a soft limit may stay exceeded before it acts as a hard one; 0: the master's default (QUOTA_DEFAULT_GRACE_PERIOD). */
  grace: number;
  soft: QuotaValues;
  hard: QuotaValues;
}

export interface QuotaEntry extends QuotaLimits {
  /** The subtree's current totals, kept up to date by every change (quota-usage.ts); never dumped. */
  usage: Usage;
  /** When (seconds, a mutation's ts) a soft limit was first found exceeded; absent while none is. */
  softSince?: number;
}

/**
 * The changelog entry: the directory's limits as they are after the change (set, delete
 * or copy all end here), or null when it has none left. The master works out the
 * merge, so replay only stores.
 */
export type QuotaMutation = { op: 'quota'; ts: Timespec; inode: number; limits: QuotaLimits | null };

export function zeroUsage(): Usage {
  return { inodes: 0, length: 0, size: 0, realsize: 0 };
}

export function hasLimits(l: QuotaLimits): boolean {
  return Object.keys(l.soft).length > 0 || Object.keys(l.hard).length > 0;
}

/** Directory inode → its quota. Rare (a few per file system): a Map beside the inode columns. */
export class QuotaTable {
  readonly byDir = new Map<number, QuotaEntry>();

  get size(): number {
    return this.byDir.size;
  }

  get(dir: number): QuotaEntry | undefined {
    return this.byDir.get(dir);
  }

  has(dir: number): boolean {
    return this.byDir.has(dir);
  }

  delete(dir: number): void {
    this.byDir.delete(dir);
  }

  /** The dumped part: limits and the soft timer (usage is recomputed when loaded). */
  toJSON(): [number, QuotaLimits & { softSince?: number }][] {
    return [...this.byDir].map(([dir, q]) => {
      const { usage: _usage, ...kept } = q;
      return [dir, kept];
    });
  }

  static fromJSON(rows: [number, QuotaLimits & { softSince?: number }][]): QuotaTable {
    const table = new QuotaTable();
    for (const [dir, q] of rows) table.byDir.set(dir, { ...q, usage: zeroUsage() });
    return table;
  }
}
