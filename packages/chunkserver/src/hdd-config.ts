import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, contentLines } from '@tsmfs/daemon';

/** One line of the hdd config: a disk the chunkserver stores chunks on. */
export interface DiskSpec {
  path: string;
  /**
   * `*` prefix (as in mfshdd.cfg): the disk is being emptied. Its chunks are still read
   * and reported so that the master copies them elsewhere, but no new chunk goes there.
   */
  markedForRemoval: boolean;
  /** file:line, for messages about this disk. */
  where: string;
}

/**
 * Parses mfshdd.cfg-style text: one path a line, `#` starts a comment, blank lines
 * ignored, `*` before the path marks the disk for removal. Paths must be absolute (a
 * relative one would depend on the daemon's working directory) and listed once.
 * MooseFS's size limits after a path (`/mnt/hd1 -10GiB`) are refused rather than
 * silently ignored.
 */
export function parseHddConfig(text: string, file: string): DiskSpec[] {
  const disks: DiskSpec[] = [];
  const seen = new Map<string, string>();
  for (const { line, where } of contentLines(text, file)) {
    const marked = line.startsWith('*');
    const path = (marked ? line.slice(1) : line).trim();
    if (path === '') throw new ConfigError(`${where}: '*' must be followed by a disk path`);
    if (/\s/.test(path)) throw new ConfigError(`${where}: '${path}': one path a line (size limits and options are not supported)`);
    if (!isAbsolute(path)) throw new ConfigError(`${where}: '${path}' is not an absolute path`);
    const normalized = resolve(path);
    const previous = seen.get(normalized);
    if (previous) throw new ConfigError(`${where}: disk ${normalized} is already listed at ${previous}`);
    seen.set(normalized, where);
    disks.push({ path: normalized, markedForRemoval: marked, where });
  }
  return disks;
}

/** Reads and parses the hdd config file; a missing file or an empty list is a ConfigError. */
export async function loadHddConfig(file: string): Promise<DiskSpec[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read the hdd configuration (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const disks = parseHddConfig(text, file);
  if (disks.length === 0) throw new ConfigError(`${file}: no disks listed`);
  return disks;
}
