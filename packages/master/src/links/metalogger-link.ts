import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Service } from '@tsmfs/daemon';
import { type MessageName, type Reply, type Request, Status, TsmfsError } from '@tsmfs/protocol';
import { type Connection, type Hello, type LinkLimits, RpcServer } from '@tsmfs/rpc';
import type { Logger } from 'pino';
import { type Changelog, DUMP_FILE, digestDumpFile } from '@tsmfs/metastore';
import { ALONE, type HaGate } from '../ha/gate.js';
import type { SyncStandbys } from '../ha/sync-standbys.js';
import { ChangelogFeed } from './changelog-feed.js';

export interface MetaloggerLinkOptions {
  host: string;
  port: number;
  /** DATA_PATH: changelog files for catching up, metadata.tsmfs for dump downloads. */
  dir: string;
  changelog: Changelog;
  /** MATOML_LOG_PRESERVE_SECONDS. */
  preserveSeconds: number;
  epoch: () => number;
  /** The HA group (docs/ha.md): a follower's changelog is not the group's; it names the leader. Default: alone. */
  ha?: HaGate;
  log: Logger;
  /** MAX_CONNECTIONS and the other limits of the port (docs/security.md). */
  limits?: LinkLimits;
  /** AUTH_CODE ('' = none): metaloggers and shadow masters must prove it at the handshake. */
  authCode?: () => string;
  /** HA_SYNC_STANDBYS > 0: shadow masters' acks (mlAck) go there. */
  standbys?: SyncStandbys;
}

/** Largest batch of lines in one mlFetch reply (the message allows 2 MiB). */
export const MAX_FETCH_BYTES = 1024 * 1024;
/** Longest a fetch is held open when there is nothing new. */
export const MAX_FETCH_WAIT_MS = 30_000;
/** Largest piece of a dump in one mlDumpRead reply. */
export const MAX_DUMP_PIECE = 1024 * 1024;
/**
 * Requests served at once on one follower's link, whatever MAX_REQUESTS_IN_FLIGHT says:
 * a follower asks one thing at a time, and replies here are up to 1 MiB each.
 */
export const FOLLOWER_MAX_IN_FLIGHT = 4;

interface Waiter {
  wake: () => void;
}

interface OpenDump {
  fh: FileHandle;
  size: number;
}

/**
 * matomlserv: the master's port for metaloggers (and, later, shadow masters). The
 * follower drives: it long-polls `mlFetch {after}` with the last version it holds and
 * gets the durable changelog lines after it, in order, or is told to download a dump
 * (`mlDumpOpen`/`mlDumpRead`). The master keeps no per-follower cursor: a reconnecting
 * follower simply asks again from its last version, which is what makes resuming
 * gap-free and duplicate-free, and what lets any number of followers share one feed.
 */
export class MetaloggerLink implements Service {
  readonly name = 'metalogger-link';
  private server: RpcServer | undefined;
  private feed: ChangelogFeed | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly waiters = new Set<Waiter>();
  private nextHandle = 1;

  constructor(private readonly options: MetaloggerLinkOptions) {}

  async start(): Promise<void> {
    const { host, port, epoch, log, changelog } = this.options;
    const feed = new ChangelogFeed({
      dir: this.options.dir,
      durable: () => changelog.durableUpTo,
      preserveMs: this.options.preserveSeconds * 1000,
    });
    this.unsubscribe = changelog.onDurable((first, lines) => {
      feed.add(first, lines);
      for (const w of [...this.waiters]) w.wake();
    });
    this.feed = feed;
    const server = new RpcServer({
      ...this.options.limits,
      maxInFlight: Math.min(this.options.limits?.maxInFlight ?? FOLLOWER_MAX_IN_FLIGHT, FOLLOWER_MAX_IN_FLIGHT),
      host,
      port,
      accept: ['metalogger', 'master'],
      role: 'master',
      epoch,
      authCode: this.options.authCode,
      onConnection: (conn, hello) => this.accept(conn, hello),
      onRejected: (remote, reason) => log.warn({ remote, reason }, 'metalogger link refused'),
      onHandlerError: (name, err) => log.error({ request: name, err: (err as Error).stack ?? String(err) }, 'request failed with a bug'),
    });
    await server.start();
    this.server = server;
    log.info({ host, port: server.port }, 'listening for metaloggers');
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    for (const w of [...this.waiters]) w.wake();
    await this.server?.stop();
    this.server = undefined;
  }

  get port(): number {
    return this.server?.port ?? this.options.port;
  }

  /** Closes every follower link (this master stopped leading). */
  dropAll(): void {
    this.server?.disconnectAll();
  }

