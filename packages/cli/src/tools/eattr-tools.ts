import { EATTR, EATTR_NAMES, Status, TsmfsError, eattrText } from '@tsmfs/protocol';
import { UsageError } from '../exit-codes.js';
import { formatNumber } from '../number-format.js';
import type { PathResolver } from '../path-resolver.js';
import { type ToolIo, forEachPath, row } from '../tool-io.js';

/** The -f arguments (each a name or a comma-separated list) as one mask. */
export function parseEattrNames(args: readonly string[]): number {
  let mask = 0;
  for (const arg of args) {
    for (const name of arg.split(',')) {
      const bit = EATTR[name.trim() as keyof typeof EATTR];
      if (bit === undefined) throw new UsageError(`unknown attribute '${name}'; attributes: ${EATTR_NAMES.join(', ')}`);
      mask |= bit;
    }
  }
  if (mask === 0) throw new UsageError('no attribute(s) given (-f NAME)');
  return mask;
}

/** geteattr: the flags of each PATH; with -r the nodes under each directory counted by their flags. */
export async function geteattr(resolver: PathResolver, io: ToolIo, paths: readonly string[], recursive: boolean) {
  return forEachPath(
    io,
    paths,
    async (path) => {
      const t = await resolver.resolve(path);
      const { histogram } = await t.session.call('geteattr', { inode: t.inode, recursive });
      if (!recursive || !t.isDirectory) {
        io.out(`${path}: ${eattrText(histogram[0]?.value ?? 0)}`);
        return;
      }
      io.out(`${path}:`);
      for (const h of histogram) if (h.files > 0) io.out(` not directory nodes with attribute ${eattrText(h.value).padStart(16)} :${formatNumber(h.files, io.format).padStart(12)}`);
      for (const h of histogram) if (h.dirs > 0) io.out(` directories with attribute         ${eattrText(h.value).padStart(16)} :${formatNumber(h.dirs, io.format).padStart(12)}`);
    },
    recursive,
  );
}

/**
 * seteattr / deleattr / copyeattr: `set` bits on and `clear` bits off on each PATH;
 * alone "attribute(s) changed" or "not changed", with -r mfsseteattr's three counts.
 */
export async function changeEattr(resolver: PathResolver, io: ToolIo, set: number, clear: number, paths: readonly string[], recursive: boolean) {
  return forEachPath(
    io,
    paths,
    async (path) => {
      const t = await resolver.resolve(path);
      const counts = await t.session.call('seteattr', { cred: t.session.cred, inode: t.inode, set, clear, recursive });
      if (!recursive) {
        if (counts.denied > 0) throw new TsmfsError(Status.EPERM, 'only the owner may change these attributes, and only root on an admin export undeletable, appendonly and immutable');
        io.out(`${path}: attribute(s) ${counts.changed > 0 ? 'changed' : 'not changed'}`);
        return;
      }
      io.out(`${path}:`);
      io.out(row(io, ' inodes with attributes changed:', counts.changed, 37));
      io.out(row(io, ' inodes with attributes not changed:', counts.notChanged, 37));
      io.out(row(io, ' inodes with permission denied:', counts.denied, 37));
    },
    recursive,
  );
}

/** copyeattr SRC PATH…: each PATH gets exactly SRC's flags. */
export async function copyeattr(resolver: PathResolver, io: ToolIo, src: string, paths: readonly string[], recursive: boolean) {
  const s = await resolver.resolve(src);
  const { histogram } = await s.session.call('geteattr', { inode: s.inode, recursive: false });
  const value = histogram[0]?.value ?? 0;
  return changeEattr(resolver, io, value, ~value & 0xff, paths, recursive);
}

/**
 * rmsnapshot [-f] PATH…: removes each snapshot tree (mfsrmsnapshot, a quick rm -r of what
 * makesnapshot made). Without -f a tree holding anything not made by a snapshot is left
 * whole (EPERM); with -f what makesnapshot made goes and the rest stays.
 */
export async function rmsnapshot(resolver: PathResolver, io: ToolIo, paths: readonly string[], force: boolean) {
  return forEachPath(io, paths, async (path) => {
    const { parent, name } = await resolver.resolveNew(path.replace(/\/+$/, ''));
    const r = await parent.session.call('rmsnapshot', { cred: parent.session.cred, parent: parent.inode, name, force });
    if (force && r.kept > 0) io.err(`${path}: ${formatNumber(r.kept, io.format)} node(s) left (not part of a snapshot, or not removable)`);
  });
}
