import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger, Service } from '@tsmfs/daemon';
import {
  type Changelog,
  ChangelogFollower,
  type FollowerSink,
  MASTER_FILES,
  type MetadataCodec,
  type MetadataStore,
  decodeEntry,
  encodeEntry,
  fsyncDir,
  listChangelogs,
  replayChangelogs,
} from '@tsmfs/metastore';
import { Pause } from '@tsmfs/rpc';
import type { Metadata } from '../metadata/metadata.js';
import type { Mutation } from '../metadata/mutation.js';
import type { Election } from './election.js';
import type { HaGate, LeaderAddresses, Port } from './gate.js';
import type { SyncStandbys } from './sync-standbys.js';

export interface ShadowOptions {
  election: Election;
  self: LeaderAddresses;
  dir: string;
  store: MetadataStore<Metadata, Mutation>;
  changelog: Changelog;
  /** The same apply as live operation and start-up replay (metadataCodec.apply). */
  codec: MetadataCodec<Metadata, Mutation>;
  /** The metadata was replaced (a dump was loaded): the live namespace must be rebuilt over it. */
  reloaded: () => void;
  keepPrevious: number;
  timeoutMs: number;
  authCode: () => string;
  log: Logger;
  onFatal: (err: Error) => void;
  /** HA_SYNC_STANDBYS > 0: leading, the synchronous set is written before any mutation is admitted. */
  standbys?: SyncStandbys;
  /** Leading and drained: mutations are admitted from now on (the chunkservers are told). */
  onLead?: () => void;
  /**
   * An applied entry made a chunk or moved its version (chunkAlloc, chunkVersion): the
   * copies the chunkservers reported are judged against it again when this master leads.
   */
  chunkTouched?: (chunkId: number) => void;
}

/** How often the role and the leader's address are looked at: a leader change re-points the follower. */
const WATCH_MS = 50;

/**
 * A shadow master (docs/ha.md): while this master follows, it runs the metastore's
 * ChangelogFollower against the leader's metalogger port and applies every entry to its
 * in-memory metadata with the codec's apply (the code live operation and start-up replay
 * run), writing it to its own changelog, so a restart resumes from its own files and a
 * takeover needs no restore. It is also the gate the links see: a master that has just
 * won the election admits no mutation until the follower is stopped and everything it
 * received is applied.
 */
export class Shadow implements Service, HaGate {
  readonly name = 'shadow';
  private follower: ChangelogFollower | undefined;
  /** The leader's metalogger address the follower runs against. */
  private following: string | undefined;
  /** Leading and drained: what was received is applied, mutations may come. */
  private drained = false;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly pause = new Pause();
  private readonly sink: ShadowSink;
  /** The leader's durable version when we last heard from it (kept when the follower is stopped). */
  private leaderVersion = 0;
  /** This master has followed a leader since it started (a new group's masters have not). */
  private followed = false;

  constructor(private readonly options: ShadowOptions) {
    this.sink = new ShadowSink(options);
  }

  async start(): Promise<void> {
    this.sink.readLastLine();
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.pause.wake();
    await this.loop;
    await this.stopFollowing();
  }

  // ---- HaGate: the election's, with mutations held until the follower is drained ----

  get role(): HaGate['role'] {
    return this.options.election.role;
  }

  get epoch(): number {
    return this.options.election.epoch;
  }

  get leader(): LeaderAddresses | undefined {
    return this.options.election.leader;
  }

  mayMutate(): boolean {
    return this.drained && this.options.election.mayMutate();
  }

  async admitMutation(port: Port): Promise<void> {
    await this.options.election.admitMutation(port);
    // Elected a moment ago: the follower is being stopped. Within a few ticks it is drained.
    for (let i = 0; !this.drained; i++) {
      if (i * WATCH_MS > this.options.timeoutMs || this.role !== 'leader') throw this.refusal(port);
      await new Promise((r) => setTimeout(r, WATCH_MS));
    }
  }

  refusal(port: Port): ReturnType<HaGate['refusal']> {
    return this.options.election.refusal(port);
  }

