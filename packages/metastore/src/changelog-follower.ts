import type { Service } from '@tsmfs/daemon';
import type { Address, Reply, Role } from '@tsmfs/protocol';
import { Backoff, type Connection, Pause, dial, resolveAddressList } from '@tsmfs/rpc';
import type { Logger } from 'pino';
import { decodeEntry } from './changelog-entry.js';
import type { FileFamily } from './data-path.js';
import { type DumpDownloaded, downloadDump } from './dump-download.js';

/**
 * Where a follower keeps what it receives: a metalogger's changelog_ml files, or a
 * shadow master's own changelog and namespace. The follower verifies every line and the
 * version sequence before handing it over.
 */
export interface FollowerSink {
  /** The last version held: where following resumes after any failure. */
  readonly lastVersion: number;
  /** Whole lines, versions first..last, where first = lastVersion + 1. */
  append(lines: string, first: number, last: number): Promise<void>;
  /** After a periodic dump download: start a new changelog file, as the master does after its dumps. */
  rotate(): Promise<void>;
  /** A dump at `version` is now in place: continue from it (what was held before it ends earlier). */
  restartAt(version: number): Promise<void>;
  /** What is held is not the master's history (it was restored from older metadata): move it away; returns where. */
  setAside(): Promise<string>;
  /**
   * The line held for `lastVersion`, when the sink knows it: checked on connecting against
   * the master's line at that version. A shadow master that once led may hold entries
   * the new leader never had, at versions the new leader has reached with other entries
   * (docs/ha.md, "A former leader's history").
   */
  readonly lastLine?: string;
}

export interface ChangelogFollowerOptions {
  /** MASTER_HOST as a list: tried in turn until one answers. */
  masters: Address[];
  /** How this follower introduces itself (a metalogger, or a shadow master). */
  role: Extract<Role, 'metalogger' | 'master'>;
  /** Its name in the master's logs. */
  name: string;
  sink: FollowerSink;
  /** DATA_PATH, and the names dumps are downloaded under there. */
  dir: string;
  files: FileFamily;
  keepPrevious: number;
  dumpEveryMs: number;
  /** Download a dump on every connection (a metalogger); a shadow master writes its own dumps. Default true. */
  dumpOnConnect?: boolean;
  /**
   * Holding nothing yet (version 0), start from the master's dump instead of its first
   * entry: a shadow master's new empty file system is its own (its root made at its own
   * time), not the one the leader's entries were applied to.
   */
  adoptDumpWhenEmpty?: boolean;
  /** MASTER_RECONNECTION_DELAY: the back-off's ceiling. */
  maxReconnectDelayMs: number;
  /** MASTER_TIMEOUT. */
  timeoutMs: number;
  /** AUTH_CODE ('' = none), proved when the master asks (docs/security.md). */
  authCode?: string;
  log: Logger;
  /** The changelog cannot be written: going on would leave a hole in it. */
  onFatal: (err: Error) => void;
  /**
   * A shadow master's name in the leader's synchronous set (its advertised client
   * address): after each batch the sink has taken (append resolved), and on connecting,
   * the follower tells the leader the version it holds (mlAck). A metalogger sends none:
   * it is never a synchronous standby.
   */
  ackAs?: string;
  /** The link to the master broke, or could not be made (a shadow master asks whether the leader died: docs/ha.md). */
  onLinkLost?: () => void;
}

/** Bytes asked for per fetch; the master caps it at 1 MiB. */
const FETCH_BYTES = 1024 * 1024;
const FIRST_RECONNECT_DELAY_MS = 100;

/** The link broke the stream's rules (a hole, a bad line): drop it and resume from the last version. */
class StreamError extends Error {}

/**
 * masterconn: a follower's link to the master's port for followers (MATOML, 9419).
 * Connects (to each MASTER_HOST address in turn, a name standing for every address it
 * resolves to, backing off), downloads a dump at start and every `dumpEveryMs`, and
 * follows the changelog by long-polling `mlFetch` from the last version held. The next fetch is sent as soon as a batch arrives, so the network
 * wait overlaps the local write; the master keeps no cursor, so resuming after any
 * failure is just asking again from `sink.lastVersion`. A follower that is behind what
 * the master still holds (or ahead of it) starts again from a dump.
 */
