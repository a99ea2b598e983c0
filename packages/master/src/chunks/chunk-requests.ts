import { CHUNK_SIZE, type ChunkGrant, type ChunkLocation, type Cred, type Reply, type Request, Status, TsmfsError, authenticReceipt, creationReceiptClaims, fail } from '@tsmfs/protocol';
import type { Namespace } from '../metadata/namespace.js';
import type { ChunkManager } from './chunk-manager.js';
import type { Chunkserver } from './chunkserver-registry.js';
import { placeCopies } from './placement.js';
import { placeByLabels } from './label-placement.js';
import { isPlain } from '../sclass/label-expr.js';

/**
 * Longest a read grant waits for a version change of its chunk (chunkserver commands
 * can take up to their own timeout): well inside a client's request timeout, and the
 * client asks again when the answer lists no copy (docs/client.md, "Reads").
 */
const READ_WAIT_MS = 5_000;

/**
 * Longest a write's end waits for the report of a copy the write created, when the end
 * brought no receipt this master can check for it (the chunkserver registered again
 * since, with a new key): the chunkservers report new copies within 100 ms
 * (master-link.ts), and again in full when they register.
 */
const REPORT_WAIT_MS = 5_000;

/** The master's own credentials for the writes it makes on a client's behalf (truncation). */
const MASTER_CRED: Cred = { uid: 0, gid: 0, groups: [] };

/** The chunk a write lease starts from, taken before the namespace moves it on. */
interface Before {
  chunkId: number;
  /** The version of the copies in `valid` (below the metadata's after an interrupted bump). */
  version: number;
  valid: Chunkserver[];
  /** No copy anywhere and no completed write ever reached it: made afresh like a new chunk. */
  unwritten?: boolean;
}

/**
 * Makes a function that a handler calls after an await count as part of the request
 * being served (Leases.bind): the changes it makes are that request's.
 */
export type RequestBinder = <A extends unknown[], R>(fn: (...args: A) => R) => (...args: A) => R;

/**
 * The chunk half of the client requests: the namespace decides (new chunk, copy-on-write
 * chunk, version bump) and records it; this prepares the chunkservers to match before
 * the client is answered: create the chunk on the servers placement picks, duplicate a
 * shared chunk where its copies are, move the valid copies to the new version (a copy
 * that cannot be moved, or that is down, is left behind as stale). Truncation cuts the
 * chunk that holds the new end of file, with a version bump.
 */
export class ChunkRequests {
  constructor(
    private readonly chunks: ChunkManager,
    private readonly namespace: () => Namespace,
    /** Binds what runs after a slot's lease was waited for; default: nothing to bind (no leases). */
    private readonly inRequest: RequestBinder = (fn) => fn,
  ) {}

  /**
   * A read grant. While the chunk's copies are being moved to the version the metadata
   * already has (a write grant, a truncation) none of them is valid yet: the answer waits,
   * at most READ_WAIT_MS, until one is (or the change failed), instead of listing no copy.
   * The namespace is asked again after the wait: the slot may hold another chunk by then.
   */
  async read(next: () => Reply<'readChunk'>): Promise<Reply<'readChunk'>> {
    const { chunks } = this;
    const deadline = Date.now() + READ_WAIT_MS;
    // Asked again after a wait: bound like the writes' parts, should a read ever change anything.
    const namespacePart = this.inRequest(next);
    for (;;) {
      const reply = namespacePart();
      const locations = chunks.locations(reply.chunkId);
      const wait = deadline - Date.now();
      if (locations.length > 0 || wait <= 0 || !chunks.changes.has(reply.chunkId)) return this.signed(reply, locations);
      await chunks.changes.settled(reply.chunkId, wait);
    }
  }

