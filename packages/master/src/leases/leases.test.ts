import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Mutation } from '../metadata/mutation.js';
import { Leases } from './leases.js';

// Holders without a link: a recall is never answered and settles when the holder's term ends.
const holder = (id: number) => ({ id, wantsLeases: true, link: undefined });
const names = { lookup: () => undefined, isDir: () => false };
/** A create in `parent`: it changes `parent`'s entries and attributes. */
const createIn = (parent: number) => ({ op: 'create', parent }) as unknown as Mutation;
const LEASE_MS = 1000;

/** `actor` creates in `dir`; resolves with how long the change's recalls held its reply. */
async function change(leases: Leases, actor: ReturnType<typeof holder>, dir: number): Promise<number> {
  const t0 = performance.now();
  const { recalls } = await leases.serve(actor, () => leases.changing(createIn(dir), names));
  await Promise.all(recalls);
  return performance.now() - t0;
}

describe("a session's leases live as long as its term (docs/mount.md, \"Leases\")", () => {
  it('renewed by its requests, every lease of the holder outlives the lease time; a change recalls it and waits at most until the term ends', async () => {
    const leases = new Leases({ leaseMs: LEASE_MS, log: pino({ level: 'silent' }) });
    const a = holder(1);
    const b = holder(2);
    leases.grantDir(a, 10);
    leases.grantAttr(a, 10);
    for (let i = 0; i < 4; i++) {
      await sleep(LEASE_MS / 3);
      leases.renew(a);
    }
    // 1.3 lease times after the grant: still held, so b's change recalls it and waits for the term's end.
    const waited = await change(leases, b, 10);
    expect(leases.stats.recalls).toBe(1);
    expect(leases.stats.expired).toBe(1);
    expect(waited).toBeGreaterThan(LEASE_MS / 2);
    expect(waited).toBeLessThan(LEASE_MS + 1000);
    // Recalled: nothing left to recall.
    expect(await change(leases, b, 10)).toBeLessThan(LEASE_MS / 2);
    expect(leases.stats.recalls).toBe(1);
  });

  it('a term that ended voids its leases: a later renewal brings none back', async () => {
    const leases = new Leases({ leaseMs: LEASE_MS, log: pino({ level: 'silent' }) });
    const a = holder(1);
    const b = holder(2);
    leases.grantDir(a, 10);
    await sleep(LEASE_MS + 50);
    // b changes 10 while a's term has ended: no recall (a's client stopped trusting it).
    await change(leases, b, 10);
    leases.grantDir(a, 11);
    await sleep(LEASE_MS + 50);
    leases.renew(a);
    leases.grantDir(a, 12);
    // 11 was granted in the ended term; 12 in the new one.
    await change(leases, b, 11);
    expect(leases.stats.recalls).toBe(0);
    await change(leases, b, 12);
    expect(leases.stats.recalls).toBe(1);
  });

  it("released leases are not recalled; the actor's own changes recall none of its own; LEASE_TIME 0 and sessions without leases hold none", async () => {
    const leases = new Leases({ leaseMs: LEASE_MS, log: pino({ level: 'silent' }) });
    const a = holder(1);
    const b = holder(2);
    leases.grantDir(a, 10);
    leases.grantAttr(a, 20);
    leases.grantDir(a, 30);
    leases.release(a, [10], [20]);
    await change(leases, b, 10);
    await change(leases, b, 20);
    await change(leases, a, 30);
    expect(leases.stats.recalls).toBe(0);
    expect(leases.count()).toEqual({ dirs: 1, attrs: 0 });
    const none = new Leases({ leaseMs: 0, log: pino({ level: 'silent' }) });
    none.grantDir(a, 10);
    leases.grantDir({ ...holder(3), wantsLeases: false }, 40);
    expect(none.count()).toEqual({ dirs: 0, attrs: 0 });
    expect(none.renew(a)).toBeUndefined();
    await change(leases, b, 40);
    expect(leases.stats.recalls).toBe(0);
  });

  it('several holders of one key: a change recalls each; a release, or a session registering again, takes only its own', async () => {
    const leases = new Leases({ leaseMs: LEASE_MS, log: pino({ level: 'silent' }) });
    const [a, b, c, d] = [holder(1), holder(2), holder(3), holder(4)];
    for (const h of [a, b, c]) leases.grantDir(h, 10);
    leases.grantAttr(a, 20);
    leases.grantAttr(b, 20);
    expect(leases.count()).toEqual({ dirs: 3, attrs: 2 });
    leases.release(b, [10], []);
    leases.dropHolder(c);
    expect(leases.count()).toEqual({ dirs: 1, attrs: 2 });
    // d links 20 into 10: one recall to a (10's names, 20's attributes), one to b (20's), none to c.
    const { recalls } = await leases.serve(d, () => leases.changing({ op: 'link', parent: 10, inode: 20 } as unknown as Mutation, names));
    expect(leases.stats.recalls).toBe(2);
    expect(leases.count()).toEqual({ dirs: 0, attrs: 0 });
    await Promise.all(recalls);
  });
});
