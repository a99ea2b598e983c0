import { lstat, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MASTERINFO_NAME, type MasterInfo, SchemaError, decodeMasterInfo } from '@tsmfs/protocol';
import { NotInMountError } from './exit-codes.js';

export type { MasterInfo };
const MASTERINFO = MASTERINFO_NAME;

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
  try {
    return decodeMasterInfo(text);
  } catch (err) {
    const why = err instanceof SchemaError ? err.message : 'not JSON';
    throw new NotInMountError(`${where}: not a tsmfs .masterinfo (${why})`);
  }
}
