import { readFileSync, rmSync, statSync } from 'node:fs';
import { link, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Service } from '@tsmfs/daemon';
import type { Logger } from 'pino';
import { rotateChangelogFiles } from './changelog.js';
import type { LoggedMutation } from './changelog-entry.js';
import { replayChangelogs } from './changelog-reader.js';
import { DUMP_FILE, DUMP_TEMP_FILE, MASTER_FILES, listChangelogs, listDumps } from './data-path.js';
import { installDump } from './dump-file.js';
import { fsyncDir } from './fsync-dir.js';

/** What the store needs from the metadata: a dump codec and the replay step. */
export interface MetadataCodec<M extends { version: number }, Mu extends LoggedMutation = LoggedMutation> {
  encode(md: M): Buffer;
  /** Throws when the dump is damaged (bad magic, checksum mismatch, truncated). */
  decode(buf: Buffer): M;
  empty(): M;
  apply(md: M, m: Mu): void;
}

export interface MetadataStoreOptions<M extends { version: number }, Mu extends LoggedMutation = LoggedMutation> {
  dir: string;
  codec: MetadataCodec<M, Mu>;
  /** Older dumps kept as metadata.tsmfs.back.N (BACK_META_KEEP_PREVIOUS). */
  keepPrevious: number;
  /** Old changelogs kept (BACK_LOGS); the changelog is rotated after the shutdown dump. */
  backLogs: number;
  /**
   * Resolves once the changelog is on stable storage up to `version` (Changelog.durable).
   * A dump at V is put in place only after that: a dump newer than the durable changelog
   * would, after a crash, make the master continue at V+1 in a changelog that ends
   * before V, a hole no start-up, metalogger or restore can cross.
   */
  changelogDurable: (version: number) => Promise<void>;
  log: Logger;
}

/** DATA_PATH holds nothing the master can start from. */
export class MetadataStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetadataStoreError';
  }
}

export interface DumpWritten {
  version: number;
  bytes: number;
  ms: number;
}

/**
 * The metadata's life on disk. Start-up: the newest dump that verifies (falling back to
 * older ones), then every changelog entry after its version. An empty DATA_PATH becomes
 * a new file system, dumped at once so that the changelog always has a dump to start
 * from. Shutdown (stop): a final dump, then the changelog is rotated.
 */
export class MetadataStore<M extends { version: number }, Mu extends LoggedMutation = LoggedMutation> implements Service {
  readonly name = 'metadata-store';
  private md: M | undefined;
  private dumpChain: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: MetadataStoreOptions<M, Mu>) {}

  /** The loaded metadata; only after start(). */
  get metadata(): M {
    if (!this.md) throw new Error('metadata store not started');
    return this.md;
  }

  async start(): Promise<void> {
    this.md = await this.load();
  }

  /** Decodes the dump in DATA_PATH (a shadow master just downloaded the leader's) and makes it the metadata. */
  reloadDump(): M {
    this.md = this.options.codec.decode(readFileSync(join(this.options.dir, DUMP_FILE)));
    return this.md;
  }

  async stop(): Promise<void> {
    if (!this.md) return;
    const written = await this.dump();
    await rotateChangelogFiles(this.options.dir, this.options.backLogs);
    this.options.log.info(written, 'metadata dumped at shutdown');
    this.md = undefined;
  }

  /** Writes a dump of the metadata as it is now; dumps run one at a time. */
  dump(): Promise<DumpWritten> {
    const next = this.dumpChain.then(() => this.writeDump(this.metadata));
    this.dumpChain = next.catch(() => undefined);
    return next;
  }

  private async load(): Promise<M> {
    const { dir, log } = this.options;
    rmSync(join(dir, DUMP_TEMP_FILE), { force: true });
    const dumps = listDumps(dir);
    if (dumps.length === 0) return this.createNew();
    const { md, file, damaged } = this.newestGoodDump(dumps.map((d) => d.path));
    if (damaged.length > 0) await this.setAsideDamaged(damaged, file);
    const dumpVersion = md.version;
    const replay = replayChangelogs<Mu>(dir, dumpVersion, (entry) => {
      this.options.codec.apply(md, entry.mutation);
      if (md.version !== entry.version) {
        throw new MetadataStoreError(`changelog entry ${entry.version} left the metadata at version ${md.version}`);
      }
    });
    if (replay.tornTail) {
      log.warn(replay.tornTail, 'dropped a torn last changelog line (an operation that was never acknowledged)');
    }
    log.info({ dump: file, dumpVersion, replayed: replay.applied, version: md.version }, 'metadata loaded');
    return md;
  }

  private async createNew(): Promise<M> {
    const { dir, log } = this.options;
    const withEntries = listChangelogs(dir).filter((f) => statSync(f.path).size > 0);
    if (withEntries.length > 0) {
      throw new MetadataStoreError(
        `DATA_PATH ${dir} holds changelogs (${withEntries.map((f) => f.path).join(', ')}) but no metadata dump (${DUMP_FILE}): ` +
          'restore a dump (a metalogger keeps copies) instead of starting an empty file system over them',
      );
    }
    log.info({ dir }, 'DATA_PATH holds no metadata: creating a new, empty file system');
    const md = this.options.codec.empty();
    await this.writeDump(md);
    return md;
  }

  private newestGoodDump(paths: string[]): { md: M; file: string; damaged: string[] } {
    const failures: string[] = [];
    const damaged: string[] = [];
    for (const path of paths) {
      try {
        const md = this.options.codec.decode(readFileSync(path));
        if (failures.length > 0) this.options.log.warn({ dump: path }, 'using an older metadata dump');
        return { md, file: path, damaged };
      } catch (err) {
        const reason = (err as Error).message;
        failures.push(`${path}: ${reason}`);
        damaged.push(path);
        this.options.log.error({ dump: path, err: reason }, 'metadata dump is damaged; falling back to the previous one');
      }
    }
    throw new MetadataStoreError(`no usable metadata dump in ${this.options.dir}: ${failures.join('; ')}`);
  }

  /**
   * Renames damaged dumps to *.damaged (kept for inspection) and puts the good one back
   * as metadata.tsmfs. Without this, the next rotation would keep the damaged file as
   * back.1 and delete the good backup it had fallen back to.
   */
  private async setAsideDamaged(damaged: string[], good: string): Promise<void> {
    const { dir, log } = this.options;
    for (const path of damaged) await rename(path, `${path}.damaged`);
    const current = join(dir, DUMP_FILE);
    if (good !== current) await link(good, current);
    await fsyncDir(dir);
    log.warn({ damaged: damaged.map((p) => `${p}.damaged`), restored: good }, 'damaged dumps set aside; the good one is metadata.tsmfs again');
  }

  private async writeDump(md: M): Promise<DumpWritten> {
    const { dir } = this.options;
    const started = Date.now();
    // Encoding is synchronous: the dump is the state at exactly md.version.
    const bytes = this.options.codec.encode(md);
    const version = md.version;
    const tmp = join(dir, DUMP_TEMP_FILE);
    const fh = await open(tmp, 'w');
    try {
      let off = 0;
      while (off < bytes.length) off += (await fh.write(bytes, off)).bytesWritten;
      await fh.sync();
    } finally {
      await fh.close();
    }
    // At shutdown the changelog has already stopped (everything fsynced): this returns at once.
    await this.options.changelogDurable(version);
    await installDump(dir, MASTER_FILES, this.options.keepPrevious);
    return { version, bytes: bytes.length, ms: Date.now() - started };
  }
}