  /**
   * The end of a write (`next`: the namespace's part) ends the lease of `owner` on the slot,
   * whatever the outcome. A complete end of the lease's own grant (the client's ok, with
   * the grant's version: every granted copy acknowledged every piece and the end) lets
   * the chunk's next grant keep that version (complete-writes.ts). A complete end's reply
   * carries the chunk's read grant as of right after it (`readGrant`). A complete end of
   * a write that created its chunk first counts the copies its receipts prove.
   */
  writeEnd(owner: number, req: Request<'writeChunkEnd'>, next: () => Reply<'writeChunkEnd'>): Reply<'writeChunkEnd'> | Promise<Reply<'writeChunkEnd'>> {
    if (!req.ok) return this.endNow(owner, req, next);
    const g = this.chunks.leases.grantOf(owner, req.inode, req.index);
    if (!g || g.chunkId !== req.chunkId) return this.endNow(owner, req, next);
    if (req.created) this.countReceipts(req.created, g.chunkId, g.version, g.servers);
    if (!this.unreported(req.chunkId)) return this.endNow(owner, req, next);
    return this.endAfterReports(owner, req, next);
  }

  /** A chunk a write created of which no valid copy is known yet (neither a receipt nor a report came). */
  private unreported(chunkId: number): boolean {
    return this.chunks.unborn.has(chunkId) && this.chunks.validServers(chunkId).length === 0;
  }

  /**
   * The copies a write created, from their creation receipts (grant-token.ts): each one
   * signed by a server of the lease's grant with the key that server holds now, for this
   * chunk and version, counts as that server's report of the copy. Anything else is
   * passed over (the server's own report still comes).
   */
  private countReceipts(receipts: readonly Uint8Array[], chunkId: number, version: number, servers: readonly number[]): void {
    const { chunks } = this;
    for (const r of receipts) {
      const claims = creationReceiptClaims(r);
      if (!claims || claims.chunkId !== chunkId || claims.version !== version || !servers.includes(claims.csid)) continue;
      const cs = chunks.registry.get(claims.csid);
      if (!cs?.link || !cs.grantKey || !authenticReceipt(cs.grantKey, r)) continue;
      chunks.created(cs, [{ chunkId, version }]);
    }
  }

  /**
   * A complete end of a write that created its chunk, with no copy of it known yet: it
   * waits for the servers' reports, at most REPORT_WAIT_MS, and is refused (EAGAIN: the
   * client writes again on a new grant) if none came, so that no write is ever ended on
   * copies the master does not know.
   */
  private async endAfterReports(owner: number, req: Request<'writeChunkEnd'>, next: () => Reply<'writeChunkEnd'>): Promise<Reply<'writeChunkEnd'>> {
    const { chunks } = this;
    const namespacePart = this.inRequest(next);
    const deadline = Date.now() + REPORT_WAIT_MS;
    for (let wait = REPORT_WAIT_MS; this.unreported(req.chunkId) && wait > 0 && chunks.changes.has(req.chunkId); wait = deadline - Date.now()) {
      await chunks.changes.settled(req.chunkId, wait);
    }
    if (this.unreported(req.chunkId)) {
      chunks.leases.release(owner, req.inode, req.index);
      throw fail('EAGAIN', `no copy of new chunk ${req.chunkId} was reported: write it again`);
    }
    return this.endNow(owner, req, namespacePart);
  }

  private endNow(owner: number, req: Request<'writeChunkEnd'>, next: () => Reply<'writeChunkEnd'>): Reply<'writeChunkEnd'> | Promise<Reply<'writeChunkEnd'>> {
    const { chunks } = this;
    let reply: Reply<'writeChunkEnd'>;
    try {
      reply = next();
    } catch (err) {
      if (req.ok && err instanceof TsmfsError && err.status === Status.EDQUOT) return this.cutRefused(owner, req, err);
      chunks.leases.release(owner, req.inode, req.index);
      throw err;
    }
    try {
      const g = req.ok && req.version !== undefined ? chunks.leases.grantOf(owner, req.inode, req.index) : undefined;
      if (g && g.chunkId === req.chunkId && g.version === req.version && chunks.md.chunks.version[g.chunkId] === g.version) {
        chunks.completeWrites.record(g.chunkId, g.version, g.servers);
      }
    } finally {
      this.chunks.leases.release(owner, req.inode, req.index);
    }
    // After the lease ended: a new chunk's creation counts as a change in flight until then.
    const grant = req.ok ? this.readyGrant(req.inode, req.index, req.chunkId) : undefined;
    return grant ? { ...reply, grant } : reply;
  }