  replicated(version: number): Promise<void> {
    return this.options.standbys?.replicated(version) ?? Promise.resolve();
  }

  /**
   * Whether this master had applied everything the leader had made durable when it last
   * heard from it. One that never followed (a new group) counts as caught up.
   */
  caughtUp(): boolean {
    if (!this.followed) return true;
    const heard = this.follower?.masterVersion || this.leaderVersion;
    // Above what the leader had means a history it does not have (set aside next), not ahead.
    return heard > 0 && this.options.changelog.version === heard;
  }

  /** For /api/status: the version applied here and how far the leader is ahead (followers only). */
  progress(): { appliedVersion: number; leaderVersion: number; lag: number } | null {
    if (this.role === 'leader') return null;
    const applied = this.options.changelog.version;
    const leaderVersion = this.follower?.masterVersion || this.leaderVersion;
    return { appliedVersion: applied, leaderVersion, lag: Math.max(0, leaderVersion - applied) };
  }

  /** The election changed this master's role: look now rather than at the next tick. */
  wake(): void {
    this.pause.wake();
  }

  // ---- following --------------------------------------------------------------

  private async run(): Promise<void> {
    while (this.running) {
      const { election } = this.options;
      if (election.role === 'leader') {
        // A step-down and a resumed leadership both between two looks: write the set again.
        if (this.drained && this.options.standbys?.isLeading === false) this.drained = false;
        if (!this.drained) {
          await this.stopFollowing();
          if (!(await this.leadStandbys())) {
            await this.pause.sleep(WATCH_MS);
            continue;
          }
          this.drained = true;
          this.options.onLead?.();
          this.options.log.info({ version: this.options.changelog.version, epoch: election.epoch }, 'leading: serving the metadata applied as a follower');
        }
      } else {
        if (this.drained) this.options.standbys?.lost();
        this.drained = false;
        const ml = election.leader?.ml;
        const target = ml && ml !== this.options.self.ml ? ml : undefined;
        if (target !== this.following) {
          await this.stopFollowing();
          if (target) this.startFollowing(target);
        }
      }
      await this.pause.sleep(WATCH_MS);
    }
  }

  /** Writes the new leader's synchronous set (none without HA_SYNC_STANDBYS); false: not yet, retried. */
  private async leadStandbys(): Promise<boolean> {
    try {
      await this.options.standbys?.lead();
      return true;
    } catch (err) {
      this.options.log.warn({ err: (err as Error).message }, 'elected, but the synchronous set cannot be written: no change is admitted until it is');
      return false;
    }
  }

  private startFollowing(ml: string): void {
    const { options } = this;
    const colon = ml.lastIndexOf(':');
    const address = { host: ml.slice(0, colon), port: Number(ml.slice(colon + 1)) };
    this.following = ml;
    this.followed = true;
    this.follower = new ChangelogFollower({
      masters: [address],
      role: 'master',
      name: `shadow@${options.self.client}`,
      sink: this.sink,
      dir: options.dir,
      files: MASTER_FILES,
      keepPrevious: options.keepPrevious,
      // This master writes its own dumps (METADATA_SAVE_FREQ); the leader's is fetched only to catch up.
      dumpEveryMs: Number.POSITIVE_INFINITY,
      dumpOnConnect: false,
      adoptDumpWhenEmpty: true,
      maxReconnectDelayMs: 1000,
      timeoutMs: options.timeoutMs,
      authCode: options.authCode(),
      log: options.log.child({ leader: ml }),
      onFatal: options.onFatal,
      // Every shadow master acks: the leader's HA_SYNC_STANDBYS decides whether it waits.
      ackAs: options.self.client,
      // The leader may be dead: with synchronous standbys, no need to wait out its lease (docs/ha.md).
      onLinkLost: () => void options.election.leaderLinkLost(ml),
    });
    options.log.info({ leader: ml, version: options.changelog.version }, 'following the leader\'s changelog');
    void this.follower.start();
  }

  /** Stops the follower; its stop waits for every batch it handed over to be applied and written. */
  private async stopFollowing(): Promise<void> {
    const f = this.follower;
    this.follower = undefined;
    this.following = undefined;
    if (!f) return;
    this.leaderVersion = f.masterVersion || this.leaderVersion;
    await f.stop();
  }
}

