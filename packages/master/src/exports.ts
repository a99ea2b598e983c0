import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { contentLines } from '@tsmfs/daemon';
import { MAX_GOAL, Status, TsmfsError } from '@tsmfs/protocol';

/**
 * The exports file, in MooseFS's mfsexports.cfg syntax: `ADDRESS DIRECTORY [OPTIONS]`
 * per line, `#` comments. A client session is admitted by the best rule matching its
 * address and requested directory, with MooseFS's preferences (rw over ro, unmapped root
 * over mapped, admin, password-protected, longer path).
 */
export interface ExportRule {
  /** Where the rule was written, for messages: `file:line`. */
  where: string;
  /** Inclusive IPv4 range as unsigned 32-bit numbers. */
  from: number;
  to: number;
  /** `.`: the meta file system (trash, sustained files). */
  meta: boolean;
  /** Normalised: '/' or '/a/b' (no trailing slash); '' for meta. */
  path: string;
  readonly: boolean;
  alldirs: boolean;
  admin: boolean;
  maproot: IdPair;
  mapall?: IdPair;
  password?: string;
  minGoal: number;
  maxGoal: number;
  minTrashtime: number;
  maxTrashtime: number;
}

export interface IdPair {
  uid: number;
  gid: number;
}

/** An exports file that cannot be used; the message names file and line. */
export class ExportsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportsError';
  }
}

/** MooseFS's shipped mfsexports.cfg, used when the exports file does not exist. */
export const DEFAULT_EXPORTS = '*\t/\trw,alldirs,admin,maproot=0:0\n*\t.\trw\n';

const U32_MAX = 0xffff_ffff;

/** MooseFS's defaults for an option a rule does not give. */
const RULE_DEFAULTS = {
  readonly: true,
  alldirs: false,
  admin: false,
  maproot: { uid: 999, gid: 999 },
  minGoal: 1,
  maxGoal: MAX_GOAL,
  minTrashtime: 0,
  maxTrashtime: U32_MAX,
} as const;

/** MooseFS options we accept and ignore (they concern features tsmfs does not have). */
const IGNORED_OPTIONS = new Set(['dynamicip', 'ignoregid', 'canchangequota', 'umask', 'sclassgroups', 'disable', 'minversion']);

export interface ParsedExports {
  rules: ExportRule[];
  warnings: string[];
}

export interface UserDb {
  user(name: string): IdPair | undefined;
  uidGid(uid: number): number | undefined;
  group(name: string): number | undefined;
}

