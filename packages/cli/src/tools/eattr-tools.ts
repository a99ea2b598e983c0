import { EATTR, EATTR_NAMES, Status, TsmfsError, eattrText } from '@tsmfs/protocol';
import { UsageError } from '../exit-codes.js';
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
      // -r on a file too prints the per-attribute form (of one node), as mfsgeteattr -r does.
      if (!recursive) {
        io.out(`${path}: ${eattrText(histogram[0]?.value ?? 0)}`);
        return;
      }
      // As mfsgeteattr -r: per attribute (not per combination), every one, zeros included.
      io.out(`${path}:`);
      for (const name of EATTR_NAMES) {
        const count = (kind: 'files' | 'dirs') => histogram.reduce((n, h) => (h.value & EATTR[name] ? n + h[kind] : n), 0);
        io.out(row(io, ` not directory nodes with attribute ${name.padStart(16)} : `, count('files')));
        io.out(row(io, ` directories with attribute         ${name.padStart(16)} : `, count('dirs')));
      }
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
      // mfsseteattr -r's columns (narrower than setgoal's).
      io.out(`${path}:`);
      io.out(row(io, ' inodes with attributes changed:'.padEnd(37), counts.changed));
      io.out(row(io, ' inodes with attributes not changed:'.padEnd(37), counts.notChanged));
      io.out(row(io, ' inodes with permission denied:'.padEnd(37), counts.denied));
    },
    recursive,
  );
}

/** copyeattr SRC PATH…: SRC's flags printed as geteattr prints them, then each PATH given exactly those (mfscopyeattr). */
export async function copyeattr(resolver: PathResolver, io: ToolIo, src: string, paths: readonly string[], recursive: boolean) {
  const s = await resolver.resolve(src);
  const { histogram } = await s.session.call('geteattr', { inode: s.inode, recursive: false });
  const value = histogram[0]?.value ?? 0;
  io.out(`${src}: ${eattrText(value)}`);
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
    // Silent, as mfsrmsnapshot: with -f what stays is simply there.
    await parent.session.call('rmsnapshot', { cred: parent.session.cred, parent: parent.inode, name, force });
  });
}