  /**
   * The read grant of the first chunk of a file opened for reading, for the open's reply:
   * a file of one chunk (most files) is then read without a readChunk. A hole or an
   * empty file is granted as such (chunk 0: zeros to the file length).
   */
  openGrant(inode: number): ChunkGrant | undefined {
    const md = this.chunks.md;
    if (!md.exists(inode) || md.typeOf(inode) !== 'file' || md.size[inode] === 0) return undefined;
    return this.readyGrant(inode, 0);
  }

  /**
   * A read grant handed out with another reply (a write's end, an open), so that the
   * client's next read of the chunk needs no readChunk. None when the slot holds another
   * chunk than `chunkId` or no copy is ready to read without waiting: the client then asks.
   */
  private readyGrant(inode: number, index: number, chunkId?: number): ChunkGrant | undefined {
    const { chunks } = this;
    const reply = this.namespace().readChunk({ inode, index });
    if (chunkId !== undefined && reply.chunkId !== chunkId) return undefined;
    if (reply.chunkId === 0) return reply;
    const locations = chunks.locations(reply.chunkId);
    if (locations.length === 0 || chunks.changes.has(reply.chunkId)) return undefined;
    return this.signed(reply, locations);
  }

  /** A read grant: `reply` with read tokens for `locations`. */
  private signed(reply: Reply<'readChunk'>, locations: ChunkLocation[]): Reply<'readChunk'> {
    return { ...reply, locations: this.chunks.tokens.sign(locations, reply.chunkId, reply.version, 'read') };
  }

  /**
   * A write the quota refused at its end (EDQUOT) left its bytes past the end of the file
   * on the copies: they are cut away before the lease ends, so that growing the file later
   * (truncate, a write further on) shows zeros there, not the refused bytes.
   */
  private async cutRefused(owner: number, req: Request<'writeChunkEnd'>, err: TsmfsError): Promise<never> {
    try {
      const kept = Math.min(CHUNK_SIZE, Math.max(0, this.chunks.md.size[req.inode]! - req.index * CHUNK_SIZE));
      await this.cutChunk(req.inode, req.index, kept);
    } finally {
      this.chunks.leases.release(owner, req.inode, req.index);
    }
    throw err;
  }

  /** Space is the chunkservers' (the namespace, `next`, knows only trash and sustained files). */
  statfs(next: () => Reply<'statfs'>): Reply<'statfs'> {
    const reply = next();
    const servers = this.chunks.registry.online();
    const total = servers.reduce((n, cs) => n + cs.totalSpace, 0);
    const used = servers.reduce((n, cs) => n + Math.min(cs.usedSpace, cs.totalSpace), 0);
    return { ...reply, totalSpace: total, availSpace: total - used };
  }

  /**
   * A write grant for session `owner`: the slot's lease first, then the namespace's
   * decision (`next`), then the chunkservers brought to it — except for a chunk no server
   * holds yet, which the write itself creates (`createGrant`), and a chunk whose copies
   * all have its last write (`mayKeep`), which is granted at its version as it is.
   */
  async write(owner: number, req: Request<'writeChunk'>, next: (keepVersion?: (chunkId: number) => boolean) => Reply<'writeChunk'>): Promise<Reply<'writeChunk'>> {
    const { chunks } = this;
    const namespacePart = this.inRequest(next);
    await chunks.leases.acquire(owner, req.inode, req.index);
    try {
      const before = this.before(req.inode, req.index);
      let kept = false;
      const grant = namespacePart((chunkId) => (kept = this.mayKeep(chunkId, before)));
      const sclass = chunks.md.goal[req.inode] ?? 1;
      if (before.chunkId === 0 || before.unwritten === true) return this.createGrant(owner, req.inode, req.index, grant, sclass, grant.chunkId !== before.chunkId);
      chunks.leases.cover(req.inode, req.index, grant.chunkId);
      const ready = kept ? before.valid : await this.changing(grant.chunkId, () => this.prepare(before, grant));
      chunks.leases.granted(owner, req.inode, req.index, { version: grant.version, servers: ready.map((cs) => cs.csid) });
      const locations = ready.map((cs) => chunks.registry.location(cs));
      return { ...grant, locations: chunks.tokens.sign(locations, grant.chunkId, grant.version, 'write') };
    } catch (err) {
      chunks.leases.release(owner, req.inode, req.index);
      throw err;
    }
  }

