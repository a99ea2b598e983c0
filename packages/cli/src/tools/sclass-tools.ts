import { type CreateMode, type SClassInfo, Status, TsmfsError } from '@tsmfs/protocol';
import { EXIT, type ExitCode, UsageError, describeError, exitCodeOf } from '../exit-codes.js';
import { formatNumber } from '../number-format.js';
import type { PathResolver, ToolTarget } from '../path-resolver.js';
import { type ToolIo, forEachPath, row } from '../tool-io.js';

/** mfsscadmin's verbs and their synonyms. */
const VERBS: Record<string, 'create' | 'change' | 'delete' | 'copy' | 'rename' | 'list'> = {
  create: 'create',
  make: 'create',
  change: 'change',
  modify: 'change',
  delete: 'delete',
  remove: 'delete',
  copy: 'copy',
  duplicate: 'copy',
  rename: 'rename',
  list: 'list',
};

export interface ScadminOptions {
  a?: string;
  m?: string;
  C?: string;
  K?: string;
  A?: string;
  d?: string;
  f?: boolean;
  l?: boolean;
}

/**
 * `tsmfs scadmin [/MOUNTPOINT] VERB …` (mfsscadmin): the mount point, or the current
 * directory, says which file system. One line per class named, as mfsscadmin prints it:
 * `storage class make NAME: ok` or `…: error: REASON`; the exit code is 1 when any failed.
 */
export async function scadmin(resolver: PathResolver, io: ToolIo, args: readonly string[], o: ScadminOptions): Promise<ExitCode> {
  const rest = [...args];
  let where = '.';
  if (rest[0] !== undefined && VERBS[rest[0]] === undefined) where = rest.shift()!;
  const verb = VERBS[rest.shift() ?? ''];
  if (!verb) throw new UsageError(`unknown storage class admin command; commands: ${Object.keys(VERBS).join(', ')}`);
  const t = await resolver.resolve(where);
  if (verb === 'list') return listClasses(t, io, !!o.l, true);
  const cred = t.session.cred;
  if (verb === 'create') {
    if ((o.A !== undefined || o.C !== undefined) && o.K === undefined) throw new UsageError(`option '-${o.A !== undefined ? 'A' : 'C'}' without '-K'`);
    if ((o.A === undefined) !== (o.d === undefined)) throw new UsageError("options '-A' and '-d' go together");
    // Without -K the first argument is the labels (create, keep and archive alike).
    const keep = o.K ?? (rest.length > 1 ? rest.shift() : undefined);
    if (keep === undefined) throw new UsageError('keep labels (-K) are required');
    const fields = { adminOnly: adminOnly(o.a) ?? false, mode: createMode(o.m) ?? 'default', create: o.C ?? '', keep, archive: o.A ?? '', archiveDelay: days(o.d) ?? 0 };
    return each(io, needNames(rest), (name) => `storage class make ${name}`, (name) => t.session.call('sclassCreate', { cred, name, ...fields }));
  }
  if (verb === 'change') {
    const changes = { adminOnly: adminOnly(o.a), mode: createMode(o.m), create: o.C, keep: o.K, archive: o.A, archiveDelay: days(o.d) };
    const given = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
    // As mfsscadmin: the class as it is after the change, in list -l's words.
    const changeOne = async (name: string) => {
      await t.session.call('sclassChange', { cred, name, force: !!o.f, ...given });
      const c = (await t.session.call('sclassList', {})).classes.find((x) => x.name === name);
      return c ? describeClass(c) : '';
    };
    return each(io, needNames(rest), (name) => `storage class change ${name}`, changeOne);
  }
  if (verb === 'delete') return each(io, needNames(rest), (name) => `storage class remove ${name}`, (name) => t.session.call('sclassDelete', { cred, name }));
  if (rest.length < 2) throw new UsageError(`${verb}: SRC_SCLASS_NAME DST_SCLASS_NAME needed`);
  const src = rest.shift()!;
  if (verb === 'rename') {
    if (rest.length !== 1) throw new UsageError('rename: exactly one DST_SCLASS_NAME');
    return each(io, rest, (dst) => `storage class move ${src}->${dst}`, (dst) => t.session.call('sclassRename', { cred, src, dst }));
  }
  return each(io, rest, (dst) => `storage class copy ${src}->${dst}`, (dst) => t.session.call('sclassCopy', { cred, src, dst }));
}

