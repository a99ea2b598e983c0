import { fail } from '@tsmfs/protocol';

interface Lease {
  owner: number;
  chunkKey: string;
  expiresAt: number;
  timer: NodeJS.Timeout;
  /** The chunk the lease covers, once granted. */
  chunkId?: number;
  /** Called when the lease ends, however it ends (writeChunkEnd, timeout, taken over). */
  onEnd?: () => void;
  /** The version and servers (csids) of the lease's grant, once granted. */
  granted?: Granted;
}

export interface Granted {
  version: number;
  servers: readonly number[];
}

/**
 * Write leases: one writer per chunk slot (inode, index) at a time, as MooseFS locks a
 * chunk while a client writes it. A second writer waits for the lease to end (its
 * writeChunkEnd, or the timeout when a client died holding it); the same session asking
 * again (a retry on a new chain after a chunkserver died) takes its own lease over. The
 * replication loop leaves leased chunks alone: their copies are changing.
 */
export class WriteLeases {
  private readonly leases = new Map<string, Lease>();
  private readonly waiters = new Map<string, (() => void)[]>();
  private readonly leasedChunks = new Map<number, number>();
  /**
   * A new leader's grace period (write-grace.ts): while set, a slot nobody holds is not
   * granted either — a session not yet back may still claim it. Told of each such wait.
   */
  private holding: ((inode: number, index: number) => void) | undefined;

  constructor(private readonly timeoutMs: number) {}

  /**
   * Waits until slot (inode, index) is held by `owner`, or free and no grace period holds
   * free slots, then holds it for `owner`.
   */
  async acquire(owner: number, inode: number, index: number, waitMs = this.timeoutMs * 2): Promise<void> {
    const key = `${inode}:${index}`;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const held = this.leases.get(key);
      if (held ? held.owner === owner : !this.holding) break;
      if (Date.now() >= deadline) throw fail('EAGAIN', `chunk ${index} of inode ${inode} is being written by another client`);
      if (!held) this.holding!(inode, index);
      await new Promise<void>((resolve) => {
        const list = this.waiters.get(key) ?? [];
        list.push(resolve);
        this.waiters.set(key, list);
        setTimeout(resolve, Math.max(1, deadline - Date.now())).unref();
      });
    }
    this.hold(owner, inode, index);
  }

  /**
   * Gives `owner` the slot's lease at once, covering chunk `chunkId`: a write a former
   * leader granted it and that is still going to the chunkservers (write-grace.ts). False
   * when another owner holds the slot.
   */
  claim(owner: number, inode: number, index: number, chunkId: number): boolean {
    const key = `${inode}:${index}`;
    const held = this.leases.get(key);
    if (held) return held.owner === owner;
    this.hold(owner, inode, index);
    this.cover(inode, index, chunkId);
    return true;
  }

  /** From now on free slots wait too (`onWait` is told of each wait), until `endHold`. */
  holdFree(onWait: (inode: number, index: number) => void): void {
    this.holding = onWait;
  }

  /** The grace period is over: free slots are granted again, and those waiting for one look again. */
  endHold(): void {
    if (!this.holding) return;
    this.holding = undefined;
    const lists = [...this.waiters.values()];
    this.waiters.clear();
    for (const list of lists) for (const wake of list) wake();
  }

  private hold(owner: number, inode: number, index: number): void {
    const key = `${inode}:${index}`;
    this.drop(key);
    const timer = setTimeout(() => this.release(owner, inode, index), this.timeoutMs);
    timer.unref();
    this.leases.set(key, { owner, chunkKey: key, expiresAt: Date.now() + this.timeoutMs, timer });
  }

  /** Records which chunk the slot's lease covers (known once the namespace granted it); `onEnd` runs when the lease ends. */
  cover(inode: number, index: number, chunkId: number, onEnd?: () => void): void {
    const lease = this.leases.get(`${inode}:${index}`);
    if (!lease) {
      onEnd?.();
      return;
    }
    lease.chunkId = chunkId;
    lease.onEnd = onEnd;
    this.leasedChunks.set(chunkId, (this.leasedChunks.get(chunkId) ?? 0) + 1);
  }

  /** Records the version and servers the lease of `owner` on the slot was granted (once the copies are ready). */
  granted(owner: number, inode: number, index: number, granted: Granted): void {
    const held = this.leases.get(`${inode}:${index}`);
    if (held && held.owner === owner) held.granted = granted;
  }

  /** What the lease of `owner` on the slot was granted for: undefined when `owner` does not hold it. */
  grantOf(owner: number, inode: number, index: number): (Granted & { chunkId: number }) | undefined {
    const held = this.leases.get(`${inode}:${index}`);
    if (!held || held.owner !== owner || held.chunkId === undefined || !held.granted) return undefined;
    return { chunkId: held.chunkId, ...held.granted };
  }

  release(owner: number, inode: number, index: number): void {
    const key = `${inode}:${index}`;
    const held = this.leases.get(key);
    if (!held || held.owner !== owner) return;
    this.drop(key);
    const list = this.waiters.get(key);
    this.waiters.delete(key);
    for (const wake of list ?? []) wake();
  }

  /** True while some write lease covers chunk `chunkId`. */
  isLeased(chunkId: number): boolean {
    return (this.leasedChunks.get(chunkId) ?? 0) > 0;
  }

  get size(): number {
    return this.leases.size;
  }

  clear(): void {
    for (const key of [...this.leases.keys()]) this.drop(key);
  }

  private drop(key: string): void {
    const lease = this.leases.get(key);
    if (!lease) return;
    clearTimeout(lease.timer);
    this.leases.delete(key);
    lease.onEnd?.();
    if (lease.chunkId !== undefined) {
      const n = (this.leasedChunks.get(lease.chunkId) ?? 1) - 1;
      if (n <= 0) this.leasedChunks.delete(lease.chunkId);
      else this.leasedChunks.set(lease.chunkId, n);
    }
  }
}