export function loadExports(file: string, users: UserDb = systemUsers()): ParsedExports & { usedDefault: boolean } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ExportsError(`${file}: cannot read exports file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    return { ...parseExports(DEFAULT_EXPORTS, '(default exports)', users), usedDefault: true };
  }
  return { ...parseExports(text, file, users), usedDefault: false };
}

export function parseExports(text: string, file: string, users: UserDb = systemUsers()): ParsedExports {
  const rules: ExportRule[] = [];
  const warnings: string[] = [];
  for (const { line, where } of contentLines(text, file)) rules.push(parseRule(line, where, users, warnings));
  return { rules, warnings };
}

function parseRule(line: string, where: string, users: UserDb, warnings: string[]): ExportRule {
  const fields = line.split(/\s+/);
  if (fields.length < 2 || fields.length > 3) {
    throw new ExportsError(`${where}: expected 'ADDRESS DIRECTORY [OPTIONS]', found '${line}'`);
  }
  const [address, directory, options] = fields as [string, string, string | undefined];
  const range = parseAddressRange(address);
  if (!range) throw new ExportsError(`${where}: '${address}' is not an address, network or range (use *, A.B.C.D, A.B.C.D/BITS, A.B.C.D/MASK or A.B.C.D-E.F.G.H)`);
  const meta = directory === '.';
  if (!meta && !directory.startsWith('/')) throw new ExportsError(`${where}: directory '${directory}' must start with '/' (or be '.' for the meta file system)`);
  const rule: ExportRule = { where, ...range, meta, path: meta ? '' : normalisePath(directory, where), ...RULE_DEFAULTS };
  for (const option of options ? options.split(',') : []) applyOption(rule, option.trim(), where, users, warnings);
  if (rule.minGoal > rule.maxGoal) throw new ExportsError(`${where}: mingoal ${rule.minGoal} is above maxgoal ${rule.maxGoal}`);
  if (rule.minTrashtime > rule.maxTrashtime) throw new ExportsError(`${where}: mintrashtime is above maxtrashtime`);
  return rule;
}

function applyOption(rule: ExportRule, option: string, where: string, users: UserDb, warnings: string[]): void {
  if (option === '') return;
  const eq = option.indexOf('=');
  const name = (eq < 0 ? option : option.slice(0, eq)).toLowerCase();
  const value = eq < 0 ? undefined : option.slice(eq + 1);
  const at = `${where}: ${name}`;
  const need = (): string => {
    if (value === undefined || value === '') throw new ExportsError(`${at}: needs a value (${name}=…)`);
    return value;
  };
  switch (name) {
    case 'ro':
    case 'readonly':
      rule.readonly = true;
      return;
    case 'rw':
    case 'readwrite':
      rule.readonly = false;
      return;
    case 'alldirs':
      rule.alldirs = true;
      return;
    case 'admin':
      rule.admin = true;
      return;
    case 'maproot':
      rule.maproot = parseIds(need(), at, users);
      return;
    case 'mapall':
      rule.mapall = parseIds(need(), at, users);
      return;
    case 'password':
      rule.password = need();
      return;
    case 'md5pass':
      // The wire digest is sha256(nonce ‖ password); an MD5 of the password cannot be
      // checked against it. Ignoring the option would leave the export open.
      throw new ExportsError(`${at}: md5pass is not supported by tsmfs (use password=)`);
    case 'mingoal':
      rule.minGoal = parseGoal(need(), at);
      return;
    case 'maxgoal':
      rule.maxGoal = parseGoal(need(), at);
      return;
    case 'mintrashtime':
    case 'mintrashretention':
      rule.minTrashtime = parseDuration(need(), at);
      return;
    case 'maxtrashtime':
    case 'maxtrashretention':
      rule.maxTrashtime = parseDuration(need(), at);
      return;
    default:
      if (IGNORED_OPTIONS.has(name)) {
        warnings.push(`${at}: option not supported by tsmfs (ignored)`);
        return;
      }
      throw new ExportsError(`${where}: unknown option '${option}'`);
  }
}

function normalisePath(directory: string, where: string): string {
  const parts = directory.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '.' || p === '..')) throw new ExportsError(`${where}: directory '${directory}' may not contain '.' or '..'`);
  return `/${parts.join('/')}`;
}

function parseGoal(value: string, at: string): number {
  if (!/^\d$/.test(value) || Number(value) < 1 || Number(value) > MAX_GOAL) throw new ExportsError(`${at}: '${value}' is not a goal (1..${MAX_GOAL})`);
  return Number(value);
}

function parseIds(value: string, at: string, users: UserDb): IdPair {
  const [userPart, groupPart] = value.split(':', 2) as [string, string | undefined];
  let gid: number | undefined;
  if (groupPart !== undefined) {
    gid = /^\d+$/.test(groupPart) ? Number(groupPart) : users.group(groupPart);
    if (gid === undefined || gid > U32_MAX) throw new ExportsError(`${at}: no group named '${groupPart}'`);
  }
  if (/^\d+$/.test(userPart)) {
    const uid = Number(userPart);
    if (uid > U32_MAX) throw new ExportsError(`${at}: uid ${userPart} is out of range`);
    // MooseFS takes the gid of a bare uid from the passwd database; a uid it does not
    // know keeps gid = uid rather than refusing the whole file.
    return { uid, gid: gid ?? users.uidGid(uid) ?? uid };
  }
  const user = users.user(userPart);
  if (!user) throw new ExportsError(`${at}: no user named '${userPart}'`);
  return { uid: user.uid, gid: gid ?? user.gid };
}

const UNITS: Record<string, number> = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 };

/**
 * MooseFS's TIMEDURATION: a bare number of seconds, or `#W#D#H#M#S` elements in that
 * order (case-insensitive, each optional), e.g. 2h30m, 12w, 11d13h46m40s.
 */
export function parseDuration(value: string, at = 'duration'): number {
  const text = value.toLowerCase();
  if (/^\d+$/.test(text)) return checkDuration(Number(text), value, at);
  const m = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === '') throw new ExportsError(`${at}: '${value}' is not a time duration (seconds, or e.g. 1w2d3h4m5s)`);
  const total = ['w', 'd', 'h', 'm', 's'].reduce((sum, unit, i) => sum + Number(m[i + 1] ?? 0) * UNITS[unit]!, 0);
  return checkDuration(total, value, at);
}

function checkDuration(seconds: number, value: string, at: string): number {
  if (seconds > U32_MAX) throw new ExportsError(`${at}: '${value}' is longer than ${U32_MAX} seconds`);
  return seconds;
}

// ---- addresses ----------------------------------------------------------------------

/** Parses an ADDRESS field into an inclusive range, or undefined if malformed. */
export function parseAddressRange(text: string): { from: number; to: number } | undefined {
  if (text === '*') return { from: 0, to: U32_MAX };
  const slash = text.indexOf('/');
  const dash = text.indexOf('-');
  if (slash >= 0) {
    const base = parseIPv4(text.slice(0, slash));
    const maskText = text.slice(slash + 1);
    const mask = /^\d{1,2}$/.test(maskText) ? bitsToMask(Number(maskText)) : parseIPv4(maskText);
    if (base === undefined || mask === undefined) return undefined;
    const from = (base & mask) >>> 0;
    return { from, to: (from | ~mask) >>> 0 };
  }
  if (dash >= 0) {
    const from = parseIPv4(text.slice(0, dash));
    const to = parseIPv4(text.slice(dash + 1));
    if (from === undefined || to === undefined || from > to) return undefined;
    return { from, to };
  }
  const ip = parseIPv4(text);
  return ip === undefined ? undefined : { from: ip, to: ip };
}

