import type { Logger, Service } from '@tsmfs/daemon';
import { type ChunkRef, type DataAddress, type GrantVerifier, type MessageName, type Request, type Address, fail } from '@tsmfs/protocol';
import { resolveAddressList } from '@tsmfs/rpc';
import type { HddManager, HddReload } from './hdd-manager.js';
import { MasterConn, type MasterConnOwner } from './master-conn.js';

export interface MasterLinkOptions {
  /** Master addresses (HA: every master of the group; names may resolve to several): a link to each. */
  masters: readonly Address[];
  hdd: HddManager;
  log: Logger;
  name: string;
  /** Where clients reach our data server; host '' lets the master use the link's source address. */
  dataAddress: () => Address;
  labels: readonly string[];
  /** Carries out a chunkReplicate command. */
  replicate: (chunkId: number, version: number, sources: readonly DataAddress[]) => Promise<void>;
  /** AUTH_CODE ('' = none), proved when the master asks (docs/security.md). */
  authCode?: string;
  /** Where the grant token key the master gives at registration goes (the data server checks tokens with it). */
  tokens: GrantVerifier;
  heartbeatMs?: number;
  /** Data bytes served and stored so far (DataServer.traffic), for the master's throughput charts. */
  traffic?: () => { bytesRead: number; bytesWritten: number };
  /** Back-off between connection attempts: doubles from min to max. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  requestTimeoutMs?: number;
}

/** Chunks per report frame (the messages allow 50,000; this keeps frames near 1 MiB). */
const REPORT_BATCH = 20_000;
/**
 * How long new copies wait to be reported together: a loop writing small files makes a
 * new chunk every few milliseconds, and each report alone cost every master a read, a
 * write and a wake-up per copy (docs/benchmarks.md, "Creation receipts").
 */
const NEW_REPORT_DELAY_MS = 100;

/** How often MASTER_HOST's names are resolved again (one name may stand for every master of a group). */
const RESOLVE_EVERY_MS = 30_000;

/**
 * The chunkserver's links to its masters. Alone, one master; in an HA group (docs/ha.md)
 * one link to every master of MASTER_HOST (and to any leader a master names), each
 * registered and reporting, so that a follower knows where every copy is when it takes
 * over. Only the leader commands: the link that registered with a master saying it leads,
 * or whose command or `masterLeads` carried a higher epoch than any seen (fencing: a
 * command below the highest epoch is refused, one from a link that is not the leader's
 * too). What a command changed goes to the other masters as `chunksChanged`; new, lost
 * and damaged copies go to every master.
 */
export class MasterLink implements Service, MasterConnOwner {
  readonly name = 'master link';
  private readonly links = new Map<string, MasterConn>();
  private running = false;
  private resolver: NodeJS.Timeout | undefined;
  /**
   * The highest master epoch seen (docs/ha.md, fencing): a master below it is a deposed
   * leader, whose handshake and commands are refused. Never goes down while we run.
   */
  epoch = 0;
  /** The link of the master that leads at `epoch`. */
  private leader: MasterConn | undefined;
  /** New copies waiting to go to the masters as one chunksNew (NEW_REPORT_DELAY_MS), and its timer. */
  private newBatch: ChunkRef[] | undefined;
  private newTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly onLost = (chunks: ChunkRef[]): void => this.broadcast('chunksLost', chunks);
  private readonly onDamaged = (chunk: ChunkRef): void => this.broadcast('chunksDamaged', [chunk]);

  constructor(private readonly options: MasterLinkOptions) {
    this.log = options.log.child({ component: 'masterconn' });
  }

  async start(): Promise<void> {
    this.running = true;
    this.options.hdd.on('chunksLost', this.onLost);
    this.options.hdd.on('chunkDamaged', this.onDamaged);
    // Never waits for a master: the data server serves reads while they are away.
    void this.resolve();
    this.resolver = setInterval(() => void this.resolve(), RESOLVE_EVERY_MS);
    this.resolver.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.resolver);
    // Copies not reported yet are in the next registration's full report.
    clearTimeout(this.newTimer);
    this.newBatch = undefined;
    this.options.hdd.off('chunksLost', this.onLost);
    this.options.hdd.off('chunkDamaged', this.onDamaged);
    await Promise.all([...this.links.values()].map((l) => l.stop()));
  }