/** mfslistsclass: every class (MooseFS 3.0.117 lists 1-9 too, with or without -a), with -l each with its definition. */
export async function listsclass(resolver: PathResolver, io: ToolIo, where: string | undefined, long: boolean, all: boolean): Promise<ExitCode> {
  return listClasses(await resolver.resolve(where ?? '.'), io, long, all);
}

/** The classes, by name, or with -l each with its definition; `all`: the predefined 1-9 too. */
async function listClasses(t: ToolTarget, io: ToolIo, long: boolean, all: boolean): Promise<ExitCode> {
  const { classes } = await t.session.call('sclassList', {});
  for (const c of classes) if (all || c.id > PREDEFINED) io.out(long ? `${c.name} : ${describeClass(c)}` : c.name);
  return EXIT.ok;
}

const PREDEFINED = 9;

/**
 * A class's definition as MooseFS 3.0's tools print it: the copies (create->keep, and
 * ->archive with an archive delay, when they differ), admin only, mode (STD for default),
 * the labels expressions as the master gives them (MooseFS's form), the delay.
 */
export function describeClass(c: SClassInfo): string {
  const copies = (expr: string) => expr.split(' , ').length;
  const counts = c.archiveDelay === 0 ? [copies(c.create), copies(c.keep)] : [copies(c.create), copies(c.keep), copies(c.archive)];
  const parts = [counts.every((n) => n === counts[0]) ? String(counts[0]) : counts.join('->')];
  parts.push(`admin_only: ${c.adminOnly ? 'YES' : 'NO'}`, `mode: ${c.mode === 'default' ? 'STD' : c.mode.toUpperCase()}`);
  parts.push(`create_labels: ${c.create}`, `keep_labels: ${c.keep}`);
  if (c.archiveDelay !== 0) parts.push(`arch_labels: ${c.archive}`, `arch_delay: ${c.archiveDelay}d`);
  return parts.join(' ; ');
}

/** getsclass: each PATH's class; with -r the files and directories under each directory by class. */
export function getsclass(resolver: PathResolver, io: ToolIo, paths: readonly string[], recursive: boolean): Promise<ExitCode> {
  return forEachPath(
    io,
    paths,
    async (path) => {
      const t = await resolver.resolve(path);
      const { histogram } = await t.session.call('getsclass', { inode: t.inode, recursive });
      // As MooseFS: the predefined classes 1-9 are shown as goals, the others by name.
      const named = (h: (typeof histogram)[number]) => h.id > PREDEFINED;
      if (!recursive) {
        const h = histogram[0];
        io.out(`${path}: ${h === undefined ? '?' : named(h) ? `'${h.name}'` : h.id}`);
        return;
      }
      const count = (n: number) => ` ${formatNumber(n, io.format)}`;
      io.out(`${path}:`);
      for (const h of histogram) {
        if (h.files > 0) io.out(named(h) ? ` files with storage class       '${h.name}' :${count(h.files)}` : ` files with goal                ${h.id} :${count(h.files)}`);
      }
      for (const h of histogram) {
        if (h.dirs > 0) io.out(named(h) ? ` directories with storage class '${h.name}' :${count(h.dirs)}` : ` directories with goal          ${h.id} :${count(h.dirs)}`);
      }
    },
    recursive,
  );
}

/**
 * setsclass NAME, xchgsclass OLD NEW (`from`): the class per PATH; with -r mfssetsclass's
 * counts. `asGoal`: copysclass of a predefined class, which MooseFS's tool reports as a goal.
 */
export function setsclass(resolver: PathResolver, io: ToolIo, name: string, paths: readonly string[], recursive: boolean, from?: string, asGoal = false): Promise<ExitCode> {
  return forEachPath(
    io,
    paths,
    async (path) => {
      const t = await resolver.resolve(path);
      const counts = await t.session.call('setsclass', { cred: t.session.cred, inode: t.inode, name, recursive, ...(from === undefined ? {} : { from }) });
      if (!recursive) {
        if (counts.denied > 0) throw new TsmfsError(Status.EPERM, 'only the owner or root may change the storage class');
        if (counts.changed === 0 && from !== undefined) io.out(`${path}: storage class not changed`);
        else io.out(asGoal ? `${path}: goal: ${name}` : `${path}: storage class: '${name}'`);
        return;
      }
      const what = asGoal ? 'goal' : 'storage class';
      io.out(`${path}:`);
      io.out(row(io, ` inodes with ${what} changed:`.padEnd(40), counts.changed));
      io.out(row(io, ` inodes with ${what} not changed:`.padEnd(40), counts.notChanged));
      io.out(row(io, ' inodes with permission denied:         ', counts.denied));
    },
    recursive,
  );
}

