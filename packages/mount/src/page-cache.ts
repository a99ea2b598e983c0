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

/** What AUTO remembers of a file: its version, and until when a lease held since it was taken tells of any other client's change. */
interface Known {
  version: string;
  /** performance.now() ms; 0 without a lease. */
  leasedUntil: number;
}

const versionOf = (a: Attr): string => `${a.ctime.sec}.${a.ctime.nsec} ${a.mtime.sec}.${a.mtime.nsec} ${a.size}`;

/**
 * AUTO: whether the kernel may keep a file's cached pages at an open (FOPEN_KEEP_CACHE).
 * At each open the file's version — ctime, mtime and size, as the master's answer to the
 * open gives them — is remembered; the next open keeps the pages when the version is the
 * same. The pages are no older than the version remembered: the first open (or one whose
 * version differed) does not keep them, so the kernel drops them then and reads anew.
 * Any change of the file, by any client, moves its ctime at the master (a write's end, a
 * truncation, a setattr), so a changed file is read again at its next open: close-to-open
 * holds as before. The ctime, not the mtime alone: a writer that sets the mtime back
 * (tar, rsync, cp -p) and keeps the size would otherwise leave stale pages kept.
 *
 * This mount's own writes move the version too, while its kernel's pages, written
 * through, stay the file's: at a write's end the version becomes the end's answer, when a
 * lease held since the version was taken proves that no other client changed the file
 * meanwhile (such a change would have been recalled before the end's answer, on the same
 * link, and the recall forgets the file). A file read back after its write (git's pack,
 * a compiler's object files) is then served by the kernel.
 */
export class PageCacheVersions {
  private readonly versions = new LRUCache<number, Known>({ max: REMEMBERED });

  constructor(readonly mode: CacheMode) {}

  /**
   * At an open that the master answered with `a` (leased until `leasedUntil`, 0 if not):
   * whether the kernel keeps the pages it holds.
   */
  opened(a: Attr, leasedUntil: number): boolean {
    if (this.mode === 'YES') return true;
    if (this.mode !== 'AUTO') return false;
    const version = versionOf(a);
    const kept = this.versions.get(a.inode)?.version === version;
    this.versions.set(a.inode, { version, leasedUntil });
    return kept;
  }

  /**
   * A write of this mount ended with `a` (leased until `leasedUntil`), nothing more of the
   * file buffered or in flight here: the pages are the file as `a` says, if the lease held
   * since the version remembered is still running.
   */
  written(a: Attr, leasedUntil: number): void {
    const known = this.versions.get(a.inode);
    if (!known) return;
    if (performance.now() >= known.leasedUntil) this.versions.delete(a.inode);
    else this.versions.set(a.inode, { version: versionOf(a), leasedUntil });
  }

  /** The link to the master dropped: no recall reached us meanwhile, so no lease proves anything. */
  leasesLost(): void {
    for (const known of this.versions.values()) known.leasedUntil = 0;
  }

  /** Another client changed the file (a recall): its next open reads again. */
  forget(inode: number): void {
    this.versions.delete(inode);
  }
}
