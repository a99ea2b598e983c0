import { describe, expect, it } from 'vitest';
import { WriteLeases } from './write-leases.js';

describe('write leases', () => {
  it('one writer per slot: a second owner waits for the release', async () => {
    const leases = new WriteLeases(10_000);
    await leases.acquire(1, 7, 0);
    leases.cover(7, 0, 42);
    expect(leases.isLeased(42)).toBe(true);
    let second = false;
    const waiting = leases.acquire(2, 7, 0).then(() => (second = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(second).toBe(false);
    // Another slot is independent; the same owner takes its own lease over at once.
    await leases.acquire(2, 7, 1);
    await leases.acquire(1, 7, 0);
    leases.release(1, 7, 0);
    await waiting;
    expect(second).toBe(true);
    expect(leases.isLeased(42)).toBe(false);
    leases.clear();
  });

  it('a lease whose holder never ends it expires; a waiter that cannot get it fails with EAGAIN', async () => {
    const leases = new WriteLeases(50);
    await leases.acquire(1, 7, 0);
    const t0 = Date.now();
    await leases.acquire(2, 7, 0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
    const short = new WriteLeases(10_000);
    await short.acquire(1, 1, 0);
    await expect(short.acquire(2, 1, 0, 30)).rejects.toMatchObject({ status: 11 });
    short.clear();
    leases.clear();
  });

  it('a release by someone who does not hold the lease changes nothing', async () => {
    const leases = new WriteLeases(10_000);
    await leases.acquire(1, 3, 0);
    leases.release(2, 3, 0);
    expect(leases.size).toBe(1);
    leases.clear();
  });
});