export class ChangelogFollower implements Service {
  readonly name = 'master-conn';
  private conn: Connection | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private nextDumpAt = 0;
  private dumping: Promise<unknown> | undefined;
  private fileOps: Promise<unknown> = Promise.resolve();
  private readonly pause = new Pause();
  private masterIndex = 0;
  /** The master's durable version in its last answer (0: none yet): how far behind we are. */
  masterVersion = 0;

  constructor(private readonly options: ChangelogFollowerOptions) {
    if (options.dumpOnConnect === false) this.nextDumpAt = Date.now() + options.dumpEveryMs;
  }

  async start(): Promise<void> {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.conn?.close();
    this.pause.wake();
    await this.loop;
    await this.dumping?.catch(() => undefined);
    await this.fileOps;
  }

  private async run(): Promise<void> {
    const { log } = this.options;
    const backoff = new Backoff(FIRST_RECONNECT_DELAY_MS, this.options.maxReconnectDelayMs);
    let round: Address[] = [];
    while (!this.stopping) {
      if (this.masterIndex >= round.length) {
        round = await resolveAddressList(this.options.masters);
        this.masterIndex = 0;
      }
      const address = round[this.masterIndex]!;
      try {
        const { conn, authenticated } = await dial({
          ...address,
          role: this.options.role,
          name: this.options.name,
          requestTimeoutMs: this.options.timeoutMs,
          connectTimeoutMs: this.options.timeoutMs,
          authCode: this.options.authCode,
        });
        this.conn = conn;
        if (this.stopping) break;
        const master = `${address.host}:${address.port}`;
        // As in MooseFS, AUTH_CODE is used when the master asks (that is how it is switched on without downtime).
        if (this.options.authCode && !authenticated) log.warn({ master }, 'AUTH_CODE is set here but the master does not ask for it');
        log.info({ master, version: this.options.sink.lastVersion, authenticated }, 'connected to the master');
        backoff.reset();
        await this.follow(conn);
      } catch (err) {
        if (this.stopping) break;
        log.warn({ master: `${address.host}:${address.port}`, err: (err as Error).message }, 'master link lost');
        this.options.onLinkLost?.();
      } finally {
        this.conn?.close();
        this.conn = undefined;
      }
      if (this.stopping) break;
      this.masterIndex++;
      await this.pause.sleep(backoff.delay());
    }
  }

  private async follow(conn: Connection): Promise<void> {
    const { sink, log } = this.options;
    if (Date.now() >= this.nextDumpAt) await this.dumpNow(conn);
    let after = sink.lastVersion;
    if (after === 0 && this.options.adoptDumpWhenEmpty) after = await this.startOver(conn, after, 'empty');
    else if (!(await this.sameHistory(conn, after))) after = await this.startOver(conn, after, 'other history');
    // Checked to be the leader's history: a caught-up follower is known at once, even idle.
    this.ack(conn, after);
    let pending = this.fetch(conn, after);
    for (;;) {
      const r = await pending;
      this.masterVersion = r.durable;
      if (this.stopping) return;
      if (r.mode === 'dump') {
        after = await this.startOver(conn, after, r);
        this.ack(conn, after);
        pending = this.fetch(conn, after);
        continue;
      }
      if (r.lines === '') {
        pending = this.fetch(conn, after);
        this.maybeDumpInBackground(conn);
        continue;
      }
      checkBatch(r, after);
      after = r.last;
      pending = this.fetch(conn, after);
      await this.serial(() => sink.append(r.lines, r.first, r.last)).catch((err: Error) => {
        this.options.onFatal(err);
        throw err;
      });
      this.ack(conn, r.last);
      log.debug({ first: r.first, last: r.last, behind: r.durable - r.last }, 'changelog written');
      this.maybeDumpInBackground(conn);
    }
  }

  /**
   * Whether the line we hold for `after` is the master's line for that version. Entries
   * carry the master's clock to the nanosecond, so a leader never writes a line another
   * leader wrote: the same line means we copied it from this history, and a follower
   * copies a history only as a whole prefix. Unknown (the master no longer holds it, or
   * we do not know our line) counts as the same: the stream then starts over from a
   * dump anyway, or continues a history nobody contradicted.
   */
  private async sameHistory(conn: Connection, after: number): Promise<boolean> {
    const mine = this.options.sink.lastLine;
    if (after === 0 || mine === undefined) return true;
    const r = await this.fetch(conn, after - 1, 0);
    this.masterVersion = r.durable;
    if (r.durable < after) return false;
    if (r.mode === 'dump') return true;
    const theirs = r.lines.slice(0, r.lines.indexOf('\n') + 1);
    if (theirs === mine) return true;
    this.options.log.error({ version: after }, 'our changelog entry differs from the master\'s at the same version: we hold a history the master does not have');
    return false;
  }