  /**
   * Whether the grant of chunk `chunkId` (the slot's chunk `before`, about to be bumped)
   * may keep its version: its last write ended complete on exactly the copies valid now,
   * at the metadata's version, and nothing is moving its copies (a replication in flight
   * would carry bytes of the chunk from before this write under the same version). The
   * record is used up either way.
   */
  private mayKeep(chunkId: number, before: Before): boolean {
    const { chunks } = this;
    if (chunkId !== before.chunkId || before.unwritten === true || before.valid.length === 0) {
      chunks.completeWrites.forget(chunkId);
      return false;
    }
    const complete = chunks.completeWrites.take(
      chunkId,
      before.version,
      before.valid.map((cs) => cs.csid),
    );
    return complete && before.version === chunks.md.chunks.version[chunkId] && !chunks.replicating.has(chunkId) && !chunks.changes.has(chunkId);
  }

  /**
   * A new chunk (or one allocated but never written) is not created here but by the
   * write's own init on each copy of the chain: the grant names the servers placement
   * picks and carries 'create' tokens, each chunkserver creates its copy and gives the
   * write's end its creation receipt, which the client's writeChunkEnd brings here
   * (writeEnd), so every ended write is on copies the master knows. Until a copy is
   * known the chunk stays `unborn` (a grant after a failed write creates it afresh) and
   * readers wait for it as for a version change, at most until the lease ends. Why not a
   * pool of pre-created chunks: docs/master.md, "Chunk creation".
   */
  private createGrant(owner: number, inode: number, index: number, grant: Reply<'writeChunk'>, sclass: number, newId: boolean): Reply<'writeChunk'> {
    const { chunks } = this;
    const { chunkId, version } = grant;
    chunks.unborn.add(chunkId);
    // Never where some copy of this id already is (an init that came late, a leftover): its create would fail.
    const holders = new Set(chunks.copies.of(chunkId).keys());
    // A copy of an id this grant has just allocated can only be a leftover of a master that
    // died before logging that id: not this chunk's, although it may carry its version.
    if (newId) for (const [csid, copy] of chunks.copies.of(chunkId)) chunks.dropOrphan(csid, chunkId, copy.version);
    const online = chunks.registry.online();
    // The copies go where the file's storage class creates them (label-placement.ts).
    const expr = chunks.md.sclasses.rules(sclass).create;
    const targets = isPlain(expr)
      ? placeCopies(online, expr.length, holders, Math.random, chunks.rackOf)
      : placeByLabels(expr, chunks.md.sclasses.get(sclass)?.mode ?? 'default', online, holders, Math.random, chunks.rackOf);
    // None connected at all (e.g. dialling back after a master restart) is MooseFS's
    // ERROR_NOCHUNKSERVERS, which clients retry; ENOSPC would end the write at once.
    if (targets.length === 0 && online.length === 0) throw fail('EAGAIN', 'no chunkserver connected');
    if (targets.length === 0) throw fail('ENOSPC', 'no chunkserver has room for a new chunk');
    chunks.changes.begin(chunkId);
    const placed = targets.map((cs) => cs.csid);
    chunks.creating.set(chunkId, placed);
    chunks.leases.cover(inode, index, chunkId, () => {
      chunks.changes.end(chunkId);
      if (chunks.creating.get(chunkId) === placed) chunks.creating.delete(chunkId);
    });
    chunks.leases.granted(owner, inode, index, { version, servers: placed });
    const locations = targets.map((cs) => chunks.registry.location(cs));
    return { ...grant, locations: chunks.tokens.sign(locations, chunkId, version, 'create'), create: true };
  }

  private before(inode: number, index: number): Before {
    const md = this.chunks.md;
    if (!md.exists(inode) || md.typeOf(inode) !== 'file') return { chunkId: 0, version: 0, valid: [] };
    const chunkId = md.chunkAt(inode, index);
    if (chunkId === 0) return { chunkId, version: 0, valid: [] };
    const version = md.chunks.version[chunkId]!;
    const valid = this.chunks.validServers(chunkId);
    if (valid.length > 0) return { chunkId, version, valid };
    return this.afterInterruptedGrant(inode, index, chunkId, version);
  }

