import type { QuotaInfo } from '@tsmfs/protocol';
import { UsageError } from '../exit-codes.js';
import { type NumberFormat, formatNumber, noNumber } from '../number-format.js';
import type { PathResolver } from '../path-resolver.js';
import { type ToolIo, forEachPath } from '../tool-io.js';

/** What a quota limits, in MooseFS's option letters: lower case soft, upper case hard. */
const KINDS = [
  { kind: 'inodes', letter: 'i', bytes: false },
  { kind: 'length', letter: 'l', bytes: true },
  { kind: 'size', letter: 's', bytes: true },
  { kind: 'realsize', letter: 'r', bytes: true },
] as const;
type Kind = (typeof KINDS)[number]['kind'];
type Values = Partial<Record<Kind, number>>;

export interface QuotaArgs {
  soft: Values;
  hard: Values;
  grace?: number;
}

/**
 * setquota's options (-i/-I, -l/-L, -s/-S, -r/-R, -p) as commander parsed them. Numbers
 * take MooseFS's suffixes: k (or K), M, G, T, P, E are powers of 1000, Ki, Mi… powers of 1024,
 * an optional trailing B.
 */
export function quotaArgs(opts: Record<string, unknown>): QuotaArgs {
  const out: QuotaArgs = { soft: {}, hard: {} };
  for (const { kind, letter } of KINDS) {
    if (typeof opts[letter] === 'string') out.soft[kind] = parseQuotaNumber(opts[letter] as string);
    if (typeof opts[letter.toUpperCase()] === 'string') out.hard[kind] = parseQuotaNumber(opts[letter.toUpperCase()] as string);
  }
  if (typeof opts.p === 'string') out.grace = parseGrace(opts.p);
  if (Object.keys(out.soft).length + Object.keys(out.hard).length === 0) throw new UsageError('no quota given: use -i/-I, -l/-L, -s/-S or -r/-R');
  return out;
}

export function parseQuotaNumber(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(?:([kKMGTPE])(i?))?B?$/.exec(text);
  if (!m) throw new UsageError(`bad number '${text}': digits, optionally with k, M, G, T, P, E (×1000) or Ki, Mi… (×1024)`);
  const power = m[2] ? 'KMGTPE'.indexOf(m[2].toUpperCase()) + 1 : 0;
  const value = Math.floor(Number(m[1]) * (m[3] ? 1024 : 1000) ** power);
  if (!Number.isSafeInteger(value)) throw new UsageError(`number '${text}' is too large`);
  return value;
}

/** A grace period: seconds, or MooseFS's time format (e.g. 7d, 1h30m, 2w). */
export function parseGrace(text: string): number {
  const m = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$/.exec(text);
  if (!m || text === '') throw new UsageError(`bad grace period '${text}': seconds, or e.g. 7d, 1h30m`);
  const [w, d, h, min, s] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number];
  const seconds = (((w * 7 + d) * 24 + h) * 60 + min) * 60 + s;
  if (seconds > 0xffffffff) throw new UsageError(`grace period '${text}' is too long`);
  return seconds;
}

/** delquota's options: -a all soft, -A all hard, or each letter. */
export function quotaKindsToDelete(opts: Record<string, unknown>): { soft: Kind[]; hard: Kind[] } {
  const soft = KINDS.filter(({ letter }) => opts.a === true || opts[letter] === true).map((k) => k.kind);
  const hard = KINDS.filter(({ letter }) => opts.A === true || opts[letter.toUpperCase()] === true).map((k) => k.kind);
  if (soft.length + hard.length === 0) throw new UsageError('nothing to delete: use -a, -A or one of -i -I -l -L -s -S -r -R');
  return { soft, hard };
}

export function getquota(resolver: PathResolver, io: ToolIo, paths: readonly string[]) {
  return forEachPath(io, paths, async (path) => {
    const t = await resolver.resolve(path);
    printQuota(io, path, await t.session.call('getquota', { inode: t.inode }));
  });
}

export function setquota(resolver: PathResolver, io: ToolIo, args: QuotaArgs, paths: readonly string[]) {
  return forEachPath(io, paths, async (path) => {
    const t = await resolver.resolve(path);
    const req = { cred: t.session.cred, inode: t.inode, soft: args.soft, hard: args.hard, ...(args.grace === undefined ? {} : { grace: args.grace }) };
    printQuota(io, path, await t.session.call('setquota', req));
  });
}

export function delquota(resolver: PathResolver, io: ToolIo, kinds: { soft: Kind[]; hard: Kind[] }, paths: readonly string[]) {
  return forEachPath(io, paths, async (path) => {
    const t = await resolver.resolve(path);
    printQuota(io, path, await t.session.call('delquota', { cred: t.session.cred, inode: t.inode, ...kinds }));
  });
}

/**
 * copyquota SRC DST…: each DST gets SRC's limits and grace period; its other limits stay.
 * Prints SRC's table, then each DST's as set, as mfscopyquota does (which takes one DST).
 */
export async function copyquota(resolver: PathResolver, io: ToolIo, src: string, paths: readonly string[]) {
  const s = await resolver.resolve(src);
  const info = await s.session.call('getquota', { inode: s.inode });
  if (!info.quota) throw new UsageError(`${src}: has no quota to copy`);
  printQuota(io, src, info);
  const { soft, hard, grace } = info.quota;
  return forEachPath(io, paths, async (path) => {
    const t = await resolver.resolve(path);
    printQuota(io, path, await t.session.call('setquota', { cred: t.session.cred, inode: t.inode, soft, hard, grace }));
  });
}

/** MooseFS's table: current value, soft and hard limit per kind ('-' where none is set). */
export function quotaLines(path: string, info: QuotaInfo, format: NumberFormat): string[] {
  const q = info.quota;
  const grace = q && q.grace > 0 ? `${q.grace} seconds` : 'default';
  const lines = [`${path}: (current values | soft quota | hard quota) ; soft quota grace period: ${grace}`];
  for (const { kind, bytes } of KINDS) {
    const cell = (n: number | undefined) => column(n, bytes, format);
    lines.push(` ${kind.padEnd(8)} | ${cell(info.usage[kind])} | ${cell(q?.soft[kind])} | ${cell(q?.hard[kind])} |`);
  }
  return lines;
}

/** Every quota column is 64-bit in MooseFS's table (inodes too), length, size and realsize are bytes. */
function column(n: number | undefined, bytes: boolean, format: NumberFormat): string {
  const kind = { wide: true, bytes };
  return n === undefined ? noNumber(format, kind) : formatNumber(n, format, kind);
}

function printQuota(io: ToolIo, path: string, info: QuotaInfo): void {
  for (const line of quotaLines(path, info, io.format)) io.out(line);
}