function bitsToMask(bits: number): number | undefined {
  if (bits > 32) return undefined;
  return bits === 0 ? 0 : (U32_MAX << (32 - bits)) >>> 0;
}

/** Dotted quad to an unsigned number; also accepts the IPv4-mapped IPv6 form Node reports. */
export function parseIPv4(text: string): number | undefined {
  const plain = text.startsWith('::ffff:') ? text.slice(7) : text;
  const parts = plain.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

// ---- matching -----------------------------------------------------------------------

export interface ExportRequest {
  /** The peer's address as the socket reports it. */
  address: string;
  /** Requested directory ('/' or '/a/b'); ignored for meta. */
  path: string;
  meta: boolean;
  /** The handshake nonce and the client's sha256(nonce ‖ password), if it sent one. */
  nonce: Uint8Array;
  passwordDigest?: Uint8Array;
}

/**
 * The rule admitting this request, or a TsmfsError (EACCES) saying why none does. An
 * address that is not IPv4 matches only `*` rules (MooseFS is IPv4-only).
 */
export function matchExport(rules: readonly ExportRule[], req: ExportRequest): ExportRule {
  const ip = parseIPv4(req.address);
  const path = req.meta ? '' : `/${req.path.split('/').filter((p) => p !== '').join('/')}`;
  let best: ExportRule | undefined;
  let passwordRefusal: ExportRule | undefined;
  for (const rule of rules) {
    if (!addressMatches(rule, ip) || rule.meta !== req.meta || !pathMatches(rule, path)) continue;
    if (rule.password !== undefined && !passwordMatches(rule.password, req)) {
      passwordRefusal ??= rule;
      continue;
    }
    if (!best || preferred(rule, best)) best = rule;
  }
  // A wrong password is refused even when a rule without one would admit the client
  // (MooseFS would fall back to that rule): a mistyped password must not mount quietly
  // with other rights than the ones asked for.
  const wrongPassword = req.passwordDigest !== undefined && passwordRefusal !== undefined && best?.password === undefined;
  if (best && !wrongPassword) return best;
  const what = req.meta ? 'the meta file system' : `path ${path}`;
  if (passwordRefusal) {
    const reason = req.passwordDigest ? 'wrong password' : 'a password is required';
    throw new TsmfsError(Status.EACCES, `${reason} for ${what} (export rule ${passwordRefusal.where})`);
  }
  throw new TsmfsError(Status.EACCES, `no export rule for ${req.address} matches ${what}`);
}

function addressMatches(rule: ExportRule, ip: number | undefined): boolean {
  if (ip === undefined) return rule.from === 0 && rule.to === U32_MAX;
  return ip >= rule.from && ip <= rule.to;
}

function pathMatches(rule: ExportRule, path: string): boolean {
  if (rule.meta) return true;
  if (path === rule.path) return true;
  if (!rule.alldirs) return false;
  return rule.path === '/' || path.startsWith(`${rule.path}/`);
}

function passwordMatches(password: string, req: ExportRequest): boolean {
  if (!req.passwordDigest) return false;
  const expected = passwordDigest(req.nonce, password);
  return expected.length === req.passwordDigest.length && timingSafeEqual(expected, req.passwordDigest);
}

/** sha256(nonce ‖ password): what a client sends instead of the password. */
export function passwordDigest(nonce: Uint8Array, password: string): Buffer {
  return createHash('sha256').update(nonce).update(password, 'utf8').digest();
}

/** MooseFS's order of preference between two matching rules. */
function preferred(a: ExportRule, b: ExportRule): boolean {
  if (a.readonly !== b.readonly) return !a.readonly;
  const aRoot = !a.mapall && a.maproot.uid === 0;
  const bRoot = !b.mapall && b.maproot.uid === 0;
  if (aRoot !== bRoot) return aRoot;
  if (a.admin !== b.admin) return a.admin;
  if ((a.password !== undefined) !== (b.password !== undefined)) return a.password !== undefined;
  return a.path.length > b.path.length;
}

// ---- /etc/passwd and /etc/group ------------------------------------------------------

/** Names resolved from /etc/passwd and /etc/group on the master, as MooseFS does. */
export function systemUsers(passwdFile = '/etc/passwd', groupFile = '/etc/group'): UserDb {
  const read = (f: string): string[][] => {
    try {
      return readFileSync(f, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
    } catch {
      return [];
    }
  };
  const passwd = read(passwdFile);
  const groups = read(groupFile);
  return {
    user: (name) => {
      const row = passwd.find((r) => r[0] === name);
      return row ? { uid: Number(row[2]), gid: Number(row[3]) } : undefined;
    },
    uidGid: (uid) => {
      const row = passwd.find((r) => Number(r[2]) === uid);
      return row ? Number(row[3]) : undefined;
    },
    group: (name) => {
      const row = groups.find((r) => r[0] === name);
      return row ? Number(row[2]) : undefined;
    },
  };
}