  /** True while registered with at least one master. */
  get connected(): boolean {
    for (const l of this.links.values()) if (l.connected) return true;
    return false;
  }

  /** True while registered with the master that leads. */
  get leading(): boolean {
    return this.leader?.connected === true;
  }

  private async resolve(): Promise<void> {
    const addresses = await resolveAddressList(this.options.masters).catch((err: Error) => {
      this.log.warn({ err: err.message }, 'cannot resolve MASTER_HOST');
      return [];
    });
    for (const a of addresses) this.add(a);
  }

  private add(address: Address): void {
    const key = `${address.host}:${address.port}`;
    if (!this.running || this.links.has(key)) return;
    const link = new MasterConn(address, this, this.options, this.log);
    this.links.set(key, link);
    link.start();
  }

  // ---- MasterConnOwner ----------------------------------------------------------

  registered(conn: MasterConn, epoch: number, leader: boolean, leaderAt: string | undefined): void {
    if (leader && epoch >= this.epoch) this.follow(conn, epoch);
    // A follower names a leader we have no link to (MASTER_HOST does not list it): link to it too.
    if (!leader && leaderAt && !this.leading) {
      const colon = leaderAt.lastIndexOf(':');
      this.hinted({ host: leaderAt.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(leaderAt.slice(colon + 1)) });
    }
  }

  closed(conn: MasterConn): void {
    if (this.leader === conn) this.leader = undefined;
  }

  hinted(address: Address): void {
    // Resolved like MASTER_HOST, so that a name for a master we already link to adds no second link.
    void resolveAddressList([address]).then((found) => {
      for (const a of found) this.add(a);
    });
  }

  private follow(conn: MasterConn, epoch: number): void {
    if (this.leader !== conn || this.epoch !== epoch) this.log.info({ master: conn.where, epoch }, 'the leader');
    this.epoch = epoch;
    this.leader = conn;
  }

  /** The masters' commands: from the leader's link at the highest epoch only. */
  async command(conn: MasterConn, name: MessageName, body: unknown): Promise<object> {
    if (name === 'ping') return {};
    const epoch = (body as { epoch?: number }).epoch ?? 0;
    if (epoch < this.epoch) {
      this.log.warn({ epoch, seen: this.epoch, command: name, master: conn.where }, 'command from a deposed master refused');
      throw fail('ESTALE', `command from epoch ${epoch}, the master's is ${this.epoch}`);
    }
    // A higher epoch is a new leader speaking (masterLeads is its first word).
    if (epoch > this.epoch) this.follow(conn, epoch);
    else if (conn !== this.leader) {
      this.log.warn({ epoch, command: name, master: conn.where }, 'command from a master that does not lead refused');
      throw fail('EPERM', `${name} from ${conn.where}, which is not the leader at epoch ${epoch}`);
    }
    const changed = await this.apply(name, body);
    if (changed.chunks.length > 0 || changed.gone.length > 0) {
      for (const other of this.links.values()) if (other !== conn) other.report('chunksChanged', changed.chunks, changed.gone).catch(() => undefined);
    }
    return {};
  }

