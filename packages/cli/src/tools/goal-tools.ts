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

type Which = 'goal' | 'trashtime';

/**
 * What setgoal and settrashtime print, as mfssetgoal (MooseFS 3.0's set_sclass with a
 * goal) and mfssettrashtime: the value set (always for a plain N, also when it already
 * was), or "not changed" when N+ or N- left it; with -r the three counts, their labels
 * padded as MooseFS pads them.
 */
const SET_OUTPUT: Record<Which, { shown: (v: number) => string; labels: [string, string, string] }> = {
  goal: { shown: (v) => `goal: ${v}`, labels: [' inodes with goal changed:              ', ' inodes with goal not changed:          ', ' inodes with permission denied:         '] },
  trashtime: { shown: (v) => String(v), labels: [' inodes with trashtime changed:     ', ' inodes with trashtime not changed: ', ' inodes with permission denied:     '] },
};

function setValue(which: Which, resolver: PathResolver, io: ToolIo, arg: ValueArg, paths: readonly string[], recursive: boolean) {
  const { shown, labels } = SET_OUTPUT[which];
  return forEachPath(
    io,
    paths,
    async (path) => {
      const t = await resolver.resolve(path);
      const o = { mode: arg.mode, recursive };
      const counts = which === 'goal' ? await t.session.setgoal(t.inode, arg.value, o) : await t.session.settrashtime(t.inode, arg.value, o);
      if (!recursive) {
        if (counts.denied > 0) throw new TsmfsError(Status.EPERM, `only the owner or root may change the ${which}`);
        io.out(counts.changed > 0 || arg.mode === 'set' ? `${path}: ${shown(arg.value)}` : `${path}: ${which} not changed`);
        return;
      }
      io.out(`${path}:`);
      [counts.changed, counts.notChanged, counts.denied].forEach((n, i) => io.out(row(io, labels[i]!, n)));
    },
    recursive,
  );
}

/** setgoal N[+|-] (mfssetgoal): `PATH: goal: N`, or `PATH: goal not changed`. */
export function setgoal(resolver: PathResolver, io: ToolIo, arg: ValueArg, paths: readonly string[], recursive: boolean) {
  return setValue('goal', resolver, io, arg, paths, recursive);
}

/** settrashtime SECONDS[+|-] (mfssettrashtime): `PATH: SECONDS`, or `PATH: trashtime not changed`. */
export function settrashtime(resolver: PathResolver, io: ToolIo, arg: ValueArg, paths: readonly string[], recursive: boolean) {
  return setValue('trashtime', resolver, io, arg, paths, recursive);
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
