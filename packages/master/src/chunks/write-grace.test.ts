import { CHUNK_SIZE } from '@tsmfs/protocol';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createEmptyMetadata } from '../metadata/metadata.js';
import { Namespace } from '../metadata/namespace.js';
import { WriteGrace } from './write-grace.js';
import { WriteLeases } from './write-leases.js';

const root = { uid: 0, gid: 0, groups: [0] };
const A = 101;
const B = 102;
const C = 103;

/** A namespace with file `f` whose chunk 0 was granted (version 1) and written, and a grace over fresh leases. */
function setup(leaseMs = 10_000) {
  let t = 1_700_000_000;
  const clock = () => ({ sec: t++, nsec: 0 });
  const ns = new Namespace(createEmptyMetadata(clock()), () => undefined, clock);
  const inode = ns.mknod({ cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
  const g = ns.writeChunk({ cred: root, inode, index: 0 });
  ns.writeChunkEnd({ inode, index: 0, chunkId: g.chunkId, length: CHUNK_SIZE, ok: true });
  const leases = new WriteLeases(leaseMs);
  const grace = new WriteGrace(leases, () => ns.md, pino({ level: 'silent' }));
  return { ns, inode, chunkId: g.chunkId, version: g.version, leases, grace };
}

/** Whether `p` settled within a few event-loop turns (a grant that waits stays pending). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setTimeout(r, 20));
  return done;
}

describe('write grace after a takeover', () => {
  it('a free slot waits for the sessions not back; one that claims its write in flight holds the slot until its end', async () => {
    const { inode, chunkId, version, leases, grace } = setup();
    grace.elected();
    // B is linked already (registered before leading), A and C are not back.
    grace.registered(B, undefined);
    grace.lead([A, C], 60_000, (id) => id === B);
    expect(grace.active).toBe(true);
    expect(grace.status()?.waitingFor).toBe(2);
    const bGrant = leases.acquire(B, inode, 0);
    expect(await settled(bGrant)).toBe(false);
    // Another slot waits as well: C, not back, may claim it.
    const other = leases.acquire(B, inode, 1);
    expect(await settled(other)).toBe(false);
    // A comes back with its write in flight: the slot is A's, B waits on A's lease now.
    grace.registered(A, [{ inode, index: 0, chunkId, version }]);
    expect(leases.isLeased(chunkId)).toBe(true);
    expect(await settled(bGrant)).toBe(false);
    // C comes back without writes: the grace is over, slot 1 is granted, slot 0 still A's.
    grace.registered(C, []);
    expect(grace.active).toBe(false);
    expect(grace.status()).toBeNull();
    await other;
    expect(await settled(bGrant)).toBe(false);
    // A's writeChunkEnd ends its lease: B gets the slot.
    leases.release(A, inode, 0);
    await bGrant;
    expect(leases.grantOf(B, inode, 0)).toBeUndefined();
    leases.clear();
  });

  it('a session that never comes back holds free slots only until the grace timeout', async () => {
    const { inode, leases, grace } = setup();
    grace.elected();
    grace.lead([A], 60, () => false);
    const t0 = Date.now();
    await leases.acquire(B, inode, 0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(50);
    expect(grace.active).toBe(false);
    // After the grace, a late claim of a slot another session holds is refused.
    grace.registered(A, [{ inode, index: 0, chunkId: 1, version: 1 }]);
    expect(leases.claim(A, inode, 0, 1)).toBe(false);
    leases.clear();
  });

  it('claims of another chunk, of an older version than the slot has, or of a slot another session holds are refused', async () => {
    const { ns, inode, chunkId, version, leases, grace } = setup();
    grace.registered(A, [{ inode, index: 0, chunkId: chunkId + 1, version }]);
    grace.registered(A, [{ inode, index: 1, chunkId, version }]);
    grace.registered(A, [{ inode: inode + 50, index: 0, chunkId, version }]);
    expect(leases.size).toBe(0);
    // The slot was granted again since (a version bump): the claimed write cannot reach the copies any more.
    const again = ns.writeChunk({ cred: root, inode, index: 0 });
    expect(again.version).toBeGreaterThan(version);
    grace.registered(A, [{ inode, index: 0, chunkId, version }]);
    expect(leases.size).toBe(0);
    // A claim of the current version (or a newer one, a bump the takeover lost) holds; a second claimer is refused.
    grace.registered(A, [{ inode, index: 0, chunkId, version: again.version + 1 }]);
    expect(leases.size).toBe(1);
    grace.registered(B, [{ inode, index: 0, chunkId, version: again.version }]);
    const bGrant = leases.acquire(B, inode, 0);
    expect(await settled(bGrant)).toBe(false);
    leases.release(A, inode, 0);
    await bGrant;
    leases.clear();
  });

  it('claims made between the election and leading are judged when it leads; leases of an earlier term are dropped', async () => {
    const { inode, chunkId, version, leases, grace } = setup();
    await leases.acquire(C, inode, 0);
    grace.elected();
    expect(leases.size).toBe(0);
    grace.registered(A, [{ inode, index: 0, chunkId, version }]);
    expect(leases.size).toBe(0);
    grace.lead([B], 60_000, (id) => id === A);
    expect(leases.size).toBe(1);
    const bGrant = leases.acquire(B, inode, 0);
    grace.registered(B, undefined);
    expect(grace.active).toBe(false);
    expect(await settled(bGrant)).toBe(false);
    leases.release(A, inode, 0);
    await bGrant;
    leases.clear();
  });
});