  /**
   * A chunk with no valid copy, as a master killed between logging a grant and the
   * chunkservers applying it leaves it (the client asks again on the new master):
   * - copies all behind the logged version that missed no completed write continue at
   *   their version (`interruptedCopies`); the grant's bump moves them past every version
   *   logged so far, so no two copies can ever share a version with different bytes;
   * - no copy anywhere, and either this master's own creation of it reached no server
   *   (`unborn`: a grant answered EAGAIN while the chunkservers dialled back) or its slot
   *   starts at or past the file length (every completed write grows the length past its
   *   slot's start): the chunk was allocated but never written, so it is created afresh.
   * Anything else stays as it is: the grant fails (EIO) until a copy comes back.
   */
  private afterInterruptedGrant(inode: number, index: number, chunkId: number, version: number): Before {
    const { chunks } = this;
    const behind = chunks.interruptedCopies(chunkId);
    if (behind) {
      chunks.log.warn({ chunk: chunkId, version, copies: behind.servers.length, copiesVersion: behind.version }, 'write continues from copies an interrupted grant left behind');
      return { chunkId, version: behind.version, valid: behind.servers };
    }
    const unwritten = chunks.copies.of(chunkId).size === 0 && (chunks.unborn.has(chunkId) || index * CHUNK_SIZE >= chunks.md.size[inode]!);
    if (unwritten) chunks.log.warn({ chunk: chunkId, version }, 'chunk allocated by an interrupted or failed grant and never written: created afresh');
    return { chunkId, version, valid: [], unwritten };
  }

  /** Brings the copies of an existing chunk to the grant; returns the servers that hold it now, chain order. */
  private async prepare(before: Before, grant: Reply<'writeChunk'>): Promise<Chunkserver[]> {
    const { chunks } = this;
    const { chunkId, version } = grant;
    const targets = before.valid;
    if (targets.length === 0) throw fail('EIO', `chunk ${before.chunkId} has no valid copy on any connected chunkserver`);
    const run =
      chunkId === before.chunkId
        ? (cs: Chunkserver) => chunks.command(cs, 'chunkSetVersion', { chunkId, version: before.version, newVersion: version })
        : (cs: Chunkserver) => chunks.command(cs, 'chunkDuplicate', { chunkId: before.chunkId, version: before.version, newChunkId: chunkId, newVersion: version });
    return this.apply(chunkId, version, targets, run, before.version);
  }

  /**
   * Runs `fn`, which moves chunk `chunkId`'s copies to the version the namespace has just
   * given it, as a version change readers wait for. Called in the same turn as the
   * namespace's change, so no read grant can come in between.
   */
  private async changing<T>(chunkId: number, fn: () => Promise<T>): Promise<T> {
    const { changes } = this.chunks;
    changes.begin(chunkId);
    try {
      return await fn();
    } finally {
      changes.end(chunkId);
    }
  }

  /**
   * Runs a command on every target; the ones that succeeded hold (chunkId, version).
   * `from`: the version the chunk's valid copies had before (0 for a new chunk). Each copy
   * is handed out as soon as its command succeeded: a reader need not wait for a slow one.
   */
  private async apply(chunkId: number, version: number, targets: Chunkserver[], run: (cs: Chunkserver) => Promise<void>, from = 0): Promise<Chunkserver[]> {
    const { chunks } = this;
    const results = await Promise.allSettled(
      targets.map(async (cs) => {
        await run(cs);
        chunks.copies.set(chunkId, cs.csid, version);
        chunks.syncLocations(chunkId, from || undefined);
        chunks.changes.progressed(chunkId);
      }),
    );
    const ok = targets.filter((_, i) => results[i]!.status === 'fulfilled');
    const firstError = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason as unknown;
    chunks.syncLocations(chunkId, from || undefined);
    if (ok.length === 0) {
      const status = firstError instanceof TsmfsError ? firstError.status : Status.EIO;
      throw new TsmfsError(status === Status.ENOSPC ? Status.ENOSPC : Status.EIO, `no chunkserver could take chunk ${chunkId}: ${(firstError as Error)?.message}`);
    }
    return ok;
  }