  /** Carries a command out; returns the copies it made (at their versions) and deleted. */
  private async apply(name: MessageName, body: unknown): Promise<{ chunks: ChunkRef[]; gone: ChunkRef[] }> {
    const hdd = this.options.hdd;
    const none: ChunkRef[] = [];
    switch (name) {
      case 'masterLeads':
        return { chunks: none, gone: none };
      case 'chunkCreate': {
        const r = body as Request<'chunkCreate'>;
        await hdd.create(r.chunkId, r.version);
        return { chunks: [{ chunkId: r.chunkId, version: r.version }], gone: none };
      }
      case 'chunkDelete': {
        const r = body as Request<'chunkDelete'>;
        await hdd.delete(r.chunkId, r.version);
        return { chunks: none, gone: [{ chunkId: r.chunkId, version: r.version }] };
      }
      case 'chunkSetVersion': {
        const r = body as Request<'chunkSetVersion'>;
        await hdd.setVersion(r.chunkId, r.version, r.newVersion);
        return { chunks: [{ chunkId: r.chunkId, version: r.newVersion }], gone: none };
      }
      case 'chunkDuplicate': {
        const r = body as Request<'chunkDuplicate'>;
        await hdd.duplicate(r.chunkId, r.version, r.newChunkId, r.newVersion);
        return { chunks: [{ chunkId: r.newChunkId, version: r.newVersion }], gone: none };
      }
      case 'chunkTruncate': {
        const r = body as Request<'chunkTruncate'>;
        await hdd.truncate(r.chunkId, r.version, r.newVersion, r.length);
        return { chunks: [{ chunkId: r.chunkId, version: r.newVersion }], gone: none };
      }
      case 'chunkReplicate': {
        const r = body as Request<'chunkReplicate'>;
        await this.options.replicate(r.chunkId, r.version, r.sources);
        return { chunks: [{ chunkId: r.chunkId, version: r.version }], gone: none };
      }
      default:
        throw fail('ENOSYS', `${name} is not a chunkserver command`);
    }
  }

  // ---- reports --------------------------------------------------------------------

  /**
   * Tells every master what a reload of the hdd file changed (HddManager.reload; lost
   * copies went as chunksLost already): copies on added disks as new copies, then the
   * marks. A master not registered with now hears it all in its next registration's report.
   */
  async disksReloaded(r: HddReload): Promise<void> {
    const sends: Promise<void>[] = [];
    for (const link of this.links.values()) {
      for (let i = 0; i < r.found.length; i += REPORT_BATCH) sends.push(link.report('chunksNew', r.found.slice(i, i + REPORT_BATCH)));
      for (const [marked, lists] of [[true, r.marked], [false, r.unmarked]] as const) {
        for (const [disk, chunks] of lists) {
          for (let i = 0; i < chunks.length; i += REPORT_BATCH) sends.push(link.reportMarked(disk, marked, chunks.slice(i, i + REPORT_BATCH)));
        }
      }
    }
    await Promise.allSettled(sends);
  }

  private broadcast(name: 'chunksLost' | 'chunksDamaged', chunks: ChunkRef[]): void {
    for (let i = 0; i < chunks.length; i += REPORT_BATCH) {
      const batch = chunks.slice(i, i + REPORT_BATCH);
      for (const link of this.links.values()) link.report(name, batch).catch(() => undefined);
    }
  }

  /**
   * A copy a write's init created: reported (chunksNew) to every master registered with,
   * with the others created within NEW_REPORT_DELAY_MS, in one request per master. Off
   * the write's path: the leader counts the copy from our receipt, which the write's end
   * carries to it (data-server.ts, createChunk). The report is for the followers — one
   * that takes over must know the copy exists, or it has a chunk the changelog allocated
   * and no copy of it anywhere it knows of, which it cannot tell from a lost chunk (a
   * retried write failed with EIO: ha-takeover, "a write in flight across it") — and for
   * the leader when the client never ends the write. A takeover comes HA_LEASE_TTL (2 s
   * or more) after the leader stopped answering, well after the batch left.
   */
  created(chunk: ChunkRef): void {
    if (this.newBatch) {
      this.newBatch.push(chunk);
      return;
    }
    this.newBatch = [chunk];
    this.newTimer = setTimeout(() => {
      // Each copy as it is now: a command since its creation (a truncation's version
      // bump, a deletion) was answered on the same link before this report arrives, and a
      // report of the copy as created would undo it at the master (a copy at a version it
      // had moved past: the chunk "lost").
      const chunks: ChunkRef[] = [];
      for (const { chunkId } of this.newBatch ?? []) {
        const version = this.options.hdd.versionOf(chunkId);
        if (version !== undefined) chunks.push({ chunkId, version });
      }
      this.newBatch = undefined;
      for (let i = 0; i < chunks.length; i += REPORT_BATCH) {
        const batch = chunks.slice(i, i + REPORT_BATCH);
        for (const link of this.links.values()) link.report('chunksNew', batch).catch(() => undefined);
      }
    }, NEW_REPORT_DELAY_MS).unref();
  }
}
