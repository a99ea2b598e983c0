import { mkdirSync, renameSync, truncateSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { type FollowerSink, METALOGGER_FILES, listMlChangelogs, mlChangelogFile, readChangelogFile, rotateChangelogFiles } from '@tsmfs/metastore';
import type { Logger } from 'pino';

/**
 * The metalogger's copy of the changelog: changelog_ml.0.tsmfs being appended to,
 * changelog_ml.N.tsmfs older ones (rotated after every dump download, as the master
 * rotates after every dump). Lines are written exactly as the master wrote them.
 *
 * `lastVersion` is the resume point: it is read back from the files at start (a torn
 * last line is cut off, as the master does), and every append must continue it by
 * exactly one version, so a reconnect can neither leave a hole nor write a line twice.
 */
export class MlChangelog implements FollowerSink {
  private fh: FileHandle | undefined;
  private last = 0;

  constructor(
    private readonly dir: string,
    private readonly backLogs: number,
    private readonly fsync: boolean,
    private readonly log: Logger,
  ) {}

  get lastVersion(): number {
    return this.last;
  }

  async open(): Promise<void> {
    this.last = this.recover();
    this.fh = await open(join(this.dir, mlChangelogFile(0)), 'a');
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }

  /** Appends `text` (whole lines, versions first..last); throws if it would leave a hole or repeat a version. */
  async append(text: string, first: number, last: number): Promise<void> {
    if (first !== this.last + 1) throw new Error(`changelog batch ${first}..${last} does not continue version ${this.last}`);
    const bytes = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < bytes.length) off += (await this.fh!.write(bytes, off)).bytesWritten;
    if (this.fsync) await this.fh!.datasync();
    this.last = last;
  }

  /** Starts a new changelog_ml.0 (N → N+1, beyond BACK_LOGS removed); an empty one stays. */
  async rotate(): Promise<void> {
    await this.fh?.close();
    await rotateChangelogFiles(this.dir, this.backLogs, METALOGGER_FILES);
    this.fh = await open(join(this.dir, mlChangelogFile(0)), 'a');
  }

  /**
   * Continues from `version` (a dump just downloaded) in a fresh file: the files before
   * it end earlier, and the dump covers the versions in between.
   */
  async restartAt(version: number): Promise<void> {
    await this.rotate();
    this.last = version;
  }

  /**
   * Moves every changelog_ml file into `diverged-TIME/`: the master does not know our
   * last versions (it was restored from older metadata), so they belong to a history
   * that is no longer the file system's, and replaying them would build a wrong one.
   */
  async setAside(): Promise<string> {
    await this.fh?.close();
    const aside = join(this.dir, `diverged-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    mkdirSync(aside);
    for (const f of listMlChangelogs(this.dir)) renameSync(f.path, join(aside, mlChangelogFile(f.n)));
    this.fh = await open(join(this.dir, mlChangelogFile(0)), 'a');
    this.last = 0;
    return aside;
  }

  /** The last version in the files (0 if none); cuts a torn last line off changelog_ml.0. */
  private recover(): number {
    for (const f of listMlChangelogs(this.dir)) {
      const scan = readChangelogFile(f.path, f.n === 0);
      if (scan.tornTail) {
        truncateSync(f.path, scan.goodLength);
        this.log.warn({ file: f.path, ...scan.tornTail }, 'cut a torn last line off the changelog (the master will send it again)');
      }
      const lastEntry = scan.entries[scan.entries.length - 1];
      if (lastEntry) return lastEntry.version;
    }
    return 0;
  }
}