  /**
   * A truncation to a length inside a chunk cuts that chunk on its chunkservers too
   * (else a later extension would bring the old bytes back), under a write lease and
   * with a version bump so that a copy that missed the cut is stale. Every other setattr
   * is answered at once, as of now: its attributes are then leased with the reply
   * (client-requests.ts), so the mount keeps what its chmod, chown or utimens set.
   */
  setattr(owner: number, req: Request<'setattr'>, next: () => Reply<'setattr'>): Reply<'setattr'> | Promise<Reply<'setattr'>> {
    const md = this.chunks.md;
    const size = req.size;
    if (size === undefined || !md.exists(req.inode) || md.typeOf(req.inode) !== 'file') return next();
    const oldSize = md.size[req.inode]!;
    if (size >= oldSize || size % CHUNK_SIZE === 0) return next();
    return this.cutting(owner, req, size, next);
  }

  private async cutting(owner: number, req: Request<'setattr'>, size: number, next: () => Reply<'setattr'>): Promise<Reply<'setattr'>> {
    const index = Math.floor(size / CHUNK_SIZE);
    // The new length and the cut chunk's version (both changes, up to cutChunk's first await).
    const change = this.inRequest(() => ({ reply: next(), cut: this.cutChunk(req.inode, index, size % CHUNK_SIZE) }));
    await this.chunks.leases.acquire(owner, req.inode, index);
    try {
      const { reply, cut } = change();
      await cut;
      return reply;
    } finally {
      this.chunks.leases.release(owner, req.inode, index);
    }
  }

  private async cutChunk(inode: number, index: number, length: number): Promise<void> {
    const { chunks } = this;
    const before = this.before(inode, index);
    if (before.chunkId === 0) return;
    const { chunkId, version } = this.namespace().writeChunk({ cred: MASTER_CRED, inode, index });
    // Covered like a write's: the chunk loop must not take the cut in flight for a lost chunk.
    chunks.leases.cover(inode, index, chunkId);
    const cut =
      chunkId === before.chunkId
        ? (cs: Chunkserver) => chunks.command(cs, 'chunkTruncate', { chunkId, version: before.version, newVersion: version, length })
        : async (cs: Chunkserver) => {
            await chunks.command(cs, 'chunkDuplicate', { chunkId: before.chunkId, version: before.version, newChunkId: chunkId, newVersion: version });
            await chunks.command(cs, 'chunkTruncate', { chunkId, version, newVersion: version, length });
          };
    const from = chunkId === before.chunkId ? before.version : 0;
    await this.changing(chunkId, () => this.apply(chunkId, version, before.valid, cut, from)).catch(() => undefined);
  }

  /** Every copy the master knows of a chunk, and those being made by a write's creation or a replication in flight. */
  private copiesOf(chunkId: number): Reply<'fileinfo'>['chunks'][number]['copies'] {
    const { chunks } = this;
    const where = (csid: number) => {
      const cs = chunks.registry.get(csid);
      return { csid, host: cs?.address.host ?? '', port: cs?.address.port ?? 0 };
    };
    const copies = [...chunks.copies.of(chunkId)].map(([csid, copy]) => ({ ...where(csid), version: copy.version, state: chunks.stateOf(chunkId, csid)! }));
    for (const csid of chunks.creating.get(chunkId) ?? []) {
      if (!chunks.copies.get(chunkId, csid)) copies.push({ ...where(csid), version: chunks.md.chunks.version[chunkId]!, state: 'creating' });
    }
    const dst = chunks.replicating.get(chunkId);
    if (dst !== undefined && !chunks.copies.get(chunkId, dst)) {
      copies.push({ ...where(dst), version: chunks.md.chunks.version[chunkId]!, state: 'replicating' });
    }
    return copies;
  }

  fileinfo(req: Request<'fileinfo'>): Reply<'fileinfo'> {
    const { chunks } = this;
    const md = chunks.md;
    if (!md.exists(req.inode)) throw fail('ENOENT', `inode ${req.inode}`);
    if (md.typeOf(req.inode) !== 'file') throw fail('EINVAL', 'not a regular file');
    // Holes are not listed: a sparse file's list follows its chunks, not its length.
    return {
      length: md.size[req.inode]!,
      goal: md.goal[req.inode]!,
      chunks: md.chunkEntries(req.inode).map(([index, chunkId]) => ({
        index,
        chunkId,
        version: md.chunks.version[chunkId]!,
        copies: this.copiesOf(chunkId),
      })),
    };
  }
}
