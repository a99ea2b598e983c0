import { readFileSync } from 'node:fs';
import type { Address } from '@tsmfs/protocol';
import { NICE_LEVEL_DEFAULT } from '@tsmfs/daemon';
import { parseAddressList } from '@tsmfs/rpc';
import { type CacheMode, parseCacheMode } from './page-cache.js';

/** Everything `tsmfs-mount` was told, after parsing. */
export interface MountConfig {
  mountpoint: string;
  masters: Address[];
  subdir: string;
  meta: boolean;
  readonly: boolean;
  password: string | undefined;
  /** How long an operation waits for a lost master to come back, seconds. */
  masterTimeoutSec: number;
  attrTimeoutSec: number;
  entryTimeoutSec: number;
  readAheadMax: number;
  /** -o mfscachemode (AUTO by default, as mfsmount; -o mfscachefiles is YES): page-cache.ts. */
  cacheMode: CacheMode;
  /** -o mfsnice: the nice level the mount gives itself at start (MooseFS's option and default). */
  niceLevel: number;
  allowOther: boolean;
  /**
   * Ask the kernel to enforce POSIX ACLs (FUSE_CAP_POSIX_ACL); `-o noacl` (ext4's name)
   * says not to: the kernel then checks mode bits only (docs/mount.md, "Without the
   * kernel's ACL checks").
   */
  posixAcl: boolean;
  /** -o options passed through to FUSE (fuse_mount and the low-level session). */
  fuseOptions: string[];
}

export const DEFAULTS = {
  port: 9421,
  masterTimeoutSec: 60,
  attrTimeoutSec: 1,
  entryTimeoutSec: 1,
  readAheadMax: 8 << 20,
  niceLevel: NICE_LEVEL_DEFAULT,
} as const;

/**
 * The -o options tsmfs-mount takes itself (MooseFS's names where it has one); any other
 * option goes to FUSE unchanged.
 */
const OWN_OPTIONS = new Set([
  'password',
  'mfspassword',
  'mfsmaster',
  'mfsport',
  'mfssubfolder',
  'mfsmeta',
  'mfstimeout',
  'mfsattrcacheto',
  'mfsentrycacheto',
  'mfsdirentrycacheto',
  'mfsreadaheadmax',
  'mfscachemode',
  'mfscachefiles',
  'mfsnice',
  'mfscfgfile',
  'noacl',
]);

/** Read when it exists, as mfsmount reads /etc/mfs/mfsmount.cfg; `-c FILE` names another. */
export const DEFAULT_OPTIONS_FILE = '/etc/tsmfs/tsmfsmount.cfg';

/** What an options file (mfsmount.cfg's format) holds. */
export interface OptionsFile {
  /** Its option lines, in order: defaults that -o on the command line overrides. */
  options: string[];
  /** A line starting with '/': the mount point used when none is given. */
  mountpoint: string | undefined;
}

/**
 * mfsmount.cfg's format: `#` comments, blank lines, option lines (`KEY[=VALUE]`, several
 * comma-separated or one per line), and at most one line that is a mount point (starts
 * with '/'). Errors name the file and line.
 */