/**
 * The shadow master's FollowerSink: applies and writes each entry in order. Applying
 * before writing, as live operation does: the changelog's version and the metadata's
 * move together, and Namespace checks they agree on the first mutation after a takeover.
 */
class ShadowSink implements FollowerSink {
  lastLine: string | undefined;
  /** setAside was called: the next restartAt moves our changelogs there. */
  private asideTo: string | undefined;

  constructor(private readonly options: ShadowOptions) {}

  get lastVersion(): number {
    return this.options.changelog.version;
  }

  /** Our line for the version we start from, if our changelogs still hold it (after a dump they may not). */
  readLastLine(): void {
    const v = this.lastVersion;
    if (v === 0) return;
    try {
      replayChangelogs<Mutation>(this.options.dir, v - 1, (e) => {
        if (e.version === v) this.lastLine = encodeEntry(e.version, e.mutation);
      });
    } catch {
      this.lastLine = undefined;
    }
  }

  async append(lines: string, first: number, last: number): Promise<void> {
    const { store, changelog, codec } = this.options;
    const md = store.metadata;
    let start = 0;
    for (let v = first; v <= last; v++) {
      const nl = lines.indexOf('\n', start);
      const line = lines.slice(start, nl + 1);
      start = nl + 1;
      const e = decodeEntry<Mutation>(line.slice(0, -1));
      codec.apply(md, e.mutation);
      if (md.version !== e.version) throw new Error(`leader's entry ${e.version} left the metadata at version ${md.version}`);
      const m = e.mutation;
      if (m.op === 'chunkAlloc' || m.op === 'chunkVersion') this.options.chunkTouched?.(m.chunkId);
      const written = changelog.append(e.mutation);
      if (written !== e.version) throw new Error(`changelog version ${written} and the leader's ${e.version} diverged`);
      this.lastLine = line;
    }
    // Back-pressure, and what the ack that follows promises the leader: applied, written
    // (write(2) issued even in save mode 0), and as far as the save mode takes an entry
    // before a reply (fsynced in mode 2).
    await Promise.all([changelog.saved(last), changelog.written(last)]);
  }

  async rotate(): Promise<void> {
    await this.options.changelog.rotate();
  }

  /** The leader's dump is metadata.tsmfs now: load it, and continue the changelog from it. */
  async restartAt(version: number): Promise<void> {
    const { store, changelog, log, dir } = this.options;
    const md = store.reloadDump();
    if (md.version !== version) throw new Error(`downloaded dump holds version ${md.version}, not ${version}`);
    await changelog.restartAt(version);
    // The changelogs before hold versions up to where we were, which may be above the
    // dump's: a restart replaying them over this dump would mix two histories. Another
    // history goes where setAside said; a mere catch-up's old files to superseded/.
    const moved = await moveChangelogs(dir, this.asideTo ?? join(dir, 'superseded'), 1);
    this.asideTo = undefined;
    this.lastLine = undefined;
    this.options.reloaded();
    log.warn({ version, superseded: moved }, 'namespace reloaded from the leader\'s dump');
  }

  /**
   * What we hold is not the leader's history: its changelogs go to DATA_PATH/aside-TIME/
   * for the operator — when the leader's dump is in place (restartAt), not now: until
   * then the metadata in memory is still ours, and a download that fails leaves us
   * exactly as we were (the next connection finds the same difference).
   */
  async setAside(): Promise<string> {
    this.asideTo ??= join(this.options.dir, `aside-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    return this.asideTo;
  }
}

/** Moves changelog.N.tsmfs (N ≥ from) into `to`, replacing what is there; returns how many. */
async function moveChangelogs(dir: string, to: string, from: number): Promise<number> {
  const files = listChangelogs(dir).filter((f) => f.n >= from);
  if (files.length === 0) return 0;
  mkdirSync(to, { recursive: true });
  for (const f of files) renameSync(f.path, join(to, MASTER_FILES.changelog(f.n)));
  await fsyncDir(to);
  await fsyncDir(dir);
  return files.length;
}
