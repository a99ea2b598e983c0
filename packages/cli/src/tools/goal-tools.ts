import { type GoalMode, Status, TsmfsError } from '@tsmfs/protocol';
import { UsageError } from '../exit-codes.js';
import type { PathResolver } from '../path-resolver.js';
import { type ToolIo, forEachPath, row } from '../tool-io.js';
import { getsclass } from './sclass-tools.js';

/** What `GOAL`, `GOAL+`, `GOAL-` (and SECONDS…) mean: set, raise to, lower to. */
export interface ValueArg {
  value: number;
  mode: GoalMode;
}

export function parseValueArg(text: string, what: 'goal' | 'trashtime'): ValueArg {
  const m = /^(\d+)([+-]?)$/.exec(text);
  const max = what === 'goal' ? 9 : 0xffffffff;
  const min = what === 'goal' ? 1 : 0;
  const value = m ? Number(m[1]) : NaN;
  if (!m || value < min || value > max) {
    throw new UsageError(what === 'goal' ? `bad goal '${text}': a number 1-9, optionally followed by + or -` : `bad trash time '${text}': seconds (0-4294967295), optionally followed by + or -`);
  }
  return { value, mode: m[2] === '+' ? 'increase' : m[2] === '-' ? 'decrease' : 'set' };
}

/**
 * getgoal: MooseFS 3.0's mfsgetgoal is mfsgetsclass (one tool, one output): a goal 1-9
 * prints as its number, any other class as its quoted name, also in -r's summary.
 */
export function getgoal(resolver: PathResolver, io: ToolIo, paths: readonly string[], recursive: boolean) {
  return getsclass(resolver, io, paths, recursive);
}

/** gettrashtime: one value per PATH; with -r the tree under each directory by trash time (mfsgettrashtime's columns). */
export function gettrashtime(resolver: PathResolver, io: ToolIo, paths: readonly string[], recursive: boolean) {
  return forEachPath(
    io,
    paths,
    async (path) => {
      const t = await resolver.resolve(path);
      const histogram = await t.session.gettrashtime(t.inode, { recursive });
      // -r on a file too prints the histogram form (of one file), as mfsgettrashtime -r does.
      if (!recursive) {
        io.out(`${path}: ${histogram[0]?.value ?? '?'}`);
        return;
      }
      io.out(`${path}:`);
      for (const h of histogram) if (h.files > 0) io.out(row(io, ` files with trashtime        ${String(h.value).padStart(10)} : `, h.files));
      for (const h of histogram) if (h.dirs > 0) io.out(row(io, ` directories with trashtime  ${String(h.value).padStart(10)} : `, h.dirs));
    },
    recursive,
  );
}

/**
 * setgoal N[+|-]: as mfssetgoal (MooseFS 3.0's set_sclass with a goal): `PATH: goal: N`
 * when set (always for a plain N, as MooseFS prints it), `PATH: goal not changed` when
 * N+ or N- left it; with -r the changed / not changed / denied counts.
 */
export function setgoal(resolver: PathResolver, io: ToolIo, arg: ValueArg, paths: readonly string[], recursive: boolean) {
  return forEachPath(
    io,
    paths,
    async (path) => {
      const t = await resolver.resolve(path);
      const counts = await t.session.setgoal(t.inode, arg.value, { mode: arg.mode, recursive });
      if (!recursive) {
        if (counts.denied > 0) throw new TsmfsError(Status.EPERM, 'only the owner or root may change the goal');
        io.out(counts.changed > 0 || arg.mode === 'set' ? `${path}: goal: ${arg.value}` : `${path}: goal not changed`);
        return;
      }
      io.out(`${path}:`);
      io.out(row(io, ' inodes with goal changed:              ', counts.changed));
      io.out(row(io, ' inodes with goal not changed:          ', counts.notChanged));
      io.out(row(io, ' inodes with permission denied:         ', counts.denied));
    },
    recursive,
  );
}

/** settrashtime SECONDS[+|-]: as mfssettrashtime; `PATH: trashtime not changed` when SECONDS+ or SECONDS- left it. */
export function settrashtime(resolver: PathResolver, io: ToolIo, arg: ValueArg, paths: readonly string[], recursive: boolean) {
  return forEachPath(
    io,
    paths,
    async (path) => {
      const t = await resolver.resolve(path);
      const counts = await t.session.settrashtime(t.inode, arg.value, { mode: arg.mode, recursive });
      if (!recursive) {
        if (counts.denied > 0) throw new TsmfsError(Status.EPERM, 'only the owner or root may change the trashtime');
        io.out(counts.changed > 0 || arg.mode === 'set' ? `${path}: ${arg.value}` : `${path}: trashtime not changed`);
        return;
      }
      io.out(`${path}:`);
      io.out(row(io, ' inodes with trashtime changed:     ', counts.changed));
      io.out(row(io, ' inodes with trashtime not changed: ', counts.notChanged));
      io.out(row(io, ' inodes with permission denied:     ', counts.denied));
    },
    recursive,
  );
}

/** copygoal SRC DST…: mfscopygoal is mfscopysclass (SRC's class printed first, then each DST set to it). */
export { copysclass as copygoal } from './sclass-tools.js';

/** copytrashtime SRC DST…: SRC's trash time printed as gettrashtime prints it, then each DST set to it (mfscopytrashtime). */
export async function copytrashtime(resolver: PathResolver, io: ToolIo, src: string, paths: readonly string[], recursive: boolean) {
  const s = await resolver.resolve(src);
  const value = (await s.session.gettrashtime(s.inode))[0]?.value;
  if (value === undefined) throw new TsmfsError(Status.EIO, `${src}: the master answered no trashtime`);
  io.out(`${src}: ${value}`);
  return settrashtime(resolver, io, { value, mode: 'set' }, paths, recursive);
}