export function readOptionsFile(path: string): OptionsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`options file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const out: OptionsFile = { options: [], mountpoint: undefined };
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    if (line.startsWith('/')) {
      if (out.mountpoint !== undefined) throw new Error(`${path}:${i + 1}: a second default mount point (${line}; ${out.mountpoint} before)`);
      out.mountpoint = line;
    } else if (/\s/.test(line)) {
      throw new Error(`${path}:${i + 1}: options are separated by commas, not spaces: ${line}`);
    } else out.options.push(line);
  });
  return out;
}

/** What `HOST[:PORT]:[PATH]` (mfsmount's and mount(8)'s first argument) says. */
export interface MountSpec {
  host: string;
  port: string | undefined;
  subdir: string | undefined;
}

/**
 * `HOST[:PORT]:[PATH]`, HOST possibly a comma-separated list of masters: the part after
 * the last ':' is the subfolder (empty: the root), a number before it the port.
 * (IPv6 addresses go to -H, which takes `[addr]:port`.)
 */
export function parseMountSpec(spec: string): MountSpec {
  const last = spec.lastIndexOf(':');
  if (last < 0) throw new Error(`${spec}: not HOST[:PORT]:[PATH]`);
  const path = spec.slice(last + 1);
  if (path !== '' && !path.startsWith('/')) throw new Error(`${spec}: the path after the last ':' must start with '/'`);
  let hostPart = spec.slice(0, last);
  let port: string | undefined;
  const m = /^(.*):(\d+)$/.exec(hostPart);
  if (m) {
    hostPart = m[1]!;
    port = m[2];
  }
  if (hostPart === '') throw new Error(`${spec}: no host`);
  return { host: hostPart, port, subdir: path === '' ? undefined : path };
}

/** Splits every -o argument at commas into KEY[=VALUE] items, `\,` keeping a comma. */
export function splitOptions(values: string[]): [string, string | undefined][] {
  const out: [string, string | undefined][] = [];
  for (const v of values) {
    for (const item of v.split(/(?<!\\),/)) {
      if (item === '') continue;
      const eq = item.indexOf('=');
      const key = eq < 0 ? item : item.slice(0, eq);
      out.push([key, eq < 0 ? undefined : item.slice(eq + 1).replaceAll('\\,', ',')]);
    }
  }
  return out;
}

/** `HOST[:PORT][,HOST[:PORT]…]`, each without a port taking `port` (the daemons' MASTER_HOST syntax). */
export function parseMasters(hosts: string, port: number): Address[] {
  try {
    return parseAddressList(hosts, port);
  } catch (err) {
    throw new Error(`-H ${hosts}: ${(err as Error).message}`);
  }
}

export interface CliFlags {
  host?: string;
  port?: string;
  subdir?: string;
  meta?: boolean;
  option: string[];
}

export function mountConfig(mountpoint: string, flags: CliFlags): MountConfig {
  const opts = splitOptions(flags.option);
  const get = (k: string): string | undefined => opts.findLast(([key]) => key === k)?.[1];
  const has = (k: string): boolean => opts.some(([key]) => key === k);
  const num = (k: string, dflt: number): number => {
    const v = get(k);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`-o ${k}=${v}: not a number`);
    return n;
  };
  const port = Number(flags.port ?? get('mfsport') ?? DEFAULTS.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad port ${flags.port}`);
  const masters = parseMasters(flags.host ?? get('mfsmaster') ?? 'mfsmaster', port);
  const readonly = has('ro');
  const fuseOptions = opts
    .filter(([k]) => !OWN_OPTIONS.has(k) && k !== 'rw')
    .map(([k, v]) => (v === undefined ? k : `${k}=${v}`));
  const entry = num('mfsentrycacheto', DEFAULTS.entryTimeoutSec);
  return {
    mountpoint,
    masters,
    subdir: flags.subdir ?? get('mfssubfolder') ?? '/',
    meta: Boolean(flags.meta) || has('mfsmeta'),
    readonly,
    password: get('password') ?? get('mfspassword'),
    masterTimeoutSec: num('mfstimeout', DEFAULTS.masterTimeoutSec),
    attrTimeoutSec: num('mfsattrcacheto', DEFAULTS.attrTimeoutSec),
    entryTimeoutSec: Math.min(entry, num('mfsdirentrycacheto', entry)),
    readAheadMax: num('mfsreadaheadmax', DEFAULTS.readAheadMax),
    cacheMode: has('mfscachefiles') ? 'YES' : parseCacheMode(get('mfscachemode') ?? 'AUTO'),
    niceLevel: niceLevel(get('mfsnice')),
    allowOther: process.getuid?.() === 0 || has('allow_other'),
    posixAcl: !has('noacl'),
    fuseOptions,
  };
}

/** -o mfsnice=N: an integer nice level, -20..19 as setpriority(2) takes. */
function niceLevel(v: string | undefined): number {
  if (v === undefined) return DEFAULTS.niceLevel;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || n < -20 || n > 19) throw new Error(`-o mfsnice=${v}: not a nice level (-20..19)`);
  return n;
}