/** copysclass SRC PATH…: SRC's class as getsclass prints it, then each PATH set to it (mfscopysclass). */
export async function copysclass(resolver: PathResolver, io: ToolIo, src: string, paths: readonly string[], recursive: boolean): Promise<ExitCode> {
  const s = await resolver.resolve(src);
  const { histogram } = await s.session.call('getsclass', { inode: s.inode, recursive: false });
  const h = histogram[0];
  if (h === undefined) throw new TsmfsError(Status.EIO, `${src}: the master answered no storage class`);
  io.out(`${src}: ${h.id > PREDEFINED ? `'${h.name}'` : h.id}`);
  return setsclass(resolver, io, h.name, paths, recursive, undefined, h.id <= PREDEFINED);
}

/** setarchive (`on`) / clrarchive: the files of each PATH's tree; mfssetarchive's three counts. */
export function archive(resolver: PathResolver, io: ToolIo, on: boolean, paths: readonly string[]): Promise<ExitCode> {
  return forEachPath(io, paths, async (path) => {
    const t = await resolver.resolve(path);
    const counts = await t.session.call('archive', { cred: t.session.cred, inode: t.inode, on });
    io.out(`${path}:`);
    io.out(row(io, ' chunks changed:               ', counts.changed));
    io.out(row(io, ' chunks not changed:           ', counts.notChanged));
    io.out(row(io, ' files with permission denied: ', counts.denied));
  });
}

/** chkarchive: a file's archive state, or a directory's files and chunks counted by it (mfschkarchive). */
export function chkarchive(resolver: PathResolver, io: ToolIo, paths: readonly string[]): Promise<ExitCode> {
  return forEachPath(io, paths, async (path) => {
    const t = await resolver.resolve(path);
    const s = await t.session.call('chkarchive', { inode: t.inode });
    // One file (a directory holding one included): one line, as mfschkarchive.
    if (s.archivedFiles + s.notArchivedFiles === 1) {
      io.out(`${path}: ${s.archivedFiles > 0 ? 'all chunks are archived' : 'all chunks are not archived'}`);
      return;
    }
    io.out(`${path}:`);
    io.out(row(io, ' files with all chunks archived:     ', s.archivedFiles));
    io.out(row(io, ' files with all chunks not archived: ', s.notArchivedFiles));
    io.out(row(io, ' files partially archived:           ', 0));
    io.out(row(io, ' archived chunks:                    ', s.archivedChunks));
    io.out(row(io, ' not archived chunks:                ', s.notArchivedChunks));
  });
}

/**
 * Runs one request per name, printing `what: ok` (or `what: ` and what `run` returns) or
 * `what: error: REASON`, as mfsscadmin.
 */
async function each(io: ToolIo, names: readonly string[], what: (name: string) => string, run: (name: string) => Promise<unknown>): Promise<ExitCode> {
  let code: ExitCode = EXIT.ok;
  for (const name of names) {
    try {
      const shown = await run(name);
      io.out(`${what(name)}: ${typeof shown === 'string' ? shown : 'ok'}`);
    } catch (err) {
      io.out(`${what(name)}: error: ${describeError(err)}`);
      const c = exitCodeOf(err);
      if (code === EXIT.ok || c > code) code = c;
    }
  }
  return code;
}

function needNames(names: string[]): string[] {
  if (names.length === 0) throw new UsageError('no storage class name given');
  return names;
}

/** -a: 1 (or y, t: admin only) or 0 (or n, f: anybody), by its first character as mfsscadmin reads it. */
function adminOnly(text: string | undefined): boolean | undefined {
  if (text === undefined) return undefined;
  const c = text[0]?.toLowerCase() ?? '';
  if ('1yt'.includes(c) && c !== '') return true;
  if ('0nf'.includes(c) && c !== '') return false;
  throw new UsageError(`-a takes 1 (admin only) or 0 (anybody), not '${text}'`);
}

/** -m: d (default), s (strict) or l (loose), by its first character in either case, as mfsscadmin reads it. */
function createMode(text: string | undefined): CreateMode | undefined {
  if (text === undefined) return undefined;
  const mode = (['default', 'strict', 'loose'] as const).find((m) => m[0] === text[0]?.toLowerCase());
  if (!mode) throw new UsageError(`-m takes d (default), s (strict) or l (loose), not '${text}'`);
  return mode;
}

function days(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+)d?$/.exec(text);
  if (!m || Number(m[1]) > 0xffffffff) throw new UsageError(`-d takes a number of days, not '${text}'`);
  return Number(m[1]);
}
