import type { Attr } from '@tsmfs/protocol';
import { LRUCache } from 'lru-cache';

/**
 * -o mfscachemode, MooseFS's names and meanings (mfsmount(8), "DATA CACHE MODES"):
 * DIRECT opens every file with direct_io; NO drops the kernel's cached pages of a file at
 * every open; YES keeps them always (another client's writes may go unseen); AUTO keeps
 * them when the file has not changed since they were read (PageCacheVersions).
 */
export type CacheMode = 'AUTO' | 'NO' | 'YES' | 'DIRECT';

const MODE_NAMES: Record<string, CacheMode> = { AUTO: 'AUTO', NO: 'NO', NONE: 'NO', NEVER: 'NO', YES: 'YES', ALWAYS: 'YES', DIRECT: 'DIRECT' };

/** A cache mode from its option value (any case); throws on anything else. */
export function parseCacheMode(v: string): CacheMode {
  const mode = MODE_NAMES[v.trim().toUpperCase()];
  if (!mode) throw new Error(`-o mfscachemode=${v}: not a cache mode (AUTO, NO, YES or DIRECT)`);
  return mode;
}

/** Files whose version is remembered: beyond it the least recently opened are forgotten (their next open reads again). */
const REMEMBERED = 100_000;

/**
 * AUTO: whether the kernel may keep a file's cached pages at an open (FOPEN_KEEP_CACHE).
 * At each open the file's version — ctime, mtime and size, as the master's answer to the
 * open gives them — is remembered; the next open keeps the pages when the version is the
 * same. The pages are no older than the version remembered: the first open (or one whose
 * version differed) does not keep them, so the kernel drops them then and reads anew.
 * Any change of the file, by any client, moves its ctime at the master (a write's end, a
 * truncation, a setattr), so a changed file is read again at its next open: close-to-open
 * holds as before. ctime rather than mtime alone, which MooseFS's AUTO uses: a writer
 * that sets the mtime back (tar, rsync, cp -p) and keeps the size would otherwise leave
 * stale pages kept. This mount's own writes change the version too (its pages were
 * written through, but it is simpler to read once more than to prove that).
 */
export class PageCacheVersions {
  private readonly versions = new LRUCache<number, string>({ max: REMEMBERED });

  constructor(readonly mode: CacheMode) {}

  /** At an open that the master answered with `a`: whether the kernel keeps the pages it holds. */
  opened(a: Attr): boolean {
    if (this.mode === 'YES') return true;
    if (this.mode !== 'AUTO') return false;
    const version = `${a.ctime.sec}.${a.ctime.nsec} ${a.mtime.sec}.${a.mtime.nsec} ${a.size}`;
    const kept = this.versions.get(a.inode) === version;
    this.versions.set(a.inode, version);
    return kept;
  }

  /** Another client changed the file (a recall): its next open reads again. */
  forget(inode: number): void {
    this.versions.delete(inode);
  }
}
