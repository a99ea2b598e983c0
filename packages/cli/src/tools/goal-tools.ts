import { type GoalMode, type Histogram, Status, TsmfsError } from '@tsmfs/protocol';
import { UsageError } from '../exit-codes.js';
import { formatNumber } from '../number-format.js';
import type { PathResolver } from '../path-resolver.js';
import { type ToolIo, forEachPath, row } from '../tool-io.js';

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

type Which = 'goal' | 'trashtime';

const LABEL: Record<Which, string> = { goal: 'goal', trashtime: 'trashtime' };

/** getgoal / gettrashtime: one value per PATH; with -r a histogram of the tree under each directory. */
export async function getValue(which: Which, resolver: PathResolver, io: ToolIo, paths: readonly string[], recursive: boolean) {
  return forEachPath(
    io,
    paths,
    async (path) => {
      const t = await resolver.resolve(path);
      const histogram: Histogram = which === 'goal' ? await t.session.getgoal(t.inode, { recursive }) : await t.session.gettrashtime(t.inode, { recursive });
      if (!recursive || !t.isDirectory) {
        io.out(`${path}: ${histogram[0]?.value ?? '?'}`);
        return;
      }
      io.out(`${path}:`);
      for (const h of histogram) if (h.files > 0) io.out(` files with ${LABEL[which]} ${String(h.value).padStart(10)} :${formatNumber(h.files, io.format).padStart(12)}`);
      for (const h of histogram) if (h.dirs > 0) io.out(` directories with ${LABEL[which]} ${String(h.value).padStart(4)} :${formatNumber(h.dirs, io.format).padStart(12)}`);
    },
    recursive,
  );
}

/** setgoal / settrashtime: the new value per PATH; with -r MooseFS's changed / not changed / denied counts. */
export async function setValue(which: Which, resolver: PathResolver, io: ToolIo, arg: ValueArg, paths: readonly string[], recursive: boolean) {
  return forEachPath(
    io,
    paths,
    async (path) => {
      const t = await resolver.resolve(path);
      const counts =
        which === 'goal'
          ? await t.session.setgoal(t.inode, arg.value, { mode: arg.mode, recursive })
          : await t.session.settrashtime(t.inode, arg.value, { mode: arg.mode, recursive });
      if (!recursive) {
        if (counts.denied > 0) throw new TsmfsError(Status.EPERM, `only the owner or root may change the ${LABEL[which]}`);
        const now = which === 'goal' ? await t.session.getgoal(t.inode) : await t.session.gettrashtime(t.inode);
        io.out(`${path}: ${now[0]?.value ?? '?'}`);
        return;
      }
      io.out(`${path}:`);
      io.out(row(io, ` inodes with ${LABEL[which]} changed:`, counts.changed, 40));
      io.out(row(io, ` inodes with ${LABEL[which]} not changed:`, counts.notChanged, 40));
      io.out(row(io, ` inodes with permission denied:`, counts.denied, 40));
    },
    recursive,
  );
}

/** copygoal / copytrashtime SRC DST…: DST… take SRC's value, as setgoal/settrashtime would set it (mfscopygoal). */
export async function copyValue(which: Which, resolver: PathResolver, io: ToolIo, src: string, paths: readonly string[], recursive: boolean) {
  const s = await resolver.resolve(src);
  const histogram = which === 'goal' ? await s.session.getgoal(s.inode) : await s.session.gettrashtime(s.inode);
  const value = histogram[0]?.value;
  if (value === undefined) throw new TsmfsError(Status.EIO, `${src}: the master answered no ${LABEL[which]}`);
  return setValue(which, resolver, io, { value, mode: 'set' }, paths, recursive);
}