  private accept(conn: Connection, hello: Hello): void {
    const { log } = this.options;
    const dumps = new Map<number, OpenDump>();
    log.info({ remote: conn.remote, role: hello.role, name: hello.name, authenticated: hello.authenticated }, 'follower connected');
    const ha = this.options.ha ?? ALONE;
    conn.serve(async (name: MessageName, body: unknown) => {
      if (ha.role === 'follower' && (name === 'mlFetch' || name === 'mlDumpOpen')) throw ha.refusal('ml');
      switch (name) {
        case 'ping':
          return {};
        case 'mlFetch':
          return this.fetch(body as Request<'mlFetch'>, conn);
        case 'mlDumpOpen':
          return this.openDump(dumps);
        case 'mlDumpRead':
          return readDump(dumps, body as Request<'mlDumpRead'>);
        case 'mlDumpClose':
          await closeDump(dumps, (body as Request<'mlDumpClose'>).handle);
          return {};
        case 'mlAck': {
          // Only a master is a standby; a metalogger's word would count for nothing on a takeover.
          if (hello.role !== 'master') throw new TsmfsError(Status.EPERM, 'mlAck is for shadow masters');
          const ack = body as Request<'mlAck'>;
          // Never above what we made durable: a follower can only hold what it was sent.
          if (ha.role === 'leader') this.options.standbys?.acked(ack.member, Math.min(ack.version, this.options.changelog.durableUpTo), conn);
          return {};
        }
        case 'handshake':
          throw new TsmfsError(Status.EPROTO, 'handshake was already done on this link');
        default:
          throw new TsmfsError(Status.ENOSYS, `${name} is not served on the metalogger port`);
      }
    });
    conn.on('close', (err) => {
      this.options.standbys?.gone(conn);
      for (const h of [...dumps.keys()]) void closeDump(dumps, h);
      log.info({ remote: conn.remote, name: hello.name, err: err?.message }, 'follower disconnected');
    });
  }

  private async fetch(req: Request<'mlFetch'>, conn: Connection): Promise<Reply<'mlFetch'>> {
    const maxBytes = Math.max(1, Math.min(req.maxBytes, MAX_FETCH_BYTES));
    const deadline = Date.now() + Math.min(req.waitMs, MAX_FETCH_WAIT_MS);
    for (;;) {
      const got = this.feed!.read(req.after, maxBytes);
      const durable = this.options.changelog.durableUpTo;
      if (got.kind === 'entries') return { mode: 'entries', lines: got.lines, first: got.first, last: got.last, durable };
      if (got.kind === 'dump') {
        this.options.log.warn({ remote: conn.remote, after: req.after, reason: got.reason }, 'follower must download a dump');
        return { mode: 'dump', lines: '', first: 0, last: 0, durable, reason: got.reason };
      }
      const left = deadline - Date.now();
      if (left <= 0 || conn.closed || !this.server) return { mode: 'entries', lines: '', first: 0, last: 0, durable };
      await this.nextBatch(left, conn);
    }
  }

  /** Resolves when a batch becomes durable, after `ms`, or when the link closes. */
  private nextBatch(ms: number, conn: Connection): Promise<void> {
    return new Promise((resolve) => {
      const waiter: Waiter = { wake: () => done() };
      const timer = setTimeout(() => done(), ms);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        conn.off('close', done);
        resolve();
      };
      this.waiters.add(waiter);
      conn.once('close', done);
    });
  }

  /**
   * Opens the newest dump. The open handle pins that file: a dump written meanwhile
   * renames a new file over metadata.tsmfs, but this follower finishes reading the one
   * whose checksum it was given.
   */
  private async openDump(dumps: Map<number, OpenDump>): Promise<Reply<'mlDumpOpen'>> {
    const path = join(this.options.dir, DUMP_FILE);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw new TsmfsError(Status.ENOENT, `no metadata dump to download (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    try {
      const { size } = await fh.stat();
      // A header that does not parse is the master's file, not the follower's request: EIO.
      const { sha256, version } = await digestDumpFile(fh, size).catch((err: Error) => {
        throw new TsmfsError(Status.EIO, err.message);
      });
      const handle = this.nextHandle++;
      dumps.set(handle, { fh, size });
      this.options.log.info({ version, size }, 'serving a metadata dump');
      return { handle, version, size, sha256 };
    } catch (err) {
      await fh.close();
      throw err;
    }
  }
}

async function readDump(dumps: Map<number, OpenDump>, req: Request<'mlDumpRead'>): Promise<Reply<'mlDumpRead'>> {
  const d = dumps.get(req.handle);
  if (!d) throw new TsmfsError(Status.EBADF, `dump handle ${req.handle} is not open`);
  const length = Math.max(0, Math.min(req.length, MAX_DUMP_PIECE, d.size - req.offset));
  const data = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await d.fh.read(data, got, length - got, req.offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return { data: data.subarray(0, got) };
}

async function closeDump(dumps: Map<number, OpenDump>, handle: number): Promise<void> {
  const d = dumps.get(handle);
  dumps.delete(handle);
  await d?.fh.close();
}
