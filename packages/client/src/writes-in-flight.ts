import type { MessageName, Reply, Request } from '@tsmfs/protocol';

type Claim = NonNullable<Request<'register'>['writes']>[number];

/**
 * The chunk writes of a session that the master granted and that have not ended yet
 * (their writeChunkEnd not answered): declared when the session registers again, so that
 * a new leader gives it back the write lease the dead one held for it while its bytes
 * are still going to the chunkservers (docs/ha.md, "Write leases across a takeover").
 * Seen from the session's requests alone, so the chunk writer needs to know nothing of it.
 */
export class WritesInFlight {
  /** "inode:index" → the grant the write runs on. */
  private readonly slots = new Map<string, Claim>();

  /** Sends `name` (`send`), keeping track of the grants it gets and the ends it makes. */
  async track<N extends MessageName>(name: N, body: Request<N>, send: () => Promise<Reply<N>>): Promise<Reply<N>> {
    if (name !== 'writeChunk' && name !== 'writeChunkEnd') return send();
    const { inode, index } = body as Request<'writeChunk'>;
    const key = `${inode}:${index}`;
    if (name === 'writeChunk') {
      const reply = await send();
      const grant = reply as Reply<'writeChunk'>;
      this.slots.set(key, { inode, index, chunkId: grant.chunkId, version: grant.version });
      return reply;
    }
    // Still claimed while the end waits for a new link: that is when a new leader must hear of it.
    try {
      return await send();
    } finally {
      if (this.slots.get(key)?.chunkId === (body as Request<'writeChunkEnd'>).chunkId) this.slots.delete(key);
    }
  }

  /** The writes in flight now, as register declares them. */
  get claims(): Claim[] {
    return [...this.slots.values()];
  }
}
