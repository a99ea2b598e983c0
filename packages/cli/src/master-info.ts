import { lstat, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { NotInMountError } from './exit-codes.js';

/** The content of a mount's hidden `.masterinfo` (written by tsmfs-mount; docs/cli.md). */
export interface MasterInfo {
  masters: { host: string; port: number }[];
  sessionId: number;
  subdir: string;
  mountpoint: string;
  version: string;
}

export const MASTERINFO = '.masterinfo';

/** Where a path lives: its mount root, that mount's .masterinfo, and the path's inode there. */
export interface MountedPath {
  path: string;
  root: string;
  info: MasterInfo;
  /** st_ino, which a tsmfs mount reports as the tsmfs inode. */
  inode: number;
  isDirectory: boolean;
}

/**
 * Finds the tsmfs mount holding `path`: walks up from it (from its directory for a
 * non-directory) until a directory whose `.masterinfo` can be read, which a tsmfs mount
 * answers only in its root. The root must be on the same device as the path, so a
 * stray `.masterinfo` file on another file system above a mount point is not taken for
 * one, nor a tsmfs mount above a path that lives on another file system.
 */
export async function findMount(path: string): Promise<MountedPath> {
  const abs = resolve(path);
  let st;
  try {
    st = await lstat(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw Object.assign(new Error(`${path}: ${code === 'ENOENT' ? 'no such file or directory' : code}`), { code });
  }
  let dir = st.isDirectory() ? abs : dirname(abs);
  for (;;) {
    const info = await readMasterInfo(dir);
    if (info) {
      const rootSt = await stat(dir);
      if (rootSt.dev !== st.dev) break;
      return { path: abs, root: dir, info, inode: st.ino, isDirectory: st.isDirectory() };
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new NotInMountError(`${path}: not inside a tsmfs mount (no ${MASTERINFO} in any directory above it)`);
}

/** The parsed `.masterinfo` of `dir`, or undefined when there is none (not a mount root). */
export async function readMasterInfo(dir: string): Promise<MasterInfo | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, MASTERINFO), 'utf8');
  } catch {
    return undefined;
  }
  return parseMasterInfo(text, join(dir, MASTERINFO));
}

export function parseMasterInfo(text: string, where: string): MasterInfo {
  let v: Partial<MasterInfo>;
  try {
    v = JSON.parse(text) as Partial<MasterInfo>;
  } catch {
    throw new NotInMountError(`${where}: not a tsmfs .masterinfo (not JSON)`);
  }
  const okMasters = Array.isArray(v.masters) && v.masters.length > 0 && v.masters.every((m) => typeof m?.host === 'string' && Number.isInteger(m?.port));
  if (!okMasters || !Number.isSafeInteger(v.sessionId) || typeof v.subdir !== 'string') {
    throw new NotInMountError(`${where}: not a tsmfs .masterinfo (masters, sessionId and subdir are required)`);
  }
  return { masters: v.masters!, sessionId: v.sessionId!, subdir: v.subdir!, mountpoint: v.mountpoint ?? '', version: v.version ?? '' };
}