  /** The master no longer holds our next version, never had our last ones (r.durable < after), has other ones, or we hold none. */
  private async startOver(conn: Connection, after: number, r: Reply<'mlFetch'> | 'other history' | 'empty'): Promise<number> {
    const { sink, log } = this.options;
    if (r === 'empty') {
      log.info('holding no changelog yet: starting from the master\'s dump');
    } else if (r === 'other history') {
      const aside = await this.serial(() => sink.setAside());
      log.error({ version: after, masterVersion: this.masterVersion, movedTo: aside }, 'our changelog is not the master\'s history: set aside');
    } else if (after > r.durable) {
      const aside = await this.serial(() => sink.setAside());
      log.error({ version: after, masterVersion: r.durable, movedTo: aside }, 'our changelog is ahead of the master (it was restored from older metadata): set aside');
    } else {
      log.warn({ version: after, reason: r.reason }, 'too far behind the master: starting again from a dump');
    }
    const d = await this.dumpNow(conn, false);
    await this.serial(() => sink.restartAt(d.version));
    return d.version;
  }

  private fetch(conn: Connection, after: number, waitMs = Math.max(500, Math.floor(this.options.timeoutMs / 2))): Promise<Reply<'mlFetch'>> {
    const p = conn.request('mlFetch', { after, maxBytes: FETCH_BYTES, waitMs }, waitMs + this.options.timeoutMs);
    p.catch(() => undefined); // awaited by follow(); this only keeps an abandoned fetch from being "unhandled"
    return p;
  }

  /**
   * Tells the leader we hold `version` (only a shadow master: ackAs). Not awaited: the
   * leader keeps the highest it was told, so acks overtaking one another do no harm, and a
   * lost one is made good by the next (or counted by the leader as a standby gone silent).
   */
  private ack(conn: Connection, version: number): void {
    const member = this.options.ackAs;
    if (member === undefined || conn.closed) return;
    conn.request('mlAck', { member, version }, this.options.timeoutMs).catch(() => undefined);
  }

  private maybeDumpInBackground(conn: Connection): void {
    if (this.dumping || Date.now() < this.nextDumpAt) return;
    this.dumping = this.dumpNow(conn)
      .catch((err: Error) => this.options.log.warn({ err: err.message }, 'metadata dump download failed; will retry'))
      .finally(() => (this.dumping = undefined));
  }

  /** Downloads a dump and, unless told otherwise, rotates the changelog after it (as the master does after a dump). */
  private async dumpNow(conn: Connection, rotate = true): Promise<DumpDownloaded> {
    const d = await downloadDump(conn, this.options.dir, this.options.files, this.options.keepPrevious);
    this.nextDumpAt = Date.now() + this.options.dumpEveryMs;
    if (rotate) await this.serial(() => this.options.sink.rotate());
    this.options.log.info(d, 'metadata dump downloaded');
    return d;
  }

  /** The sink's writes and rotations, one at a time and in order. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.fileOps.then(op);
    this.fileOps = next.catch(() => undefined);
    return next;
  }
}

/** Every line must verify and the versions must run after+1..last without a hole. */
function checkBatch(r: Reply<'mlFetch'>, after: number): void {
  if (r.first !== after + 1) throw new StreamError(`master sent ${r.first}..${r.last} after version ${after}`);
  if (!r.lines.endsWith('\n')) throw new StreamError('batch does not end with a whole line');
  let expected = r.first;
  let start = 0;
  while (start < r.lines.length) {
    const nl = r.lines.indexOf('\n', start);
    const e = decodeEntry(r.lines.slice(start, nl));
    if (e.version !== expected) throw new StreamError(`line ${e.version} where ${expected} was expected`);
    expected++;
    start = nl + 1;
  }
  if (expected - 1 !== r.last) throw new StreamError(`batch claims ${r.first}..${r.last} but holds up to ${expected - 1}`);
}
