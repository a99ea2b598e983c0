import { ROOT_INODE, type Reply, Status, TsmfsError } from '@tsmfs/protocol';
import type { Metadata } from './metadata.js';

/**
 * Every path of `inode` seen from directory `root` (a session's root): one per name, so
 * a file linked twice has two, and the path it was removed from when it is in the trash
 * or sustained (MooseFS's mfsfilepaths). Names outside `root` are left out: a session
 * learns nothing beyond its export. Costs a scan of each parent directory's entries.
 */
export function filePaths(md: Metadata, inode: number, root = ROOT_INODE): Reply<'filepaths'> {
  if (!md.exists(inode)) throw new TsmfsError(Status.ENOENT, `inode ${inode}`);
  const rootPath = md.dirPath(root);
  const absolute: string[] = [];
  if (inode === ROOT_INODE) absolute.push('/');
  else if (md.isDir(inode)) {
    if (md.parent[inode] !== 0) absolute.push(md.dirPath(inode));
  } else {
    for (const dir of new Set(md.parents(inode))) {
      for (const [name, child] of md.children.get(dir) ?? []) if (child === inode) absolute.push(md.entryPath(dir, name));
    }
  }
  const paths = absolute.map((p) => relativeTo(rootPath, p)).filter((p): p is string => p !== undefined);
  const trash = md.trash.get(inode);
  const kept = trash ?? md.sustained.get(inode);
  const removedPath = kept ? relativeTo(rootPath, kept.path) : undefined;
  return removedPath === undefined ? { paths: paths.sort() } : { paths: paths.sort(), removed: { path: removedPath, trash: !!trash } };
}

/** `path` (absolute) relative to directory `rootPath`, from '/'; undefined when it lies outside. */
export function relativeTo(rootPath: string, path: string): string | undefined {
  if (rootPath === '/') return path;
  if (path === rootPath) return '/';
  return path.startsWith(`${rootPath}/`) ? path.slice(rootPath.length) : undefined;
}
